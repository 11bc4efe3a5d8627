# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""files, run whole against paths under tmp_path."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.modules import files


@pytest.fixture
def run(run_module):
    def _run(check_mode=False, diff=False, **args):
        return run_module(files.main, args, check_mode=check_mode, diff=diff)

    return _run


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_directories_and_files_are_created_with_their_modes(run, tmp_path):
    conf = tmp_path / 'etc' / 'svc'
    result = run(
        directories=[{'path': str(conf), 'mode': '0700'}],
        files=[
            {'path': str(conf / 'a.conf'), 'content': 'a = 1\n', 'mode': '0644'},
            {'path': str(conf / 'secret'), 'content': 's3cr3t', 'mode': '0400'},
        ],
    )
    assert result['changed']
    assert result['changed_paths'] == [str(conf), str(conf / 'a.conf'), str(conf / 'secret')]
    assert mode_of(conf) == 0o700 and mode_of(conf / 'a.conf') == 0o644 and mode_of(conf / 'secret') == 0o400
    assert (conf / 'a.conf').read_text() == 'a = 1\n' and (conf / 'secret').read_text() == 's3cr3t'
    # No temporary file is left beside them.
    assert sorted(os.listdir(conf)) == ['a.conf', 'secret']


def test_a_second_run_changes_nothing(run, tmp_path):
    args = dict(
        directories=[{'path': str(tmp_path / 'd'), 'mode': '0750'}],
        files=[{'path': str(tmp_path / 'd' / 'f'), 'content': 'x\n', 'mode': '0640'}],
    )
    assert run(**args)['changed']
    before = os.stat(tmp_path / 'd' / 'f').st_mtime_ns
    again = run(**args)
    assert not again['changed'] and again['changed_paths'] == []
    assert os.stat(tmp_path / 'd' / 'f').st_mtime_ns == before


def test_only_the_file_that_differs_is_written(run, tmp_path):
    (tmp_path / 'same').write_text('same\n')
    (tmp_path / 'other').write_text('old\n')
    result = run(
        files=[
            {'path': str(tmp_path / 'same'), 'content': 'same\n'},
            {'path': str(tmp_path / 'other'), 'content': 'new\n'},
        ],
        diff=True,
    )
    assert result['changed_paths'] == [str(tmp_path / 'other')]
    assert (tmp_path / 'other').read_text() == 'new\n'
    assert result['diff'] == [
        {
            'before_header': str(tmp_path / 'other'),
            'after_header': str(tmp_path / 'other'),
            'before': 'old\n',
            'after': 'new\n',
        }
    ]


def test_keep_content_creates_a_missing_file_and_leaves_an_existing_one_as_it_is(run, tmp_path):
    log = tmp_path / 'logs' / 'access.log'
    args = dict(
        directories=[{'path': str(log.parent), 'mode': '0755'}],
        files=[{'path': str(log), 'content': '', 'keep_content': True, 'mode': '0640'}],
    )
    created = run(**args)
    assert created['changed'] and created['changed_paths'] == [str(log.parent), str(log)]
    assert log.read_text() == '' and mode_of(log) == 0o640
    log.write_text('a line the service wrote\n')
    os.chmod(log, 0o644)
    kept = run(**args)
    assert kept['changed'] and kept['changed_paths'] == [str(log)]  # the mode only
    assert log.read_text() == 'a line the service wrote\n' and mode_of(log) == 0o640
    assert not run(**args)['changed']


def test_a_mode_alone_is_corrected(run, tmp_path):
    path = tmp_path / 'f'
    path.write_text('x')
    os.chmod(path, 0o644)
    result = run(files=[{'path': str(path), 'content': 'x', 'mode': '0600'}])
    assert result['changed_paths'] == [str(path)] and mode_of(path) == 0o600


def test_check_mode_reports_and_writes_nothing(run, tmp_path):
    (tmp_path / 'other').write_text('old\n')
    result = run(
        check_mode=True,
        directories=[{'path': str(tmp_path / 'new-dir')}],
        files=[
            {'path': str(tmp_path / 'other'), 'content': 'new\n'},
            {'path': str(tmp_path / 'new-dir' / 'f'), 'content': 'f\n'},
        ],
    )
    assert result['changed']
    assert result['changed_paths'] == [
        str(tmp_path / 'new-dir'),
        str(tmp_path / 'other'),
        str(tmp_path / 'new-dir' / 'f'),
    ]
    assert (tmp_path / 'other').read_text() == 'old\n' and not (tmp_path / 'new-dir').exists()


