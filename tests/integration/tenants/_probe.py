# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Independent reads of each backend (not through the module), and logins as a tenant."""

from __future__ import annotations

import contextlib

import botocore.exceptions
import hvac
import hvac.exceptions
import psycopg
import redis

# filled by test_isolation_matrix, printed by conftest.pytest_terminal_summary
ISOLATION_COUNTS = {}


def snapshot(stack):
    """Everything tenant related each backend holds, read with admin rights."""
    s = stack['servers']
    with s['postgres'].connect() as conn:
        roles = conn.execute(
            'SELECT rolname, rolcanlogin, rolconnlimit, rolpassword FROM pg_authid '
            "WHERE rolname LIKE 'tenant\\_%' ORDER BY 1"
        ).fetchall()
        dbs = conn.execute(
            'SELECT datname, pg_get_userbyid(datdba), datacl::text FROM pg_database '
            "WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1"
        ).fetchall()
    vk = s['valkey'].client()
    acl = sorted(line for line in vk.acl_list() if line.startswith('user tenant_'))
    keys = sorted(k.decode() for k in vk.keys('*'))
    s3 = s['s3'].client()
    iam = s['s3'].client(service='iam')
    buckets = sorted(b['Name'] for b in s3.list_buckets()['Buckets'])
    users = {}
    for u in iam.list_users()['Users']:
        if u['UserName'].startswith('tenant-'):
            users[u['UserName']] = sorted(
                k['AccessKeyId'] for k in iam.list_access_keys(UserName=u['UserName'])['AccessKeyMetadata']
            )
    bao = s['vault'].client()
    policies = sorted(p for p in bao.sys.list_acl_policies()['data']['keys'] if p.startswith('tenant-'))
    try:
        roles_ar = sorted(bao.list('auth/approle/role')['data']['keys'])
    except (TypeError, hvac.exceptions.InvalidPath):
        roles_ar = []
    # every entity alias (the tenant roles' live on entities OpenBao made; the module names none)
    try:
        alias_ids = bao.adapter.list('/v1/identity/entity-alias/id')['data']['keys']
    except (TypeError, hvac.exceptions.InvalidPath):
        alias_ids = []
    entities = {}
    for alias_id in alias_ids:
        data = bao.adapter.get('/v1/identity/entity-alias/id/%s' % alias_id)['data']
        entities[alias_id] = (
            data['mount_accessor'],
            data['name'],
            data['canonical_id'],
            data.get('custom_metadata') or {},
        )
    kv = {}
    try:
        for key in bao.secrets.kv.v2.list_secrets(path='tenants', mount_point='secret')['data']['keys']:
            path = 'tenants/%scredentials' % key
            with contextlib.suppress(hvac.exceptions.InvalidPath):
                kv[path] = s['vault'].kv2_version(path)
    except hvac.exceptions.InvalidPath:
        pass
    return {
        'postgres': {'roles': roles, 'databases': dbs},
        'valkey': {'acl': acl, 'keys': keys},
        's3': {'buckets': buckets, 'users': users},
        'vault': {'policies': policies, 'approles': roles_ar, 'entities': entities, 'kv': kv},
    }


def credentials(stack, tenant_id):
    return stack['servers']['vault'].read_kv2('tenants/%s/credentials' % tenant_id)


def pg_login(stack, user, password, dbname):
    """True when the login and a query work, False when refused."""
    try:
        with stack['servers']['postgres'].connect(dbname=dbname, user=user, password=password) as conn:
            conn.execute('SELECT 1')
        return True
    except psycopg.OperationalError:
        return False


def valkey_access(stack, user, password, key):
    """True when SET+GET of ``key`` works as the user, False when refused (auth or ACL)."""
    try:
        client = stack['servers']['valkey'].client(username=user, password=password)
        client.set(key, b'1')
        return client.get(key) == b'1'
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError, redis.ResponseError):
        return False


def s3_access(stack, access_key, secret_key, bucket, op):
    client = stack['servers']['s3'].client(access_key, secret_key)
    try:
        if op == 'put':
            client.put_object(Bucket=bucket, Key='probe.txt', Body=b'x')
        elif op == 'get':
            client.get_object(Bucket=bucket, Key='probe.txt')['Body'].read()
        elif op == 'list':
            client.list_objects_v2(Bucket=bucket)
        return True
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get('Error', {}).get('Code', '')
        if code in ('AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', '403', 'Forbidden'):
            return False
        if op == 'get' and code in ('NoSuchKey', '404'):
            return True  # access granted, object simply absent
        raise


def vault_login(stack, tenant_vault_name):
    """A client logged in through the tenant's AppRole (secret_id issued with the root token)."""
    bao = stack['servers']['vault']
    root = bao.client()
    role_id = root.auth.approle.read_role_id(role_name=tenant_vault_name)['data']['role_id']
    secret_id = root.auth.approle.generate_secret_id(role_name=tenant_vault_name)['data']['secret_id']
    client = hvac.Client(url=bao.url, timeout=10)
    client.auth.approle.login(role_id=role_id, secret_id=secret_id)
    return client


def vault_read(client, path):
    try:
        client.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)
        return True
    except hvac.exceptions.Forbidden:
        return False
    except hvac.exceptions.InvalidPath:
        return True  # allowed, nothing there


def vault_write(client, path):
    try:
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={'probe': '1'}, mount_point='secret')
        return True
    except hvac.exceptions.Forbidden:
        return False
