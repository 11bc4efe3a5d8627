# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/_vault.py.

Tests named ``test_fake_http_*`` talk to a tiny fake Vault HTTP API on 127.0.0.1 that
answers canned responses; the real server runs in tests/integration/secrets/.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import hvac.exceptions
import pytest
from ports import free_port

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _vault
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import VaultConnection, VaultError

TOKEN = 'hvs.unit-test-token-value'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(('VAULT_', 'BAO_')):
            monkeypatch.delenv(key)


class FakeVault:
    """Canned answers keyed by (method, path); records what it was asked."""

    def __init__(self, routes):
        self.routes = routes
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                answer = fake.routes.get((self.command, self.path.split('?')[0]), (404, {'errors': []}))
                if isinstance(answer, list):  # answers in turn, the last one repeated
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


LOOKUP_SELF_OK = (200, {'data': {'policies': ['default']}})


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(), 'no Vault/OpenBao URL'),
        (dict(url='vault:8200', token='t'), 'must start with http'),
        (dict(url='http://v:8200'), 'no token for http://v:8200'),
        (dict(url='http://v:8200', role_id='r'), 'needs both role_id and secret_id'),
        (dict(url='http://v:8200', auth_method='approle', secret_id='s'), 'needs both role_id and secret_id'),
        (dict(url='http://v:8200', token='t', auth_method='ldap'), 'auth_method must be one of'),
        (dict(url='http://v:8200', token='t', client_key='/k'), 'client_key was given without client_cert'),
        (dict(url='http://v:8200', token='t', ca_cert='/nonexistent/ca.pem'), 'ca_cert file /nonexistent/ca.pem'),
        (dict(url='http://v:8200', token='t', timeout=0), 'timeout'),
    ],
)
def test_invalid_options_are_refused_before_connecting(kwargs, match):
    with pytest.raises(VaultError, match=match):
        VaultConnection(**kwargs).validate()


def test_from_params_and_auth_method_selection():
    params = dict(
        url='https://v:8200/',
        token='t',
        role_id=None,
        secret_id=None,
        auth_method='auto',
        approle_mount_point='approle',
        namespace='ns',
        ca_cert=None,
        validate_certs=None,
        client_cert=None,
        client_key=None,
        timeout=5,
        unrelated='ignored',
    )
    conn = VaultConnection.from_params(params)
    assert (conn.url, conn.namespace, conn.timeout, conn.effective_auth_method) == ('https://v:8200', 'ns', 5, 'token')
    assert VaultConnection(url='http://v', role_id='r', secret_id='s').effective_auth_method == 'approle'
    assert VaultConnection(url='http://v', token='t', role_id='r', auth_method='token').effective_auth_method == 'token'
    assert set(_vault.VAULT_ARGUMENT_SPEC) == set(_vault.CONNECTION_OPTIONS)
    assert _vault.VAULT_ARGUMENT_SPEC['token']['no_log'] and _vault.VAULT_ARGUMENT_SPEC['secret_id']['no_log']


@pytest.mark.parametrize('value, expected', [('true', False), ('1', False), ('false', True), ('0', True), ('', True)])
def test_skip_verify_environment(monkeypatch, value, expected):
    monkeypatch.setenv('VAULT_SKIP_VERIFY', value)
    assert VaultConnection(url='https://v').validate_certs is expected
    assert VaultConnection(url='https://v', validate_certs=True).validate_certs is True


def test_missing_hvac_message(monkeypatch):
    monkeypatch.setattr(_vault, 'HAS_HVAC', False)
    monkeypatch.setattr(_vault, 'HVAC_IMPORT_ERROR', "Traceback...\nModuleNotFoundError: No module named 'hvac'")
    with pytest.raises(VaultError, match="hvac is required.*No module named 'hvac'"):
        VaultConnection(url='http://v', token='t').validate()


# ---------------------------------------------------------------------------- network errors


def test_nothing_listening_names_the_url():
    url = 'http://127.0.0.1:%d' % free_port()
    conn = VaultConnection(url=url, token=TOKEN, timeout=5)
    with pytest.raises(VaultError, match='cannot reach Vault/OpenBao at %s' % url) as failure:
        conn.client()
    assert TOKEN not in str(failure.value)


def test_fake_http_silent_server_times_out():
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(('127.0.0.1', 0))
        sock.listen(1)
        url = 'http://127.0.0.1:%d' % sock.getsockname()[1]
        with pytest.raises(VaultError, match='did not answer within 1 seconds'):
            VaultConnection(url=url, token=TOKEN, timeout=1).client()