def test_a_file_that_fails_validation_is_not_written(run, tmp_path):
    path = tmp_path / 'app.conf'
    path.write_text('good\n')
    result = run(files=[{'path': str(path), 'content': 'bad\n', 'validate': 'grep -q good %s'}])
    assert result.failed and 'failed its validation' in result['msg']
    assert path.read_text() == 'good\n'
    assert os.listdir(tmp_path) == ['app.conf']


def test_validation_passes_the_new_content(run, tmp_path):
    path = tmp_path / 'app.conf'
    result = run(files=[{'path': str(path), 'content': 'good\n', 'validate': 'grep -q good %s'}])
    assert result['changed'] and path.read_text() == 'good\n'


def test_a_relative_path_is_refused_before_anything_changes(run, tmp_path):
    result = run(
        directories=[{'path': str(tmp_path / 'd')}],
        files=[{'path': 'relative/f', 'content': 'x'}],
    )
    assert result.failed and 'relative/f' in result['msg']
    assert not (tmp_path / 'd').exists()


def test_a_file_where_a_directory_should_be_is_refused(run, tmp_path):
    (tmp_path / 'd').write_text('not a directory')
    result = run(directories=[{'path': str(tmp_path / 'd')}])
    assert result.failed and 'not a directory' in result['msg']
    assert (tmp_path / 'd').read_text() == 'not a directory'


def test_a_missing_directory_is_named(run, tmp_path):
    result = run(files=[{'path': str(tmp_path / 'missing' / 'f'), 'content': 'x'}])
    assert result.failed and 'add it to directories' in result['msg']


def test_the_module_defaults_apply_where_an_entry_sets_nothing(run, tmp_path):
    result = run(
        mode='0640',
        directory_mode='0750',
        directories=[{'path': str(tmp_path / 'd')}, {'path': str(tmp_path / 'e'), 'mode': '0700'}],
        files=[
            {'path': str(tmp_path / 'd' / 'f'), 'content': 'x'},
            {'path': str(tmp_path / 'd' / 'g'), 'content': 'y', 'mode': '0600'},
        ],
    )
    assert result['changed']
    assert mode_of(tmp_path / 'd') == 0o750 and mode_of(tmp_path / 'e') == 0o700
    assert mode_of(tmp_path / 'd' / 'f') == 0o640 and mode_of(tmp_path / 'd' / 'g') == 0o600


def test_a_validate_without_the_placeholder_is_refused_before_anything_changes(run, tmp_path):
    result = run(
        files=[
            {'path': str(tmp_path / 'first'), 'content': 'x'},
            {'path': str(tmp_path / 'second'), 'content': 'y', 'validate': 'true'},
        ],
    )
    assert result.failed and str(tmp_path / 'second') in result['msg']
    assert os.listdir(tmp_path) == []


def test_absent_paths_are_removed_after_the_others_and_a_missing_one_is_left(run, tmp_path):
    tree = tmp_path / 'old' / 'n8n-acme'
    tree.mkdir(parents=True)
    (tree / 'db_password').write_text('x')
    (tmp_path / 'stale.conf').write_text('y')
    os.symlink(tmp_path / 'kept', tmp_path / 'link')
    (tmp_path / 'kept').write_text('the link target stays')
    absent = [str(tree), str(tmp_path / 'stale.conf'), str(tmp_path / 'link'), str(tmp_path / 'never-there')]
    checked = run(check_mode=True, absent=absent)
    assert checked['changed_paths'] == absent[:3] and tree.exists()  # check mode removes nothing
    result = run(files=[{'path': str(tmp_path / 'new'), 'content': 'n'}], absent=absent)
    assert result['changed_paths'] == [str(tmp_path / 'new')] + absent[:3]
    assert not tree.exists() and not (tmp_path / 'stale.conf').exists() and not os.path.lexists(tmp_path / 'link')
    assert (tmp_path / 'kept').read_text() == 'the link target stays' and (tmp_path / 'old').is_dir()
    assert not run(absent=absent)['changed']


@pytest.mark.parametrize('path', ['/', '//', '/.', '/etc', '//etc/', '/etc/../', 'relative/dir'])
def test_absent_refuses_the_root_its_directories_and_relative_paths_before_anything_changes(
    run, tmp_path, monkeypatch, path
):
    # Whatever the module decides, nothing may be removed here: these are real paths of the machine running the test.
    def no_removal(*args, **kwargs):
        raise AssertionError('the module tried to remove %s' % (args,))

    monkeypatch.setattr(files.shutil, 'rmtree', no_removal)
    monkeypatch.setattr(files.os, 'unlink', no_removal)
    result = run(files=[{'path': str(tmp_path / 'f'), 'content': 'x'}], absent=[path])
    assert result.failed and ('refused' in result['msg'] or 'relative/dir' in result['msg']), result
    assert not (tmp_path / 'f').exists()
