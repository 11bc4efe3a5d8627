# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Isolation matrix: 5 tenants, every ordered pair (i, j), i != j, on every live backend.

Tenant i's own credentials (read from Vault by the test, never printed) must be refused on
every resource of tenant j and accepted on its own. Counts are asserted and printed in the
terminal summary ("tenant isolation matrix") and recorded as test properties. Keyless commands
that would list or count every tenant's keys and channels are refused to every tenant too.
"""

from __future__ import annotations

import itertools

import pytest
import redis
from _probe import (
    ISOLATION_COUNTS,
    credentials,
    pg_login,
    s3_access,
    valkey_access,
    vault_login,
    vault_read,
    vault_write,
)
from tenant_harness import module_args, run_tenant

pytestmark = pytest.mark.integration

IDS = ['iso_a', 'iso_b', 'iso_c', 'iso_d', 'iso_e']
APPS = ['n8n', 'langfuse']


@pytest.fixture(scope='module')
def provisioned(stack):
    tenants = [{'id': t, 'apps': APPS} for t in IDS]
    result = run_tenant(module_args(stack, tenants))
    assert result.get('changed') is True, result.get('msg')
    assert result['summary']['tenants'] == 5
    creds = dict((t, credentials(stack, t)) for t in IDS)
    yield creds
    run_tenant(module_args(stack, [dict(t, state='absent', purge=True) for t in tenants]))


def _count(backend, own, ok):
    counts = ISOLATION_COUNTS.setdefault(backend, {'cross': 0, 'refused': 0, 'own': 0, 'accepted': 0})
    if own:
        counts['own'] += 1
        counts['accepted'] += int(ok)
    else:
        counts['cross'] += 1
        counts['refused'] += int(not ok)


def _valkey_publish(stack, user, password, channel):
    try:
        stack['servers']['valkey'].client(username=user, password=password).publish(channel, b'x')
        return True
    except (redis.exceptions.NoPermissionError, redis.ResponseError):
        return False


def _probe_pair(stack, creds, i, j):
    """Every attempt of tenant i on tenant j's resources: list of (backend, what, allowed)."""
    ci = creds[i]
    out = []
    for app in APPS:
        out.append(
            (
                'postgres',
                'connect %s_%s' % (app, j),
                pg_login(stack, ci['postgres_user'], ci['postgres_password'], '%s_%s' % (app, j)),
            )
        )
    out.append(
        ('valkey', 'set/get %s:k' % j, valkey_access(stack, ci['valkey_user'], ci['valkey_password'], '%s:k' % j))
    )
    out.append(
        ('valkey', 'publish %s:ch' % j, _valkey_publish(stack, ci['valkey_user'], ci['valkey_password'], '%s:ch' % j))
    )
    bucket = 'tenant-' + j.replace('_', '-')
    for op in ('put', 'get', 'list'):
        out.append(
            ('s3', '%s %s' % (op, bucket), s3_access(stack, ci['s3_access_key'], ci['s3_secret_key'], bucket, op))
        )
    client = vault_login(stack, 'tenant-' + i.replace('_', '-'))
    out.append(('vault', 'read %s credentials' % j, vault_read(client, 'tenants/%s/credentials' % j)))
    out.append(('vault', 'write %s/app' % j, vault_write(client, 'tenants/%s/app/x' % j)))
    return out


def test_isolation_matrix(stack, provisioned, record_property):
    ISOLATION_COUNTS.clear()
    leaks = []
    for i, j in itertools.product(IDS, IDS):
        for backend, what, allowed in _probe_pair(stack, provisioned, i, j):
            _count(backend, i == j, allowed)
            if i != j and allowed:
                leaks.append('%s: tenant %s could %s' % (backend, i, what))
            if i == j and not allowed:
                leaks.append('%s: tenant %s was refused its own %s' % (backend, i, what))
    for backend, counts in ISOLATION_COUNTS.items():
        record_property('isolation_%s' % backend, dict(counts))
    assert not leaks, '\n'.join(leaks)
    pairs = len(IDS) * (len(IDS) - 1)
    assert pairs == 20
    per_pair = {'postgres': len(APPS), 'valkey': 2, 's3': 3, 'vault': 2}
    for backend, n in per_pair.items():
        counts = ISOLATION_COUNTS[backend]
        assert counts['cross'] == pairs * n and counts['refused'] == counts['cross'], (backend, counts)
        assert counts['own'] == len(IDS) * n and counts['accepted'] == counts['own'], (backend, counts)


# Commands whose answers no key pattern filters: each would list or count the other tenants' key or
# channel names, or show or change the libraries, the script cache or the running script every user shares.
KEYLESS_ENUMERATION = [
    ['SCAN', '0'],
    ['SCAN', '0', 'MATCH', '{other}:*'],
    ['RANDOMKEY'],
    ['DBSIZE'],
    ['PUBSUB', 'CHANNELS'],
    ['PUBSUB', 'NUMSUB', '{other}:ch'],
    ['PUBSUB', 'NUMPAT'],
    ['PUBSUB', 'SHARDCHANNELS'],
    ['MEMORY', 'STATS'],
    ['MEMORY', 'DOCTOR'],
    ['FUNCTION', 'LIST'],
    ['FUNCTION', 'FLUSH'],
    ['KEYS', '*'],
    ['INFO', 'keyspace'],
    ['SCRIPT', 'FLUSH'],
    ['SCRIPT', 'KILL'],
    ['SCRIPT', 'DEBUG', 'NO'],
]


def test_keyless_enumeration_is_refused(stack, provisioned, record_property):
    admin = stack['servers']['valkey'].client()
    admin.set('iso_b:secret', b'1')  # a key of another tenant that enumeration would show
    counts = ISOLATION_COUNTS.setdefault('valkey keyless', {'cross': 0, 'refused': 0, 'own': 0, 'accepted': 0})
    answered = []
    for tenant in IDS:
        client = stack['servers']['valkey'].client(
            username=provisioned[tenant]['valkey_user'], password=provisioned[tenant]['valkey_password']
        )
        other = next(t for t in IDS if t != tenant)
        for command in KEYLESS_ENUMERATION:
            argv = [word.format(other=other) for word in command]
            counts['cross'] += 1
            try:
                client.execute_command(*argv)
                answered.append('tenant %s: %s answered' % (tenant, ' '.join(argv)))
            except redis.exceptions.NoPermissionError:
                counts['refused'] += 1
        # what the apps' queues and caches use still works on the tenant's own keys
        counts['own'] += 1
        own = '%s:queue' % tenant
        client.delete(own)
        client.rpush(own, b'job')
        counts['accepted'] += int(client.eval("return redis.call('LPOP', KEYS[1])", 1, own) == b'job')
        # a script as Bull and redis-py run one: EVALSHA, SCRIPT LOAD after NOSCRIPT, EVALSHA again
        counts['own'] += 1
        client.rpush(own, b'job')
        counts['accepted'] += int(client.register_script("return redis.call('LPOP', KEYS[1])")(keys=[own]) == b'job')
    record_property('isolation_valkey_keyless', dict(counts))
    assert not answered, '\n'.join(answered)
    assert counts['cross'] == len(IDS) * len(KEYLESS_ENUMERATION) == counts['refused'], counts
    assert counts['accepted'] == counts['own'] == 2 * len(IDS), counts
