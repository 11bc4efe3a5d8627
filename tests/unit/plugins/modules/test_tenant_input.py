# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad-input corpus: each input is refused with its message and no backend is ever contacted."""

from __future__ import annotations

import contextlib
import io
import json
from unittest import mock

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_engine
from ansible_collections.selfhosted_ai.stack.plugins.modules import tenant


def _run(args):
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        tenant.main()
    return json.loads(out.getvalue())


def _backend_factory(name):
    """A backend class whose every server call fails the test."""

    class Tripwire:
        def __init__(self, options):
            self.warnings = []

        def _touched(self, *args, **kwargs):
            raise AssertionError('backend %s was contacted despite bad input' % name)

        connect = read = plan = apply = apply_all = discover = _touched

        def close(self):
            pass

    return Tripwire


BASE = {
    'postgres': {'login_password': 'unit-pg-secret-0'},
    'valkey': {'password': 'unit-vk-secret-0'},
    'vault': {'url': 'http://127.0.0.1:1', 'token': 'unit-vault-token-0'},
}

BAD_IDS = [
    ("a'; DROP ROLE x;--", 'is refused'),
    ('a b', 'is refused'),
    ('../x', 'is refused'),
    ('tenаnt', 'is refused'),  # Cyrillic a
    ('ｔenant', 'is refused'),  # full-width t
    ('acme\n', 'is refused'),  # a trailing newline must not pass
    ('x' * 31, 'has 31 characters'),
    ('', 'is empty'),
    ('a', 'has 1 characters'),
    ('Acme', 'is refused'),
    ('1acme', 'is refused'),
    ('acme_', 'is refused'),
    ('ac__me', 'is refused'),
    ('_acme', 'is refused'),
    ('ac-me', 'is refused'),
    ('ac.me', 'is refused'),
    ('acme*', 'is refused'),
    ('postgres', 'reserved name'),
    ('admin', 'reserved name'),
    ('root', 'reserved name'),
    ('default', 'reserved name'),
    ('public', 'reserved name'),
    ('template0', 'reserved name'),
    ('template1', 'reserved name'),
    ('system', 'reserved name'),
    ('pg_signal', 'reserved prefix'),
    ('data_s3alias', 'reserved suffix'),
]


@pytest.mark.parametrize('bad,message', BAD_IDS, ids=[repr(b)[:20] for b, dummy in BAD_IDS])
def test_bad_tenant_id_refused_before_any_backend(bad, message):
    args = dict(BASE, tenants=[{'id': 'fine'}, {'id': bad}])
    with mock.patch.object(_tenant_engine, '_load', _backend_factory):
        result = _run(args)
    assert result['failed'] is True
    assert 'invalid input, nothing was changed' in result['msg']
    assert message in result['msg']
    assert 'tenants[1]' in result['msg']
    if bad:
        assert repr(bad)[:40] in result['msg']


BAD_LISTS = [
    ([{'id': 'acme'}, {'id': 'acme'}], 'appears twice'),
    ([{'id': 'acme', 'apps': ['n8n', 'n8n']}], 'lists an app twice'),
    ([{'id': 'acme', 'apps': ['n8n_x']}], "app name 'n8n_x' is refused"),
    ([{'id': 'acme', 'apps': ['N8N']}], "app name 'N8N' is refused"),
    ([{'id': 'acme', 'apps': ['a;drop']}], 'is refused'),
    ([{'id': 'acme', 'quotas': {'pg_connection_limit': 'many'}}], 'must be an integer'),
    ([{'id': 'acme', 'quotas': {'pg_connection_limit': -5}}], '-1 (unlimited) or more'),
    ([{'id': 'acme', 'quotas': {'disk': 1}}], 'unknown quota'),
    ([{'id': 'acme', 'quotas': {'qdrant_distance': 'L2'}}], 'qdrant_distance must be one of'),
    ([{'id': 'acme', 'display_name': 'bad\x00name'}], 'display_name'),
]


@pytest.mark.parametrize('tenants,message', BAD_LISTS)
def test_bad_list_refused(tenants, message):
    with mock.patch.object(_tenant_engine, '_load', _backend_factory):
        result = _run(dict(BASE, tenants=tenants))
    assert result['failed'] is True
    assert message in result['msg'], result['msg']


def test_backend_without_options_refused():
    with mock.patch.object(_tenant_engine, '_load', _backend_factory):
        result = _run({'tenants': [{'id': 'acme'}], 'backends': ['postgres']})
    assert result['failed'] is True and 'connection options' in result['msg']


def test_credentials_need_vault():
    with mock.patch.object(_tenant_engine, '_load', _backend_factory):
        result = _run({'tenants': [{'id': 'acme'}], 'postgres': {'login_password': 'unit-pg-secret-0'}})
    assert result['failed'] is True and 'kept in Vault/OpenBao' in result['msg']


def test_missing_library_named():
    def factory(name):
        raise _tenant_engine.MissingLibrary(name, 'psycopg', 'ImportError: No module named psycopg')

    with mock.patch.object(_tenant_engine, '_load', factory):
        result = _run(dict(BASE, tenants=[{'id': 'acme'}]))
    assert result['failed'] is True and 'psycopg' in result['msg']


def test_secret_options_are_no_log():
    spec = tenant.argument_spec()
    secret = [
        ('postgres', 'login_password'),
        ('valkey', 'password'),
        ('s3', 'access_key'),
        ('s3', 'secret_key'),
        ('vault', 'token'),
        ('vault', 'secret_id'),
        ('qdrant', 'api_key'),
        ('neo4j', 'password'),
    ]
    for backend, option in secret:
        assert spec[backend]['options'][option].get('no_log') is True, (backend, option)
