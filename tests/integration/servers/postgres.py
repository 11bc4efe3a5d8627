# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throw-away PostgreSQL 15 server for the integration tests (fixture ``postgres_server``).

initdb + pg_ctl from /usr/lib/postgresql/<ver>/bin (override with PG_BINDIR), a temporary data
directory, 127.0.0.1 on a free port, a random superuser password, fsync off (test speed),
a bounded start wait and a stop at the end of the session. Runs initdb as the ``postgres``
system user when the tests run as root (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from ports import free_port

START_TIMEOUT = 30


def _bindir():
    if os.environ.get('PG_BINDIR'):
        return os.environ['PG_BINDIR']
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    return os.path.dirname(candidates[-1]) if candidates else None


class PostgresServer:
    def __init__(self):
        self.bindir = _bindir()
        self.host = '127.0.0.1'
        self.port = free_port()
        self.user = 'postgres'
        self.password = secrets.token_urlsafe(24)
        self.base = tempfile.mkdtemp(prefix='pg-tenants-')
        self.datadir = os.path.join(self.base, 'data')
        self._run_as = None
        if os.geteuid() == 0:
            self._run_as = pwd.getpwnam('postgres')
            os.chmod(self.base, 0o755)
            os.chown(self.base, self._run_as.pw_uid, self._run_as.pw_gid)

    def _cmd(self, args, **kw):
        if self._run_as is not None:
            args = ['runuser', '-u', self._run_as.pw_name, '--'] + args
        return subprocess.run(args, check=True, capture_output=True, timeout=120, **kw)

    def start(self):
        pwfile = os.path.join(self.base, 'pw')
        with open(pwfile, 'w') as handle:
            handle.write(self.password)
        if self._run_as is not None:
            os.chown(pwfile, self._run_as.pw_uid, self._run_as.pw_gid)
        os.chmod(pwfile, 0o600)
        self._cmd(
            [
                os.path.join(self.bindir, 'initdb'),
                '-D',
                self.datadir,
                '-U',
                self.user,
                '--pwfile',
                pwfile,
                '--auth=scram-sha-256',
                '-E',
                'UTF8',
                '--locale=C.UTF-8',
            ]
        )
        os.unlink(pwfile)
        opts = (
            '-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off '
            '-c synchronous_commit=off -c full_page_writes=off -c max_connections=400' % (self.port, self.base)
        )
        self._cmd(
            [
                os.path.join(self.bindir, 'pg_ctl'),
                '-D',
                self.datadir,
                '-o',
                opts,
                '-l',
                os.path.join(self.base, 'log'),
                '-w',
                '-t',
                str(START_TIMEOUT),
                'start',
            ]
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('PostgreSQL did not listen on %s:%d within %ds' % (self.host, self.port, START_TIMEOUT))

    def stop(self):
        with contextlib.suppress(Exception):  # best effort: the data directory goes anyway
            self._cmd([os.path.join(self.bindir, 'pg_ctl'), '-D', self.datadir, '-m', 'immediate', '-w', 'stop'])
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def address(self):
        return '%s:%d' % (self.host, self.port)

    def module_options(self):
        """The tenant module's ``postgres`` option for this server."""
        return {
            'host': self.host,
            'port': self.port,
            'login_user': self.user,
            'login_password': self.password,
            'database': 'postgres',
        }

    def connect(self, dbname='postgres', user=None, password=None):
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user or self.user,
            password=password if user else self.password,
            autocommit=True,
            connect_timeout=5,
        )


@pytest.fixture(scope='session')
def postgres_server():
    if _bindir() is None:
        pytest.skip('no PostgreSQL server binaries (initdb) found under /usr/lib/postgresql/*/bin')
    pytest.importorskip('psycopg')
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()
