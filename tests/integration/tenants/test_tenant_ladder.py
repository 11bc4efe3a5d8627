# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module ladder against real PostgreSQL, Valkey, SeaweedFS S3 and OpenBao.

check -> independent read (nothing changed) -> run -> idempotent check -> idempotent run ->
independent read-back (logins with the credentials from Vault) -> absent (access refused, data
kept) -> absent again (no change) -> absent + purge (data gone) -> purge again (no change).
"""

from __future__ import annotations

import socket

import hvac.exceptions
import pytest
from _probe import credentials, pg_login, s3_access, snapshot, valkey_access, vault_login, vault_read, vault_write
from tenant_harness import module_args, run_tenant, run_tenant_info

pytestmark = pytest.mark.integration

LIVE = ('postgres', 'valkey', 's3', 'vault')


def _actions(result, tenant_id, backend):
    entry = [t for t in result['tenants'] if t['id'] == tenant_id][0]
    return entry['backends'][backend]['actions']


@pytest.mark.parametrize('backend', LIVE)
def test_ladder_per_backend(stack, backend):
    tid = 'ladder_%s' % backend
    backends = (backend,) if backend == 'vault' else (backend, 'vault')
    present = module_args(
        stack, [{'id': tid, 'apps': ['n8n', 'flowise'], 'quotas': {'pg_connection_limit': 7}}], backends
    )
    absent = module_args(stack, [{'id': tid, 'apps': ['n8n', 'flowise'], 'state': 'absent'}], backends)
    purge = module_args(stack, [{'id': tid, 'apps': ['n8n', 'flowise'], 'state': 'absent', 'purge': True}], backends)

    before = snapshot(stack)
    check = run_tenant(present, check_mode=True, diff=True)
    assert check['changed'] is True
    assert _actions(check, tid, backend)
    assert tid in check['diff']['after']
    assert snapshot(stack) == before, 'check mode changed a backend'

    real = run_tenant(present)
    assert real['changed'] is True
    # check mode predicted exactly what the run did
    assert _actions(real, tid, backend) == _actions(check, tid, backend)
    after = snapshot(stack)
    assert after != before

    assert run_tenant(present, check_mode=True)['changed'] is False
    again = run_tenant(present)
    assert again['changed'] is False, again['tenants']
    assert snapshot(stack) == after, 'an idempotent run changed something (a credential regenerated?)'

    creds = credentials(stack, tid)
    if backend != 'vault':  # Vault alone generates no credential
        assert creds, 'credentials not stored in Vault'
    text = repr(real) + repr(check)
    for key, value in (creds or {}).items():
        if key.endswith(('password', 'secret_key')):
            assert value not in text, 'a secret leaked into the module result'

    # independent read-back: the backend itself, and a login with what Vault holds
    servers = stack['servers']
    if backend == 'postgres':
        with servers['postgres'].connect() as conn:
            row = conn.execute(
                'SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = %s', ('tenant_' + tid,)
            ).fetchone()
            assert row == (True, 7)
            dbs = conn.execute(
                "SELECT datname, pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT') "
                'FROM pg_database WHERE datname LIKE %s ORDER BY 1',
                ('%_' + tid,),
            ).fetchall()
            assert dbs == [('flowise_' + tid, 'tenant_' + tid, False), ('n8n_' + tid, 'tenant_' + tid, False)]
        assert pg_login(stack, creds['postgres_user'], creds['postgres_password'], 'n8n_' + tid)
        assert not pg_login(stack, creds['postgres_user'], creds['postgres_password'] + 'x', 'n8n_' + tid)
        with servers['postgres'].connect(
            dbname='n8n_' + tid, user=creds['postgres_user'], password=creds['postgres_password']
        ) as conn:
            conn.execute('CREATE TABLE IF NOT EXISTS kept (v int)')
            conn.execute('INSERT INTO kept VALUES (42)')
    elif backend == 'valkey':
        user = servers['valkey'].client().acl_getuser('tenant_' + tid)
        assert user['keys'] == ['~%s:*' % tid] and user['channels'] == ['&%s:*' % tid]
        assert 'on' in user['flags']
        assert valkey_access(stack, creds['valkey_user'], creds['valkey_password'], '%s:kept' % tid)
        assert not valkey_access(stack, creds['valkey_user'], creds['valkey_password'], 'other:key')
        # the password is held as a hash only
        assert creds['valkey_password'] not in ' '.join(servers['valkey'].client().acl_list())
    elif backend == 's3':
        bucket = 'tenant-' + tid.replace('_', '-')
        assert s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], bucket, 'put')
        assert s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], bucket, 'get')
    else:
        client = vault_login(stack, 'tenant-' + tid.replace('_', '-'))
        assert vault_read(client, 'tenants/%s/credentials' % tid)
        assert vault_write(client, 'tenants/%s/app/config' % tid)
        assert not vault_write(client, 'tenants/%s/credentials' % tid), 'tenant may overwrite its generated credentials'
        assert not vault_read(client, 'tenants/other/credentials')
        # the login resolves to a bare entity (made by OpenBao for the alias: no policies, no groups, this alias
        # alone, custom_metadata tenant=<id>) and holds the templated policy alone
        me = client.auth.token.lookup_self()['data']
        entity = servers['vault'].client().adapter.get('/v1/identity/entity/id/%s' % me['entity_id'])['data']
        assert entity['policies'] in ([], None) and not entity['group_ids'] and not entity['metadata']
        role_id = (
            servers['vault']
            .client()
            .auth.approle.read_role_id(role_name='tenant-' + tid.replace('_', '-'))['data']['role_id']
        )
        assert [(a['name'], a['custom_metadata']) for a in entity['aliases']] == [(role_id, {'tenant': tid})]
        assert sorted(me['policies']) == ['default', stack['vault']['tenant_policy']]

    info = run_tenant_info(dict((b, stack[b]) for b in backends))
    assert backend in info['tenants'][tid]
    if backend == 'vault':
        view = info['tenants'][tid]['vault']
        assert view['policy'] == stack['vault']['tenant_policy'] and view['entity_alias'] is True, view
        assert view['token_policies'] == [stack['vault']['tenant_policy']] and view['entity_tenant'] == tid
        assert view['entity'] == entity['name']

    # absent: access revoked, data kept
    gone = run_tenant(absent, diff=True)
    assert gone['changed'] is True
    assert run_tenant(absent)['changed'] is False
    if backend == 'postgres':
        assert not pg_login(stack, creds['postgres_user'], creds['postgres_password'], 'n8n_' + tid)
        with servers['postgres'].connect(dbname='n8n_' + tid) as conn:
            assert conn.execute('SELECT v FROM kept').fetchone() == (42,)
    elif backend == 'valkey':
        assert not valkey_access(stack, creds['valkey_user'], creds['valkey_password'], '%s:kept' % tid)
        assert servers['valkey'].client().get('%s:kept' % tid) == b'1'
    elif backend == 's3':
        bucket = 'tenant-' + tid.replace('_', '-')
        assert not s3_access(stack, creds['s3_access_key'], creds['s3_secret_key'], bucket, 'get')
        assert servers['s3'].client().get_object(Bucket=bucket, Key='probe.txt')['Body'].read() == b'x'
    else:
        # absent removes the tenant's AppRole: its role_id is not there to log in with
        with pytest.raises(hvac.exceptions.InvalidPath):
            vault_login(stack, 'tenant-' + tid.replace('_', '-'))
        assert servers['vault'].read_kv2('tenants/%s/app/config' % tid) == {'probe': '1'}
    assert credentials(stack, tid) == creds, 'absent without purge must keep the stored credentials'

    # back to present: the same credentials work again (nothing regenerated)
    if backend in ('postgres', 'valkey'):
        assert run_tenant(present)['changed'] is True
        assert credentials(stack, tid) == creds
        if backend == 'postgres':
            assert pg_login(stack, creds['postgres_user'], creds['postgres_password'], 'n8n_' + tid)
        else:
            assert valkey_access(stack, creds['valkey_user'], creds['valkey_password'], '%s:kept' % tid)

    # purge: data gone, then nothing left to do
    assert run_tenant(purge)['changed'] is True
    assert run_tenant(purge)['changed'] is False
    assert credentials(stack, tid) is None
    if backend == 'postgres':
        with servers['postgres'].connect() as conn:
            assert conn.execute('SELECT count(*) FROM pg_database WHERE datname LIKE %s', ('%_' + tid,)).fetchone() == (
                0,
            )
            assert conn.execute('SELECT count(*) FROM pg_roles WHERE rolname = %s', ('tenant_' + tid,)).fetchone() == (
                0,
            )
    elif backend == 'valkey':
        assert servers['valkey'].client().get('%s:kept' % tid) is None
    elif backend == 's3':
        names = [b['Name'] for b in servers['s3'].client().list_buckets()['Buckets']]
        assert 'tenant-' + tid.replace('_', '-') not in names
    else:
        assert servers['vault'].read_kv2('tenants/%s/app/config' % tid) is None


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_backend_down_then_rerun_completes(stack):
    """A backend that is down: clear error naming it, nothing changed; the rerun completes."""
    tid = 'downtime'
    before = snapshot(stack)
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}])
    port = _closed_port()
    args['valkey'] = dict(stack['valkey'], port=port)
    failed = run_tenant(args)
    assert failed.get('failed') is True
    assert 'valkey' in failed['msg'] and '127.0.0.1:%d' % port in failed['msg']
    assert failed['backend'] == 'valkey'
    assert snapshot(stack) == before, 'a backend was changed although another one was down'

    # S3 down while Vault and PostgreSQL are fine: same
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}])
    args['s3'] = dict(stack['s3'], endpoint_url='http://127.0.0.1:%d' % port)
    failed = run_tenant(args)
    assert failed.get('failed') is True and failed['backend'] == 's3'
    assert snapshot(stack) == before

    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}])
    done = run_tenant(args)
    assert done['changed'] is True
    creds = credentials(stack, tid)
    assert run_tenant(args)['changed'] is False
    assert credentials(stack, tid) == creds
    assert pg_login(stack, creds['postgres_user'], creds['postgres_password'], 'n8n_' + tid)
    run_tenant(module_args(stack, [{'id': tid, 'apps': ['n8n'], 'state': 'absent', 'purge': True}]))


def test_partial_state_is_completed_without_duplicates(stack):
    """A tenant half made by hand (role exists, no database, S3 key without a secret on record) is completed."""
    tid = 'halfdone'
    servers = stack['servers']
    with servers['postgres'].connect() as conn:
        conn.execute('CREATE ROLE tenant_halfdone NOLOGIN')
    iam = servers['s3'].client(service='iam')
    iam.create_user(UserName='tenant-halfdone')
    orphan = iam.create_access_key(UserName='tenant-halfdone')['AccessKey']['AccessKeyId']
    args = module_args(stack, [{'id': tid, 'apps': ['n8n']}])
    result = run_tenant(args)
    assert result['changed'] is True
    acts = _actions(result, tid, 's3')
    assert any(orphan in a for a in acts), acts
    keys = [k['AccessKeyId'] for k in iam.list_access_keys(UserName='tenant-halfdone')['AccessKeyMetadata']]
    creds = credentials(stack, tid)
    assert keys == [creds['s3_access_key']]
    assert pg_login(stack, 'tenant_halfdone', creds['postgres_password'], 'n8n_halfdone')
    assert run_tenant(args)['changed'] is False
    run_tenant(module_args(stack, [{'id': tid, 'apps': ['n8n'], 'state': 'absent', 'purge': True}]))


def test_bad_input_changes_nothing(stack):
    before = snapshot(stack)
    for bad in ("a'; DROP ROLE postgres;--", 'a b', '../x', 'tenаnt', 'x' * 31, '', 'postgres', 'Admin', 'ok\n'):
        result = run_tenant(module_args(stack, [{'id': 'fine'}, {'id': bad}]))
        assert result.get('failed') is True, bad
        assert 'invalid input, nothing was changed' in result['msg']
        assert repr(bad)[:40] in result['msg'] or 'empty' in result['msg'], result['msg']
    dup = run_tenant(module_args(stack, [{'id': 'twice'}, {'id': 'twice'}]))
    assert dup.get('failed') and 'appears twice' in dup['msg']
    assert snapshot(stack) == before
