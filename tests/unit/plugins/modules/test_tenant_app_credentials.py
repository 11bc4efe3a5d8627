# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module tenant_app_credentials against a fake hvac client (FakeOpenBao: AppRole logins, role-id and secret-id
endpoints, KV v2, with the policies of the tenant stack: the provisioning AppRole may not read a tenant's
credentials, a tenant reads its own folder only). The real server runs in molecule/apps and tests/integration.

The ladder: check mode on a new tenant (predicts a change, issues nothing: the backend is read independently before
and after), real run, check mode again (no change), real run again (no change).
"""

from __future__ import annotations

import copy
import itertools
import os

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.modules import tenant_app_credentials

hvac = pytest.importorskip('hvac')

PROVISIONER_ROLE_ID = 'role-id-of-the-tenant-stack'
PROVISIONER_SECRET_ID = 'secret-id-of-the-tenant-stack-0'
ACME_RECORD = {
    'postgres_user': 'tenant_acme',
    'postgres_password': 'pg-password-of-acme-0',
    'valkey_user': 'tenant_acme',
    'valkey_password': 'vk-password-of-acme-0',
    's3_bucket': 'tenant-acme',
    's3_access_key': 'AKIAACME',
    's3_secret_key': 's3-secret-of-acme-0',
}


class FakeOpenBao:
    """The server's state, shared by every client the module makes; records who did what."""

    def __init__(self):
        # AppRole name -> role_id; role_id -> (name, set of valid secret_ids)
        self.roles = {'tenants-stack': PROVISIONER_ROLE_ID}
        self.secret_ids = {PROVISIONER_ROLE_ID: {PROVISIONER_SECRET_ID}}
        self.kv = {}  # (mount, path) -> list of versions
        self.tokens = {}  # token -> AppRole name
        self.log = []  # (identity, action, path)
        self.counter = itertools.count(1)

    def add_tenant(self, tenant_id, record):
        name = 'tenant-%s' % tenant_id.replace('_', '-')
        role_id = 'role-id-%s' % name
        self.roles[name] = role_id
        self.secret_ids[role_id] = set()
        self.kv[('secret', 'tenants/%s/credentials' % tenant_id)] = [dict(record)]

    def state(self):
        return copy.deepcopy((self.roles, self.secret_ids, self.kv))

    def identity(self, token):
        if token not in self.tokens:
            raise hvac.exceptions.Forbidden('permission denied')
        return self.tokens[token]

    def allowed(self, identity, action, path):
        """The tenant stack's policies: the provisioner manages AppRoles and the apps' secret_ids, never reads a
        tenant's credentials; a tenant reads its own folder only."""
        if identity == 'tenants-stack':
            return path.startswith('/v1/auth/approle/role/tenant-') or path.endswith('/apps_approle')
        tenant_folder = 'tenants/%s/' % identity[len('tenant-') :].replace('-', '_')
        return action == 'read' and path.startswith(tenant_folder)

    def check(self, token, action, path):
        identity = self.identity(token)
        self.log.append((identity, action, path))
        if not self.allowed(identity, action, path):
            raise hvac.exceptions.Forbidden('permission denied: %s may not %s %s' % (identity, action, path))


class FakeClient:
    """The part of hvac.Client the module and module_utils/_vault.py use."""

    server = None

    def __init__(self, url=None, token=None, verify=None, cert=None, timeout=None, namespace=None):
        self.token = token
        bao = self.server
        client = self

        class AppRole:
            def login(self, role_id, secret_id, mount_point='approle'):
                names = [name for name, rid in bao.roles.items() if rid == role_id]
                if not names or secret_id not in bao.secret_ids.get(role_id, ()):
                    raise hvac.exceptions.InvalidRequest('invalid role or secret ID')
                client.token = 'token-%d' % next(bao.counter)
                bao.tokens[client.token] = names[0]

        class Token:
            def revoke_self(self):
                bao.tokens.pop(client.token, None)

            def lookup_self(self):
                bao.identity(client.token)

        class Auth:
            approle = AppRole()
            token = Token()

        class Adapter:
            def get(self, path):
                bao.check(client.token, 'read', path)
                name = path.split('/')[-2]
                if name not in bao.roles:
                    raise hvac.exceptions.InvalidPath('role %s not found' % name)
                return {'data': {'role_id': bao.roles[name]}}

            def post(self, path):
                bao.check(client.token, 'write', path)
                secret_id = 'secret-id-%d' % next(bao.counter)
                bao.secret_ids[bao.roles[path.split('/')[-2]]].add(secret_id)
                return {'data': {'secret_id': secret_id}}

        class KV2:
            def read_secret_version(self, path, mount_point='secret', raise_on_deleted_version=None):
                bao.check(client.token, 'read', path)
                versions = bao.kv.get((mount_point, path))
                if not versions:
                    raise hvac.exceptions.InvalidPath('no secret at %s' % path)
                return {'data': {'data': dict(versions[-1]), 'metadata': {'version': len(versions)}}}

            def read_secret_metadata(self, path, mount_point='secret'):
                raise hvac.exceptions.InvalidPath('no metadata at %s' % path)

            def create_or_update_secret(self, path, secret, cas=None, mount_point='secret'):
                bao.check(client.token, 'write', path)
                bao.kv.setdefault((mount_point, path), []).append(dict(secret))

        class KV:
            v2 = KV2()

        class Secrets:
            kv = KV()

        self.auth = Auth()
        self.adapter = Adapter()
        self.secrets = Secrets()


