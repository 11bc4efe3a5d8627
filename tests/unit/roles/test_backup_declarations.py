# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No stateful role can drop out of the backups silently.

Every role whose containers keep a named volume declares what the backup role saves of it
(``__<role>_backup`` in vars/main.yml): one of the backup program's methods, with exactly the settings
that method takes, or ``method: none`` with the reason. And the backup lookup can find it: the role is in
ROLE_GROUPS.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import ROLE_GROUPS

ROOT = Path(__file__).resolve().parents[3]
KEEPS_A_VOLUME = re.compile(r"container_volumes:|type: volume|'type': 'volume'|^\s+volumes:", re.M)
# Keys of a declaration that the backup role handles itself (not passed to the program as they are).
ROLE_KEYS = {'method', 'secrets', 'not_started_reason'}


def _program():
    spec = importlib.util.spec_from_file_location(
        'prog', ROOT / 'roles' / 'backup' / 'files' / 'selfhosted_ai_backup.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROGRAM = _program()


def roles_keeping_volumes():
    for role in sorted(path.parent.parent for path in (ROOT / 'roles').glob('*/tasks/main.yml')):
        if role.name == 'container':  # the pipeline itself: its callers declare
            continue
        # tasks, and vars where a role builds its container definitions (tenant_apps)
        files = sorted((role / 'tasks').glob('*.yml')) + sorted((role / 'vars').glob('*.yml'))
        if KEEPS_A_VOLUME.search(''.join(path.read_text() for path in files)):
            yield role.name


def declaration(role):
    path = ROOT / 'roles' / role / 'vars' / 'main.yml'
    return (yaml.safe_load(path.read_text()) or {}).get(f'__{role}_backup') if path.is_file() else None


def test_the_roles_that_keep_volumes_are_found():
    assert {'postgres', 'valkey', 'object_store', 'openbao', 'n8n', 'reverse_proxy', 'tenant_apps'} <= set(
        roles_keeping_volumes()
    )


@pytest.mark.parametrize('role', list(roles_keeping_volumes()))
def test_a_role_that_keeps_a_volume_declares_its_backup(role):
    declared = declaration(role)
    assert declared, f'{role} keeps a Docker volume but declares no __{role}_backup in vars/main.yml (docs/backup.md)'
    if declared['method'] == 'none':
        assert declared.get('reason'), f'{role}: method none needs the reason'
        return
    assert role in ROLE_GROUPS, f'{role} declares a backup, but the backup lookup cannot find its hosts (ROLE_GROUPS)'
    hook = PROGRAM.HOOKS.get(declared['method'])
    assert hook, f'{role}: {declared["method"]!r} is not a method of the backup program ({sorted(PROGRAM.HOOKS)})'
    settings = (set(declared) - ROLE_KEYS) | set(declared.get('secrets') or {})
    assert set(hook.required) <= settings, f'{role}: the {declared["method"]} method needs {sorted(hook.required)}'
    assert settings <= set(hook.required) | set(hook.optional), (
        f'{role}: the {declared["method"]} method does not take {sorted(settings - set(hook.required) - set(hook.optional))}'
    )
