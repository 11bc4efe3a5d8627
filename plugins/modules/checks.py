#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: checks
short_description: A role's input checks, each with its own message, in one task
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (!UNKNOWN)
description:
  - Evaluates the conditions of each check in O(checks), in order, as M(ansible.builtin.assert) does, and fails with
    the message of the first check whose condition is false - what a chain of assert tasks does, in one task. A
    rerun pays for one task instead of one per check, and a message is rendered only when its check fails.
  - With O(argument_spec), the task first checks the variables a role's argument specs name, as
    M(ansible.builtin.validate_argument_spec) does (types, choices, required options; the same message), so a role
    validates its input in one task.
  - Runs on the controller; the host is not contacted.
  - This is an action plugin; the module file only documents it.
options:
  argument_spec:
    description:
      - The options of an argument spec, checked against the variables of the same names before any check; a
        variable that does not match is an error listing every mismatch.
      - Either the name of an entry point of the argument specs of the role the task belongs to (C(main) reads
        C(argument_specs.main.options) of the role's C(meta/argument_specs.yml)) or a mapping of options.
    type: raw
  checks:
    description: The checks, evaluated in order; the first that fails stops the task.
    type: list
    elements: dict
    required: true
    suboptions:
      that:
        description: Conditions, expressions of the form C(when) takes; all must be true.
        type: list
        elements: str
        required: true
      msg:
        description: The error when a condition is false, rendered then (with C(item) for a check with O(checks[].loop)).
        type: str
        required: true
      loop:
        description: A list; the conditions are evaluated for each element as C(item).
        type: raw
      when:
        description: Conditions under which the check applies; a check whose C(when) is false is skipped.
        type: list
        elements: str
attributes:
  action:
    support: full
    description: The action plugin evaluates the checks on the controller.
  check_mode:
    support: full
    description: Evaluates the checks as in a normal run.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Changes nothing.
"""

EXAMPLES = r"""
- name: Check the role's settings
  selfhosted_ai.stack.checks:
    argument_spec: main
    checks:
      - that: postgres_memory_mb | int >= 256
        msg: "postgres_memory_mb must be at least 256 (got {{ postgres_memory_mb }})."
      - that:
          - item.name is match('^[a-z_][a-z0-9_]{0,62}$')
        msg: "postgres_databases entry {{ item.name | default('(no name)') }}: the name must be a lower-case identifier."
        loop: "{{ postgres_databases }}"
      - that: postgres_published_port | int > 0
        when: postgres_databases | length > 0
        msg: postgres_databases needs postgres_published_port.
"""

RETURN = r"""
msg:
  description: The message of the check that failed, or how many checks passed.
  returned: always
  type: str
assertion:
  description: The condition that was false.
  returned: failed
  type: str
argument_errors:
  description: What did not match the argument spec, one message per variable.
  returned: failed
  type: list
  elements: str
"""