def test_fake_http_invalid_token_is_reported_without_the_token():
    routes = {('GET', '/v1/auth/token/lookup-self'): (403, {'errors': ['permission denied']})}
    with (
        FakeVault(routes) as fake,
        pytest.raises(VaultError, match='permission denied / invalid token for %s' % fake.url) as failure,
    ):
        VaultConnection(url=fake.url, token=TOKEN).client()
    assert TOKEN not in str(failure.value)
    assert fake.requests[0][2].get('X-Vault-Token') == TOKEN


def test_fake_http_namespace_header_is_sent():
    routes = {('GET', '/v1/auth/token/lookup-self'): LOOKUP_SELF_OK}
    with FakeVault(routes) as fake:
        VaultConnection(url=fake.url, token=TOKEN, namespace='team1').client()
    assert fake.requests[0][2].get('X-Vault-Namespace') == 'team1'


def test_fake_http_approle_failure_hides_the_secret_id():
    secret_id = 'approle-secret-id-value'
    routes = {
        ('POST', '/v1/auth/approle/login'): (400, {'errors': ['invalid role or secret ID %s' % secret_id]})
    }  # a server that echoes: scrubbed
    with (
        FakeVault(routes) as fake,
        pytest.raises(VaultError, match='AppRole login to %s .*failed' % fake.url) as failure,
    ):
        VaultConnection(url=fake.url, role_id='rid', secret_id=secret_id).client()
    assert secret_id not in str(failure.value)
    assert json.loads(fake.requests[0][3]) == {'role_id': 'rid', 'secret_id': secret_id}


def test_fake_http_approle_token_is_used():
    routes = {
        ('POST', '/v1/auth/custom-approle/login'): (200, {'auth': {'client_token': 'from-approle'}}),
        ('GET', '/v1/secret/data/app/x'): (200, {'data': {'data': {'value': 'v'}, 'metadata': {'version': 3}}}),
    }
    with FakeVault(routes) as fake:
        conn = VaultConnection(url=fake.url, role_id='rid', secret_id='sid', approle_mount_point='custom-approle')
        assert conn.kv2_read('app/x') == ({'value': 'v'}, 3, False)
    assert fake.requests[-1][2].get('X-Vault-Token') == 'from-approle'


def test_fake_http_kv2_read_missing_deleted_and_write_outcomes():
    routes = {
        ('GET', '/v1/auth/token/lookup-self'): LOOKUP_SELF_OK,
        ('GET', '/v1/secret/data/gone'): (
            404,
            {
                'data': {
                    'data': None,
                    'metadata': {'version': 2, 'deletion_time': '2026-01-01T00:00:00Z', 'destroyed': False},
                }
            },
        ),
        ('GET', '/v1/secret/metadata/gone'): (
            200,
            {
                'data': {
                    'current_version': 2,
                    'versions': {
                        '1': {'deletion_time': '', 'destroyed': False},
                        '2': {'deletion_time': '2026-01-01T00:00:00Z', 'destroyed': False},
                    },
                }
            },
        ),
        ('GET', '/v1/secret/data/raced-read'): (404, {'errors': []}),
        ('GET', '/v1/secret/metadata/raced-read'): (
            200,
            {'data': {'current_version': 1, 'versions': {'1': {'deletion_time': '', 'destroyed': False}}}},
        ),
        ('GET', '/v1/secret/data/raced-once'): [
            (404, {'errors': []}),
            (200, {'data': {'data': {'value': 'v'}, 'metadata': {'version': 1}}}),
        ],
        ('GET', '/v1/secret/metadata/raced-once'): (
            200,
            {'data': {'current_version': 1, 'versions': {'1': {'deletion_time': '', 'destroyed': False}}}},
        ),
        ('POST', '/v1/secret/data/raced'): (
            400,
            {'errors': ['check-and-set parameter did not match the current version']},
        ),
        ('POST', '/v1/secret/data/ok'): (200, {'data': {'version': 1}}),
        ('POST', '/v1/secret/data/denied'): (403, {'errors': ['1 error occurred:\n\t* permission denied\n\n']}),
    }
    with FakeVault(routes) as fake:
        conn = VaultConnection(url=fake.url, token=TOKEN)
        assert conn.kv2_read('absent') == (None, 0, False)
        assert conn.kv2_read('gone') == (None, 2, True)
        with pytest.raises(VaultError, match='was written while it was being read, 3 times'):
            conn.kv2_read('raced-read')
        # written by another process between the data and the metadata read: read again
        assert conn.kv2_read('raced-once') == ({'value': 'v'}, 1, False)
        assert conn.kv2_write('ok', {'value': 'x'}, cas=0) is True
        assert json.loads(fake.requests[-1][3]) == {'options': {'cas': 0}, 'data': {'value': 'x'}}
        assert conn.kv2_write('raced', {'value': 'x'}, cas=0) is False
        with pytest.raises(VaultError, match='no KV version 2 secrets engine is mounted at .nomount.'):
            conn.kv2_write('x', {'value': 'x'}, mount_point='nomount', cas=0)
        with pytest.raises(VaultError, match='permission denied while writing secret/denied at %s' % fake.url):
            conn.kv2_write('denied', {'value': 'x'}, cas=0)


