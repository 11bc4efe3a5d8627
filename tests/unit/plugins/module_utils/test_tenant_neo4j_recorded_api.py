# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neo4j tenant backend against recorded HTTP API answers (no Neo4j server can run here).

Answers follow the transactional endpoint's documented shape (``results[].columns/data[].row``,
``errors[]``). The replay checks the Cypher sent and that values travel as parameters.
"""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import TenantWork
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_neo4j import Neo4jTenantBackend


def _result(columns, rows):
    return {'columns': columns, 'data': [{'row': r, 'meta': [None] * len(r)} for r in rows]}


def _answer(*results):
    return {'results': list(results), 'errors': [], 'lastBookmarks': ['FB:kcwQx']}


COMMUNITY = _answer(_result(['edition', 'versions[0]'], [['community', '5.26.0']]))
ENTERPRISE = _answer(_result(['edition', 'versions[0]'], [['enterprise', '5.26.0']]))
UNAUTHORIZED = {
    'errors': [
        {
            'code': 'Neo.ClientError.Security.Unauthorized',
            'message': 'The client is unauthorized due to authentication failure.',
        }
    ]
}


class Replay:
    def __init__(self, script):
        self.script = list(script)
        self.bodies = []

    def __call__(self, method, path, body):
        assert self.script, 'unexpected request %s %s %s' % (method, path, body)
        want_path, status, answer = self.script.pop(0)
        assert method == 'POST' and path == want_path, (path, want_path)
        self.bodies.append(body)
        return status, answer


def _backend(script, **options):
    opts = dict(
        url='http://neo4j.test:7474',
        user='neo4j',
        password='unit-neo4j-secret',
        database='neo4j',
        edition='auto',
        validate_certs=True,
        timeout=5,
    )
    opts.update(options)
    replay = Replay(script)
    return Neo4jTenantBackend(opts, transport=replay), replay


def test_community_anchor_node_and_constraint():
    tenants = validate_tenants([{'id': 'acme', 'display_name': 'ACME Corp'}])
    backend, replay = _backend(
        [
            ('/db/system/tx/commit', 200, COMMUNITY),
            (
                '/db/neo4j/tx/commit',
                200,
                _answer(_result(['name'], []), _result(['t.id', 't.active', 't.display_name'], [])),
            ),
            ('/db/neo4j/tx/commit', 200, _answer(_result([], []))),
            ('/db/neo4j/tx/commit', 200, _answer(_result([], []))),
        ]
    )
    backend.connect()
    assert backend.edition == 'community'
    change, ops = backend.plan(tenants[0], backend.read(tenants)['acme'], {})
    assert change.actions == ['create constraint selfhosted_ai_tenant_id', "create anchor node (:Tenant {id: 'acme'})"]
    backend.apply([TenantWork(tenants[0], ops, {})])
    merge = replay.bodies[-1]['statements'][0]
    assert merge['statement'].startswith('MERGE (t:Tenant {id: $id})')
    assert merge['parameters'] == {'id': 'acme', 'name': 'ACME Corp'}
    assert not replay.script


def test_community_idempotent_and_absent_marks_inactive():
    tenants = validate_tenants([{'id': 'acme', 'display_name': 'ACME Corp'}])
    existing = _answer(
        _result(['name'], [['selfhosted_ai_tenant_id']]),
        _result(['t.id', 't.active', 't.display_name'], [['acme', True, 'ACME Corp']]),
    )
    backend, dummy = _backend([('/db/system/tx/commit', 200, COMMUNITY), ('/db/neo4j/tx/commit', 200, existing)])
    backend.connect()
    change, ops = backend.plan(tenants[0], backend.read(tenants)['acme'], {})
    assert not change.changed and ops == []

    absent = validate_tenants([{'id': 'acme', 'state': 'absent'}])
    backend, dummy = _backend([('/db/system/tx/commit', 200, COMMUNITY), ('/db/neo4j/tx/commit', 200, existing)])
    backend.connect()
    change, ops = backend.plan(absent[0], backend.read(absent)['acme'], {})
    assert change.actions == ['mark anchor node of acme inactive']
    assert change.after['anchor']['active'] is False


def test_enterprise_database_role_user_password_as_parameter():
    tenants = validate_tenants([{'id': 'acme_corp'}])
    empty = _answer(
        _result(['name'], [['neo4j'], ['system']]),
        _result(['user', 'suspended', 'roles'], [['neo4j', False, ['admin']]]),
        _result(['role'], [['admin'], ['PUBLIC']]),
    )
    script = [('/db/system/tx/commit', 200, ENTERPRISE), ('/db/system/tx/commit', 200, empty)]
    script += [('/db/system/tx/commit', 200, _answer(_result([], [])))] * 6
    backend, replay = _backend(script)
    backend.connect()
    assert backend.needs_password
    change, ops = backend.plan(tenants[0], backend.read(tenants)['acme_corp'], {'neo4j_password': 'generated-pw'})
    assert change.actions == [
        'create database tenant-acme-corp',
        'create role tenant_acme_corp with access to tenant-acme-corp only',
        'create user tenant_acme_corp',
        'grant role tenant_acme_corp to tenant_acme_corp',
    ]
    backend.apply([TenantWork(tenants[0], ops, {})])
    statements = [b['statements'][0] for b in replay.bodies[2:]]
    assert statements[0]['statement'] == 'CREATE DATABASE `tenant-acme-corp` IF NOT EXISTS WAIT'
    create_user = [s for s in statements if s['statement'].startswith('CREATE USER')][0]
    assert 'generated-pw' not in create_user['statement']
    assert create_user['parameters'] == {'pw': 'generated-pw'}


def test_unauthorized_is_a_clear_error():
    backend, dummy = _backend([('/db/system/tx/commit', 401, UNAUTHORIZED)])
    with pytest.raises(
        BackendError, match=r'neo4j backend at http://neo4j.test:7474: authentication as neo4j refused \(HTTP 401\)'
    ):
        backend.connect()


def test_enterprise_requested_on_community_server():
    backend, dummy = _backend([('/db/system/tx/commit', 200, COMMUNITY)], edition='enterprise')
    with pytest.raises(BackendError, match='server is community'):
        backend.connect()
