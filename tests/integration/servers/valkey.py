# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throw-away Valkey/Redis server for the integration tests (fixture ``valkey_server``).

``valkey-server`` or ``redis-server`` (Debian's redis-server 7.0 has the same ACLs) as a plain
process on 127.0.0.1 with a free port, a temporary directory, no persistence, a random
password for the default user, a bounded start wait and a stop at session end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from ports import free_port

START_TIMEOUT = 15


def _binary():
    for name in ('valkey-server', 'redis-server'):
        path = shutil.which(name)
        if path:
            return path
    return None


class ValkeyServer:
    def __init__(self):
        self.binary = _binary()
        self.host = '127.0.0.1'
        self.port = free_port()
        self.password = secrets.token_urlsafe(24)
        self.base = tempfile.mkdtemp(prefix='valkey-tenants-')
        self.proc = None

    def start(self):
        conf = os.path.join(self.base, 'server.conf')
        with open(conf, 'w') as handle:
            handle.write(
                'bind 127.0.0.1\nport %d\ndir %s\nsave ""\nappendonly no\n'
                'requirepass %s\nprotected-mode yes\n' % (self.port, self.base, self.password)
            )
        os.chmod(conf, 0o600)
        self.proc = subprocess.Popen(
            [self.binary, conf],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.base, 'log'), 'wb'),  # noqa: SIM115 - open while the server runs
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('%s exited with %s' % (self.binary, self.proc.returncode))
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError('Valkey did not listen on %s:%d within %ds' % (self.host, self.port, START_TIMEOUT))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def address(self):
        return '%s:%d' % (self.host, self.port)

    def module_options(self):
        return {'host': self.host, 'port': self.port, 'password': self.password}

    def client(self, username=None, password=None):
        import redis

        if username is None:
            return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=5)
        return redis.Redis(host=self.host, port=self.port, username=username, password=password, socket_timeout=5)


@pytest.fixture(scope='session')
def valkey_server():
    if _binary() is None:
        pytest.skip('neither valkey-server nor redis-server is installed (apt-get install -y redis-server)')
    pytest.importorskip('redis')
    server = ValkeyServer().start()
    try:
        yield server
    finally:
        server.stop()
