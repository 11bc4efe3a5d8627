# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neo4j tenant backend (HTTP transactional API, standard library only). Private to the collection.

Community edition (one database, no RBAC): an anchor node ``(:Tenant {id})`` per tenant in
the configured database, with a uniqueness constraint on ``Tenant.id``; ``absent`` marks
the anchor ``active = false``; ``purge`` detaches and deletes the anchor node (only it).
Community has no per-tenant access control: isolation there is the application's job.

Enterprise edition: a database ``tenant-<id>`` (``_`` becomes ``-``: database names allow no
underscore), a role and a user ``tenant_<id>`` allowed that database only. ``absent`` suspends
the user; ``purge`` drops database, user and role. Every value goes in as a query parameter;
names (which Cypher cannot parameterise in administration commands) are validated tenant
names quoted with backticks.
"""

from __future__ import annotations

import base64
import json

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import Op, TenantBackend, is_new
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError,
    Change,
    generate_password,
    tenant_id_from_prefixed,
)

try:
    import http.client as http_client
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover
    http_client = None

NEO4J_SPEC = dict(
    url=dict(type='str', default='http://127.0.0.1:7474'),
    user=dict(type='str', default='neo4j'),
    password=dict(type='str', no_log=True, required=True),
    database=dict(type='str', default='neo4j'),
    edition=dict(type='str', default='auto', choices=['auto', 'community', 'enterprise']),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='int', default=30),
)

CONSTRAINT = 'selfhosted_ai_tenant_id'


def _bq(name):
    """Backtick-quote a (validated) name for Cypher administration commands."""
    return '`%s`' % name.replace('`', '``')


class Neo4jTenantBackend(TenantBackend):
    name = 'neo4j'
    argument_spec = NEO4J_SPEC
    order = 50

    def __init__(self, options, transport=None):
        super().__init__(options)
        self._transport = transport
        self._conn = None
        self._parts = urlsplit(options['url'])
        if self._parts.scheme not in ('http', 'https') or not self._parts.hostname:
            raise BackendError(self.name, options['url'], 'url must be http(s)://host[:port]')
        self.edition = None if options['edition'] == 'auto' else options['edition']
        self._constraint = None

    @classmethod
    def keeps_credentials(cls, options):
        """Community edition has no users; auto may find Enterprise."""
        return options.get('edition') != 'community'

    @property
    def needs_password(self):
        return self.options['edition'] == 'enterprise' or self.edition == 'enterprise'

    @property
    def address(self):
        return self.options['url']

    # ------------------------------------------------------------------ HTTP
    def request(self, method, path, body=None):
        if self._transport is not None:
            return self._transport(method, path, body)
        auth = base64.b64encode(('%s:%s' % (self.options['user'], self.options['password'])).encode('utf-8')).decode(
            'ascii'
        )
        headers = {'Accept': 'application/json', 'Content-Type': 'application/json', 'Authorization': 'Basic ' + auth}
        try:
            if self._conn is None:
                if self._parts.scheme == 'https':
                    import ssl

                    ctx = ssl.create_default_context()
                    if not self.options['validate_certs']:
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                    self._conn = http_client.HTTPSConnection(
                        self._parts.hostname, self._parts.port or 7473, timeout=self.options['timeout'], context=ctx
                    )
                else:
                    self._conn = http_client.HTTPConnection(
                        self._parts.hostname, self._parts.port or 7474, timeout=self.options['timeout']
                    )
            self._conn.request(
                method, path, body=None if body is None else json.dumps(body).encode('utf-8'), headers=headers
            )
            resp = self._conn.getresponse()
            raw = resp.read()
        except (OSError, http_client.HTTPException) as exc:
            self._conn = None
            raise self._fail('%s %s failed: %s' % (method, path, exc)) from exc
        try:
            return resp.status, (json.loads(raw.decode('utf-8')) if raw else {})
        except ValueError:
            return resp.status, {'raw': raw[:200].decode('utf-8', 'replace')}

    def run(self, statements, database=None):
        """Run [(cypher, params)] in one transaction; return the rows of each statement."""
        database = database or self.options['database']
        body = {'statements': [{'statement': s, 'parameters': p or {}} for s, p in statements]}
        status, data = self.request('POST', '/db/%s/tx/commit' % quote(database, safe=''), body)
        if status in (401, 403):
            raise self._fail('authentication as %s refused (HTTP %d)' % (self.options['user'], status))
        if status != 200:
            raise self._fail('HTTP %d from the transactional endpoint: %s' % (status, data))
        errors = data.get('errors') or []
        if errors:
            raise self._fail('; '.join('%s: %s' % (e.get('code'), e.get('message')) for e in errors))
        return [[row.get('row') for row in result.get('data', [])] for result in data.get('results', [])]

    def connect(self):
        rows = self.run(
            [('CALL dbms.components() YIELD name, versions, edition RETURN edition, versions[0]', None)],
            database='system',
        )[0]
        server_edition = (rows[0][0] if rows else 'community').lower()
        if self.edition is None:
            self.edition = 'enterprise' if server_edition == 'enterprise' else 'community'
        elif self.edition == 'enterprise' and server_edition != 'enterprise':
            raise self._fail('edition enterprise was asked, the server is %s' % server_edition)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ read
    def read(self, tenants):
        ids = [t.id for t in tenants]
        if self.edition == 'community':
            constraints, anchors = self.run(
                [
                    ('SHOW CONSTRAINTS YIELD name WHERE name = $name RETURN name', {'name': CONSTRAINT}),
                    ('MATCH (t:Tenant) WHERE t.id IN $ids RETURN t.id, t.active, t.display_name', {'ids': ids}),
                ]
            )
            self._constraint = bool(constraints)
            by_id = dict((r[0], {'active': r[1], 'display_name': r[2]}) for r in anchors)
            return dict((t.id, {'anchor': by_id.get(t.id), 'constraint': self._constraint}) for t in tenants)
        dbs, users, roles = self.run(
            [
                ('SHOW DATABASES YIELD name RETURN DISTINCT name', None),
                ('SHOW USERS YIELD user, suspended, roles RETURN user, suspended, roles', None),
                ('SHOW ROLES YIELD role RETURN role', None),
            ],
            database='system',
        )
        db_names = set(r[0] for r in dbs)
        user_map = dict((r[0], {'suspended': r[1], 'roles': sorted(r[2] or [])}) for r in users)
        role_names = set(r[0] for r in roles)
        state = {}
        for tenant in tenants:
            db = self.database_name(tenant)
            state[tenant.id] = {
                'database': db in db_names,
                'user': user_map.get(tenant.pg_role),
                'role': tenant.pg_role in role_names,
            }
        return state

    @staticmethod
    def database_name(tenant):
        return 'tenant-%s' % tenant.id.replace('_', '-')

    def public_view(self, tenant, current):
        return dict(current)

    # ------------------------------------------------------------------ plan
    def fill_credentials(self, tenant, wanted):
        if self.needs_password:
            wanted.setdefault('neo4j_user', tenant.pg_role)
            if not wanted.get('neo4j_password'):
                wanted['neo4j_password'] = generate_password()

    def plan(self, tenant, current, creds):
        change = Change()
        change.before = self.public_view(tenant, current)
        ops = []
        if self.edition == 'community':
            anchor = current['anchor']
            if tenant.present:
                if not current['constraint']:
                    ops.append(
                        Op(
                            'cypher',
                            (
                                'CREATE CONSTRAINT %s IF NOT EXISTS FOR (t:Tenant) REQUIRE t.id IS UNIQUE' % CONSTRAINT,
                                None,
                            ),
                        )
                    )
                    change.add('create constraint %s' % CONSTRAINT)
                want = {'active': True, 'display_name': tenant.display_name}
                if anchor != want:
                    ops.append(
                        Op(
                            'cypher',
                            (
                                'MERGE (t:Tenant {id: $id}) SET t.active = true, t.display_name = $name',
                                {'id': tenant.id, 'name': tenant.display_name},
                            ),
                        )
                    )
                    change.add('%s anchor node (:Tenant {id: %r})' % ('update' if anchor else 'create', tenant.id))
                change.after = {'anchor': want, 'constraint': True}
            else:
                after = anchor
                if anchor is not None and tenant.purge:
                    ops.append(Op('cypher', ('MATCH (t:Tenant {id: $id}) DETACH DELETE t', {'id': tenant.id})))
                    change.add('delete anchor node of %s' % tenant.id)
                    after = None
                elif anchor is not None and anchor.get('active') is not False:
                    ops.append(Op('cypher', ('MATCH (t:Tenant {id: $id}) SET t.active = false', {'id': tenant.id})))
                    change.add('mark anchor node of %s inactive' % tenant.id)
                    after = dict(anchor, active=False)
                change.after = {'anchor': after, 'constraint': current['constraint']}
            return change, ops
        db, user, role = self.database_name(tenant), tenant.pg_role, tenant.pg_role
        if tenant.present:
            if not current['database']:
                ops.append(Op('system', ('CREATE DATABASE %s IF NOT EXISTS WAIT' % _bq(db), None)))
                change.add('create database %s' % db)
            if not current['role']:
                ops.append(Op('system', ('CREATE ROLE %s IF NOT EXISTS' % _bq(role), None)))
                ops.append(Op('system', ('GRANT ACCESS ON DATABASE %s TO %s' % (_bq(db), _bq(role)), None)))
                ops.append(Op('system', ('GRANT ALL GRAPH PRIVILEGES ON GRAPH %s TO %s' % (_bq(db), _bq(role)), None)))
                change.add('create role %s with access to %s only' % (role, db))
            u = current['user']
            if u is None:
                ops.append(
                    Op(
                        'system',
                        (
                            'CREATE USER %s IF NOT EXISTS SET PASSWORD $pw CHANGE NOT REQUIRED' % _bq(user),
                            {'pw': creds['neo4j_password']},
                        ),
                    )
                )
                change.add('create user %s' % user)
            elif is_new(creds, 'neo4j_password'):
                ops.append(
                    Op(
                        'system',
                        (
                            'ALTER USER %s SET PASSWORD $pw CHANGE NOT REQUIRED' % _bq(user),
                            {'pw': creds['neo4j_password']},
                        ),
                    )
                )
                change.add('set password of %s (from Vault)' % user)
            if u is not None and u['suspended']:
                ops.append(Op('system', ('ALTER USER %s SET STATUS ACTIVE' % _bq(user), None)))
                change.add('reactivate user %s' % user)
            if u is None or role not in u['roles']:
                ops.append(Op('system', ('GRANT ROLE %s TO %s' % (_bq(role), _bq(user)), None)))
                change.add('grant role %s to %s' % (role, user))
            change.after = {
                'database': True,
                'user': {'suspended': False, 'roles': sorted(set((u or {}).get('roles', [])) | {role})},
                'role': True,
            }
        else:
            after = dict(current)
            if current['user'] is not None and not current['user']['suspended']:
                ops.append(Op('system', ('ALTER USER %s SET STATUS SUSPENDED' % _bq(user), None)))
                change.add('suspend user %s' % user)
                after['user'] = dict(current['user'], suspended=True)
            if tenant.purge:
                if current['database']:
                    ops.append(Op('system', ('DROP DATABASE %s IF EXISTS WAIT' % _bq(db), None)))
                    change.add('drop database %s' % db)
                if current['user'] is not None:
                    ops.append(Op('system', ('DROP USER %s IF EXISTS' % _bq(user), None)))
                    change.add('drop user %s' % user)
                if current['role']:
                    ops.append(Op('system', ('DROP ROLE %s IF EXISTS' % _bq(role), None)))
                    change.add('drop role %s' % role)
                after = {'database': False, 'user': None, 'role': False}
            change.after = after
        return change, ops

    def apply(self, batch):
        for work in batch:
            for kind, (statement, params) in work.ops:
                self.run([(statement, params)], database='system' if kind == 'system' else None)
        return {}

    def discover(self):
        found = {}
        if self.edition == 'community':
            for row in self.run([('MATCH (t:Tenant) RETURN t.id, t.active ORDER BY t.id', None)])[0]:
                tenant_id = (
                    tenant_id_from_prefixed('tenant_%s' % row[0], 'tenant_') if isinstance(row[0], str) else None
                )
                if tenant_id:
                    found[tenant_id] = {'anchor': True, 'active': row[1]}
            return found
        dbs, users = self.run(
            [
                ('SHOW DATABASES YIELD name RETURN DISTINCT name', None),
                ('SHOW USERS YIELD user, suspended RETURN user, suspended', None),
            ],
            database='system',
        )
        for (name,) in dbs:
            tenant_id = tenant_id_from_prefixed(name, 'tenant-', sep='-')
            if tenant_id:
                found.setdefault(tenant_id, {})['database'] = name
        for name, suspended in users:
            tenant_id = tenant_id_from_prefixed(name, 'tenant_')
            if tenant_id:
                found.setdefault(tenant_id, {})['user'] = {'name': name, 'suspended': suspended}
        return found
