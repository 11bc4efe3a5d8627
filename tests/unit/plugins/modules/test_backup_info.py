# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_info, run whole, against a fake backup program (a script that records its arguments and prints
what the real program's `snapshots` prints) and a state file under tmp_path."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.modules import backup_info

SNAPSHOTS = [
    {
        'id': 'a' * 64,
        'short_id': 'aaaaaaaa',
        'time': '2026-01-04T03:10:02Z',
        'host': 'sandbox-main',
        'service': 'postgres',
        'paths': ['/var/lib/selfhosted_ai/backup/staging/postgres'],
    },
    {
        'id': 'b' * 64,
        'short_id': 'bbbbbbbb',
        'time': '2026-01-05T03:10:02Z',
        'host': 'sandbox-main',
        'service': 'postgres',
        'paths': ['/var/lib/selfhosted_ai/backup/staging/postgres'],
    },
]

FAKE_PROGRAM = """#!/bin/sh
printf '%s\\n' "$@" > '{calls}'
echo 'progress on stderr' >&2
cat '{answer}'
exit "$(cat '{rc}')"
"""


@pytest.fixture
def fake(tmp_path):
    program = tmp_path / 'selfhosted-ai-backup'
    paths = {name: tmp_path / name for name in ('calls', 'answer', 'rc')}
    program.write_text(FAKE_PROGRAM.format(**paths))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    paths['answer'].write_text(json.dumps({'snapshots': SNAPSHOTS, 'services': {'postgres': SNAPSHOTS[1]}}) + '\n')
    paths['rc'].write_text('0')
    state_file = tmp_path / 'state.json'
    config = tmp_path / 'config.json'
    config.write_text(json.dumps({'state_file': str(state_file), 'repository': {'password': 'secret'}}))
    paths.update(program=program, config=config, state_file=state_file)
    return paths


def args(fake, **extra):
    return dict({'program': str(fake['program']), 'config': str(fake['config'])}, **extra)


@pytest.mark.parametrize('check_mode', [False, True])
def test_returns_snapshots_services_and_state(run_module, fake, check_mode):
    state = {
        'last_run': '2026-01-05T03:10:00Z',
        'last_success': '2026-01-05T03:10:00Z',
        'ok': True,
        'error': None,
        'services': {},
    }
    fake['state_file'].write_text(json.dumps(state))
    result = run_module(backup_info.main, args(fake), check_mode=check_mode)
    assert not result.failed, result.result
    assert result['changed'] is False
    assert result['snapshots'] == SNAPSHOTS
    assert result['services'] == {'postgres': SNAPSHOTS[1]}
    assert result['state'] == state
    assert fake['calls'].read_text().splitlines() == ['--config', str(fake['config']), 'snapshots']
    assert 'secret' not in json.dumps(result.result)


def test_service_is_passed_on_and_no_state_yet(run_module, fake):
    result = run_module(backup_info.main, args(fake, service='postgres'))
    assert not result.failed, result.result
    assert fake['calls'].read_text().splitlines() == [
        '--config',
        str(fake['config']),
        'snapshots',
        '--service',
        'postgres',
    ]
    assert result['state'] is None


def test_program_failure_is_reported_with_its_error(run_module, fake):
    fake['answer'].write_text(
        json.dumps({'ok': False, 'error': 'restic snapshots failed (exit 1): Fatal: wrong password'}) + '\n'
    )
    fake['rc'].write_text('1')
    result = run_module(backup_info.main, args(fake))
    assert result.failed
    assert result['rc'] == 1
    assert 'snapshots failed (exit 1): restic snapshots failed (exit 1): Fatal: wrong password' in result['msg']


def test_missing_program_and_unreadable_config(run_module, fake, tmp_path):
    result = run_module(backup_info.main, args(fake, program=str(tmp_path / 'nope')))
    assert result.failed and 'is the role selfhosted_ai.stack.backup applied?' in result['msg']
    assert not os.path.exists(fake['calls'])
    result = run_module(backup_info.main, args(fake, config=str(tmp_path / 'missing.json')))
    assert result.failed and 'cannot read state_file from the configuration' in result['msg']
