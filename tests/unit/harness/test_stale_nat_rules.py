# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The harness removes the masquerading rules of Docker networks whose bridge is gone, and only those."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location('harness', ROOT / 'tests' / 'harness' / 'harness.py')
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

RULES = """-P POSTROUTING ACCEPT
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.19.0.0/16 ! -o br-3ae8ef820c4d -j MASQUERADE
-A POSTROUTING -s 172.21.0.0/16 ! -o br-dcbebef6031c -j MASQUERADE
-A POSTROUTING -s 10.0.0.0/8 ! -o eth9 -j MASQUERADE
-A POSTROUTING -s 172.22.0.0/16 -o br-6c79d5b53988 -j MASQUERADE
"""


def test_only_the_rules_of_missing_docker_bridges_are_deleted(tmp_path, monkeypatch):
    for interface in ('docker0', 'br-3ae8ef820c4d'):
        (tmp_path / interface).mkdir()
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=RULES if '-S' in command else '', stderr='')

    monkeypatch.setattr(harness.shutil, 'which', lambda name: f'/usr/sbin/{name}')
    monkeypatch.setattr(harness.subprocess, 'run', run)
    harness.remove_stale_nat_rules(tmp_path)
    deletions = [command for command in calls if '-D' in command]
    # eth9 is not Docker's, and a rule of another shape is not Docker's either, though their interfaces are missing.
    assert deletions == [
        [
            'iptables', '--wait', '-t', 'nat', '-D', 'POSTROUTING',
            '-s', '172.21.0.0/16', '!', '-o', 'br-dcbebef6031c', '-j', 'MASQUERADE',
        ]
    ]  # fmt: skip


def test_nothing_is_run_without_iptables(monkeypatch):
    def run(command, **kwargs):
        raise AssertionError(f'ran {command}')

    monkeypatch.setattr(harness.shutil, 'which', lambda name: None)
    monkeypatch.setattr(harness.subprocess, 'run', run)
    harness.remove_stale_nat_rules(Path('/nonexistent'))