@pytest.fixture
def bao(monkeypatch):
    for key in list(os.environ):
        if key.startswith(('VAULT_', 'BAO_')):
            monkeypatch.delenv(key)
    server = FakeOpenBao()
    server.add_tenant('acme', ACME_RECORD)
    monkeypatch.setattr(FakeClient, 'server', server)
    monkeypatch.setattr(hvac, 'Client', FakeClient)
    return server


ARGS = {
    'tenants': ['acme'],
    'url': 'http://127.0.0.1:8200',
    'role_id': PROVISIONER_ROLE_ID,
    'secret_id': PROVISIONER_SECRET_ID,
}


def test_fake_hvac_ladder_check_mode_issues_nothing_then_the_run_reads_as_the_tenant(bao, run_module):
    before = bao.state()
    check = run_module(tenant_app_credentials.main, ARGS, check_mode=True)
    assert not check.failed, check.get('msg')
    assert check['changed'] is True
    assert check['tenants'] == [{'id': 'acme', 'changed': True, 'action': 'issued a secret_id (none stored)'}]
    # No secret_id issued, nothing stored, no credentials handed out.
    assert check['credentials'] == {'acme': {}}
    assert bao.state() == before
    assert not [entry for entry in bao.log if entry[1] == 'write']

    run = run_module(tenant_app_credentials.main, ARGS)
    assert not run.failed, run.get('msg')
    assert run['changed'] is True
    stored = bao.kv[('secret', 'tenants/acme/apps_approle')]
    assert len(stored) == 1
    secret_id = stored[0]['secret_id']
    assert run['credentials'] == {'acme': dict(ACME_RECORD, role_id='role-id-tenant-acme', secret_id=secret_id)}
    # The credentials were read by the tenant's own AppRole, never by the provisioner.
    readers = {who for who, action, path in bao.log if path == 'tenants/acme/credentials'}
    assert readers == {'tenant-acme'}
    # Every token the module logged in with was revoked.
    assert bao.tokens == {}

    issued = len(bao.secret_ids['role-id-tenant-acme'])
    for check_mode in (True, False):
        again = run_module(tenant_app_credentials.main, ARGS, check_mode=check_mode)
        assert not again.failed, again.get('msg')
        assert again['changed'] is False
        assert again['tenants'] == [{'id': 'acme', 'changed': False, 'action': 'none'}]
        assert again['credentials']['acme']['postgres_password'] == ACME_RECORD['postgres_password']
        assert again['credentials']['acme']['secret_id'] == secret_id
    assert len(bao.secret_ids['role-id-tenant-acme']) == issued
    assert len(bao.kv[('secret', 'tenants/acme/apps_approle')]) == 1


def test_fake_hvac_a_revoked_secret_id_is_replaced(bao, run_module):
    run_module(tenant_app_credentials.main, ARGS)
    old = bao.kv[('secret', 'tenants/acme/apps_approle')][-1]['secret_id']
    bao.secret_ids['role-id-tenant-acme'].clear()

    check = run_module(tenant_app_credentials.main, ARGS, check_mode=True)
    assert check['changed'] is True and check['credentials'] == {'acme': {}}
    assert check['tenants'][0]['action'] == 'issued a secret_id (the stored one is refused)'
    assert bao.secret_ids['role-id-tenant-acme'] == set()

    run = run_module(tenant_app_credentials.main, ARGS)
    assert run['changed'] is True
    new = run['credentials']['acme']['secret_id']
    assert new != old and bao.secret_ids['role-id-tenant-acme'] == {new}
    assert bao.kv[('secret', 'tenants/acme/apps_approle')][-1] == {'secret_id': new}


def test_fake_hvac_a_tenant_without_its_approle_is_named_with_the_fix(bao, run_module):
    result = run_module(tenant_app_credentials.main, dict(ARGS, tenants=['acme', 'initech']))
    assert result.failed
    assert 'tenant initech: cannot read the role_id of its AppRole tenant-initech' in result['msg']
    assert 'playbooks/04_tenants.yml' in result['msg']


def test_fake_hvac_a_tenant_without_credentials_is_named_with_the_fix(bao, run_module):
    del bao.kv[('secret', 'tenants/acme/credentials')]
    result = run_module(tenant_app_credentials.main, ARGS)
    assert result.failed
    assert 'tenant acme: no credentials at secret/tenants/acme/credentials' in result['msg']


@pytest.mark.parametrize(
    ('tenants', 'message'),
    [(['acme', 'acme'], 'tenants lists a tenant twice'), (['../acme'], 'is refused'), (['admin'], 'reserved name')],
    ids=['duplicate', 'path-traversal', 'reserved'],
)
def test_bad_tenant_ids_are_refused_before_openbao_is_contacted(bao, run_module, tenants, message):
    result = run_module(tenant_app_credentials.main, dict(ARGS, tenants=tenants))
    assert result.failed and message in result['msg']
    assert bao.log == [] and bao.tokens == {}


def test_a_refused_provisioner_login_fails_without_printing_the_secret_id(bao, run_module):
    result = run_module(tenant_app_credentials.main, dict(ARGS, secret_id='wrong-secret-id-value'))
    assert result.failed
    assert 'AppRole login' in result['msg']
    assert 'wrong-secret-id-value' not in result['msg']
