# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_daemon_json, run whole against files under tmp_path (no Docker involved)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.modules import docker_daemon_json

USER_FILE = '{"runtimes": {"harness-runtime": {"path": "runc"}}, "log-driver": "journald", "debug": true}'


@pytest.fixture
def daemon_json(tmp_path):
    return tmp_path / 'docker' / 'daemon.json'


@pytest.fixture
def run(run_module, daemon_json):
    daemon_json.parent.mkdir(exist_ok=True)

    def _run(check_mode=False, diff=False, **args):
        args.setdefault('path', str(daemon_json))
        return run_module(docker_daemon_json.main, args, check_mode=check_mode, diff=diff)

    return _run


def backups(path):
    return sorted(p for p in os.listdir(str(path.parent)) if p != path.name)


def test_missing_file_is_created_with_the_keys(run, daemon_json):
    result = run(settings={'log-driver': 'json-file'}, mode='0644')
    assert result['changed'] and result['created'] and 'backup_file' not in result.result
    assert json.loads(daemon_json.read_text()) == {'log-driver': 'json-file'}
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644
    assert backups(daemon_json) == []


def test_other_keys_survive_and_the_old_file_is_kept(run, daemon_json):
    daemon_json.write_text(USER_FILE)
    result = run(settings={'log-driver': 'json-file', 'live-restore': True})
    assert result['changed'] and not result['created']
    assert json.loads(daemon_json.read_text()) == {
        'runtimes': {'harness-runtime': {'path': 'runc'}},
        'log-driver': 'json-file',
        'debug': True,
        'live-restore': True,
    }
    assert result['config'] == json.loads(daemon_json.read_text())
    assert backups(daemon_json) == [os.path.basename(result['backup_file'])]
    with open(result['backup_file']) as handle:
        assert handle.read() == USER_FILE
    again = run(settings={'log-driver': 'json-file', 'live-restore': True})
    assert not again['changed'] and len(backups(daemon_json)) == 1


def test_formatting_alone_is_no_change(run, daemon_json):
    daemon_json.write_text('{ "log-driver":"json-file",\n\n "debug" : true }')
    before = daemon_json.read_bytes()
    assert not run(settings={'log-driver': 'json-file'})['changed']
    assert daemon_json.read_bytes() == before


def test_backup_false_keeps_no_copy(run, daemon_json):
    daemon_json.write_text(USER_FILE)
    result = run(settings={'debug': False}, backup=False)
    assert result['changed'] and 'backup_file' not in result.result and backups(daemon_json) == []


@pytest.mark.parametrize(
    'content, message',
    [
        (b'{"log-driver": "json-file",', 'is not valid JSON'),
        (b'', 'is not valid JSON'),
        (b'["log-driver"]', 'holds a JSON list, not an object'),
        (b'{"a": "\xff"}', 'is not UTF-8 text'),
    ],
)
def test_a_file_that_is_not_a_json_object_is_left_alone(run, daemon_json, content, message):
    daemon_json.write_bytes(content)
    result = run(settings={'log-driver': 'json-file'})
    assert result.failed and message in result['msg'] and 'Nothing was changed' in result['msg']
    assert daemon_json.read_bytes() == content
    assert backups(daemon_json) == []


def test_a_file_that_cannot_be_read_is_not_treated_as_missing(run, daemon_json):
    daemon_json.mkdir()  # reading it fails with EISDIR, not ENOENT
    result = run(settings={'log-driver': 'json-file'})
    assert result.failed and 'cannot read %s' % daemon_json in result['msg']
    assert daemon_json.is_dir() and list(daemon_json.iterdir()) == []


def test_a_missing_directory_fails_before_writing(run_module, tmp_path):
    path = tmp_path / 'no-such-dir' / 'daemon.json'
    result = run_module(docker_daemon_json.main, {'path': str(path), 'settings': {'debug': True}})
    assert result.failed and 'does not exist' in result['msg'] and not path.parent.exists()
    # In check mode the directory may be missing because Docker's installation was only predicted.
    result = run_module(docker_daemon_json.main, {'path': str(path), 'settings': {'debug': True}}, check_mode=True)
    assert not result.failed and result['changed'] and result['created'] and not path.parent.exists()


def test_merge_settings_keep_the_other_entries_and_replace_their_own(run, daemon_json):
    daemon_json.write_text(
        json.dumps(
            {'runtimes': {'harness-runtime': {'path': 'runc'}, 'nvidia': {'path': 'old', 'runtimeArgs': ['--stale']}}}
        )
    )
    nvidia = {'path': 'nvidia-container-runtime', 'args': []}
    result = run(merge_settings={'runtimes': {'nvidia': nvidia}}, settings={'default-runtime': 'nvidia'})
    assert result['changed']
    assert json.loads(daemon_json.read_text()) == {
        'runtimes': {'harness-runtime': {'path': 'runc'}, 'nvidia': nvidia},
        'default-runtime': 'nvidia',
    }
    assert not run(merge_settings={'runtimes': {'nvidia': nvidia}}, settings={'default-runtime': 'nvidia'})['changed']


def test_merge_settings_into_a_missing_key(run, daemon_json):
    daemon_json.write_text('{"debug": true}')
    run(merge_settings={'runtimes': {'nvidia': {'path': 'x'}}})
    assert json.loads(daemon_json.read_text()) == {'debug': True, 'runtimes': {'nvidia': {'path': 'x'}}}


@pytest.mark.parametrize(
    'args, message',
    [
        ({'merge_settings': {'runtimes': {'nvidia': {'path': 'x'}}}}, "the key 'runtimes' holds a JSON list"),
        ({'merge_settings': {'runtimes': 'nvidia'}}, 'merge_settings.runtimes must be a mapping'),
        (
            {'settings': {'runtimes': {}}, 'merge_settings': {'runtimes': {}}},
            'keys in both settings and merge_settings',
        ),
    ],
)
def test_bad_merges_change_nothing(run, daemon_json, args, message):
    daemon_json.write_text('{"runtimes": ["runc"]}')
    result = run(**args)
    assert result.failed and message in result['msg']
    assert daemon_json.read_text() == '{"runtimes": ["runc"]}' and backups(daemon_json) == []


def test_check_mode_predicts_without_writing(run, daemon_json):
    daemon_json.write_text(USER_FILE)
    result = run(check_mode=True, diff=True, settings={'log-driver': 'json-file'})
    assert result['changed'] and result['config']['log-driver'] == 'json-file'
    assert result['diff']['before'] == USER_FILE and '"log-driver": "json-file"' in result['diff']['after']
    assert daemon_json.read_text() == USER_FILE and backups(daemon_json) == []
    daemon_json.unlink()
    result = run(check_mode=True, settings={'log-driver': 'json-file'}, mode='0644')
    assert result['changed'] and result['created'] and not daemon_json.exists()


def test_check_mode_reports_no_change_when_converged(run, daemon_json):
    run(settings={'log-driver': 'json-file'}, mode='0644')
    assert not run(check_mode=True, settings={'log-driver': 'json-file'}, mode='0644')['changed']
    assert run(check_mode=True, settings={'log-driver': 'json-file'}, mode='0600')['changed']
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644
