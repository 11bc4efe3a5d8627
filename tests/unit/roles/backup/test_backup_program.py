# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup program of roles/backup (files/selfhosted_ai_backup.py), imported by path.

Real: restic (the Debian package's /usr/bin/restic) against a repository under tmp_path, driven through the
program's main(), with a test-only `files` method registered as a hook (it copies a directory).
Fakes (named as such): a Docker client, redis-py, a boto3 S3 client, a Qdrant HTTP server that answers the
calls documented at https://qdrant.tech/documentation/concepts/snapshots/. They record what the hooks ask
for, so the tests assert exact command lines and the order of stop/rename/copy/start.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parents[4] / 'roles' / 'backup' / 'files' / 'selfhosted_ai_backup.py'
RESTIC = '/usr/bin/restic'
PASSWORD = 'correct horse battery staple 7f3a'


def load_program():
    spec = importlib.util.spec_from_file_location('selfhosted_ai_backup', PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prog = load_program()

needs_restic = pytest.mark.skipif(
    not os.path.exists(RESTIC), reason='%s is missing: install the restic package' % RESTIC
)


class FilesHook(prog.Hook):
    """Test-only method: the service's data is the directory `source`."""

    required = ('source',)
    optional = ('fail',)

    def dump(self, target_dir):
        if self.service.get('fail'):
            raise prog.BackupError('the fake service is down')
        shutil.copytree(self.service['source'], os.path.join(target_dir, 'data'))
        return {'source': self.service['source']}

    def verify(self, staged_dir, manifest):
        if not os.path.isdir(os.path.join(staged_dir, 'data')):
            raise prog.BackupError('data is missing')

    def restore(self, staged_dir, manifest):
        raise AssertionError('restore must not be reached in these tests')


class Env:
    def __init__(self, tmp_path, capsys):
        self.tmp = tmp_path
        self.capsys = capsys
        self.config_path = tmp_path / 'config.json'
        self.source = tmp_path / 'source'
        self.source.mkdir()
        self.config = {
            'host': 'sandbox-main',
            'restic': RESTIC,
            'staging_dir': str(tmp_path / 'backup' / 'staging'),
            'state_file': str(tmp_path / 'backup' / 'state.json'),
            'metrics_file': str(tmp_path / 'metrics' / 'backup.prom'),
            'repository': {'url': str(tmp_path / 'repo'), 'password': PASSWORD, 'env': {}},
            'retention': {'daily': 7, 'weekly': 4},
            'services': [{'name': 'files', 'method': 'files', 'source': str(self.source)}],
        }
        self.write()

    def write(self):
        self.config_path.write_text(json.dumps(self.config))

    def run(self, *argv):
        code = prog.main(['--config', str(self.config_path)] + list(argv))
        out, err = self.capsys.readouterr()
        lines = out.strip().splitlines()
        assert len(lines) == 1, out  # one JSON object on stdout
        return code, json.loads(lines[0]), err

    def state(self):
        return json.loads(Path(self.config['state_file']).read_text())

    def restic(self, *args, check=True):
        env = dict(os.environ, RESTIC_REPOSITORY=self.config['repository']['url'], RESTIC_PASSWORD=PASSWORD)
        return subprocess.run([RESTIC] + list(args), env=env, capture_output=True, text=True, check=check)


@pytest.fixture
def env(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(prog.HOOKS, 'files', FilesHook)
    return Env(tmp_path, capsys)


@pytest.fixture(scope='module')
def initialised_repository(tmp_path_factory):
    """One repository initialised by the program (restic init costs seconds), copied for each test."""
    if not os.path.exists(RESTIC):
        pytest.skip('%s is missing: install the restic package' % RESTIC)
    repo = tmp_path_factory.mktemp('template') / 'repo'
    env = dict(os.environ, RESTIC_REPOSITORY=str(repo), RESTIC_PASSWORD=PASSWORD)
    subprocess.run([RESTIC, 'init'], env=env, capture_output=True, check=True)
    return repo


@pytest.fixture
def ready(env, initialised_repository):
    (env.source / 'blob.bin').write_bytes(os.urandom(300_000))
    (env.source / 'notes.txt').write_text('hello\n')
    shutil.copytree(initialised_repository, env.tmp / 'repo')
    return env


# --- Configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    'change, message',
    [
        (lambda c: c['services'].append({'name': 'x', 'method': 'mysql'}), "service x: unknown method 'mysql'"),
        (lambda c: c.update(retention={'daily': 0, 'weekly': 0}), 'retention keeps nothing'),
        (
            lambda c: c['repository'].update(url='ftp://backup.example/repo'),
            "repository url 'ftp://backup.example/repo'",
        ),
        (lambda c: c['repository'].update(url='relative/repo'), 'unsupported'),
        (
            lambda c: c['services'].append({'name': 'pg', 'method': 'postgres'}),
            'service pg (method postgres) lacks container',
        ),
        (lambda c: c['services'][0].update(typo=1), 'unknown keys typo'),
        (lambda c: c.pop('state_file'), "no 'state_file'"),
    ],
)
def test_bad_configuration_exits_2_before_anything_runs(env, change, message):
    env.config['restic'] = str(env.tmp / 'no-such-restic')  # reaching restic would be exit 1, not 2
    change(env.config)
    env.write()
    code, out, err = env.run('backup')
    assert code == 2
    assert message in out['error']
    assert not os.path.exists(env.config['staging_dir'])


def test_usage_errors_exit_2(env):
    code, out, err = env.run('stage', '--service', 'files')
    assert code == 2 and '--target' in out['error']
    code, out, err = env.run('snapshots', '--service', 'nope')
    assert code == 2 and "no service 'nope'" in out['error']


def test_accepted_repository_schemes():
    base = {
        'host': 'h',
        'staging_dir': '/s',
        'state_file': '/s.json',
        'retention': {'daily': 1},
        'services': [],
    }
    for url in ('/srv/restic', 's3:http://10.0.0.5:8333/backups', 'sftp:user@host:/path', 'rest:https://h:8000/'):
        prog.validate_config(dict(base, repository={'url': url, 'password': 'p'}))


def test_compiles_for_python_3_8():
    import ast

    ast.parse(PROGRAM.read_text(), feature_version=(3, 8))


# --- Real restic --------------------------------------------------------------------------------------


@needs_restic
def test_init_twice_second_unchanged(env):
    code, out, err = env.run('init')
    assert (code, out['changed']) == (0, True)
    config_file = env.tmp / 'repo' / 'config'
    before = config_file.read_bytes()
    code, out, err = env.run('init')
    assert (code, out['changed']) == (0, False)
    assert config_file.read_bytes() == before


@needs_restic
def test_init_with_wrong_password_does_not_reinitialise(ready):
    config_file = ready.tmp / 'repo' / 'config'
    before = config_file.read_bytes()
    ready.config['repository']['password'] = 'wrong'
    ready.write()
    code, out, err = ready.run('init')
    assert code == 1
    assert 'wrong password' in out['error']
    assert config_file.read_bytes() == before


@needs_restic
def test_backup_then_unchanged_backup_adds_almost_nothing(ready, monkeypatch):
    calls = []
    real_run = subprocess.run

    def recording_run(cmd, **kwargs):
        calls.append((cmd, kwargs.get('env') or {}))
        return real_run(cmd, check=kwargs.pop('check'), **kwargs)

    monkeypatch.setattr(prog.subprocess, 'run', recording_run)
    code, out, err = ready.run('backup')
    assert code == 0, out
    first = out['services']['files']
    assert first['data_added'] > 300_000
    assert first['files_new'] == 3  # data/blob.bin, data/notes.txt, MANIFEST.json

    code, out, err = ready.run('backup')
    assert code == 0, out
    second = out['services']['files']
    # Retention (daily 7, weekly 4) keeps one snapshot a day: the newer of the two.
    assert out['forget'] == [{'tags': ['selfhosted_ai', 'service:files'], 'kept': 1, 'removed': 1}]
    assert second['data_added'] < 10_000  # only the manifest's new time and the trees
    # Re-staged files have a new inode and ctime, so restic reads them again: deduplicated, they add nothing.
    assert second['files_new'] == 0 and second['files_changed'] + second['files_unmodified'] == 3

    # The password and the repository's keys travel in the environment, never on a command line or in the output.
    for cmd, cmd_env in calls:
        assert not any(PASSWORD in part for part in cmd)
        assert cmd_env['RESTIC_PASSWORD'] == PASSWORD
        assert cmd_env['RESTIC_CACHE_DIR'] == str(ready.tmp / 'backup' / 'cache')
    # No `restic unlock` unless a lock is in the way: every restic start derives the key anew (0.5 s).
    assert [cmd[1] for cmd, dummy in calls] == ['backup', 'forget'] * 2
    backup_cmd = calls[0][0]
    staged = os.path.join(ready.config['staging_dir'], 'files')
    assert backup_cmd[1:] == [
        'backup',
        staged,
        '--tag',
        'selfhosted_ai',
        '--tag',
        'service:files',
        '--host',
        'sandbox-main',
        '--json',
    ]
    assert PASSWORD not in out and PASSWORD not in err

    state = ready.state()
    assert state['ok'] is True and state['error'] is None
    assert state['last_success'] == state['last_run']
    assert state['services']['files']['snapshot'] == out['services']['files']['snapshot']
    metrics = Path(ready.config['metrics_file']).read_text()
    assert 'selfhosted_ai_backup_last_run_ok 1\n' in metrics
    assert (
        'selfhosted_ai_backup_data_added_bytes{service="files"} %d\n' % state['services']['files']['data_added']
        in metrics
    )
    assert 'selfhosted_ai_backup_last_success_timestamp_seconds ' in metrics

    code, out, err = ready.run('snapshots')
    assert code == 0
    assert [s['short_id'] for s in out['snapshots']] == [second['snapshot']]
    assert out['services']['files'] == out['snapshots'][0]
    assert out['snapshots'][0]['paths'] == [staged]

    manifest = json.loads(Path(staged, 'MANIFEST.json').read_text())
    assert manifest['files']['data/notes.txt'] == {
        'size': 6,
        'sha256': hashlib.sha256(b'hello\n').hexdigest(),
    }
    assert (manifest['service'], manifest['method'], manifest['host']) == ('files', 'files', 'sandbox-main')


@needs_restic
def test_dated_snapshots_pruned_to_what_the_policy_promises(ready):
    ready.config['retention'] = {'daily': 2}
    other = ready.tmp / 'other'
    other.mkdir()
    (other / 'x').write_text('x')
    ready.config['services'].append({'name': 'other', 'method': 'files', 'source': str(other)})
    ready.write()
    code, out, err = ready.run('backup', '--service', 'other', '--time', '2024-03-01 12:00:00', '--no-forget')
    assert code == 0, out
    for day in range(1, 6):
        (ready.source / 'notes.txt').write_text('day %d\n' % day)
        code, out, err = ready.run(
            'backup', '--service', 'files', '--time', '2024-03-%02d 12:00:00' % day, '--no-forget'
        )
        assert code == 0, out
    code, out, err = ready.run('snapshots')
    assert len(out['snapshots']) == 6

    code, out, err = ready.run('forget')
    assert code == 0, out
    code, out, err = ready.run('snapshots')
    kept = [(s['service'], s['time'][:10]) for s in out['snapshots']]
    # Grouped by host and tags: the one snapshot of `other` is its own group and stays.
    assert sorted(kept) == [('files', '2024-03-04'), ('files', '2024-03-05'), ('other', '2024-03-01')]


@needs_restic
def test_stale_lock_of_a_killed_backup_does_not_block_the_next(ready):
    env = dict(os.environ, RESTIC_REPOSITORY=ready.config['repository']['url'], RESTIC_PASSWORD=PASSWORD)
    reader, writer = os.pipe()
    killed = subprocess.Popen(
        [RESTIC, 'backup', '--stdin', '--stdin-filename', 'slow'], stdin=reader, env=env, stderr=subprocess.DEVNULL
    )
    os.close(reader)
    locks = ready.tmp / 'repo' / 'locks'

    def lock_files():
        return [path for path in locks.iterdir() if re.fullmatch('[0-9a-f]{64}', path.name)]

    def lock_written():
        # Killed while it still writes its lock (a slow, loaded machine), restic would leave an unreadable file
        # instead of a stale lock: wait until the lock reads back whole.
        found = lock_files()
        return len(found) == 1 and ready.restic('cat', 'lock', found[0].name, '--no-lock', check=False).returncode == 0

    deadline = time.monotonic() + 30
    while not lock_written():
        assert time.monotonic() < deadline, 'restic took no lock'
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    os.close(writer)
    assert len(lock_files()) == 1
    # The lock blocks what needs the repository exclusively ...
    blocked = ready.restic('forget', '--prune', '--keep-last', '1', check=False)
    assert blocked.returncode != 0 and 'locked' in blocked.stderr
    # ... the program, refused by it, runs `restic unlock`, which removes it (its process is gone), and
    # tries again: backup and prune run.
    code, out, err = ready.run('backup')
    assert code == 0, out
    assert 'removing stale locks' in err
    assert 'forget' in out
    assert list(locks.iterdir()) == []


@needs_restic
def test_backup_and_release_undo_a_hold_left_by_a_killed_run(ready, monkeypatch):
    docker = FakeDocker()
    docker.add('openbao', status='paused')
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    holds = prog.holds_dir(ready.config)
    prog.write_atomically(os.path.join(holds, 'openbao.json'), json.dumps({'container': 'openbao', 'held': 'paused'}))
    code, out, err = ready.run('backup')
    assert code == 0, out
    assert out['released'] == ['unpaused container openbao, paused by an interrupted run']
    assert 'unpaused container openbao' in err
    assert docker.events == [('unpause', 'openbao')]
    assert os.listdir(holds) == []
    # The unit's ExecStopPost, after a run that left nothing held:
    assert ready.run('release')[:2] == (0, {'changed': False, 'ok': True, 'released': []})


@needs_restic
def test_wrong_password_is_a_clear_failure(ready):
    assert ready.run('backup')[0] == 0
    first_success = ready.state()['last_success']
    ready.config['repository']['password'] = 'not the password'
    ready.write()
    code, out, err = ready.run('backup')
    assert code == 1
    assert 'wrong password or no key found' in out['error']
    state = ready.state()
    assert state['ok'] is False and 'wrong password' in state['error']
    assert state['last_success'] == first_success  # kept from before
    assert 'selfhosted_ai_backup_last_run_ok 0\n' in Path(ready.config['metrics_file']).read_text()


@needs_restic
def test_one_failing_service_does_not_stop_the_others(ready):
    ready.config['services'].insert(0, {'name': 'broken', 'method': 'files', 'source': '/nonexistent', 'fail': True})
    ready.write()
    code, out, err = ready.run('backup')
    assert code == 1
    assert out['failed'] == ['broken']
    assert 'broken (the fake service is down)' in out['error']
    assert out['services']['files']['snapshot']
    state = ready.state()
    assert state['ok'] is False and state['last_success'] is None
    assert list(state['services']) == ['files']
    assert 'forget' not in out  # no pruning after a failed run


@needs_restic
def test_stage_verifies_and_refuses_what_it_must(ready):
    assert ready.run('backup')[0] == 0
    target = ready.tmp / 'stage1'
    code, out, err = ready.run('stage', '--service', 'files', '--target', str(target))
    assert code == 0, out
    staged = Path(out['path'])
    assert staged == target / ready.config['staging_dir'].lstrip('/') / 'files'
    assert (staged / 'data' / 'notes.txt').read_text() == 'hello\n'
    assert out['verified'] is True and out['files'] == 2  # MANIFEST.json does not list itself
    assert out['bytes'] == sum(f.stat().st_size for f in staged.rglob('*') if f.is_file() and f.name != 'MANIFEST.json')

    code, out, err = ready.run('stage', '--service', 'files', '--target', str(target))
    assert code == 2 and 'not an empty directory' in out['error']

    code, out, err = ready.run(
        'stage', '--service', 'files', '--snapshot', 'deadbeef', '--target', str(ready.tmp / 's2')
    )
    assert code == 1 and 'deadbeef is not a snapshot of service files' in out['error']


@needs_restic
def test_stage_refuses_a_snapshot_of_another_service(ready):
    other = ready.tmp / 'other'
    other.mkdir()
    (other / 'x').write_text('x')
    ready.config['services'].append({'name': 'other', 'method': 'files', 'source': str(other)})
    ready.write()
    code, out, err = ready.run('backup')
    assert code == 0, out
    other_id = out['services']['other']['snapshot']
    code, out, err = ready.run('stage', '--service', 'files', '--snapshot', other_id, '--target', str(ready.tmp / 's'))
    assert code == 1 and 'is not a snapshot of service files' in out['error']


@needs_restic
def test_a_byte_changed_after_the_manifest_fails_stage(ready, monkeypatch):
    real_write_manifest = prog.write_manifest

    def tampering(config, service, directory, metadata):
        manifest = real_write_manifest(config, service, directory, metadata)
        path = Path(directory, 'data', 'blob.bin')
        data = bytearray(path.read_bytes())
        data[1000] ^= 0x01
        path.write_bytes(bytes(data))
        return manifest

    monkeypatch.setattr(prog, 'write_manifest', tampering)
    assert ready.run('backup')[0] == 0
    code, out, err = ready.run('stage', '--service', 'files', '--target', str(ready.tmp / 'st'))
    assert code == 1
    assert 'data/blob.bin differs from its recorded size/sha256' in out['error']


@needs_restic
def test_restore_refuses_a_staged_copy_changed_after_stage(ready, monkeypatch):
    assert ready.run('backup')[0] == 0
    code, out, err = ready.run('stage', '--service', 'files', '--target', str(ready.tmp / 'st'))
    assert code == 0
    staged = Path(out['path'])
    (staged / 'data' / 'extra').write_text('slipped in')
    code, out, err = ready.run('restore', '--service', 'files', '--staged', str(staged))
    assert code == 1  # FilesHook.restore would raise AssertionError, also exit 1: check the message
    assert 'data/extra is not in the manifest' in out['error']
    (staged / 'data' / 'extra').unlink()
    (staged / 'data' / 'notes.txt').write_text('hellO\n')
    code, out, err = ready.run('restore', '--service', 'files', '--staged', str(staged))
    assert code == 1 and 'data/notes.txt differs' in out['error']


@needs_restic
def test_check_records_its_result(ready):
    assert ready.run('backup')[0] == 0
    code, out, err = ready.run('check', '--read-data-subset', '100%')
    assert code == 0, out
    state = ready.state()
    assert state['check_ok'] is True and state['last_check']
    pack = next(p for p in (ready.tmp / 'repo' / 'data').rglob('*') if p.is_file())
    pack.chmod(0o600)
    with open(pack, 'r+b') as handle:
        handle.seek(10)
        byte = handle.read(1)
        handle.seek(10)
        handle.write(bytes([byte[0] ^ 0xFF]))
    code, out, err = ready.run('check', '--read-data-subset', '100%')
    assert code == 1 and 'restic check failed' in out['error']
    assert ready.state()['check_ok'] is False


# --- Fakes: Docker --------------------------------------------------------------------------------------


class FakeExecAPI:
    """The low-level exec calls of docker.APIClient. `handler(cmd, user)` returns (stdout, stderr, exit code)."""

    def __init__(self, events, handler):
        self.events = events
        self.handler = handler
        self.execs = {}

    def exec_create(self, container_id, cmd, stdout=True, stderr=True, user='', environment=None):
        exec_id = 'exec%d' % len(self.execs)
        self.execs[exec_id] = {'cmd': list(cmd), 'user': user, 'container': container_id}
        return {'Id': exec_id}

    def exec_start(self, exec_id, stream=False, demux=False):
        entry = self.execs[exec_id]
        self.events.append(('exec', entry['container'], entry['user'], entry['cmd']))
        stdout, stderr, code = self.handler(entry['cmd'], entry['user'])
        entry['code'] = code
        for start in range(0, len(stdout), 7):  # several chunks: the hook must stream, not take one
            yield stdout[start : start + 7], None
        if stderr:
            yield None, stderr

    def exec_inspect(self, exec_id):
        return {'ExitCode': self.execs[exec_id]['code']}


class FakeContainer:
    def __init__(self, name, events, mounts=(), status='running'):
        self.name = name
        self.id = 'id-' + name
        self.events = events
        self.attrs = {'Mounts': list(mounts)}
        self.archives = []
        self.status = status

    def pause(self):
        self.events.append(('pause', self.name))
        self.status = 'paused'

    def unpause(self):
        self.events.append(('unpause', self.name))
        self.status = 'running'

    def stop(self):
        self.events.append(('stop', self.name))
        self.status = 'exited'

    def start(self):
        self.events.append(('start', self.name))
        self.status = 'running'

    def remove(self, force=False):
        self.events.append(('remove', self.name, force))

    def put_archive(self, path, data):
        raw = data.read()
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = {m.name: (m.uid, m.gid, tar.extractfile(m).read() if m.isfile() else None) for m in tar}
        self.archives.append((path, members))
        self.events.append(('put_archive', self.name, path))
        return True


class FakeVolume:
    def __init__(self, mountpoint):
        self.attrs = {'Mountpoint': mountpoint}


class FakeDocker:
    def __init__(self, handler=None):
        self.events = []
        self.api = FakeExecAPI(self.events, handler or (lambda cmd, user: (b'', b'', 0)))
        self.by_name = {}
        self.volume_paths = {}
        self.run_errors = []  # raised by containers.run, first first
        self.runs = []
        self.volume_root = ''  # where create() makes volumes (a test's tmp_path)
        docker = self

        class NotFound(Exception):  # the name docker.errors uses for a 404
            pass

        class Containers:
            def get(self, name):
                if name not in docker.by_name:
                    raise NotFound('No such container: %s' % name)
                return docker.by_name[name]

            def run(self, image, command, name=None, volumes=None, remove=False):
                docker.runs.append(
                    {'image': image, 'command': command, 'name': name, 'volumes': volumes, 'remove': remove}
                )
                docker.events.append(('run', image, command))
                if docker.run_errors:
                    raise docker.run_errors.pop(0)
                return b''

        class Volumes:
            def get(self, name):
                if name not in docker.volume_paths:
                    raise NotFound('get %s: no such volume' % name)
                return FakeVolume(docker.volume_paths[name])

            def create(self, name, labels):
                docker.events.append(('volume create', name, labels))
                docker.volume_paths[name] = docker.volume_root + '/' + name + '/_data'
                os.makedirs(docker.volume_paths[name])
                return FakeVolume(docker.volume_paths[name])

        self.containers = Containers()
        self.volumes = Volumes()

    def add(self, name, mounts=(), status='running'):
        self.by_name[name] = FakeContainer(name, self.events, mounts, status)
        return self.by_name[name]

    def execs(self):
        return [event[3] for event in self.events if event[0] == 'exec']


def hook_config(tmp_path):
    """A configuration whose state directory (where holds are recorded) is under tmp_path."""
    return {'host': 'h', 'staging_dir': str(tmp_path / 'staging'), 'state_file': str(tmp_path / 'state' / 'state.json')}


def make_hook(method, config=None, **service):
    config = config or {'host': 'h', 'staging_dir': '/nonexistent/staging', 'state_file': '/nonexistent/state.json'}
    service = dict(service, name=service.get('name', method), method=method)
    return prog.HOOKS[method](config, service)


# --- postgres -------------------------------------------------------------------------------------------

SEP = '\x1f'
PSQL = ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', 'template1']
SIGNATURE_QUERY = (
    'SELECT (SELECT system_identifier FROM pg_control_system()), pg_snapshot_xmax(pg_current_snapshot()),'
    ' (SELECT sum(tup_inserted + tup_updated + tup_deleted) FROM pg_stat_database)'
)


DATABASES_QUERY = (
    'SELECT datname, pg_get_userbyid(datdba), datacl, datconnlimit, ('
    "SELECT coalesce(jsonb_agg(jsonb_build_object('role', CASE s.setrole WHEN 0 THEN NULL"
    " ELSE pg_get_userbyid(s.setrole) END, 'settings', s.setconfig) ORDER BY s.setrole), '[]')"
    ' FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) FROM pg_database d'
    ' WHERE NOT datistemplate ORDER BY 1'
)


class FakePostgres:
    """Answers the commands the postgres hook runs; `fail` maps a command's first words to an exit code."""

    def __init__(self, databases):
        # (name, owner) or (name, owner, datacl as text, datconnlimit[, settings as JSON text])
        self.databases = [tuple(db) + ('', -1, '[]')[len(db) - 2 :] for db in databases]
        self.fail = {}
        self.signature = ('7300000000000000001', '812', '1234')  # system id, xid horizon, rows written

    def __call__(self, cmd, user):
        for prefix, code in self.fail.items():
            if ' '.join(cmd).startswith(prefix):
                return b'', b'ERROR: simulated failure\n', code
        if cmd == ['id', '-u', 'postgres']:
            return b'999\n', b'', 0
        if cmd == ['id', '-g', 'postgres']:
            return b'998\n', b'', 0
        if cmd[0] == 'pg_dumpall':
            return b'CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\n', b'', 0
        if cmd[0] == 'pg_dump':
            return ('PGDMP dump of %s ' % cmd[-1]).encode() * 5, b'', 0
        if cmd[0] == 'psql' and 'pg_current_snapshot()' in cmd[-1]:
            return (SEP.join(self.signature) + '\n').encode(), b'', 0
        if cmd[0] == 'psql' and 'SELECT datname' in cmd[-1]:
            return ''.join(SEP.join(str(field) for field in db) + '\n' for db in self.databases).encode(), b'', 0
        return b'', b'', 0


def postgres_docker(monkeypatch, pg):
    """A fake Docker whose `postgres` container answers as `pg`, installed as the program's client."""
    docker = FakeDocker(pg)
    docker.add('postgres')
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    return docker


def test_postgres_dump_runs_exactly_these_commands(tmp_path, monkeypatch):
    pg = FakePostgres(
        [
            (
                'app',
                'app_owner',
                '{=Tc/app_owner,app_owner=CTc/app_owner}',
                5,
                '[{"role": null, "settings": ["work_mem=8MB"]}]',
            ),
            ('old__before_restore_20240101T000000Z', 'x'),
            ('postgres', 'postgres'),
        ]
    )
    docker = postgres_docker(monkeypatch, pg)
    meta = make_hook('postgres', container='postgres').dump(str(tmp_path))
    assert docker.execs() == [
        PSQL + ['-F', SEP, '-c', SIGNATURE_QUERY],
        ['pg_dumpall', '--globals-only', '-U', 'postgres'],
        PSQL
        + [
            '-F',
            SEP,
            '-c',
            DATABASES_QUERY,
        ],
        ['pg_dump', '-Fc', '-U', 'postgres', '-d', 'app'],
        ['pg_dump', '-Fc', '-U', 'postgres', '-d', 'postgres'],
    ]
    assert {event[2] for event in docker.events} == {'postgres'}  # every exec as the postgres OS user
    assert (tmp_path / 'app.dump').read_bytes() == b'PGDMP dump of app ' * 5
    assert (tmp_path / 'globals.sql').read_text().startswith('CREATE ROLE app;')
    assert meta == {
        'databases': [
            {
                'name': 'app',
                'owner': 'app_owner',
                'file': 'app.dump',
                'acl': '{=Tc/app_owner,app_owner=CTc/app_owner}',
                'connection_limit': 5,
                'settings': [{'role': None, 'settings': ['work_mem=8MB']}],
            },
            {
                'name': 'postgres',
                'owner': 'postgres',
                'file': 'postgres.dump',
                'acl': '',
                'connection_limit': -1,
                'settings': [],
            },
        ],
        'skipped': ['old__before_restore_20240101T000000Z'],
        'signature': {'system': '7300000000000000001', 'xid_horizon': '812', 'rows_written': '1234'},
    }


def test_postgres_dump_fails_on_a_failed_pg_dump(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    pg.fail['pg_dump -Fc'] = 1
    postgres_docker(monkeypatch, pg)
    with pytest.raises(prog.BackupError, match=r'pg_dump failed in container postgres \(exit 1\): ERROR: simulated'):
        make_hook('postgres', container='postgres').dump(str(tmp_path))


def staged_postgres(tmp_path, databases):
    staged = tmp_path / 'staged'
    staged.mkdir()
    (staged / 'globals.sql').write_text('CREATE ROLE app;\n')
    for name, dummy in databases:
        (staged / ('%s.dump' % name)).write_bytes(b'PGDMP' + name.encode())
    meta = {'databases': [{'name': n, 'owner': o, 'file': '%s.dump' % n} for n, o in databases], 'skipped': []}
    service = {'name': 'postgres', 'method': 'postgres', 'container': 'postgres'}
    manifest = prog.write_manifest({'host': 'h'}, service, str(staged), meta)
    return staged, manifest


def test_postgres_restore_swaps_after_a_successful_pg_restore(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner'), ('postgres', 'postgres')])  # `fresh` is not live yet
    docker = postgres_docker(monkeypatch, pg)
    container = docker.by_name['postgres']
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner'), ('fresh', 'fresh_owner')])
    result = make_hook('postgres', container='postgres').restore(str(staged), manifest)

    assert result['databases'] == ['app', 'fresh']
    assert result['kept'] == {'app': 'app__before_restore_20260105T031000Z'}
    execs = docker.execs()
    assert execs[:2] == [['id', '-u', 'postgres'], ['id', '-g', 'postgres']]
    assert execs[2:] == [
        ['psql', '-X', '-q', '-U', 'postgres', '-d', 'template1', '-f', '/tmp/selfhosted_ai_restore/globals.sql'],
        PSQL
        + [
            '-F',
            SEP,
            '-c',
            DATABASES_QUERY,
        ],
        PSQL + ['-c', 'DROP DATABASE IF EXISTS "app__restoring"'],
        PSQL + ['-c', 'CREATE DATABASE "app__restoring" OWNER "app_owner" TEMPLATE template0'],
        [
            'pg_restore',
            '--exit-on-error',
            '-U',
            'postgres',
            '-d',
            'app__restoring',
            '/tmp/selfhosted_ai_restore/app.dump',
        ],
        PSQL + ['-c', 'ALTER DATABASE "app" WITH ALLOW_CONNECTIONS false'],
        PSQL
        + [
            '-c',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid()",
        ],
        PSQL
        + [
            '-c',
            'BEGIN; ALTER DATABASE "app" RENAME TO "app__before_restore_20260105T031000Z"; '
            'ALTER DATABASE "app__restoring" RENAME TO "app"; COMMIT;',
        ],
        PSQL + ['-c', 'ALTER DATABASE "app__before_restore_20260105T031000Z" WITH ALLOW_CONNECTIONS true'],
        PSQL + ['-c', 'DROP DATABASE IF EXISTS "fresh__restoring"'],
        PSQL + ['-c', 'CREATE DATABASE "fresh__restoring" OWNER "fresh_owner" TEMPLATE template0'],
        [
            'pg_restore',
            '--exit-on-error',
            '-U',
            'postgres',
            '-d',
            'fresh__restoring',
            '/tmp/selfhosted_ai_restore/fresh.dump',
        ],
        PSQL + ['-c', 'ALTER DATABASE "fresh__restoring" RENAME TO "fresh"'],
        ['rm', '-rf', '/tmp/selfhosted_ai_restore'],
    ]
    path, members = container.archives[0]
    assert path == '/tmp'
    assert members['selfhosted_ai_restore/app.dump'] == (999, 998, b'PGDMPapp')
    assert members['selfhosted_ai_restore'][:2] == (999, 998)


def test_postgres_restore_leaves_the_live_database_when_pg_restore_fails(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    pg.fail['pg_restore --exit-on-error'] = 1
    docker = postgres_docker(monkeypatch, pg)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    with pytest.raises(prog.BackupError) as failed:
        make_hook('postgres', container='postgres').restore(str(staged), manifest)
    assert 'the live database app is as it was, app__restoring was dropped' in str(failed.value)
    sql = [cmd[-1] for cmd in docker.execs() if cmd[0] == 'psql']
    assert not any('"app" ' in statement or statement.endswith('"app"') for statement in sql)
    assert sql[-1] == 'DROP DATABASE IF EXISTS "app__restoring"'
    assert docker.execs()[-1] == ['rm', '-rf', '/tmp/selfhosted_ai_restore']


def test_postgres_restore_is_refused_when_pg_restore_list_fails(tmp_path, monkeypatch, capsys):
    pg = FakePostgres([('app', 'app_owner')])
    pg.fail['pg_restore --list'] = 1
    docker = postgres_docker(monkeypatch, pg)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    config = {
        'host': 'h',
        'staging_dir': str(tmp_path / 'staging'),
        'state_file': str(tmp_path / 'state.json'),
        'repository': {'url': str(tmp_path / 'repo'), 'password': 'p'},
        'retention': {'daily': 1},
        'services': [{'name': 'postgres', 'method': 'postgres', 'container': 'postgres'}],
    }
    (tmp_path / 'config.json').write_text(json.dumps(config))
    code = prog.main(
        ['--config', str(tmp_path / 'config.json'), 'restore', '--service', 'postgres', '--staged', str(staged)]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert 'pg_restore --list app.dump failed' in out['error']
    assert ['pg_restore', '--list', '/tmp/selfhosted_ai_restore/app.dump'] in docker.execs()
    assert not any(cmd[0] == 'pg_restore' and '--exit-on-error' in cmd for cmd in docker.execs())
    assert not any('CREATE DATABASE' in cmd[-1] or 'RENAME' in cmd[-1] for cmd in docker.execs())


def test_postgres_restore_refuses_names_that_would_be_truncated(tmp_path, monkeypatch):
    docker = FakeDocker(FakePostgres([]))
    docker.add('postgres')
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    long_name = 'd' * 40
    staged, manifest = staged_postgres(tmp_path, [(long_name, 'o')])
    with pytest.raises(prog.BackupError, match='63 bytes; nothing was changed'):
        make_hook('postgres', container='postgres').restore(str(staged), manifest)
    assert docker.events == []


# --- valkey ---------------------------------------------------------------------------------------------


def test_postgres_dump_copies_its_volumes_beside_the_dumps(tmp_path, monkeypatch):
    """Supabase's db-config (the pgsodium root key) goes with the database it encrypts."""
    docker = postgres_docker(monkeypatch, FakePostgres([('postgres', 'postgres')]))
    key_dir = tmp_path / 'volumes' / 'supabase_db_config' / '_data'
    key_dir.mkdir(parents=True)
    (key_dir / 'pgsodium_root.key').write_text('root key')
    docker.volume_paths['supabase_db_config'] = str(key_dir)
    target = tmp_path / 'target'
    target.mkdir()
    hook = make_hook('postgres', container='postgres', volumes=['supabase_db_config'])
    meta = hook.dump(str(target))
    assert meta['volumes'] == ['supabase_db_config'] and [db['name'] for db in meta['databases']] == ['postgres']
    assert (target / 'volumes' / 'supabase_db_config' / 'pgsodium_root.key').read_text() == 'root key'
    assert (target / 'postgres.dump').exists()
    assert not [event for event in docker.events if event[0] in ('pause', 'stop')]  # the server keeps running
    # The next dump, with nothing written in between, reuses the dumps and copies the volume again.
    (key_dir / 'pgsodium_root.key').write_text('root key 2')
    assert hook.dump(str(target))['volumes'] == ['supabase_db_config']
    assert (target / 'volumes' / 'supabase_db_config' / 'pgsodium_root.key').read_text() == 'root key 2'


def test_postgres_restore_puts_its_volumes_back_first_then_waits_then_the_databases(tmp_path, monkeypatch):
    pg = FakePostgres([('postgres', 'postgres')])
    docker = postgres_docker(monkeypatch, pg)
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    live = tmp_path / 'volumes' / 'supabase_db_config' / '_data'
    live.mkdir(parents=True)
    (live / 'pgsodium_root.key').write_text('live key')
    docker.volume_paths['supabase_db_config'] = str(live)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    (staged / 'volumes' / 'supabase_db_config').mkdir(parents=True)
    (staged / 'volumes' / 'supabase_db_config' / 'pgsodium_root.key').write_text('backed-up key')
    manifest['metadata']['volumes'] = ['supabase_db_config']
    not_ready = [1]  # pg_isready fails once after the restart
    real = pg.__call__

    def answer(cmd, user):
        if cmd[0] == 'pg_isready':
            return (b'', b'no response\n', not_ready.pop()) if not_ready else (b'', b'', 0)
        return real(cmd, user)

    docker.api.handler = answer
    monkeypatch.setattr(prog.time, 'sleep', lambda seconds: None)
    hook = make_hook('postgres', container='postgres', superuser='supabase_admin', volumes=['supabase_db_config'])
    hook.verify(str(staged), manifest)
    docker.events.clear()
    result = hook.restore(str(staged), manifest)
    assert (live / 'pgsodium_root.key').read_text() == 'backed-up key'
    keep = tmp_path / 'volumes' / 'supabase_db_config' / 'before_restore_20260105T031000Z'
    assert (keep / 'pgsodium_root.key').read_text() == 'live key'
    assert result['databases'] == ['app'] and result['kept_volumes'] == {'supabase_db_config': str(keep)}
    order = [event[0] if event[0] != 'exec' else event[3][0] for event in docker.events]
    assert order[:4] == ['stop', 'start', 'pg_isready', 'pg_isready']
    assert 'pg_restore' in order[4:]
    assert ['pg_isready', '-U', 'supabase_admin'] in docker.execs()


def test_postgres_verify_refuses_a_staged_copy_without_its_volume(tmp_path, monkeypatch):
    postgres_docker(monkeypatch, FakePostgres([('app', 'app_owner')]))
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    manifest['metadata']['volumes'] = ['supabase_db_config']
    with pytest.raises(prog.BackupError, match='volume supabase_db_config is missing'):
        make_hook('postgres', container='postgres', volumes=['supabase_db_config']).verify(str(staged), manifest)


class FakeRedisModule:
    """redis-py's Redis.from_url, with LASTSAVE that moves on a while after BGSAVE."""

    class ResponseError(Exception):
        pass

    def __init__(self, bgsave_error=None):
        self.calls = []
        self.saved_at = int(time.time()) - 100
        self.bgsave_error = bgsave_error
        self.pending = 0
        module = self

        class Redis:
            @classmethod
            def from_url(cls, url, username=None, password=None, socket_timeout=None):
                module.calls.append(('from_url', url, username, password))
                return cls()

            def lastsave(self):
                module.calls.append(('lastsave',))
                if module.pending:
                    module.pending -= 1
                    if not module.pending:
                        module.saved_at = int(time.time())
                return datetime.datetime.fromtimestamp(module.saved_at)

            def bgsave(self):
                module.calls.append(('bgsave',))
                module.pending = 3
                if module.bgsave_error:
                    raise module.ResponseError(module.bgsave_error)

            def info(self, section):
                return {'rdb_last_bgsave_status': 'ok'}

            def config_get(self, name):
                return {
                    'dir': {'dir': '/data'},
                    'dbfilename': {'dbfilename': 'dump.rdb'},
                    'appendonly': {'appendonly': 'yes'},
                }.get(name, {})

        self.Redis = Redis


@pytest.fixture
def valkey_env(tmp_path, monkeypatch):
    data = tmp_path / 'volumes' / 'valkey_data' / '_data'
    data.mkdir(parents=True)
    (data / 'dump.rdb').write_bytes(b'REDIS0011 old data')
    (data / 'appendonlydir').mkdir()
    (data / 'appendonlydir' / 'appendonly.aof.1.base.rdb').write_bytes(b'old aof')
    acl = tmp_path / 'etc' / 'users.acl'
    acl.parent.mkdir()
    acl.write_text('user admin on #old ~* +@all\n')
    docker = FakeDocker()
    docker.add('valkey', mounts=[{'Type': 'volume', 'Source': str(data), 'Destination': '/data'}])
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    monkeypatch.setattr(prog.time, 'sleep', lambda seconds: None)
    service = {
        'container': 'valkey',
        'url': 'redis://127.0.0.1:6379',
        'user': 'admin',
        'password': 's3cret',
        'acl_file': str(acl),
    }
    return docker, data, acl, service


def test_an_unpublished_service_is_reached_at_its_container_address(valkey_env, monkeypatch):
    docker, data, acl, service = valkey_env
    docker.by_name['valkey'].attrs['NetworkSettings'] = {'Networks': {'ai_network': {'IPAddress': '172.30.0.4'}}}
    fake = FakeRedisModule(None)
    monkeypatch.setitem(sys.modules, 'redis', fake)
    service = {key: value for key, value in service.items() if key != 'url'}
    make_hook('valkey', **service)._redis()
    assert fake.calls[0] == ('from_url', 'redis://172.30.0.4:6379', 'admin', 's3cret')
    assert prog.service_url({'name': 'q', 'container': 'valkey', 'port': 6333}, 'http', 1) == 'http://172.30.0.4:6333'
    docker.by_name['valkey'].attrs['NetworkSettings'] = {'Networks': {}}
    with pytest.raises(prog.BackupError, match='container valkey has no network address'):
        prog.service_url({'name': 'v', 'container': 'valkey'}, 'redis', 6379)
    with pytest.raises(prog.ConfigError, match='service q: needs url or container'):
        prog.service_url({'name': 'q'}, 'http', 6333)


@pytest.mark.parametrize('bgsave_error', [None, 'Background save already in progress'])
def test_valkey_dump_waits_for_the_new_save(valkey_env, tmp_path, monkeypatch, bgsave_error):
    docker, data, acl, service = valkey_env
    fake = FakeRedisModule(bgsave_error)
    monkeypatch.setitem(sys.modules, 'redis', fake)
    target = tmp_path / 'target'
    target.mkdir()
    meta = make_hook('valkey', **service).dump(str(target))
    assert fake.calls[0] == ('from_url', 'redis://127.0.0.1:6379', 'admin', 's3cret')
    bgsave_at = fake.calls.index(('bgsave',))
    assert fake.calls[bgsave_at + 1 :].count(('lastsave',)) >= 3  # polled until LASTSAVE changed
    assert (target / 'dump.rdb').read_bytes() == b'REDIS0011 old data'
    assert (target / 'users.acl').read_text() == acl.read_text()
    assert (meta['dir'], meta['dbfilename'], meta['appenddirname']) == ('/data', 'dump.rdb', 'appendonlydir')


def test_valkey_dump_times_out(valkey_env, tmp_path, monkeypatch):
    docker, data, acl, service = valkey_env
    fake = FakeRedisModule()
    fake.Redis.bgsave = lambda self: fake.calls.append(('bgsave',))  # a save that never finishes
    monkeypatch.setitem(sys.modules, 'redis', fake)
    clock = iter(range(0, 10_000, 50))
    monkeypatch.setattr(prog.time, 'monotonic', lambda: next(clock))
    with pytest.raises(prog.BackupError, match='BGSAVE did not finish within 120 s'):
        make_hook('valkey', timeout=120, **service).dump(str(tmp_path))


def valkey_staged(tmp_path, rdb=b'REDIS0011 new data'):
    staged = tmp_path / 'staged'
    staged.mkdir()
    (staged / 'dump.rdb').write_bytes(rdb)
    (staged / 'users.acl').write_text('user admin on #new ~* +@all\n')
    meta = {
        'dir': '/data',
        'dbfilename': 'dump.rdb',
        'appenddirname': 'appendonlydir',
        'appendonly': 'yes',
        'appendfilename': 'appendonly.aof',
        'lastsave': 'x',
    }
    return staged, prog.write_manifest({'host': 'h'}, {'name': 'valkey', 'method': 'valkey'}, str(staged), meta)


def test_valkey_restore_keeps_the_live_data_and_starts_again(valkey_env, tmp_path, monkeypatch):
    docker, data, acl, service = valkey_env
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    staged, manifest = valkey_staged(tmp_path)
    seen_while_stopped = []
    container = docker.by_name['valkey']
    container.start = lambda: (
        seen_while_stopped.append(sorted(os.listdir(data))),
        docker.events.append(('start', 'valkey')),
    )
    hook = make_hook('valkey', **service)
    hook.verify(str(staged), manifest)
    result = hook.restore(str(staged), manifest)
    assert docker.events == [('stop', 'valkey'), ('start', 'valkey')]
    # When the container started, the new RDB was there, and (appendonly yes) an AOF whose base is that RDB:
    # with no AOF at all Valkey would start empty and ignore the RDB.
    assert seen_while_stopped == [
        [
            'appendonlydir',
            'appendonlydir.before_restore_20260105T031000Z',
            'dump.rdb',
            'dump.rdb.before_restore_20260105T031000Z',
        ]
    ]
    assert (data / 'appendonlydir' / 'appendonly.aof.1.base.rdb').read_bytes() == b'REDIS0011 new data'
    assert (data / 'appendonlydir' / 'appendonly.aof.manifest').read_text() == (
        'file appendonly.aof.1.base.rdb seq 1 type b\n'
    )
    assert (data / 'dump.rdb').read_bytes() == b'REDIS0011 new data'
    assert (data / 'dump.rdb.before_restore_20260105T031000Z').read_bytes() == b'REDIS0011 old data'
    assert (
        data / 'appendonlydir.before_restore_20260105T031000Z' / 'appendonly.aof.1.base.rdb'
    ).read_bytes() == b'old aof'
    assert acl.read_text() == 'user admin on #new ~* +@all\n'
    assert Path(str(acl) + '.before_restore_20260105T031000Z').read_text() == 'user admin on #old ~* +@all\n'
    assert str(acl) + '.before_restore_20260105T031000Z' in result['kept']


def test_valkey_verify_rejects_a_file_that_is_no_rdb(valkey_env, tmp_path):
    docker, data, acl, service = valkey_env
    staged, manifest = valkey_staged(tmp_path, rdb=b'<html>not an rdb')
    with pytest.raises(prog.BackupError, match='RDB magic'):
        make_hook('valkey', **service).verify(str(staged), manifest)
    assert docker.events == []


def test_valkey_restore_puts_the_live_files_back_when_the_copy_fails(valkey_env, tmp_path, monkeypatch):
    docker, data, acl, service = valkey_env
    staged, manifest = valkey_staged(tmp_path)
    real_copyfile = shutil.copyfile

    def failing_copyfile(src, dst, **kwargs):
        if str(dst).endswith('users.acl.restoring'):
            raise OSError(28, 'No space left on device')
        return real_copyfile(src, dst, **kwargs)

    monkeypatch.setattr(prog.shutil, 'copyfile', failing_copyfile)
    with pytest.raises(prog.BackupError, match='the live files were put back'):
        make_hook('valkey', **service).restore(str(staged), manifest)
    assert sorted(os.listdir(data)) == ['appendonlydir', 'dump.rdb']
    assert (data / 'dump.rdb').read_bytes() == b'REDIS0011 old data'
    assert os.listdir(data / 'appendonlydir') == ['appendonly.aof.1.base.rdb']  # the live AOF, not the new one
    assert (data / 'appendonlydir' / 'appendonly.aof.1.base.rdb').read_bytes() == b'old aof'
    assert acl.read_text() == 'user admin on #old ~* +@all\n'
    assert docker.events[-1] == ('start', 'valkey')


# --- s3 -------------------------------------------------------------------------------------------------


class FakeS3:
    """The boto3 S3 client calls the s3 hook makes, on an in-memory store {bucket: {key: (bytes, type)}}."""

    def __init__(self, store):
        self.store = store
        self.calls = []
        fake = self

        class Paginator:
            def paginate(self, Bucket):
                keys = sorted(fake.store[Bucket])
                for start in range(0, max(len(keys), 1), 2):  # two per page: pagination must be followed
                    yield {
                        'Contents': [
                            {
                                'Key': k,
                                'Size': len(fake.store[Bucket][k][0]),
                                'ETag': '"%s"' % hashlib.md5(fake.store[Bucket][k][0]).hexdigest(),
                            }
                            for k in keys[start : start + 2]
                        ]
                    }

        self.paginator = Paginator()

    def list_buckets(self):
        return {'Buckets': [{'Name': name} for name in self.store]}

    def get_paginator(self, name):
        assert name == 'list_objects_v2'
        return self.paginator

    def get_object(self, Bucket, Key):
        self.calls.append(('get_object', Bucket, Key))
        data, content_type = self.store[Bucket][Key]
        return {'Body': io.BytesIO(data), 'ContentType': content_type}

    def create_bucket(self, Bucket):
        self.calls.append(('create_bucket', Bucket))
        self.store[Bucket] = {}

    def put_object(self, Bucket, Key, Body, ContentType=None):
        self.calls.append(('put_object', Bucket, Key))
        self.store[Bucket][Key] = (Body if isinstance(Body, bytes) else Body.read(), ContentType)


def s3_hook(monkeypatch, fake, **extra):
    hook = make_hook('s3', endpoint='http://127.0.0.1:8333', access_key='a', secret_key='s', **extra)
    monkeypatch.setattr(hook, '_s3', lambda: fake)
    return hook


def s3_backup(hook, target):
    meta = hook.dump(str(target))
    return prog.write_manifest({'host': 'h'}, {'name': 's3', 'method': 's3'}, str(target), meta)


def test_s3_dump_downloads_only_what_changed(tmp_path, monkeypatch):
    store = {
        'docs': {'a.txt': (b'alpha', 'text/plain'), 'dir/b.bin': (b'beta', 'binary/octet-stream'), 'dir/': (b'', 'x')},
        'media': {'c.png': (b'gamma', 'image/png')},
        'scratch': {'tmp': (b'skip me', 'text/plain')},
    }
    fake = FakeS3(store)
    hook = s3_hook(monkeypatch, fake, exclude_buckets=['scratch'])
    target = tmp_path / 'object_store'
    target.mkdir()
    manifest = s3_backup(hook, target)
    assert (target / 'objects' / 'docs' / 'dir' / 'b.bin').read_bytes() == b'beta'
    assert not (target / 'objects' / 'scratch').exists()
    meta = manifest['metadata']
    assert meta['buckets'] == ['docs', 'media']
    assert meta['objects']['media/c.png']['sha256'] == hashlib.sha256(b'gamma').hexdigest()
    assert meta['markers'] == [{'bucket': 'docs', 'key': 'dir/'}]
    assert len([c for c in fake.calls if c[0] == 'get_object']) == 3
    hook.verify(str(target), manifest)

    # Second run: one object changed, one deleted, the rest unchanged.
    fake.calls.clear()
    store['docs']['a.txt'] = (b'ALPHA2', 'text/plain')
    del store['media']['c.png']
    manifest = s3_backup(hook, target)
    assert [c for c in fake.calls if c[0] == 'get_object'] == [('get_object', 'docs', 'a.txt')]
    assert manifest['metadata']['reused'] == 1
    assert not (target / 'objects' / 'media').exists()
    assert (target / 'objects' / 'docs' / 'a.txt').read_bytes() == b'ALPHA2'
    assert sorted(manifest['files']) == ['objects/docs/a.txt', 'objects/docs/dir/b.bin']


@pytest.mark.parametrize('key', ['../../etc/cron.d/evil', '/abs/path', 'a/../../b', 'a//b'])
def test_s3_keys_that_would_leave_the_staging_dir_are_refused(tmp_path, monkeypatch, key):
    fake = FakeS3({'docs': {key: (b'payload', 'text/plain'), 'fine.txt': (b'ok', 'text/plain')}})
    target = tmp_path / 'stage' / 'object_store'
    target.mkdir(parents=True)
    with pytest.raises(prog.BackupError) as refused:
        s3_hook(monkeypatch, fake).dump(str(target))
    assert repr('docs/%s' % key) in str(refused.value)
    assert fake.calls == []  # refused before any download
    written = [p for p in tmp_path.rglob('*') if p.is_file()]
    assert written == []


def test_s3_verify_and_restore(tmp_path, monkeypatch):
    store = {
        'docs': {'a.txt': (b'alpha', 'text/plain'), 'dir/': (b'', 'x')},
        'media': {'c.png': (b'gamma', 'image/png')},
    }
    fake = FakeS3(store)
    target = tmp_path / 'object_store'
    target.mkdir()
    manifest = s3_backup(s3_hook(monkeypatch, fake), target)

    live = FakeS3({'docs': {'a.txt': (b'changed', 'text/plain'), 'new.txt': (b'newer', 'text/plain')}})
    hook = s3_hook(monkeypatch, live)
    result = hook.restore(str(target), manifest)
    assert result['buckets_created'] == ['media']
    assert result['objects_uploaded'] == 2
    assert 'not in the snapshot were kept' in result['kept']
    assert live.store['docs']['a.txt'] == (b'alpha', 'text/plain')
    assert live.store['docs']['new.txt'] == (b'newer', 'text/plain')
    assert live.store['docs']['dir/'] == (b'', None)
    assert live.store['media']['c.png'] == (b'gamma', 'image/png')

    (target / 'objects' / 'docs' / 'a.txt').write_bytes(b'alphA')
    with pytest.raises(prog.BackupError, match='object docs/a.txt is missing or differs'):
        hook.verify(str(target), manifest)


# --- volume ---------------------------------------------------------------------------------------------


@pytest.fixture
def volume_env(tmp_path, monkeypatch):
    vol = tmp_path / 'volumes' / 'openbao_data'
    data = vol / '_data'
    (data / 'core').mkdir(parents=True)
    (data / 'core' / 'keyring').write_bytes(b'old keyring')
    os.symlink('core/keyring', data / 'link')
    os.chmod(data / 'core', 0o750)
    docker = FakeDocker()
    docker.add('openbao')
    docker.volume_paths['openbao_data'] = str(data)
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    return docker, vol, data


def test_volume_dump_pauses_and_copies_with_metadata(volume_env, tmp_path):
    docker, vol, data = volume_env
    target = tmp_path / 'target'
    target.mkdir()
    copied_while_paused = []
    real_copy = prog.copy_tree_with_owners

    def watching_copy(src, dst):
        copied_while_paused.append(docker.events[-1])
        real_copy(src, dst)

    prog_copy = pytest.MonkeyPatch()
    prog_copy.setattr(prog, 'copy_tree_with_owners', watching_copy)
    config = hook_config(tmp_path)
    try:
        meta = make_hook('volume', config, container='openbao', volumes=['openbao_data']).dump(str(target))
    finally:
        prog_copy.undo()
    assert docker.events == [('pause', 'openbao'), ('unpause', 'openbao')]
    assert copied_while_paused == [('pause', 'openbao')]
    assert os.listdir(prog.holds_dir(config)) == []  # the hold was recorded, and removed once undone
    staged = target / 'volumes' / 'openbao_data'
    assert (staged / 'core' / 'keyring').read_bytes() == b'old keyring'
    assert os.readlink(staged / 'link') == 'core/keyring'
    assert (staged / 'core').stat().st_mode & 0o777 == 0o750
    assert meta == {'volumes': ['openbao_data']}


def test_volume_dump_unpauses_when_the_copy_fails(volume_env, tmp_path, monkeypatch):
    docker, vol, data = volume_env

    def failing_copy(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(prog, 'copy_tree_with_owners', failing_copy)
    config = hook_config(tmp_path)
    with pytest.raises(OSError):
        make_hook('volume', config, container='openbao', volumes=['openbao_data']).dump(str(tmp_path / 'target'))
    assert docker.events == [('pause', 'openbao'), ('unpause', 'openbao')]
    assert os.listdir(prog.holds_dir(config)) == []


def test_volume_dump_records_the_hold_while_the_container_is_paused(volume_env, tmp_path, monkeypatch):
    docker, vol, data = volume_env
    config = hook_config(tmp_path)
    seen = []

    def recording_copy(src, dst):
        seen.append(
            (docker.by_name['openbao'].status, json.loads(Path(prog.holds_dir(config), 'openbao.json').read_text()))
        )

    monkeypatch.setattr(prog, 'copy_tree_with_owners', recording_copy)
    make_hook('volume', config, container='openbao', volumes=['openbao_data']).dump(str(tmp_path / 'target'))
    [(status, hold)] = seen
    assert status == 'paused'
    assert {key: hold[key] for key in ('container', 'held', 'helper')} == {
        'container': 'openbao',
        'held': 'paused',
        'helper': None,
    }


def test_a_container_that_cannot_be_paused_is_not_recorded_as_held(volume_env, tmp_path, monkeypatch):
    """Paused by the operator already: Docker refuses, and no later run may unpause what it did not pause."""
    docker, vol, data = volume_env
    config = hook_config(tmp_path)

    def refuse():
        raise RuntimeError('409 Client Error: Conflict (Container openbao is already paused)')

    monkeypatch.setattr(docker.by_name['openbao'], 'pause', refuse)
    with pytest.raises(RuntimeError, match='already paused'):
        make_hook('volume', config, container='openbao', volumes=['openbao_data']).dump(str(tmp_path / 'target'))
    assert os.listdir(prog.holds_dir(config)) == []
    assert prog.release_holds(config) == []


def test_a_dump_killed_while_the_container_is_paused_leaves_its_hold_for_the_next_run(volume_env, tmp_path):
    """A real SIGKILL of a process inside the dump; the next run (here release_holds) finds the container
    paused, as Docker keeps it, unpauses it and drops the record."""
    docker, vol, data = volume_env
    config = hook_config(tmp_path)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the run that gets killed: it says when it copies, then copies forever
        try:
            os.close(reader)

            def endless_copy(src, dst):
                os.write(writer, b'copying')
                while True:
                    time.sleep(1)

            prog.copy_tree_with_owners = endless_copy
            make_hook('volume', config, container='openbao', volumes=['openbao_data']).dump(str(tmp_path / 'target'))
        finally:
            os._exit(1)
    os.close(writer)
    assert os.read(reader, 7) == b'copying'
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    os.close(reader)
    assert os.listdir(prog.holds_dir(config)) == ['openbao.json']
    docker.by_name['openbao'].status = 'paused'  # what Docker shows for the killed run's pause
    released = prog.release_holds(config)
    assert released == ['unpaused container openbao, paused by an interrupted run']
    assert docker.events == [('unpause', 'openbao')]
    assert os.listdir(prog.holds_dir(config)) == []


@pytest.mark.parametrize(
    'held, status, events, said',
    [
        ('paused', 'paused', [('unpause', 'openbao')], 'unpaused container openbao'),
        ('paused', 'running', [], 'container openbao, paused by an interrupted run, runs again already'),
        ('stopped', 'exited', [('start', 'openbao')], 'started container openbao'),
        ('stopped', 'running', [], 'container openbao, stopped by an interrupted run, runs again already'),
        ('paused', None, [], 'container openbao, paused by an interrupted run, is gone'),
    ],
)
def test_release_undoes_only_what_is_still_held(volume_env, tmp_path, held, status, events, said):
    docker, vol, data = volume_env
    config = hook_config(tmp_path)
    if status is None:
        del docker.by_name['openbao']
    else:
        docker.by_name['openbao'].status = status
    prog.write_atomically(
        os.path.join(prog.holds_dir(config), 'openbao.json'), json.dumps({'container': 'openbao', 'held': held})
    )
    [line] = prog.release_holds(config)
    assert line.startswith(said)
    assert docker.events == events
    assert os.listdir(prog.holds_dir(config)) == []


def test_release_without_holds_does_not_reach_docker(tmp_path, monkeypatch):
    def no_docker():
        raise AssertionError('Docker reached without a hold to release')

    monkeypatch.setattr(prog, 'docker_client', no_docker)
    config = hook_config(tmp_path)
    assert prog.release_holds(config) == []
    os.makedirs(prog.holds_dir(config))
    prog.write_atomically(os.path.join(prog.holds_dir(config), 'openbao.json'), '{}')
    os.rename(
        os.path.join(prog.holds_dir(config), 'openbao.json'), os.path.join(prog.holds_dir(config), '.openbao.json.tmp')
    )
    assert prog.release_holds(config) == []  # a temporary file of write_atomically is no record


def volume_staged(tmp_path):
    staged = tmp_path / 'staged'
    (staged / 'volumes' / 'openbao_data' / 'core').mkdir(parents=True)
    (staged / 'volumes' / 'openbao_data' / 'core' / 'keyring').write_bytes(b'new keyring')
    meta = {'volumes': ['openbao_data']}
    return staged, prog.write_manifest({'host': 'h'}, {'name': 'openbao', 'method': 'volume'}, str(staged), meta)


def test_volume_restore_keeps_the_old_data_beside_data(volume_env, tmp_path, monkeypatch):
    docker, vol, data = volume_env
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    staged, manifest = volume_staged(tmp_path)
    container = docker.by_name['openbao']
    at_start = []
    container.start = lambda: (
        at_start.append((data / 'core' / 'keyring').read_bytes()),
        docker.events.append(('start', 'openbao')),
    )
    result = make_hook('volume', container='openbao', volumes=['openbao_data']).restore(str(staged), manifest)
    keep = vol / 'before_restore_20260105T031000Z'
    assert result['kept'] == {'openbao_data': str(keep)}
    assert docker.events == [('stop', 'openbao'), ('start', 'openbao')]
    assert at_start == [b'new keyring']
    assert (keep / 'core' / 'keyring').read_bytes() == b'old keyring'
    assert os.readlink(keep / 'link') == 'core/keyring'
    assert sorted(os.listdir(data)) == ['core']


def test_volume_restore_puts_the_data_back_when_the_copy_fails(volume_env, tmp_path, monkeypatch):
    docker, vol, data = volume_env
    staged, manifest = volume_staged(tmp_path)
    real_copy = prog.copy_tree_with_owners

    def half_copy(src, dst):
        real_copy(src, dst)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(prog, 'copy_tree_with_owners', half_copy)
    with pytest.raises(prog.BackupError, match='its live data was put back'):
        make_hook('volume', container='openbao', volumes=['openbao_data']).restore(str(staged), manifest)
    assert (data / 'core' / 'keyring').read_bytes() == b'old keyring'
    assert sorted(os.listdir(vol)) == ['_data']
    assert docker.events == [('stop', 'openbao'), ('start', 'openbao')]


# --- qdrant (a fake server answering the documented snapshot API) ---------------------------------------


def snapshot_tar(name):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w') as tar:
        body = ('segments of %s' % name).encode()
        info = tarfile.TarInfo('config.json')
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return raw.getvalue()


class FakeQdrant:
    def __init__(self):
        self.requests = []
        self.collections = ['docs', 'memory']
        self.snapshots = {}
        self.url = None


def qdrant_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def _send(self, status, payload=None, raw=None):
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/octet-stream' if raw is not None else 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length) if length else b''
            state.requests.append((self.command, self.path, self.headers.get('api-key'), body))
            if self.headers.get('api-key') != 'qd-key':
                return self._send(401, {'status': {'error': 'Invalid api-key'}})
            parts = self.path.split('?')[0].strip('/').split('/')
            if self.command == 'GET' and parts == ['collections']:
                return self._send(
                    200, {'result': {'collections': [{'name': c} for c in state.collections]}, 'status': 'ok'}
                )
            if self.command == 'POST' and len(parts) == 3 and parts[2] == 'snapshots':
                name = '%s-1234.snapshot' % parts[1]
                state.snapshots[(parts[1], name)] = snapshot_tar(parts[1])
                return self._send(200, {'result': {'name': name, 'size': 10}, 'status': 'ok'})
            if len(parts) == 4 and parts[2] == 'snapshots' and parts[3] != 'upload':
                if self.command == 'GET':
                    return self._send(200, raw=state.snapshots[(parts[1], parts[3])])
                if self.command == 'DELETE':
                    del state.snapshots[(parts[1], parts[3])]
                    return self._send(200, {'result': True, 'status': 'ok'})
            if self.command == 'POST' and parts[2:] == ['snapshots', 'upload']:
                return self._send(200, {'result': True, 'status': 'ok'})
            return self._send(404, {'status': {'error': 'not found'}})

        do_GET = do_POST = do_DELETE = _handle

    return Handler


@pytest.fixture
def fake_qdrant():
    state = FakeQdrant()
    server = HTTPServer(('127.0.0.1', 0), qdrant_handler(state))
    state.url = 'http://127.0.0.1:%d' % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_qdrant_snapshot_per_collection_then_upload(fake_qdrant, tmp_path):
    hook = make_hook('qdrant', url=fake_qdrant.url, api_key='qd-key')
    target = tmp_path / 'qdrant'
    target.mkdir()
    meta = hook.dump(str(target))
    assert meta == {'collections': ['docs', 'memory']}
    assert [(m, p) for m, p, key, body in fake_qdrant.requests] == [
        ('GET', '/collections'),
        ('POST', '/collections/docs/snapshots'),
        ('GET', '/collections/docs/snapshots/docs-1234.snapshot'),
        ('DELETE', '/collections/docs/snapshots/docs-1234.snapshot'),
        ('POST', '/collections/memory/snapshots'),
        ('GET', '/collections/memory/snapshots/memory-1234.snapshot'),
        ('DELETE', '/collections/memory/snapshots/memory-1234.snapshot'),
    ]
    assert fake_qdrant.snapshots == {}  # nothing left on the server
    assert (target / 'collections' / 'docs.snapshot').read_bytes() == snapshot_tar('docs')
    manifest = prog.write_manifest({'host': 'h'}, {'name': 'qdrant', 'method': 'qdrant'}, str(target), meta)
    hook.verify(str(target), manifest)

    fake_qdrant.requests.clear()
    result = hook.restore(str(target), manifest)
    assert result['collections'] == ['docs', 'memory']
    uploads = [(m, p, body) for m, p, key, body in fake_qdrant.requests]
    assert [(m, p) for m, p, body in uploads] == [
        ('POST', '/collections/docs/snapshots/upload?priority=snapshot'),
        ('POST', '/collections/memory/snapshots/upload?priority=snapshot'),
    ]
    assert b'name="snapshot"; filename="docs.snapshot"' in uploads[0][2]
    assert snapshot_tar('docs') in uploads[0][2]

    (target / 'collections' / 'memory.snapshot').write_bytes(b'not a tar')
    with pytest.raises(prog.BackupError, match='collection memory is missing or not a tar archive'):
        hook.verify(str(target), manifest)


def test_qdrant_wrong_api_key_is_an_error(fake_qdrant, tmp_path):
    with pytest.raises(prog.BackupError, match='Qdrant GET /collections: HTTP 401'):
        make_hook('qdrant', url=fake_qdrant.url, api_key='wrong').dump(str(tmp_path))


# --- neo4j ----------------------------------------------------------------------------------------------


@pytest.fixture
def neo4j_env(tmp_path, monkeypatch):
    data = tmp_path / 'volumes' / 'neo4j_data' / '_data'
    data.mkdir(parents=True)
    docker = FakeDocker()
    docker.add('neo4j')
    docker.volume_paths['neo4j_data'] = str(data)
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    config = {'host': 'h', 'staging_dir': str(tmp_path / 'staging'), 'state_file': str(tmp_path / 'state.json')}
    service = {
        'name': 'neo4j',
        'method': 'neo4j',
        'container': 'neo4j',
        'image': 'neo4j:5.26.0',
        'volume': 'neo4j_data',
        'database': 'neo4j',
    }
    return docker, prog.Neo4jHook(config, service)


def test_neo4j_dump_runs_neo4j_admin_offline(neo4j_env, tmp_path):
    docker, hook = neo4j_env
    target = tmp_path / 'target'
    target.mkdir()
    meta = hook.dump(str(target))
    assert meta == {'database': 'neo4j', 'file': 'neo4j.dump'}
    assert docker.events == [
        ('stop', 'neo4j'),
        (
            'run',
            'neo4j:5.26.0',
            ['neo4j-admin', 'database', 'dump', 'neo4j', '--to-path=/backups', '--overwrite-destination=true'],
        ),
        ('start', 'neo4j'),
    ]
    assert docker.runs[0]['volumes'] == {
        'neo4j_data': {'bind': '/data', 'mode': 'rw'},
        str(target): {'bind': '/backups', 'mode': 'rw'},
    }
    assert docker.runs[0]['remove'] is True
    assert docker.runs[0]['name'] == 'neo4j-backup-admin'
    assert os.listdir(prog.holds_dir(hook.config)) == []


def test_neo4j_dump_records_its_stop_and_its_one_off_container(neo4j_env, tmp_path):
    docker, hook = neo4j_env
    seen = []
    docker.run_errors.append(RuntimeError('killed here'))
    real_run = docker.containers.run

    def recording_run(*args, **kwargs):
        seen.append(json.loads(Path(prog.holds_dir(hook.config), 'neo4j.json').read_text()))
        return real_run(*args, **kwargs)

    docker.containers.run = recording_run
    with pytest.raises(prog.BackupError, match='killed here'):
        hook.dump(str(tmp_path))
    assert [(hold['held'], hold['helper']) for hold in seen] == [('stopped', 'neo4j-backup-admin')]


def test_release_removes_the_one_off_container_before_it_starts_neo4j(neo4j_env):
    docker, hook = neo4j_env
    docker.by_name['neo4j'].status = 'exited'
    docker.add('neo4j-backup-admin')  # still dumping: the killed run's Docker client was gone, not the container
    hold = {'container': 'neo4j', 'held': 'stopped', 'helper': 'neo4j-backup-admin'}
    prog.write_atomically(os.path.join(prog.holds_dir(hook.config), 'neo4j.json'), json.dumps(hold))
    assert prog.release_holds(hook.config) == ['started container neo4j, stopped by an interrupted run']
    assert docker.events == [('remove', 'neo4j-backup-admin', True), ('start', 'neo4j')]


def test_neo4j_dump_starts_the_container_when_neo4j_admin_fails(neo4j_env, tmp_path):
    docker, hook = neo4j_env
    docker.run_errors.append(RuntimeError("Command 'neo4j-admin database dump' returned non-zero exit status 1"))
    with pytest.raises(prog.BackupError, match='neo4j-admin database dump failed'):
        hook.dump(str(tmp_path))
    assert [event[0] for event in docker.events] == ['stop', 'run', 'start']


def test_neo4j_restore_dumps_the_live_database_first_then_loads(neo4j_env, tmp_path, monkeypatch):
    docker, hook = neo4j_env
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    staged = tmp_path / 'staged'
    staged.mkdir()
    (staged / 'neo4j.dump').write_bytes(b'DZV1 neo4j dump')
    manifest = prog.write_manifest(
        {'host': 'h'}, {'name': 'neo4j', 'method': 'neo4j'}, str(staged), {'database': 'neo4j', 'file': 'neo4j.dump'}
    )
    hook.verify(str(staged), manifest)
    result = hook.restore(str(staged), manifest)
    keep = tmp_path / 'staging' / 'neo4j.before_restore_20260105T031000Z'
    assert result == {'database': 'neo4j', 'kept': str(keep / 'neo4j.dump')}
    assert docker.events == [
        ('stop', 'neo4j'),
        (
            'run',
            'neo4j:5.26.0',
            ['neo4j-admin', 'database', 'dump', 'neo4j', '--to-path=/backups', '--overwrite-destination=true'],
        ),
        (
            'run',
            'neo4j:5.26.0',
            ['neo4j-admin', 'database', 'load', 'neo4j', '--from-path=/backups', '--overwrite-destination=true'],
        ),
        ('start', 'neo4j'),
    ]
    assert docker.runs[0]['volumes'][str(keep)] == {'bind': '/backups', 'mode': 'rw'}
    assert docker.runs[1]['volumes'][str(staged)] == {'bind': '/backups', 'mode': 'ro'}


def test_neo4j_restore_does_not_load_when_keeping_the_live_database_fails(neo4j_env, tmp_path):
    docker, hook = neo4j_env
    docker.run_errors.append(RuntimeError('disk full'))
    staged = tmp_path / 'staged'
    staged.mkdir()
    (staged / 'neo4j.dump').write_bytes(b'DZV1')
    manifest = prog.write_manifest(
        {'host': 'h'}, {'name': 'neo4j', 'method': 'neo4j'}, str(staged), {'database': 'neo4j', 'file': 'neo4j.dump'}
    )
    with pytest.raises(prog.BackupError, match='neo4j-admin database dump failed'):
        hook.restore(str(staged), manifest)
    assert [event[2][2] for event in docker.events if event[0] == 'run'] == ['dump']
    assert docker.events[-1] == ('start', 'neo4j')


def test_neo4j_verify_refuses_an_empty_dump(neo4j_env, tmp_path):
    docker, hook = neo4j_env
    (tmp_path / 'neo4j.dump').write_bytes(b'')
    with pytest.raises(prog.BackupError, match='neo4j.dump is missing or empty'):
        hook.verify(str(tmp_path), {'metadata': {'database': 'neo4j', 'file': 'neo4j.dump'}})
    assert docker.events == []


def test_database_grants_give_the_restored_database_the_backed_up_privileges():
    # A tenant's database: CONNECT and TEMPORARY revoked from PUBLIC, granted to its owner; a quoted grantee.
    acl = '{tenant_acme=CTc/postgres,"odd ""name"""=c/postgres}'
    assert prog.database_grants('db__restoring', acl, 5) == [
        'REVOKE ALL ON DATABASE "db__restoring" FROM PUBLIC',
        'GRANT CREATE, TEMPORARY, CONNECT ON DATABASE "db__restoring" TO "tenant_acme"',
        'GRANT CONNECT ON DATABASE "db__restoring" TO "odd ""name"""',
        'ALTER DATABASE "db__restoring" CONNECTION LIMIT 5',
    ]
    # PUBLIC (an empty grantee) keeps what it had; the defaults (no datacl) need no statement.
    assert prog.database_grants('d', '{=Tc/o,o=CTc/o}', -1) == [
        'REVOKE ALL ON DATABASE "d" FROM PUBLIC',
        'GRANT TEMPORARY, CONNECT ON DATABASE "d" TO PUBLIC',
        'GRANT CREATE, TEMPORARY, CONNECT ON DATABASE "d" TO "o"',
    ]
    assert prog.database_grants('d', '', -1) == []


def test_postgres_restore_gives_the_privileges_before_the_swap(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    docker = postgres_docker(monkeypatch, pg)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    manifest['metadata']['databases'][0].update(acl='{app_owner=CTc/app_owner}', connection_limit=3)
    make_hook('postgres', container='postgres').restore(str(staged), manifest)
    commands = [' '.join(cmd) for cmd in docker.execs()]
    created = commands.index(
        ' '.join(PSQL) + ' -c CREATE DATABASE "app__restoring" OWNER "app_owner" TEMPLATE template0'
    )
    assert commands[created + 1] == ' '.join(PSQL) + (
        ' -c REVOKE ALL ON DATABASE "app__restoring" FROM PUBLIC; '
        'GRANT CREATE, TEMPORARY, CONNECT ON DATABASE "app__restoring" TO "app_owner"; '
        'ALTER DATABASE "app__restoring" CONNECTION LIMIT 3'
    )
    assert commands[created + 2].startswith('pg_restore --exit-on-error')


def test_database_settings_are_set_again_as_pg_dump_would_write_them():
    # Rows of pg_db_role_setting: the database's own settings, and one role's inside the database.
    settings = [
        {'role': None, 'settings': ['search_path="$user", public, "we,""ird"', 'work_mem=8MB', "app.note=it's"]},
        {'role': 'tenant_acme', 'settings': ['statement_timeout=5s', 'temp_tablespaces=']},
    ]
    assert prog.database_settings('d__restoring', settings) == [
        "ALTER DATABASE \"d__restoring\" SET \"search_path\" TO '$user', 'public', 'we,\"ird'",
        'ALTER DATABASE "d__restoring" SET "work_mem" TO \'8MB\'',
        'ALTER DATABASE "d__restoring" SET "app.note" TO \'it\'\'s\'',
        'ALTER ROLE "tenant_acme" IN DATABASE "d__restoring" SET "statement_timeout" TO \'5s\'',
        'ALTER ROLE "tenant_acme" IN DATABASE "d__restoring" SET "temp_tablespaces" TO \'\'',
    ]
    assert prog.database_settings('d', []) == []


@pytest.mark.parametrize('value', ['"open', 'a b', 'a,,"b'])
def test_database_settings_refuse_a_list_they_cannot_read(value):
    with pytest.raises(prog.BackupError):
        prog.database_settings('d', [{'role': None, 'settings': ['search_path=' + value]}])


def test_postgres_restore_sets_the_database_settings_after_the_data_and_before_the_swap(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    docker = postgres_docker(monkeypatch, pg)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    manifest['metadata']['databases'][0]['settings'] = [
        {'role': None, 'settings': ['default_transaction_read_only=on']},
        {'role': 'app_owner', 'settings': ['work_mem=8MB']},
    ]
    make_hook('postgres', container='postgres').restore(str(staged), manifest)
    commands = [' '.join(cmd) for cmd in docker.execs()]
    restored = next(i for i, cmd in enumerate(commands) if cmd.startswith('pg_restore --exit-on-error'))
    assert commands[restored + 1] == ' '.join(PSQL) + (
        ' -c ALTER DATABASE "app__restoring" SET "default_transaction_read_only" TO \'on\'; '
        'ALTER ROLE "app_owner" IN DATABASE "app__restoring" SET "work_mem" TO \'8MB\''
    )
    assert 'WITH ALLOW_CONNECTIONS false' in commands[restored + 2]


def test_postgres_restore_drops_the_copy_when_a_setting_fails(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    pg.fail['psql -X -q -At -v ON_ERROR_STOP=1 -U postgres -d template1 -c ALTER ROLE'] = 1
    docker = postgres_docker(monkeypatch, pg)
    staged, manifest = staged_postgres(tmp_path, [('app', 'app_owner')])
    manifest['metadata']['databases'][0]['settings'] = [{'role': 'gone', 'settings': ['work_mem=8MB']}]
    with pytest.raises(prog.BackupError, match='the live database app is as it was, app__restoring was dropped'):
        make_hook('postgres', container='postgres').restore(str(staged), manifest)
    assert not any('RENAME' in cmd[-1] or 'ALLOW_CONNECTIONS' in cmd[-1] for cmd in docker.execs())


def test_postgres_dump_is_reused_while_the_server_has_not_changed(tmp_path, monkeypatch):
    pg = FakePostgres([('app', 'app_owner')])
    docker = postgres_docker(monkeypatch, pg)
    service = {'name': 'postgres', 'method': 'postgres', 'container': 'postgres'}
    hook = make_hook('postgres', container='postgres')
    first = hook.dump(str(tmp_path))
    prog.write_manifest({'host': 'h'}, service, str(tmp_path), first)
    dumps = [cmd for cmd in docker.execs() if cmd[0] == 'pg_dump']
    assert len(dumps) == 1

    # Same xid horizon and rows written: the previous dump is the server's state; nothing is dumped.
    assert hook.dump(str(tmp_path)) == first
    assert [cmd for cmd in docker.execs() if cmd[0] == 'pg_dump'] == dumps

    # A missing or truncated file, or a write since (a transaction took an xid, or only the row counters moved):
    # dumped again, into an emptied directory.
    for change in ('truncated', 'xid', 'rows'):
        before = len([cmd for cmd in docker.execs() if cmd[0] == 'pg_dump'])
        if change == 'truncated':
            (tmp_path / 'app.dump').write_bytes(b'PGDMP')
        elif change == 'xid':
            pg.signature = (pg.signature[0], '813', pg.signature[2])
        else:
            pg.signature = (pg.signature[0], pg.signature[1], '1235')
        (tmp_path / 'leftover.dump').write_bytes(b'old')
        metadata = hook.dump(str(tmp_path))
        prog.write_manifest({'host': 'h'}, service, str(tmp_path), metadata)
        assert len([cmd for cmd in docker.execs() if cmd[0] == 'pg_dump']) == before + 1, change
        assert not (tmp_path / 'leftover.dump').exists()
        assert metadata['signature'] == dict(zip(('system', 'xid_horizon', 'rows_written'), pg.signature, strict=True))


def test_volume_restore_on_a_wiped_host_creates_the_volume_and_leaves_the_container_to_its_role(tmp_path, monkeypatch):
    docker = FakeDocker()  # no container, no volume: the host lost both
    docker.volume_root = str(tmp_path / 'volumes')
    monkeypatch.setattr(prog, 'docker_client', lambda: docker)
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    staged, manifest = volume_staged(tmp_path)
    result = make_hook('volume', container='openbao', volumes=['openbao_data']).restore(str(staged), manifest)
    assert docker.events == [('volume create', 'openbao_data', {'selfhosted_ai.stack': 'volume'})]
    assert (tmp_path / 'volumes' / 'openbao_data' / '_data' / 'core' / 'keyring').read_bytes() == b'new keyring'
    assert result['container'] == 'absent: its role creates it'


# --- files ----------------------------------------------------------------------------------------------


def test_files_round_trip_keeps_the_previous_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(prog, 'stamp', lambda: '20260105T031000Z')
    live = tmp_path / 'controller_secrets'
    (live / 'postgres').mkdir(parents=True)
    (live / 'postgres' / 'superuser.json').write_text('{"value": "old"}')
    os.chmod(live / 'postgres' / 'superuser.json', 0o600)
    hook = make_hook('files', path=str(live))
    staged = tmp_path / 'staged'
    staged.mkdir()
    manifest = prog.write_manifest({'host': 'h'}, hook.service, str(staged), hook.dump(str(staged)))
    assert (staged / 'files' / 'postgres' / 'superuser.json').stat().st_mode & 0o777 == 0o600
    hook.verify(str(staged), manifest)
    (live / 'postgres' / 'superuser.json').write_text('{"value": "changed since"}')
    result = hook.restore(str(staged), manifest)
    assert (live / 'postgres' / 'superuser.json').read_text() == '{"value": "old"}'
    kept = tmp_path / 'controller_secrets.before_restore_20260105T031000Z'
    assert result == {'path': str(live), 'kept': str(kept)}
    assert (kept / 'postgres' / 'superuser.json').read_text() == '{"value": "changed since"}'
    with pytest.raises(prog.BackupError, match='is not a directory'):
        make_hook('files', path=str(tmp_path / 'missing')).dump(str(staged))
