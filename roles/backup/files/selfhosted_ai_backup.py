# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""selfhosted-ai-backup: application-consistent backups of the stack's services into a restic repository.

Installed on the managed host by the role selfhosted_ai.stack.backup, which writes its configuration
(default /etc/selfhosted_ai/backup/config.json, root only). For each configured service a hook writes an
application-consistent copy into <staging_dir>/<service>/ (a database dump, a Valkey RDB, the objects of
every bucket, ...), the program writes MANIFEST.json (sha256 and size of every file) beside it, and restic
stores that directory as one snapshot tagged `selfhosted_ai` and `service:<name>`.

Restoring is two steps: `stage` takes a snapshot out of the repository into a directory and verifies it
(manifest and the hook's own readability check); `restore` verifies the staged copy again and swaps it in.
The swap never deletes the live data: it is renamed and kept beside the restored data (`*before_restore_*`).

A dump that pauses or stops a container records that first (holding): `backup`, `restore` and `release`
(the unit's ExecStopPost) undo what a killed run left paused or stopped before anything else.

Every subcommand prints one JSON object on stdout at the end; progress goes to stderr.
Exit status: 0 ok, 1 failure, 2 bad configuration or usage. Secrets never go on a command line (restic
reads RESTIC_PASSWORD and the repository's keys from its environment) and are never printed.

No shebang here (like the collection's other files/*.py): the role installs it with one, or runs it with
/usr/bin/python3. Host dependencies (Debian packages): restic, python3-docker, python3-boto3, python3-redis, python3-requests;
each is imported only by the hook that needs it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

DEFAULT_CONFIG = '/etc/selfhosted_ai/backup/config.json'
TAG = 'selfhosted_ai'
MANIFEST = 'MANIFEST.json'
MANIFEST_VERSION = 1
CHUNK = 1024 * 1024
RETENTION_KEYS = ('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly')
REPOSITORY_SCHEMES = ('s3:', 'sftp:', 'rest:')


class ConfigError(Exception):
    """Bad configuration or usage: exit 2, before anything runs."""


class BackupError(Exception):
    """A step failed: exit 1. The message says what and what was left as it was."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def isotime(moment: datetime.datetime | None = None) -> str:
    return (moment or utcnow()).strftime('%Y-%m-%dT%H:%M:%SZ')


def stamp() -> str:
    """The suffix of what a restore keeps: UTC, sortable, safe in file and database names."""
    return utcnow().strftime('%Y%m%dT%H%M%SZ')


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: str, text: str, mode: int = 0o600) -> None:
    """Write text to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: str, default=None):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def remove_entry(path: str) -> None:
    """Remove a file, a symlink or a directory tree."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def empty_dir(path: str) -> None:
    """Make path an empty directory (mode 0700)."""
    if os.path.lexists(path):
        remove_entry(path)
    os.makedirs(path, mode=0o700)


def copy_tree_with_owners(source: str, target: str) -> None:
    """Copy the tree under source into target (which may exist), keeping symlinks, modes, times and owners."""
    shutil.copytree(source, target, symlinks=True, copy_function=shutil.copy2, dirs_exist_ok=True)
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        for name in [None] + dirs + files:
            src = root if name is None else os.path.join(root, name)
            dst = os.path.normpath(os.path.join(target, rel) if name is None else os.path.join(target, rel, name))
            st = os.lstat(src)
            os.lchown(dst, st.st_uid, st.st_gid)
            if name is None and not os.path.islink(src):
                os.chmod(dst, st.st_mode & 0o7777)  # chown clears setgid bits: set the mode again


def move_contents(source: str, target: str) -> list[str]:
    """Move every entry of directory source into directory target (same file system); return the names."""
    names = sorted(os.listdir(source))
    for name in names:
        os.rename(os.path.join(source, name), os.path.join(target, name))
    return names


def quote_ident(name: str) -> str:
    return '"%s"' % name.replace('"', '""')


def quote_literal(text: str) -> str:
    return "'%s'" % text.replace("'", "''")


# One aclitem of pg_database.datacl as text: grantee=privileges/grantor, the grantee empty for PUBLIC and
# double-quoted when it needs quoting.
_ACL_ITEM = re.compile(r'(?:"((?:[^"]|"")*)"|([^=,{}"]*))=([A-Za-z*]*)/(?:"(?:[^"]|"")*"|[^,}]*)')
_DATABASE_PRIVILEGES = {'C': 'CREATE', 'c': 'CONNECT', 'T': 'TEMPORARY'}


def database_grants(database: str, acl: str, connection_limit: int) -> list[str]:
    """The statements that give a restored database the privileges and connection limit the backed-up one had.

    pg_dump without --create leaves database-level properties out, and a new database lets PUBLIC connect;
    a tenant's database must not (CONNECT is revoked from PUBLIC and granted to its owner)."""
    statements = []
    if acl:  # NULL (empty here): the default privileges, which CREATE DATABASE gives anyway
        statements.append('REVOKE ALL ON DATABASE %s FROM PUBLIC' % quote_ident(database))
        for match in _ACL_ITEM.finditer(acl):
            quoted, plain, privileges = match.groups()
            grantee = quoted.replace('""', '"') if quoted is not None else plain
            names = [_DATABASE_PRIVILEGES[c] for c in privileges if c in _DATABASE_PRIVILEGES]
            if names:
                statements.append(
                    'GRANT %s ON DATABASE %s TO %s'
                    % (', '.join(names), quote_ident(database), quote_ident(grantee) if grantee else 'PUBLIC')
                )
    if int(connection_limit) != -1:
        statements.append('ALTER DATABASE %s CONNECTION LIMIT %d' % (quote_ident(database), int(connection_limit)))
    return statements


# Settings whose value is a list of names, each quoted on its own (pg_dump's variable_is_guc_list_quote).
_GUC_LIST_QUOTE = frozenset(
    (
        'local_preload_libraries',
        'search_path',
        'session_preload_libraries',
        'shared_preload_libraries',
        'temp_tablespaces',
        'unix_socket_directories',
    )
)


def split_guc_list(text: str) -> list[str]:
    """The names of a list setting as pg_db_role_setting stores it ('"$user", public'): comma-separated,
    double-quoted where needed ("" inside quotes is a quote), case kept (libpq's SplitGUCList)."""
    names, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if text.startswith('"', i):
            name, i = '', i + 1
            while True:
                end = text.find('"', i)
                if end < 0:
                    raise BackupError('unterminated quote in the setting value %r' % text)
                name += text[i:end]
                i = end + 1
                if not text.startswith('"', i):
                    break
                name += '"'
                i += 1
        else:
            start = i
            while i < len(text) and text[i] != ',' and not text[i].isspace():
                i += 1
            name = text[start:i]
        names.append(name)
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return names
        if text[i] != ',':
            raise BackupError('the setting value %r is not a list of names' % text)
        i += 1


def database_settings(database: str, settings: list[dict]) -> list[str]:
    """The statements that give a restored database the settings the backed-up one had (ALTER DATABASE ... SET,
    ALTER ROLE ... IN DATABASE ... SET), from pg_db_role_setting rows: {'role': name or None, 'settings':
    ['name=value', ...]}. pg_dump keeps them only with --create, which would restore under the live name."""
    statements = []
    for row in settings:
        target = (
            'ALTER ROLE %s IN DATABASE %s' % (quote_ident(row['role']), quote_ident(database))
            if row.get('role')
            else 'ALTER DATABASE %s' % quote_ident(database)
        )
        for setting in row.get('settings') or []:
            name, sep, value = setting.partition('=')
            if not sep or not name:
                raise BackupError('database %s: the setting %r is not name=value' % (database, setting))
            items = split_guc_list(value) if name.lower() in _GUC_LIST_QUOTE else [value]
            values = ', '.join(quote_literal(item) for item in items)
            statements.append('%s SET %s TO %s' % (target, quote_ident(name), values))
    return statements


# --- Docker ---------------------------------------------------------------------------------------------


def docker_client():
    try:
        import docker
    except ImportError as exc:
        raise BackupError('the Docker SDK for Python is missing (Debian package python3-docker): %s' % exc) from exc
    return docker.from_env()


def get_container(client, name: str):
    try:
        return client.containers.get(name)
    except Exception as exc:  # docker.errors.NotFound / APIError; the SDK may not be importable in tests
        raise BackupError('container %s: %s' % (name, exc)) from exc


def service_url(service: dict, scheme: str, default_port: int) -> str:
    """The service's `url`, or its container's address on its first network: services that are not published on
    the host (Valkey, Qdrant by default) are reached there, and the address is read at each run because a
    recreated container gets a new one."""
    if service.get('url'):
        return service['url']
    if not service.get('container'):
        raise ConfigError('service %s: needs url or container' % service['name'])
    container = get_container(docker_client(), service['container'])
    networks = container.attrs.get('NetworkSettings', {}).get('Networks') or {}
    addresses = [n.get('IPAddress') for n in networks.values() if n.get('IPAddress')]
    if not addresses:
        raise BackupError('container %s has no network address (is it running?)' % service['container'])
    return '%s://%s:%s' % (scheme, addresses[0], service.get('port', default_port))


def exec_stream(
    client, container, cmd: list[str], out=None, user: str = '', environment=None
) -> tuple[int, bytes, str]:
    """Run cmd in the container (Docker exec, no shell). stdout is written to the file object out as it
    arrives (a dump is never held in memory) or, with out None, returned; returns (exit code, stdout or b'',
    stderr). stderr's last lines are logged.
    The exit code comes from exec_inspect: the high-level exec_run does not give it when streaming."""
    api = client.api
    exec_id = api.exec_create(container.id, cmd, stdout=True, stderr=True, user=user, environment=environment)['Id']
    collected = []
    errors = []
    for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
        if stdout:
            if out is None:
                collected.append(stdout)
            else:
                out.write(stdout)
        if stderr:
            errors.append(stderr)
    code = api.exec_inspect(exec_id).get('ExitCode')
    text = b''.join(errors).decode('utf-8', 'replace').strip()
    if text:
        for line in text.splitlines()[-20:]:
            log('  [%s] %s' % (cmd[0], line))
    return (code if code is not None else -1), b''.join(collected), text


def exec_checked(client, container, cmd, out=None, user='', what=None) -> bytes:
    code, stdout, stderr = exec_stream(client, container, cmd, out=out, user=user)
    if code != 0:
        tail = ' '.join(stderr.splitlines()[-3:])
        raise BackupError('%s failed in container %s (exit %s): %s' % (what or cmd[0], container.name, code, tail))
    return stdout


def is_not_found(exc: Exception) -> bool:
    """Docker's 404 (docker.errors.NotFound), told apart without importing the SDK."""
    return type(exc).__name__ == 'NotFound' or getattr(getattr(exc, 'response', None), 'status_code', None) == 404


def find_container(client, name: str):
    """The container, or None when there is none of that name (a wiped or fresh host)."""
    try:
        return client.containers.get(name)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise BackupError('container %s: %s' % (name, exc)) from exc


def ensure_volume(client, name: str, service: str) -> str:
    """The volume's mount point; on a wiped or fresh host the volume is created first, labelled as the
    container pipeline labels it, so that the service's role finds it as its own."""
    try:
        return client.volumes.get(name).attrs['Mountpoint']
    except Exception as exc:
        if not is_not_found(exc):
            raise BackupError('volume %s: %s' % (name, exc)) from exc
    log('  creating volume %s' % name)
    return client.volumes.create(name=name, labels={'selfhosted_ai.stack': service}).attrs['Mountpoint']


def volume_mountpoint(client, name: str) -> str:
    try:
        return client.volumes.get(name).attrs['Mountpoint']
    except Exception as exc:
        raise BackupError('volume %s: %s' % (name, exc)) from exc


def host_path_in_container(container, path: str) -> str:
    """The host path of a path inside the container, through the container's mounts (volume or bind)."""
    best = None
    for mount in container.attrs.get('Mounts', []):
        dest = mount.get('Destination', '').rstrip('/') or '/'
        if (path == dest or path.startswith(dest.rstrip('/') + '/')) and (
            best is None or len(dest) > len(best['Destination'])
        ):
            best = mount
    if best is None or not best.get('Source'):
        raise BackupError('%s in container %s is not on a volume or bind mount' % (path, container.name))
    rest = os.path.relpath(path, best['Destination'])
    return os.path.normpath(os.path.join(best['Source'], rest))


# --- Containers a dump holds ----------------------------------------------------------------------------


def holds_dir(config: dict) -> str:
    return os.path.join(os.path.dirname(config['state_file']), 'holds')


@contextlib.contextmanager
def holding(config: dict, container, how: str, helper: str | None = None):
    """Pause (how 'paused') or stop (how 'stopped') the container while a dump reads its data, and undo that
    whatever the dump does. A record of the hold is written before and removed once it is undone: a run
    killed in between (SIGKILL, the OOM killer, a reboot) cannot undo it itself, and the next run, or the
    unit's ExecStopPost, does (release_holds). helper: the one-off container a dump runs on the held one's
    data; release_holds removes it before it starts the held container again."""
    record = os.path.join(holds_dir(config), '%s.json' % container.name)
    hold = {'container': container.name, 'held': how, 'helper': helper, 'since': isotime()}
    write_atomically(record, json.dumps(hold, sort_keys=True) + '\n')
    log('  %s container %s' % ('pausing' if how == 'paused' else 'stopping', container.name))
    try:
        if how == 'paused':
            container.pause()
        else:
            container.stop()
    except BaseException:
        os.unlink(record)  # not held: a container the operator paused must not be unpaused by the next run
        raise
    try:
        yield
    finally:
        log('  %s container %s' % ('unpausing' if how == 'paused' else 'starting', container.name))
        if how == 'paused':
            container.unpause()
        else:
            container.start()
        os.unlink(record)


def release_holds(config: dict) -> list[str]:
    """Undo the holds a killed run left (see holding): unpause what it paused, remove its one-off container
    and start what it stopped. Returns one line per hold released."""
    try:
        records = sorted(n for n in os.listdir(holds_dir(config)) if n.endswith('.json') and not n.startswith('.'))
    except FileNotFoundError:
        return []
    released = []
    client = docker_client() if records else None
    for name in records:
        path = os.path.join(holds_dir(config), name)
        hold = read_json(path)
        helper = find_container(client, hold['helper']) if hold.get('helper') else None
        if helper is not None:
            log('an interrupted run left its one-off container %s: removing it' % helper.name)
            helper.remove(force=True)
        container = find_container(client, hold['container'])
        if container is None:
            done = 'container %s, %s by an interrupted run, is gone' % (hold['container'], hold['held'])
        elif hold['held'] == 'paused' and container.status == 'paused':
            container.unpause()
            done = 'unpaused container %s, paused by an interrupted run' % container.name
        elif hold['held'] == 'stopped' and container.status != 'running':
            container.start()
            done = 'started container %s, stopped by an interrupted run' % container.name
        else:
            done = 'container %s, %s by an interrupted run, runs again already' % (container.name, hold['held'])
        log(done)
        os.unlink(path)
        released.append(done)
    return released


# --- Hooks ----------------------------------------------------------------------------------------------


class Hook:
    """One backup method. A new method is a subclass plus one line in HOOKS.

    dump(target_dir): write the application-consistent copy into the empty directory target_dir and
        return metadata for the manifest.
    verify(staged_dir, manifest): raise BackupError unless the staged copy is readable.
    restore(staged_dir, manifest): swap the staged copy in, keeping the live data; return a summary.
    """

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    keep_staging = False  # True: the staging dir is kept between runs (the hook reuses what did not change)

    def __init__(self, config: dict, service: dict):
        self.config = config
        self.service = service
        self.name = service['name']

    def dump(self, target_dir: str) -> dict:
        raise NotImplementedError

    def verify(self, staged_dir: str, manifest: dict) -> None:
        raise NotImplementedError

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        raise NotImplementedError


class PostgresHook(Hook):
    """PostgreSQL: pg_dumpall --globals-only and pg_dump -Fc of every database, in the container, as its
    `postgres` OS user over the local socket (peer authentication: no password needed or printed).

    Every non-template database is dumped, `postgres` included (applications or operators may keep
    objects there). Databases named *__restoring or *__before_restore_* are what a restore leaves
    (half-done or kept) and are skipped: they are listed in the manifest as `skipped`.

    `volumes`: Docker volumes the server reads at start and that belong with its data (Supabase's db-config,
    the pgsodium root key without which vault.secrets cannot be decrypted), copied beside the dumps and
    restored first, as the volume method does (container stopped, live files kept), before the databases.
    """

    required = ('container',)
    optional = ('superuser', 'volumes')
    # Seconds to wait for the server after a restore of its volumes restarted it.
    ready_timeout = 120
    os_user = 'postgres'
    # The previous dump is reused when the server has not changed since (see _signature).
    keep_staging = True
    restore_dir = '/tmp/selfhosted_ai_restore'

    def _client(self):
        client = docker_client()
        return client, get_container(client, self.service['container'])

    def _psql(self, client, container, sql: str, extra: tuple[str, ...] = ()) -> str:
        """One statement (or transaction) with psql in template1, stopping at the first error."""
        cmd = ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', self.service.get('superuser', 'postgres')]
        cmd += ['-d', 'template1'] + list(extra)
        return exec_checked(client, container, cmd + ['-c', sql], user=self.os_user, what='psql').decode()

    def _databases(self, client, container) -> list[tuple[str, str, str, int, list]]:
        """(name, owner, privileges as text or '' for the defaults, connection limit, settings) of every
        non-template database; the settings as database_settings() takes them."""
        out = self._psql(
            client,
            container,
            'SELECT datname, pg_get_userbyid(datdba), datacl, datconnlimit, ('
            "SELECT coalesce(jsonb_agg(jsonb_build_object('role', CASE s.setrole WHEN 0 THEN NULL"
            " ELSE pg_get_userbyid(s.setrole) END, 'settings', s.setconfig) ORDER BY s.setrole), '[]')"
            ' FROM pg_db_role_setting s WHERE s.setdatabase = d.oid) FROM pg_database d'
            ' WHERE NOT datistemplate ORDER BY 1',
            extra=('-F', '\x1f'),
        )
        rows = [line.split('\x1f') for line in out.splitlines() if line]
        return [(row[0], row[1], row[2], int(row[3]), json.loads(row[4])) for row in rows]

    def _signature(self, client, container) -> dict:
        """What changes whenever the server's data does, on this cluster (its system identifier): the xid
        horizon (every transaction that writes, unlogged and catalog tables included, takes a transaction
        id; reads and pg_dump do not) and the rows written per the statistics. The WAL position is no such
        signature: checkpoints, standby snapshots and pruning on read move it with no change to the data."""
        out = self._psql(
            client,
            container,
            'SELECT (SELECT system_identifier FROM pg_control_system()), pg_snapshot_xmax(pg_current_snapshot()),'
            ' (SELECT sum(tup_inserted + tup_updated + tup_deleted) FROM pg_stat_database)',
            extra=('-F', '\x1f'),
        )
        system, xmax, written = out.strip().split('\x1f')
        return {'system': system, 'xid_horizon': xmax, 'rows_written': written}

    @staticmethod
    def _previous(target_dir: str, signature: dict):
        """The previous run's metadata when it dumped this very state and its files are all there."""
        try:
            previous = read_json(os.path.join(target_dir, MANIFEST))
        except (OSError, ValueError):
            return None
        if not isinstance(previous, dict) or (previous.get('metadata') or {}).get('signature') != signature:
            return None
        for rel, entry in (previous.get('files') or {}).items():
            path = os.path.join(target_dir, rel)
            if not os.path.isfile(path) or os.path.getsize(path) != entry.get('size'):
                return None
        return previous['metadata']

    def dump(self, target_dir: str) -> dict:
        meta = self._dump_databases(target_dir)
        if self.service.get('volumes'):
            client = docker_client()
            for name in self.service['volumes']:
                copy = os.path.join(target_dir, 'volumes', name)
                if os.path.lexists(copy):
                    remove_entry(copy)
                log('  copying volume %s' % name)
                copy_tree_with_owners(volume_mountpoint(client, name), copy)
            meta = dict(meta, volumes=sorted(self.service['volumes']))
        return meta

    def _dump_databases(self, target_dir: str) -> dict:
        client, container = self._client()
        signature = self._signature(client, container)
        previous = self._previous(target_dir, signature)
        if previous is not None:
            log('  unchanged since the previous dump (no transaction has written since): reusing it')
            return previous
        empty_dir(target_dir)
        superuser = self.service.get('superuser', 'postgres')
        with open(os.path.join(target_dir, 'globals.sql'), 'wb') as out:
            exec_checked(
                client, container, ['pg_dumpall', '--globals-only', '-U', superuser], out=out, user=self.os_user
            )
        databases, skipped = [], []
        for name, owner, acl, connection_limit, settings in self._databases(client, container):
            if name.endswith('__restoring') or '__before_restore_' in name:
                skipped.append(name)
                continue
            if '/' in name or name.startswith('.'):
                raise BackupError('database name %r cannot be a file name; rename it' % name)
            log('  pg_dump %s' % name)
            with open(os.path.join(target_dir, '%s.dump' % name), 'wb') as out:
                exec_checked(
                    client, container, ['pg_dump', '-Fc', '-U', superuser, '-d', name], out=out, user=self.os_user
                )
            databases.append(
                {
                    'name': name,
                    'owner': owner,
                    'file': '%s.dump' % name,
                    'acl': acl,
                    'connection_limit': connection_limit,
                    'settings': settings,
                }
            )
        return {'databases': databases, 'skipped': skipped, 'signature': signature}

    def _copy_in(self, client, container, staged_dir: str, names: list[str]) -> None:
        """Copy the staged files into the container with put_archive: the tar is built in a temporary file
        and streamed from disk, so a dump is never held in memory, and no exec stdin socket is needed
        (the SDK's exec stdin is a raw socket with no portable end-of-input)."""
        # Docker extracts by numeric owner: the files must belong to the container's postgres uid/gid.
        uid = int(exec_checked(client, container, ['id', '-u', self.os_user], what='id').decode().strip())
        gid = int(exec_checked(client, container, ['id', '-g', self.os_user], what='id').decode().strip())
        with tempfile.TemporaryFile() as tmp:
            with tarfile.open(fileobj=tmp, mode='w') as tar:
                top = tarfile.TarInfo(os.path.basename(self.restore_dir))
                top.type, top.mode, top.uid, top.gid = tarfile.DIRTYPE, 0o700, uid, gid
                tar.addfile(top)
                for name in names:
                    info = tar.gettarinfo(os.path.join(staged_dir, name), arcname='%s/%s' % (top.name, name))
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, uid, gid, '', ''
                    with open(os.path.join(staged_dir, name), 'rb') as handle:
                        tar.addfile(info, handle)
            tmp.seek(0)
            if not container.put_archive(os.path.dirname(self.restore_dir), tmp):
                raise BackupError('copying the staged dumps into container %s failed' % container.name)

    def verify(self, staged_dir: str, manifest: dict) -> None:
        for name in manifest['metadata'].get('volumes', []):
            if not os.path.isdir(os.path.join(staged_dir, 'volumes', name)):
                raise BackupError('volume %s is missing from the staged copy' % name)
        client, container = self._client()
        databases = manifest['metadata']['databases']
        names = ['globals.sql'] + [db['file'] for db in databases]
        self._copy_in(client, container, staged_dir, names)
        try:
            for db in databases:
                exec_checked(
                    client,
                    container,
                    ['pg_restore', '--list', '%s/%s' % (self.restore_dir, db['file'])],
                    user=self.os_user,
                    what='pg_restore --list %s' % db['file'],
                )
        finally:
            exec_stream(client, container, ['rm', '-rf', self.restore_dir], user='root')

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        client, container = self._client()
        suffix = '__before_restore_%s' % stamp()
        databases = manifest['metadata']['databases']
        for db in databases:
            if len((db['name'] + suffix).encode()) > 63:
                raise BackupError('database %s: its kept name would pass 63 bytes; nothing was changed' % db['name'])
        volumes = manifest['metadata'].get('volumes', [])
        if volumes:
            # The server reads these at start: put them back (it is stopped and started again), then the data.
            hook = VolumeHook(
                self.config, {'name': self.name, 'container': self.service['container'], 'volumes': volumes}
            )
            kept_volumes = hook.restore(staged_dir, {'metadata': {'volumes': volumes}})['kept']
            client, container = self._client()
            self._wait_ready(client, container)
            result = self._restore_databases(client, container, staged_dir, databases, suffix)
            return dict(result, volumes=sorted(kept_volumes), kept_volumes=kept_volumes)
        return self._restore_databases(client, container, staged_dir, databases, suffix)

    def _wait_ready(self, client, container) -> None:
        superuser = self.service.get('superuser', 'postgres')
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code, stdout, stderr = exec_stream(client, container, ['pg_isready', '-U', superuser], user=self.os_user)
            if code == 0:
                return
            if time.monotonic() > deadline:
                raise BackupError(
                    'the server in %s did not accept connections %d s after its volumes were restored: %s'
                    % (container.name, self.ready_timeout, (stderr or stdout.decode(errors='replace')).strip())
                )
            time.sleep(1)

    def _restore_databases(self, client, container, staged_dir: str, databases: list, suffix: str) -> dict:
        self._copy_in(client, container, staged_dir, ['globals.sql'] + [db['file'] for db in databases])
        superuser = self.service.get('superuser', 'postgres')
        restored, kept = [], {}
        try:
            # Roles first. Roles that exist make CREATE ROLE fail, as expected: psql goes on (no ON_ERROR_STOP)
            # and the ALTER ROLE lines still set attributes and passwords as they were.
            code, dummy, errors = exec_stream(
                client,
                container,
                ['psql', '-X', '-q', '-U', superuser, '-d', 'template1', '-f', '%s/globals.sql' % self.restore_dir],
                user=self.os_user,
            )
            if code != 0:
                raise BackupError('applying globals.sql failed (exit %s); no database was changed' % code)
            live = {row[0] for row in self._databases(client, container)}
            for db in databases:
                name, temp = db['name'], db['name'] + '__restoring'
                log('  restoring database %s' % name)
                self._psql(client, container, 'DROP DATABASE IF EXISTS %s' % quote_ident(temp))
                self._psql(
                    client,
                    container,
                    'CREATE DATABASE %s OWNER %s TEMPLATE template0' % (quote_ident(temp), quote_ident(db['owner'])),
                )
                try:
                    grants = database_grants(temp, db.get('acl', ''), db.get('connection_limit', -1))
                    if grants:
                        self._psql(client, container, '; '.join(grants))
                    # No --no-owner: run as the superuser, pg_restore gives every object the owner it had
                    # (the roles exist: globals.sql ran first). --exit-on-error: any error fails the restore.
                    exec_checked(
                        client,
                        container,
                        [
                            'pg_restore',
                            '--exit-on-error',
                            '-U',
                            superuser,
                            '-d',
                            temp,
                            '%s/%s' % (self.restore_dir, db['file']),
                        ],
                        user=self.os_user,
                        what='pg_restore into %s' % temp,
                    )
                    # After the data: a setting such as default_transaction_read_only must not apply to pg_restore.
                    settings = database_settings(temp, db.get('settings', []))
                    if settings:
                        self._psql(client, container, '; '.join(settings))
                    if name in live:
                        kept_name = name + suffix
                        self._swap(client, container, name, temp, kept_name)
                        kept[name] = kept_name
                    else:
                        self._psql(
                            client, container, 'ALTER DATABASE %s RENAME TO %s' % (quote_ident(temp), quote_ident(name))
                        )
                except BackupError as exc:
                    self._psql(client, container, 'DROP DATABASE IF EXISTS %s' % quote_ident(temp))
                    raise BackupError(
                        'database %s: %s; the live database %s is as it was, %s was dropped (restored before it: %s)'
                        % (name, exc, name, temp, ', '.join(restored) or 'none')
                    ) from exc
                restored.append(name)
        finally:
            exec_stream(client, container, ['rm', '-rf', self.restore_dir], user='root')
        return {'databases': restored, 'kept': kept, 'roles': 'globals.sql applied (existing roles altered)'}

    def _swap(self, client, container, name: str, temp: str, kept_name: str) -> None:
        """Rename live -> kept and restored -> live in one transaction, after closing the live database to new
        connections and ending the open ones. The kept database is opened again after the swap (to compare
        with or to go back to), and the live one if the renames fail."""
        self._psql(client, container, 'ALTER DATABASE %s WITH ALLOW_CONNECTIONS false' % quote_ident(name))
        try:
            self._psql(
                client,
                container,
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()'
                % quote_literal(name),
            )
            self._psql(
                client,
                container,
                'BEGIN; ALTER DATABASE %s RENAME TO %s; ALTER DATABASE %s RENAME TO %s; COMMIT;'
                % (quote_ident(name), quote_ident(kept_name), quote_ident(temp), quote_ident(name)),
            )
        except BackupError:
            self._psql(client, container, 'ALTER DATABASE %s WITH ALLOW_CONNECTIONS true' % quote_ident(name))
            raise
        self._psql(client, container, 'ALTER DATABASE %s WITH ALLOW_CONNECTIONS true' % quote_ident(kept_name))


class ValkeyHook(Hook):
    """Valkey: BGSAVE, then the RDB file from the data volume and the ACL file from the host."""

    required = ('container', 'acl_file')
    optional = ('url', 'port', 'user', 'password', 'timeout')

    def _redis(self):
        try:
            import redis
        except ImportError as exc:
            raise BackupError('redis-py is missing (Debian package python3-redis): %s' % exc) from exc
        return redis.Redis.from_url(
            service_url(self.service, 'redis', 6379),
            username=self.service.get('user') or None,
            password=self.service.get('password') or None,
            socket_timeout=30,
        )

    def dump(self, target_dir: str) -> dict:
        conn = self._redis()
        before = conn.lastsave()
        # LASTSAVE has one-second resolution: a save in the same second as the last one would not show.
        while int(time.time()) <= int(before.timestamp()):
            time.sleep(0.2)
        try:
            conn.bgsave()
        except Exception as exc:  # redis.ResponseError; a save that is running already will do as well
            if 'in progress' not in str(exc):
                raise BackupError('BGSAVE failed: %s' % exc) from exc
        deadline = time.monotonic() + float(self.service.get('timeout', 300))
        while conn.lastsave() == before:
            if time.monotonic() > deadline:
                raise BackupError('BGSAVE did not finish within %s s' % self.service.get('timeout', 300))
            time.sleep(0.5)
        persistence = conn.info('persistence')
        if persistence.get('rdb_last_bgsave_status', 'ok') != 'ok':
            raise BackupError('BGSAVE failed (rdb_last_bgsave_status %s)' % persistence.get('rdb_last_bgsave_status'))
        settings = conn.config_get('dir')
        settings.update(conn.config_get('dbfilename'))
        settings.update(conn.config_get('appenddirname'))
        settings.update(conn.config_get('appendonly'))
        settings.update(conn.config_get('appendfilename'))
        data_dir = settings['dir']
        dbfilename = settings.get('dbfilename') or 'dump.rdb'
        client = docker_client()
        container = get_container(client, self.service['container'])
        source = host_path_in_container(container, os.path.join(data_dir, dbfilename))
        shutil.copy2(source, os.path.join(target_dir, 'dump.rdb'))
        shutil.copy2(self.service['acl_file'], os.path.join(target_dir, 'users.acl'))
        return {
            'lastsave': isotime(datetime.datetime.fromtimestamp(conn.lastsave().timestamp(), datetime.timezone.utc)),
            'dir': data_dir,
            'dbfilename': dbfilename,
            'appenddirname': settings.get('appenddirname') or 'appendonlydir',
            'appendonly': settings.get('appendonly', 'no'),
            'appendfilename': settings.get('appendfilename') or 'appendonly.aof',
        }

    def verify(self, staged_dir: str, manifest: dict) -> None:
        with open(os.path.join(staged_dir, 'dump.rdb'), 'rb') as handle:
            if handle.read(5) != b'REDIS':
                raise BackupError('dump.rdb does not start with the RDB magic REDIS')
        if not os.path.isfile(os.path.join(staged_dir, 'users.acl')):
            raise BackupError('users.acl is missing from the staged copy')

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        meta = manifest['metadata']
        client = docker_client()
        container = get_container(client, self.service['container'])
        data_host = host_path_in_container(container, meta['dir'])
        suffix = '.before_restore_%s' % stamp()
        live_rdb = os.path.join(data_host, meta['dbfilename'])
        aof = os.path.join(data_host, meta['appenddirname'])
        acl = self.service['acl_file']
        moved = []  # (live path, kept path), for putting back on failure
        log('  stopping container %s' % container.name)
        container.stop()
        try:
            owner = os.stat(live_rdb) if os.path.exists(live_rdb) else os.stat(data_host)
            for path in (live_rdb, aof):
                if os.path.lexists(path):
                    os.rename(path, path + suffix)
                    moved.append((path, path + suffix))
            shutil.copyfile(os.path.join(staged_dir, 'dump.rdb'), live_rdb + '.restoring')
            os.chown(live_rdb + '.restoring', owner.st_uid, owner.st_gid)
            os.chmod(live_rdb + '.restoring', 0o600)
            os.rename(live_rdb + '.restoring', live_rdb)
            if meta.get('appendonly') == 'yes':
                self._aof_from_rdb(live_rdb, aof, meta.get('appendfilename') or 'appendonly.aof', owner)
            acl_kept = acl + suffix
            if os.path.exists(acl):
                shutil.copy2(acl, acl_kept)
                st = os.stat(acl)
            else:
                acl_kept, st = None, os.stat(os.path.dirname(acl))
            shutil.copyfile(os.path.join(staged_dir, 'users.acl'), acl + '.restoring')
            os.chown(acl + '.restoring', st.st_uid, st.st_gid)
            os.chmod(acl + '.restoring', 0o640)
            os.rename(acl + '.restoring', acl)
        except OSError as exc:
            for path in (live_rdb + '.restoring', acl + '.restoring'):
                if os.path.exists(path):
                    os.unlink(path)
            for live, kept in reversed(moved):
                if os.path.lexists(live):
                    remove_entry(live)  # the restored RDB, or the AOF made from it
                os.rename(kept, live)
            raise BackupError('swapping the Valkey data failed (%s); the live files were put back' % exc) from exc
        finally:
            log('  starting container %s' % container.name)
            container.start()
        return {'swapped': [live_rdb, acl], 'kept': [kept for dummy, kept in moved] + ([acl_kept] if acl_kept else [])}

    @staticmethod
    def _aof_from_rdb(rdb: str, aof_dir: str, aof_name: str, owner) -> None:
        """With appendonly yes and no AOF, Valkey (like Redis 7) starts EMPTY and ignores the RDB. A multi-part
        AOF whose base is the RDB (manifest: one `type b` file) makes it load the restored data."""
        os.mkdir(aof_dir, 0o700)
        base = '%s.1.base.rdb' % aof_name
        shutil.copyfile(rdb, os.path.join(aof_dir, base))
        with open(os.path.join(aof_dir, '%s.manifest' % aof_name), 'w') as handle:
            handle.write('file %s seq 1 type b\n' % base)
        for path in (aof_dir, os.path.join(aof_dir, base), os.path.join(aof_dir, '%s.manifest' % aof_name)):
            os.chown(path, owner.st_uid, owner.st_gid)


class S3Hook(Hook):
    """S3 (SeaweedFS): every object of every bucket, downloaded with boto3. The staging directory is kept
    between runs: an object whose ETag and size match the previous manifest is not downloaded again."""

    required = ('endpoint', 'access_key', 'secret_key')
    optional = ('exclude_buckets', 'region')
    keep_staging = True

    def _s3(self):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise BackupError('boto3 is missing (Debian package python3-boto3): %s' % exc) from exc
        return boto3.client(
            's3',
            endpoint_url=self.service['endpoint'],
            aws_access_key_id=self.service['access_key'],
            aws_secret_access_key=self.service['secret_key'],
            region_name=self.service.get('region', 'us-east-1'),
            config=Config(s3={'addressing_style': 'path'}),
        )

    @staticmethod
    def object_path(bucket: str, key: str) -> str:
        """objects/<bucket>/<key>, refusing what would leave the staging dir or cannot be a file."""
        parts = key.split('/')
        if key.startswith('/') or any(part in ('..', '.', '') for part in parts) or '\0' in key:
            raise BackupError(
                'bucket %s: object key %r cannot be stored as a path (a leading /, an empty, . or .. component)'
                % (bucket, key)
            )
        if '/' in bucket or bucket in ('.', '..', ''):
            raise BackupError('bucket name %r cannot be a directory name' % bucket)
        return os.path.join('objects', bucket, *parts)

    def _listing(self, s3) -> list[tuple[str, dict]]:
        exclude = set(self.service.get('exclude_buckets') or [])
        found, bad = [], []
        for bucket in sorted(b['Name'] for b in s3.list_buckets().get('Buckets', [])):
            if bucket in exclude:
                continue
            found.append((bucket, None))
            for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket):
                for obj in page.get('Contents', []):
                    # An empty key ending in / is a folder marker (consoles make them): kept in the manifest only.
                    key = obj['Key'][:-1] if obj['Key'].endswith('/') and obj['Size'] == 0 else obj['Key']
                    try:
                        self.object_path(bucket, key)
                    except BackupError:
                        bad.append('%s/%s' % (bucket, obj['Key']))
                        continue
                    found.append((bucket, obj))
        if bad:
            raise BackupError('object keys that cannot be stored as paths, refused: %s' % ', '.join(map(repr, bad)))
        return found

    def dump(self, target_dir: str) -> dict:
        s3 = self._s3()
        previous = (read_json(os.path.join(target_dir, MANIFEST), {}) or {}).get('metadata', {}).get('objects', {})
        listing = self._listing(s3)
        buckets, objects, markers = [], {}, []
        downloaded = reused = 0
        for bucket, obj in listing:
            if obj is None:
                buckets.append(bucket)
                continue
            if obj['Key'].endswith('/'):
                markers.append({'bucket': bucket, 'key': obj['Key']})
                continue
            rel = self.object_path(bucket, obj['Key'])
            path = os.path.join(target_dir, rel)
            ident = '%s/%s' % (bucket, obj['Key'])
            etag, size = obj.get('ETag', '').strip('"'), obj['Size']
            old = previous.get(ident)
            if (
                old
                and old['etag'] == etag
                and old['size'] == size
                and os.path.isfile(path)
                and os.path.getsize(path) == size
            ):
                objects[ident] = dict(old)
                reused += 1
                continue
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            answer = s3.get_object(Bucket=bucket, Key=obj['Key'])
            digest = hashlib.sha256()
            with open(path + '.part', 'wb') as out:
                for block in iter(lambda body=answer['Body']: body.read(CHUNK), b''):
                    digest.update(block)
                    out.write(block)
            os.replace(path + '.part', path)
            objects[ident] = {
                'bucket': bucket,
                'key': obj['Key'],
                'path': rel,
                'size': size,
                'etag': etag,
                'sha256': digest.hexdigest(),
                'content_type': answer.get('ContentType') or 'binary/octet-stream',
            }
            downloaded += 1
        wanted = {os.path.join(target_dir, entry['path']) for entry in objects.values()}
        removed = 0
        for root, _dirs, files in os.walk(target_dir, topdown=False):
            for name in files:
                path = os.path.join(root, name)
                if path not in wanted and path != os.path.join(target_dir, MANIFEST):
                    os.unlink(path)
                    removed += 1
            if root != target_dir and not os.listdir(root):
                os.rmdir(root)
        log('  %d objects downloaded, %d unchanged, %d staged files removed' % (downloaded, reused, removed))
        return {'buckets': buckets, 'objects': objects, 'markers': markers, 'downloaded': downloaded, 'reused': reused}

    def verify(self, staged_dir: str, manifest: dict) -> None:
        for ident, entry in manifest['metadata']['objects'].items():
            path = os.path.join(staged_dir, self.object_path(entry['bucket'], entry['key']))
            if (
                not os.path.isfile(path)
                or os.path.getsize(path) != entry['size']
                or sha256_file(path) != entry['sha256']
            ):
                raise BackupError('object %s is missing or differs from its recorded size and sha256' % ident)

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        s3 = self._s3()
        meta = manifest['metadata']
        existing = {b['Name'] for b in s3.list_buckets().get('Buckets', [])}
        created = []
        for bucket in meta['buckets']:
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
                created.append(bucket)
        for entry in meta['objects'].values():
            with open(os.path.join(staged_dir, self.object_path(entry['bucket'], entry['key'])), 'rb') as body:
                s3.put_object(Bucket=entry['bucket'], Key=entry['key'], Body=body, ContentType=entry['content_type'])
        for marker in meta.get('markers', []):
            s3.put_object(Bucket=marker['bucket'], Key=marker['key'], Body=b'')
        return {
            'buckets_created': created,
            'objects_uploaded': len(meta['objects']),
            'kept': 'live objects that are not in the snapshot were kept; objects of the same key were overwritten',
        }


class VolumeHook(Hook):
    """Files in Docker volumes (OpenBao file storage, n8n and Open WebUI data), copied while the container is
    paused. Paused, not stopped: a stopped OpenBao comes back sealed, and the timer holds no unseal keys."""

    required = ('container', 'volumes')

    def dump(self, target_dir: str) -> dict:
        client = docker_client()
        container = get_container(client, self.service['container'])
        mounts = {name: volume_mountpoint(client, name) for name in self.service['volumes']}
        with holding(self.config, container, 'paused'):
            for name, mountpoint in mounts.items():
                copy_tree_with_owners(mountpoint, os.path.join(target_dir, 'volumes', name))
        return {'volumes': sorted(mounts)}

    def verify(self, staged_dir: str, manifest: dict) -> None:
        for name in manifest['metadata']['volumes']:
            if not os.path.isdir(os.path.join(staged_dir, 'volumes', name)):
                raise BackupError('volume %s is missing from the staged copy' % name)

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        """With the container stopped, or absent on a wiped host (its role creates it on the restored volume)."""
        client = docker_client()
        container = find_container(client, self.service['container'])
        mounts = {name: ensure_volume(client, name, self.name) for name in manifest['metadata']['volumes']}
        suffix = stamp()
        kept = {}
        if container is not None:
            log('  stopping container %s' % container.name)
            container.stop()
        try:
            for name, mountpoint in mounts.items():
                # /var/lib/docker/volumes/<v>/_data -> /var/lib/docker/volumes/<v>/before_restore_<stamp>: beside
                # _data, on the same file system (a rename), and outside what the container sees.
                keep = os.path.join(os.path.dirname(mountpoint.rstrip('/')), 'before_restore_%s' % suffix)
                os.mkdir(keep, 0o700)
                moved = move_contents(mountpoint, keep)
                try:
                    copy_tree_with_owners(os.path.join(staged_dir, 'volumes', name), mountpoint)
                except OSError as exc:
                    for entry in os.listdir(mountpoint):
                        remove_entry(os.path.join(mountpoint, entry))
                    for entry in moved:
                        os.rename(os.path.join(keep, entry), os.path.join(mountpoint, entry))
                    os.rmdir(keep)
                    raise BackupError(
                        'volume %s: copying in failed (%s); its live data was put back' % (name, exc)
                    ) from exc
                kept[name] = keep
        finally:
            if container is not None:
                log('  starting container %s' % container.name)
                container.start()
        return {
            'volumes': sorted(kept),
            'kept': kept,
            'container': 'restarted' if container is not None else 'absent: its role creates it',
        }


class QdrantHook(Hook):
    """Qdrant: one snapshot per collection through its HTTP API, as documented in
    https://qdrant.tech/documentation/concepts/snapshots/ (create, download, delete; restore by upload)."""

    required = ()
    optional = ('url', 'container', 'port', 'api_key', 'timeout')

    def _session(self):
        try:
            import requests
        except ImportError as exc:
            raise BackupError('requests is missing (Debian package python3-requests): %s' % exc) from exc
        session = requests.Session()
        if self.service.get('api_key'):
            session.headers['api-key'] = self.service['api_key']
        return session

    def _call(self, session, method: str, path: str, **kwargs):
        url = service_url(self.service, 'http', 6333).rstrip('/') + path
        answer = session.request(method, url, timeout=float(self.service.get('timeout', 600)), **kwargs)
        if answer.status_code >= 300:
            raise BackupError('Qdrant %s %s: HTTP %s %s' % (method, path, answer.status_code, answer.text[:300]))
        return answer

    def dump(self, target_dir: str) -> dict:
        session = self._session()
        names = sorted(c['name'] for c in self._call(session, 'GET', '/collections').json()['result']['collections'])
        os.makedirs(os.path.join(target_dir, 'collections'), mode=0o700)
        for name in names:
            if '/' in name or name.startswith('.'):
                raise BackupError('collection name %r cannot be a file name' % name)
            log('  snapshot of collection %s' % name)
            snap = self._call(session, 'POST', '/collections/%s/snapshots' % name).json()['result']['name']
            path = '/collections/%s/snapshots/%s' % (name, snap)
            answer = self._call(session, 'GET', path, stream=True)
            try:
                with open(os.path.join(target_dir, 'collections', '%s.snapshot' % name), 'wb') as out:
                    for block in answer.iter_content(CHUNK):
                        out.write(block)
            finally:
                answer.close()
            self._call(session, 'DELETE', path)
        return {'collections': names}

    def verify(self, staged_dir: str, manifest: dict) -> None:
        for name in manifest['metadata']['collections']:
            path = os.path.join(staged_dir, 'collections', '%s.snapshot' % name)
            if not os.path.isfile(path) or not tarfile.is_tarfile(path):
                raise BackupError('the snapshot of collection %s is missing or not a tar archive' % name)

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        session = self._session()
        restored = []
        for name in manifest['metadata']['collections']:
            with open(os.path.join(staged_dir, 'collections', '%s.snapshot' % name), 'rb') as handle:
                self._call(
                    session,
                    'POST',
                    '/collections/%s/snapshots/upload?priority=snapshot' % name,
                    files={'snapshot': ('%s.snapshot' % name, handle, 'application/octet-stream')},
                )
            restored.append(name)
        return {'collections': restored, 'kept': 'Qdrant replaces a collection from an uploaded snapshot'}


class Neo4jHook(Hook):
    """Neo4j Community: neo4j-admin needs the database offline, so the container is stopped, a one-off
    container of the same image runs `neo4j-admin database dump` (Neo4j 5 syntax) on the data volume,
    and the container is started again whatever happened."""

    required = ('container', 'image', 'volume')
    optional = ('database',)

    def admin_name(self) -> str:
        """The one-off container's name: one left by a killed run is found by it (and blocks a second one)."""
        return '%s-backup-admin' % self.service['container']

    def _admin(self, client, args: list[str], dump_dir: str, read_only: bool) -> None:
        volumes = {
            self.service['volume']: {'bind': '/data', 'mode': 'rw'},
            dump_dir: {'bind': '/backups', 'mode': 'ro' if read_only else 'rw'},
        }
        try:
            client.containers.run(
                self.service['image'], ['neo4j-admin'] + args, name=self.admin_name(), volumes=volumes, remove=True
            )
        except Exception as exc:  # docker.errors.ContainerError carries the exit status and stderr
            raise BackupError('neo4j-admin %s failed: %s' % (' '.join(args[:2]), exc)) from exc

    def _dump_to(self, client, dump_dir: str) -> None:
        # The one-off container runs neo4j-admin as the neo4j user: the dump dir belongs to the data's owner.
        st = os.stat(volume_mountpoint(client, self.service['volume']))
        os.chown(dump_dir, st.st_uid, st.st_gid)
        database = self.service.get('database', 'neo4j')
        self._admin(
            client,
            ['database', 'dump', database, '--to-path=/backups', '--overwrite-destination=true'],
            dump_dir,
            read_only=False,
        )

    def dump(self, target_dir: str) -> dict:
        client = docker_client()
        container = get_container(client, self.service['container'])
        with holding(self.config, container, 'stopped', helper=self.admin_name()):
            self._dump_to(client, target_dir)
        return {
            'database': self.service.get('database', 'neo4j'),
            'file': '%s.dump' % self.service.get('database', 'neo4j'),
        }

    def verify(self, staged_dir: str, manifest: dict) -> None:
        path = os.path.join(staged_dir, manifest['metadata']['file'])
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise BackupError('%s is missing or empty' % manifest['metadata']['file'])

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        client = docker_client()
        container = get_container(client, self.service['container'])
        database = manifest['metadata']['database']
        # `load --overwrite-destination` replaces the live database: dump it first, to keep it.
        keep = os.path.join(self.config['staging_dir'], '%s.before_restore_%s' % (self.name, stamp()))
        os.makedirs(keep, mode=0o700)
        # neo4j-admin runs as the neo4j user in the one-off container: it must be able to read the staged dump.
        st = os.stat(volume_mountpoint(client, self.service['volume']))
        for path in [staged_dir] + [os.path.join(staged_dir, rel) for rel in manifest['files']]:
            os.chown(path, st.st_uid, st.st_gid)
        log('  stopping container %s' % container.name)
        container.stop()
        try:
            self._dump_to(client, keep)
            self._admin(
                client,
                ['database', 'load', database, '--from-path=/backups', '--overwrite-destination=true'],
                staged_dir,
                read_only=True,
            )
        finally:
            log('  starting container %s' % container.name)
            container.start()
        return {'database': database, 'kept': os.path.join(keep, '%s.dump' % database)}


class FilesHook(Hook):
    """A directory of the host, copied as it is: the copy of the controller's secret store that the backup role
    puts there when asked (backup_controller_secrets). Restored to the same directory, the old one kept beside it;
    putting it back on the controller is the operator's step (docs/backup.md)."""

    required = ('path',)

    def dump(self, target_dir: str) -> dict:
        source = self.service['path']
        if not os.path.isdir(source):
            raise BackupError('%s is not a directory' % source)
        copy_tree_with_owners(source, os.path.join(target_dir, 'files'))
        return {'path': source}

    def verify(self, staged_dir: str, manifest: dict) -> None:
        if not os.path.isdir(os.path.join(staged_dir, 'files')):
            raise BackupError('the staged copy holds no files directory')

    def restore(self, staged_dir: str, manifest: dict) -> dict:
        path = self.service['path'].rstrip('/')
        keep = '%s.before_restore_%s' % (path, stamp())
        kept = os.path.exists(path)
        if kept:
            os.rename(path, keep)
        try:
            copy_tree_with_owners(os.path.join(staged_dir, 'files'), path)
        except OSError as exc:
            shutil.rmtree(path, ignore_errors=True)
            if kept:
                os.rename(keep, path)
            raise BackupError('%s: copying in failed (%s); the previous files were put back' % (path, exc)) from exc
        return {'path': path, 'kept': keep if kept else None}


HOOKS = {
    'postgres': PostgresHook,
    'valkey': ValkeyHook,
    's3': S3Hook,
    'volume': VolumeHook,
    'qdrant': QdrantHook,
    'neo4j': Neo4jHook,
    'files': FilesHook,
}


# --- Configuration --------------------------------------------------------------------------------------


def load_config(path: str) -> dict:
    try:
        with open(path) as handle:
            config = json.load(handle)
    except OSError as exc:
        raise ConfigError('cannot read the configuration %s: %s' % (path, exc.strerror or exc)) from exc
    except ValueError as exc:
        raise ConfigError('the configuration %s is not valid JSON: %s' % (path, exc)) from exc
    validate_config(config)
    return config


def validate_config(config: dict) -> None:
    if not isinstance(config, dict):
        raise ConfigError('the configuration must be a JSON object')
    for key in ('host', 'staging_dir', 'state_file', 'repository', 'retention', 'services'):
        if key not in config:
            raise ConfigError('the configuration has no %r' % key)
    for key in ('staging_dir', 'state_file'):
        if not os.path.isabs(config[key]):
            raise ConfigError('%s must be an absolute path, not %r' % (key, config[key]))
    repo = config['repository']
    if not isinstance(repo, dict) or not repo.get('url') or not repo.get('password'):
        raise ConfigError('repository needs url and password')
    url = repo['url']
    if not (url.startswith(REPOSITORY_SCHEMES) or (url.startswith('/') and ':' not in url.split('/')[1])):
        raise ConfigError(
            'repository url %r: unsupported; use an absolute local path or one of %s'
            % (url, ', '.join(REPOSITORY_SCHEMES))
        )
    if not isinstance(repo.get('env', {}), dict):
        raise ConfigError('repository env must be a mapping of environment variables')
    retention = config['retention']
    if not isinstance(retention, dict) or set(retention) - set(RETENTION_KEYS):
        raise ConfigError('retention takes only %s' % ', '.join(RETENTION_KEYS))
    for key, value in retention.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError('retention %s must be a whole number >= 0, not %r' % (key, value))
    if not any(retention.values()):
        raise ConfigError('retention keeps nothing (every keep is 0): restic forget would remove every snapshot')
    names = set()
    for service in config['services']:
        name = service.get('name')
        if not name or '/' in name or name.startswith('.'):
            raise ConfigError('a service needs a name usable as a directory name: %r' % service)
        if name in names:
            raise ConfigError('service %s is configured twice' % name)
        names.add(name)
        method = service.get('method')
        if method not in HOOKS:
            raise ConfigError('service %s: unknown method %r (known: %s)' % (name, method, ', '.join(sorted(HOOKS))))
        hook = HOOKS[method]
        missing = [key for key in hook.required if key not in service]
        if missing:
            raise ConfigError('service %s (method %s) lacks %s' % (name, method, ', '.join(missing)))
        unknown = set(service) - set(hook.required) - set(hook.optional) - {'name', 'method'}
        if unknown:
            raise ConfigError('service %s (method %s): unknown keys %s' % (name, method, ', '.join(sorted(unknown))))


def find_service(config: dict, name: str) -> dict:
    for service in config['services']:
        if service['name'] == name:
            return service
    raise ConfigError(
        'no service %r in the configuration (configured: %s)' % (name, ', '.join(s['name'] for s in config['services']))
    )


def make_hook(config: dict, service: dict) -> Hook:
    return HOOKS[service['method']](config, service)


# --- restic ---------------------------------------------------------------------------------------------


# What restic prints when another process holds a lock that conflicts with the one it needs.
LOCKED = 'repository is already locked'


class Restic:
    """restic through its CLI. The repository address, password and keys go in the environment only."""

    def __init__(self, config: dict):
        self.binary = config.get('restic', 'restic')
        repo = config['repository']
        self.env = dict(os.environ)
        self.env.update({str(k): str(v) for k, v in (repo.get('env') or {}).items()})
        self.env['RESTIC_REPOSITORY'] = repo['url']
        self.env['RESTIC_PASSWORD'] = repo['password']
        self.env.pop('RESTIC_PASSWORD_FILE', None)
        self.env.pop('RESTIC_PASSWORD_COMMAND', None)
        self.env['RESTIC_CACHE_DIR'] = os.path.join(os.path.dirname(config['staging_dir'].rstrip('/')), 'cache')

    def run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        done = self._run(args)
        if done.returncode != 0 and LOCKED in done.stderr and args[0] != 'unlock':
            # A run killed mid-way leaves its lock behind. `restic unlock` removes only stale locks (their
            # process is gone, or they are older than 30 minutes), never those of a run still going. Only
            # then: every restic start costs a key derivation (0.5 s), and a run starts one per service.
            log('the repository is locked: removing stale locks (restic unlock) and trying again')
            self._run(['unlock'])
            done = self._run(args)
        if check and done.returncode != 0:
            raise BackupError('restic %s failed (exit %d): %s' % (args[0], done.returncode, self.error_text(done)))
        return done

    def _run(self, args: list[str]) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(
                [self.binary] + args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise BackupError('cannot run restic (%s): %s' % (self.binary, exc)) from exc
        return done

    @staticmethod
    def error_text(done) -> str:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return ' '.join(lines[-3:]) or 'no message'

    def json(self, args: list[str]):
        """The JSON document restic prints first (forget --prune prints prune's text report after it)."""
        stdout = self.run(args + ['--json']).stdout.lstrip()
        return json.JSONDecoder().raw_decode(stdout)[0] if stdout else None

    def exists(self) -> bool:
        done = self.run(['cat', 'config'], check=False)
        if done.returncode == 0:
            return True
        if 'unable to open config file' in done.stderr:
            return False
        raise BackupError('cannot tell whether the repository exists: %s' % self.error_text(done))

    def snapshots(self, service: str | None = None) -> list[dict]:
        args = ['snapshots', '--tag', TAG]
        found = self.json(args) or []
        result = []
        for snap in found:
            tags = snap.get('tags') or []
            names = [tag[len('service:') :] for tag in tags if tag.startswith('service:')]
            entry = {
                'id': snap['id'],
                'short_id': snap.get('short_id', snap['id'][:8]),
                'time': snap['time'],
                'host': snap.get('hostname'),
                'service': names[0] if names else None,
                'paths': snap.get('paths', []),
            }
            if service is None or entry['service'] == service:
                result.append(entry)
        result.sort(key=lambda s: s['time'])
        return result


# --- Manifest -------------------------------------------------------------------------------------------


def list_files(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), directory)
            if rel != MANIFEST:
                found.append(rel)
    return found


def write_manifest(config: dict, service: dict, directory: str, metadata: dict) -> dict:
    files = {}
    for rel in list_files(directory):
        path = os.path.join(directory, rel)
        files[rel] = {'size': os.path.getsize(path), 'sha256': sha256_file(path)}
    manifest = {
        'version': MANIFEST_VERSION,
        'service': service['name'],
        'method': service['method'],
        'host': config['host'],
        'created': isotime(),
        'files': files,
        'metadata': metadata,
    }
    write_atomically(os.path.join(directory, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True) + '\n')
    return manifest


def verify_manifest(directory: str, service: dict) -> dict:
    """Every file the manifest lists is there with its size and sha256, and no other file is."""
    manifest = read_json(os.path.join(directory, MANIFEST))
    if not isinstance(manifest, dict) or 'files' not in manifest:
        raise BackupError('%s holds no MANIFEST.json' % directory)
    if manifest.get('service') != service['name'] or manifest.get('method') != service['method']:
        raise BackupError(
            '%s is a copy of service %s (method %s), not of %s (method %s)'
            % (directory, manifest.get('service'), manifest.get('method'), service['name'], service['method'])
        )
    problems = []
    for rel, entry in sorted(manifest['files'].items()):
        path = os.path.join(directory, rel)
        if not os.path.isfile(path):
            problems.append('%s is missing' % rel)
        elif os.path.getsize(path) != entry['size'] or sha256_file(path) != entry['sha256']:
            problems.append('%s differs from its recorded size/sha256' % rel)
    extra = sorted(set(list_files(directory)) - set(manifest['files']))
    problems += ['%s is not in the manifest' % rel for rel in extra]
    if problems:
        raise BackupError('the staged copy of %s does not verify: %s' % (service['name'], '; '.join(problems)))
    return manifest


# --- State and metrics ----------------------------------------------------------------------------------


def read_state(config: dict) -> dict:
    state = read_json(config['state_file'], None)
    if not isinstance(state, dict):
        state = {'last_run': None, 'last_success': None, 'ok': None, 'error': None, 'services': {}}
    state.setdefault('services', {})
    return state


def write_metrics(config: dict, state: dict) -> None:
    path = config.get('metrics_file')
    if not path:
        return
    lines = [
        '# HELP selfhosted_ai_backup_last_success_timestamp_seconds Time of the last backup run without a failure.',
        '# TYPE selfhosted_ai_backup_last_success_timestamp_seconds gauge',
    ]
    if state.get('last_success'):
        moment = datetime.datetime.strptime(state['last_success'], '%Y-%m-%dT%H:%M:%SZ')
        lines.append(
            'selfhosted_ai_backup_last_success_timestamp_seconds %d'
            % moment.replace(tzinfo=datetime.timezone.utc).timestamp()
        )
    lines += [
        '# HELP selfhosted_ai_backup_last_run_ok Whether the last backup run succeeded (1) or not (0).',
        '# TYPE selfhosted_ai_backup_last_run_ok gauge',
        'selfhosted_ai_backup_last_run_ok %d' % (1 if state.get('ok') else 0),
        '# HELP selfhosted_ai_backup_data_added_bytes Bytes the last snapshot of each service added to the repository.',
        '# TYPE selfhosted_ai_backup_data_added_bytes gauge',
    ]
    for name, entry in sorted(state['services'].items()):
        label = name.replace('\\', '\\\\').replace('"', '\\"')
        lines.append('selfhosted_ai_backup_data_added_bytes{service="%s"} %d' % (label, entry.get('data_added', 0)))
    write_atomically(path, '\n'.join(lines) + '\n', mode=0o644)


# --- Subcommands ----------------------------------------------------------------------------------------


def cmd_init(config: dict, args, restic: Restic) -> tuple[int, dict]:
    if restic.exists():
        return 0, {'changed': False}
    log('initialising the repository')
    restic.run(['init'])
    return 0, {'changed': True}


def dump_service(config: dict, service: dict) -> str:
    """Dump one service into its staging directory (with its manifest); returns the directory."""
    hook = make_hook(config, service)
    directory = os.path.join(config['staging_dir'], service['name'])
    if hook.keep_staging and os.path.isdir(directory) and not os.path.islink(directory):
        os.chmod(directory, 0o700)
    else:
        empty_dir(directory)
    log('%s: dump (%s)' % (service['name'], service['method']))
    metadata = hook.dump(directory)
    manifest = write_manifest(config, service, directory, metadata)
    log('%s: %d files, restic backup' % (service['name'], len(manifest['files'])))
    return directory


def upload_service(config: dict, service: dict, directory: str, restic: Restic, args) -> dict:
    """restic backup of a staged service: its own snapshot, tagged with the service."""
    cmd = ['backup', directory, '--tag', TAG, '--tag', 'service:%s' % service['name'], '--host', config['host']]
    cmd += ['--json']
    if args.time:
        cmd += ['--time', args.time]
    summary = None
    for line in restic.run(cmd).stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get('message_type') == 'summary':
            summary = message
    if not summary or not summary.get('snapshot_id'):
        raise BackupError('restic backup printed no summary with a snapshot id')
    log('%s: snapshot %s' % (service['name'], summary['snapshot_id']))
    return {
        'snapshot': summary['snapshot_id'],
        'time': isotime(),
        'files_new': summary.get('files_new', 0),
        'files_changed': summary.get('files_changed', 0),
        'files_unmodified': summary.get('files_unmodified', 0),
        'data_added': summary.get('data_added', 0),
    }


def error_text(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BackupError) else '%s: %s' % (type(exc).__name__, exc)


def backup_services(config: dict, selected: list[dict], restic: Restic, args) -> tuple[dict, dict]:
    """Dump the services one after the other; each upload runs while the next service is dumped (a
    restic start alone costs 0.5 s of key derivation; restic allows concurrent backups). One service
    failing does not stop the others. Returns the results and the errors, by service name."""
    results, failed, uploads = {}, {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for service in selected:
            try:
                directory = dump_service(config, service)
            except Exception as exc:
                failed[service['name']] = error_text(exc)
                log('%s: FAILED: %s' % (service['name'], failed[service['name']]))
                continue
            uploads[service['name']] = pool.submit(upload_service, config, service, directory, restic, args)
        for name, upload in uploads.items():
            try:
                results[name] = upload.result()
            except Exception as exc:
                failed[name] = error_text(exc)
                log('%s: FAILED: %s' % (name, failed[name]))
    return results, failed


def forget_args(config: dict) -> list[str]:
    args = ['forget', '--prune', '--tag', TAG, '--group-by', 'host,tags']
    for key in RETENTION_KEYS:
        if config['retention'].get(key):
            args += ['--keep-%s' % key, str(config['retention'][key])]
    return args


def cmd_backup(config: dict, args, restic: Restic) -> tuple[int, dict]:
    selected = [find_service(config, name) for name in args.service] if args.service else config['services']
    released = release_holds(config)
    state = read_state(config)
    started = isotime()
    results, failed = {}, {}
    try:
        results, failed = backup_services(config, selected, restic, args)
        forgotten = None
        if not args.no_forget and not failed:
            log('retention: restic forget --prune')
            forgotten = restic.json(forget_args(config))
        error = ('failed: %s' % '; '.join('%s (%s)' % item for item in sorted(failed.items()))) if failed else None
    except BackupError as exc:
        error = str(exc)
        forgotten = None
    state['last_run'] = started
    state['ok'] = error is None
    state['error'] = error
    if error is None:
        state['last_success'] = started
    for name, result in results.items():
        state['services'][name] = {
            'snapshot': result['snapshot'],
            'time': result['time'],
            'data_added': result['data_added'],
        }
    write_atomically(config['state_file'], json.dumps(state, indent=1, sort_keys=True) + '\n')
    write_metrics(config, state)
    output = {'ok': error is None, 'error': error, 'services': results, 'failed': sorted(failed)}
    if released:
        output['released'] = released
    if forgotten is not None:
        output['forget'] = [
            {'tags': group.get('tags'), 'kept': len(group.get('keep') or []), 'removed': len(group.get('remove') or [])}
            for group in forgotten
        ]
    return (0 if error is None else 1), output


def cmd_forget(config: dict, args, restic: Restic) -> tuple[int, dict]:
    groups = restic.json(forget_args(config)) or []
    return 0, {
        'forget': [
            {'tags': g.get('tags'), 'kept': len(g.get('keep') or []), 'removed': len(g.get('remove') or [])}
            for g in groups
        ]
    }


def cmd_check(config: dict, args, restic: Restic) -> tuple[int, dict]:
    cmd = ['check'] + (['--read-data-subset', args.read_data_subset] if args.read_data_subset else [])
    done = restic.run(cmd, check=False)
    state = read_state(config)
    state['last_check'] = isotime()
    state['check_ok'] = done.returncode == 0
    write_atomically(config['state_file'], json.dumps(state, indent=1, sort_keys=True) + '\n')
    if done.returncode != 0:
        return 1, {'ok': False, 'error': 'restic check failed: %s' % restic.error_text(done)}
    return 0, {'ok': True}


def cmd_snapshots(config: dict, args, restic: Restic) -> tuple[int, dict]:
    if args.service:
        find_service(config, args.service)
    snaps = restic.snapshots(args.service)
    latest = {}
    for snap in snaps:
        if snap['service']:
            latest[snap['service']] = snap
    return 0, {'snapshots': snaps, 'services': latest}


def cmd_stage(config: dict, args, restic: Restic) -> tuple[int, dict]:
    service = find_service(config, args.service)
    target = os.path.abspath(args.target)
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise ConfigError('the target %s is not an empty directory' % target)
    snaps = restic.snapshots(service['name'])
    if args.snapshot == 'latest':
        if not snaps:
            raise BackupError('service %s has no snapshot' % service['name'])
        snap = snaps[-1]
    else:
        matches = [s for s in snaps if s['id'].startswith(args.snapshot)]
        if len(matches) != 1:
            raise BackupError(
                'snapshot %s is not a snapshot of service %s%s'
                % (args.snapshot, service['name'], ' (ambiguous prefix)' if matches else ' (or does not exist)')
            )
        snap = matches[0]
    source = os.path.join(config['staging_dir'], service['name'])
    if source not in snap['paths']:
        raise BackupError('snapshot %s holds %s, not %s' % (snap['short_id'], ', '.join(snap['paths']), source))
    os.makedirs(target, mode=0o700, exist_ok=True)
    log('restic restore %s -> %s' % (snap['short_id'], target))
    restic.run(['restore', snap['id'], '--target', target, '--include', source])
    staged = os.path.join(target, source.lstrip('/'))
    manifest = verify_manifest(staged, service)
    make_hook(config, service).verify(staged, manifest)
    return 0, {
        'snapshot': snap['id'],
        'time': snap['time'],
        'path': staged,
        'files': len(manifest['files']),
        'bytes': sum(entry['size'] for entry in manifest['files'].values()),
        'verified': True,
    }


def cmd_restore(config: dict, args, restic: Restic) -> tuple[int, dict]:
    service = find_service(config, args.service)
    staged = os.path.abspath(args.staged)
    manifest = verify_manifest(staged, service)
    hook = make_hook(config, service)
    hook.verify(staged, manifest)
    released = release_holds(config)
    log('%s: restoring from %s (made %s)' % (service['name'], staged, manifest['created']))
    result = hook.restore(staged, manifest)
    output = {'service': service['name'], 'staged': staged, 'created': manifest['created'], 'restored': result}
    if released:
        output['released'] = released
    return 0, output


def cmd_release(config: dict, args, restic: Restic) -> tuple[int, dict]:
    released = release_holds(config)
    return 0, {'changed': bool(released), 'released': released}


COMMANDS = {
    'init': cmd_init,
    'backup': cmd_backup,
    'forget': cmd_forget,
    'check': cmd_check,
    'snapshots': cmd_snapshots,
    'stage': cmd_stage,
    'restore': cmd_restore,
    'release': cmd_release,
}


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog='selfhosted-ai-backup', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='configuration file (default %(default)s)')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    sub.add_parser('init', help='initialise the repository unless it exists')
    backup = sub.add_parser('backup', help='back up the services (all, or those named) and apply retention')
    backup.add_argument('--service', action='append', default=[], help='only this service (repeatable)')
    backup.add_argument('--time', help='snapshot time "YYYY-MM-DD HH:MM:SS" (restic --time)')
    backup.add_argument('--no-forget', action='store_true', help='skip retention (restic forget --prune)')
    sub.add_parser('forget', help='apply retention (restic forget --prune)')
    check = sub.add_parser('check', help='restic check, recorded in the state file')
    check.add_argument('--read-data-subset', help='also read this part of the data, e.g. 5%% or 1/10')
    snapshots = sub.add_parser('snapshots', help='list the snapshots and the latest per service')
    snapshots.add_argument('--service')
    stage = sub.add_parser('stage', help='take a snapshot of one service out into an empty directory and verify it')
    stage.add_argument('--service', required=True)
    stage.add_argument('--snapshot', default='latest', help='snapshot id (or prefix), default latest')
    stage.add_argument('--target', required=True)
    restore = sub.add_parser('restore', help='swap a staged, verified copy in; the live data is kept')
    restore.add_argument('--service', required=True)
    restore.add_argument('--staged', required=True, help='the path `stage` printed')
    sub.add_parser('release', help='unpause or start again the containers a killed run left paused or stopped')
    return parser


class RunLock:
    """One run at a time per state file (a timer run and a manual restore must not overlap)."""

    def __init__(self, config: dict):
        self.path = config['state_file'] + '.lock'
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.handle = open(self.path, 'a')
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BackupError('another selfhosted-ai-backup run holds %s' % self.path) from exc
            raise
        return self

    def __exit__(self, *exc_info):
        self.handle.close()


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    try:
        args = build_parser().parse_args(argv)
        config = load_config(args.config)
        restic = Restic(config)
        with RunLock(config):
            code, output = COMMANDS[args.command](config, args, restic)
    except ConfigError as exc:
        code, output = 2, {'ok': False, 'error': str(exc)}
    except BackupError as exc:
        code, output = 1, {'ok': False, 'error': str(exc)}
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # a library's own error (Docker, boto3, redis, OSError): name it, exit 1
        code, output = 1, {'ok': False, 'error': '%s: %s' % (type(exc).__name__, exc)}
    except KeyboardInterrupt:
        code, output = 1, {'ok': False, 'error': 'interrupted'}
    if code:
        log('error: %s' % output['error'])
    output.setdefault('ok', code == 0)
    sys.stdout.write(json.dumps(output, sort_keys=True) + '\n')
    sys.stdout.flush()
    return code


if __name__ == '__main__':
    sys.exit(main())
