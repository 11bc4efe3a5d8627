# selfhosted_ai.stack: every target installs what it needs (Debian packages, .venv, dockerd).
#   make demo     site.yml into the sandbox hosts (systemd containers on this machine)
#   make test     the whole suite, two stages at a time (SUITE_JOBS), with the time of each
#   make lint     yamllint, ruff (check and format), ansible-lint (production profile), ansible-test sanity, build check
#   make unit     pytest unit tests
#   make docs     the variable tables of the role READMEs, from each meta/argument_specs.yml
#   make integration   pytest against real servers started on loopback
#   make molecule SCENARIO=docker   one molecule scenario (MOLECULE_DISTRO=debian13 for Debian 13)
#   make bench    benchmarks; figures go into the README by hand, with the command
#   make clean    the sandbox, .venv, the fact cache and the engines molecule keeps between runs
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
SCENARIOS ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
SCENARIO ?= docker

# molecule and ansible-lint call ansible-* by name: the venv comes first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# 1: the harness builds service images and serves them through its local registry mirror;
# 0: hosts pull the official images (the default where Docker Hub answers).
HARNESS_IMAGES ?= $(shell python3 tests/harness/detect-images.py)
export HARNESS_IMAGES

.PHONY: help host venv engine images demo demo-down test lint unit docs integration molecule bench clean

help:
	@sed -n 's/^#   //p' Makefile

host:
	@tests/harness/host-packages.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	@$(MAKE) --no-print-directory host
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip==25.3
	@$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	@touch $@

venv: $(VENV)/.installed

engine: venv
	@$(BIN)/python tests/harness/harness.py engine

images: venv
	@$(BIN)/python tests/harness/harness.py all

demo: images
	@echo "demo: HARNESS_IMAGES=$(HARNESS_IMAGES) ($(if $(filter 1,$(HARNESS_IMAGES)),images built by the harness,official images))"
	@$(BIN)/python tests/harness/harness.py sandbox-up
	@$(BIN)/ansible-playbook -i inventories/sandbox playbooks/site.yml
	@$(BIN)/ansible-playbook -i inventories/sandbox playbooks/report.yml

demo-down: venv
	@$(BIN)/python tests/harness/harness.py sandbox-down

test: venv
	@tests/run-suite.sh $(SCENARIOS)

lint: venv
	@tests/run-suite.sh --only lint

unit: venv
	@$(BIN)/pytest tests/unit -q

docs: venv
	@$(BIN)/python tests/harness/role_docs.py

integration: venv
	@$(BIN)/pytest tests/integration -q

molecule: images
	@$(BIN)/molecule test -s $(SCENARIO)

bench: images
	@tests/run-bench.sh

clean: demo-down
	docker volume ls -q --filter name=sai-molecule-engine- | xargs -r docker volume rm
	rm -rf $(VENV) .cache