def test_fake_http_mount_version():
    routes = {
        ('GET', '/v1/auth/token/lookup-self'): LOOKUP_SELF_OK,
        ('GET', '/v1/sys/internal/ui/mounts/kv1'): (200, {'data': {'type': 'kv', 'options': {'version': '1'}}}),
        ('GET', '/v1/sys/internal/ui/mounts/secret'): (200, {'data': {'type': 'kv', 'options': {'version': '2'}}}),
    }
    with FakeVault(routes) as fake:
        conn = VaultConnection(url=fake.url, token=TOKEN)
        assert conn.kv2_mount_version('kv1') == '1'
        assert conn.kv2_mount_version('secret') == '2'
        assert conn.kv2_mount_version('unknown') is None


def test_fake_http_close_revokes_only_tokens_it_logged_in_for():
    routes = {
        ('POST', '/v1/auth/approle/login'): (200, {'auth': {'client_token': 'from-approle'}}),
        ('GET', '/v1/auth/token/lookup-self'): LOOKUP_SELF_OK,
        ('POST', '/v1/auth/token/revoke-self'): (204, {}),
    }
    with FakeVault(routes) as fake:
        conn = VaultConnection(url=fake.url, role_id='rid', secret_id='sid')
        conn.client()
        conn.close()
        conn.close()  # idempotent
        revokes = [r for r in fake.requests if r[1] == '/v1/auth/token/revoke-self']
        assert len(revokes) == 1 and revokes[0][2].get('X-Vault-Token') == 'from-approle'
        given = VaultConnection(url=fake.url, token=TOKEN)
        given.client()
        given.close()
        assert len([r for r in fake.requests if r[1] == '/v1/auth/token/revoke-self']) == 1


class _OldKv2:
    """hvac 0.11 (Debian 12's python3-hvac): read_secret_version has no raise_on_deleted_version."""

    def __init__(self, versions):
        self.versions = versions
        self.calls = []

    def read_secret_version(self, path, version=None, mount_point='secret'):
        self.calls.append(('read', path, mount_point))
        if path not in self.versions or self.versions[path][1]:
            raise hvac.exceptions.InvalidPath('not found')
        return {'data': {'data': self.versions[path][0], 'metadata': {'version': 1}}}

    def read_secret_metadata(self, path, mount_point='secret'):
        self.calls.append(('metadata', path, mount_point))
        if path not in self.versions:
            raise hvac.exceptions.InvalidPath('not found')
        deleted = '2026-01-01T00:00:00Z' if self.versions[path][1] else ''
        return {'data': {'current_version': 1, 'versions': {'1': {'deletion_time': deleted, 'destroyed': False}}}}


def test_kv2_read_with_the_hvac_0_11_signature(monkeypatch):
    kv = _OldKv2({'app/x': ({'value': 'v'}, False), 'app/gone': ({}, True)})

    class Client:
        class secrets:  # noqa: N801 - mirrors hvac's attribute path
            class kv:  # noqa: N801
                v2 = kv

    conn = VaultConnection(url='http://127.0.0.1:1', token=TOKEN)
    monkeypatch.setattr(conn, 'client', Client)
    assert _vault._raise_on_deleted(kv) == {}
    assert conn.kv2_read('app/x') == ({'value': 'v'}, 1, False)
    assert conn.kv2_read('app/gone') == (None, 1, True)
    assert conn.kv2_read('app/never') == (None, 0, False)
    assert kv.calls[-1] == ('metadata', 'app/never', 'secret')
