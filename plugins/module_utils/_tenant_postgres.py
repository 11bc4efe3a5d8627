# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL tenant backend (psycopg 3). Private to the collection.

Per tenant: a login role ``tenant_<id>``, one database ``<app>_<id>`` per app owned by that
role, CONNECT revoked from PUBLIC and granted to the role, an optional connection limit and
optional extensions (``vector``). Identifiers and literals go through ``psycopg.sql`` only.
Passwords are sent as SCRAM-SHA-256 verifiers computed here, never in clear text.
"""

from __future__ import annotations

import traceback

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._postgres import scram_matches, scram_verifier
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import Op, TenantBackend, is_new
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    Change,
    generate_password,
    tenant_id_from_prefixed,
)

try:
    import psycopg
    from psycopg import sql

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

POSTGRES_SPEC = dict(
    host=dict(type='str', default='127.0.0.1'),
    port=dict(type='int', default=5432),
    login_user=dict(type='str', default='postgres'),
    login_password=dict(type='str', no_log=True),
    database=dict(type='str', default='postgres'),
    sslmode=dict(
        type='str', default='prefer', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']
    ),
    ca_cert=dict(type='path'),
    connect_timeout=dict(type='int', default=10),
    extensions=dict(type='list', elements='str', default=[]),
)


class PostgresTenantBackend(TenantBackend):
    name = 'postgres'
    argument_spec = POSTGRES_SPEC
    library = 'psycopg'
    library_error = PSYCOPG_IMPORT_ERROR
    order = 20

    def __init__(self, options):
        super().__init__(options)
        self.conn = None
        self._superuser = False

    @classmethod
    def keeps_credentials(cls, options):
        return True

    @property
    def address(self):
        return '%s:%s' % (self.options['host'], self.options['port'])

    def _connect_args(self, dbname):
        args = dict(
            host=self.options['host'],
            port=self.options['port'],
            user=self.options['login_user'],
            dbname=dbname,
            connect_timeout=self.options['connect_timeout'],
            sslmode=self.options['sslmode'],
            autocommit=True,
            application_name='selfhosted_ai.stack.tenant',
        )
        if self.options.get('login_password'):
            args['password'] = self.options['login_password']
        if self.options.get('ca_cert'):
            args['sslrootcert'] = self.options['ca_cert']
        return args

    def connect(self):
        try:
            self.conn = psycopg.connect(**self._connect_args(self.options['database']))
            row = self.conn.execute(
                'SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user'
            ).fetchone()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc) else exc.__class__.__name__
            raise self._fail('cannot connect as %s: %s' % (self.options['login_user'], reason)) from exc
        self._superuser = bool(row and row[0])
        if not row or not (row[0] or (row[1] and row[2])):
            raise self._fail('login user %s needs SUPERUSER or CREATEROLE and CREATEDB' % self.options['login_user'])
        if self.options['extensions']:
            names = list(self.options['extensions'])
            found = set(
                r[0]
                for r in self.conn.execute(
                    'SELECT name FROM pg_available_extensions WHERE name = ANY(%s)', (names,)
                ).fetchall()
            )
            missing = [n for n in names if n not in found]
            if missing:
                raise self._fail(
                    'extension(s) %s not installed on the server (for vector: the pgvector package)'
                    % ', '.join(missing)
                )

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ------------------------------------------------------------------ read
    def read(self, tenants):
        """Current state for the tenants: {id: {role: {...}|None, databases: {name: {...}}}}."""
        roles = [t.pg_role for t in tenants]
        try:
            return self._read(roles, tenants)
        except psycopg.Error as exc:
            raise self._fail('reading roles and databases failed: %s' % exc) from exc

    def _read(self, roles, tenants):
        pw_column = 'a.rolpassword' if self._superuser else 'NULL::text'
        role_rows = self.conn.execute(
            sql.SQL(
                'SELECT a.rolname, a.rolcanlogin, a.rolconnlimit, {pw}, a.oid FROM pg_authid a WHERE a.rolname = ANY(%s)'
                if self._superuser
                else 'SELECT a.rolname, a.rolcanlogin, a.rolconnlimit, {pw}, a.oid FROM pg_roles a WHERE a.rolname = ANY(%s)'
            ).format(pw=sql.SQL(pw_column)),
            (roles,),
        ).fetchall()
        by_role = dict(
            (r[0], {'login': r[1], 'connection_limit': r[2], '_verifier': r[3], '_oid': r[4]}) for r in role_rows
        )
        oids = [v['_oid'] for v in by_role.values()]
        wanted_dbs = [db for t in tenants for db in t.pg_databases()]
        db_rows = self.conn.execute(
            'SELECT d.datname, pg_get_userbyid(d.datdba), d.datdba, '
            " (d.datacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(d.datacl) x WHERE x.grantee = 0 AND x.privilege_type = 'CONNECT')), "
            " (d.datacl IS NOT NULL AND EXISTS (SELECT 1 FROM aclexplode(d.datacl) x WHERE x.grantee = d.datdba AND x.privilege_type = 'CONNECT')) "
            'FROM pg_database d WHERE d.datname = ANY(%s) OR d.datdba = ANY(%s)',
            (wanted_dbs, oids),
        ).fetchall()
        state = {}
        for tenant in tenants:
            role = by_role.get(tenant.pg_role)
            dbs = {}
            for name, owner, owner_oid, public_connect, owner_connect in db_rows:
                if name in tenant.pg_databases() or (role and owner_oid == role['_oid']):
                    dbs[name] = {
                        'owner': owner,
                        'public_connect': public_connect,
                        'owner_connect_granted': owner_connect,
                    }
            state[tenant.id] = {'role': role, 'databases': dbs}
        if self.options['extensions']:
            for tenant in tenants:
                if not tenant.present:
                    continue
                for name, info in state[tenant.id]['databases'].items():
                    if name in tenant.pg_databases():
                        info['extensions'] = self._db_extensions(name)
        return state

    def _db_extensions(self, dbname):
        try:
            with psycopg.connect(**self._connect_args(dbname)) as conn:
                return sorted(
                    r[0]
                    for r in conn.execute(
                        'SELECT extname FROM pg_extension WHERE extname = ANY(%s)', (list(self.options['extensions']),)
                    ).fetchall()
                )
        except psycopg.Error as exc:
            raise self._fail('cannot read extensions of database %s: %s' % (dbname, exc)) from exc

    def public_view(self, tenant, current):
        """The state without internals, for diff and info output."""
        role = current.get('role')
        return {
            'role': None if role is None else {'login': role['login'], 'connection_limit': role['connection_limit']},
            'databases': dict((k, dict(v)) for k, v in sorted(current.get('databases', {}).items())),
        }

    # ------------------------------------------------------------------ plan
    def fill_credentials(self, tenant, wanted):
        wanted.setdefault('postgres_user', tenant.pg_role)
        if not wanted.get('postgres_password'):
            wanted['postgres_password'] = generate_password()
        wanted['postgres_databases'] = ','.join(tenant.pg_databases())

    def plan(self, tenant, current, creds):
        """Return (Change, ops); ops (role, db, terminate, ext) are applied in order."""
        change = Change()
        ops = []
        role = current['role']
        dbs = current['databases']
        change.before = self.public_view(tenant, current)
        ident = sql.Identifier(tenant.pg_role)
        if tenant.present:
            password = creds.get('postgres_password')
            limit = tenant.quotas.get('pg_connection_limit', -1)
            if role is None:
                ops.append(
                    Op(
                        'role',
                        sql.SQL('CREATE ROLE {} LOGIN CONNECTION LIMIT {} PASSWORD {}').format(
                            ident, sql.Literal(limit), sql.Literal(scram_verifier(password))
                        ),
                    )
                )
                change.add('create role %s' % tenant.pg_role)
            else:
                if not role['login']:
                    ops.append(Op('role', sql.SQL('ALTER ROLE {} LOGIN').format(ident)))
                    change.add('enable login of role %s' % tenant.pg_role)
                if role['connection_limit'] != limit:
                    ops.append(
                        Op('role', sql.SQL('ALTER ROLE {} CONNECTION LIMIT {}').format(ident, sql.Literal(limit)))
                    )
                    change.add('set connection limit of %s to %s' % (tenant.pg_role, limit))
                matches = scram_matches(role['_verifier'], password)
                if (
                    matches is False
                    or (matches is None and is_new(creds, 'postgres_password'))
                    or matches is None
                    and role['_verifier'] is None
                    and self._superuser
                ):
                    ops.append(
                        Op(
                            'role',
                            sql.SQL('ALTER ROLE {} PASSWORD {}').format(ident, sql.Literal(scram_verifier(password))),
                        )
                    )
                    change.add('set password of role %s (from Vault)' % tenant.pg_role)
            for dbname in tenant.pg_databases():
                db = dbs.get(dbname)
                dbident = sql.Identifier(dbname)
                if db is None:
                    ops.append(Op('db', sql.SQL('CREATE DATABASE {} OWNER {}').format(dbident, ident)))
                    change.add('create database %s' % dbname)
                    db = {
                        'owner': tenant.pg_role,
                        'public_connect': True,
                        'owner_connect_granted': False,
                        'extensions': [],
                    }
                elif db['owner'] != tenant.pg_role:
                    ops.append(Op('db', sql.SQL('ALTER DATABASE {} OWNER TO {}').format(dbident, ident)))
                    change.add('set owner of database %s to %s (was %s)' % (dbname, tenant.pg_role, db['owner']))
                if db['public_connect']:
                    ops.append(
                        Op('db', sql.SQL('REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC').format(dbident))
                    )
                    change.add('revoke connect on %s from PUBLIC' % dbname)
                if not db['owner_connect_granted']:
                    ops.append(
                        Op('db', sql.SQL('GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}').format(dbident, ident))
                    )
                    change.add('grant connect on %s to %s' % (dbname, tenant.pg_role))
                for ext in self.options['extensions']:
                    if ext not in db.get('extensions', []):
                        ops.append(
                            Op(
                                'ext',
                                (dbname, sql.SQL('CREATE EXTENSION IF NOT EXISTS {}').format(sql.Identifier(ext))),
                            )
                        )
                        change.add('create extension %s in %s' % (ext, dbname))
            after_dbs = dict((k, dict(v)) for k, v in dbs.items())
            for dbname in tenant.pg_databases():
                entry = dict(after_dbs.get(dbname) or {})
                entry.update({'owner': tenant.pg_role, 'public_connect': False, 'owner_connect_granted': True})
                if self.options['extensions']:
                    entry['extensions'] = sorted(self.options['extensions'])
                after_dbs[dbname] = entry
            change.after = {
                'role': {'login': True, 'connection_limit': limit},
                'databases': dict(sorted(after_dbs.items())),
            }
        else:
            after_role = None if role is None else {'login': False, 'connection_limit': role['connection_limit']}
            after_dbs = dict((k, dict(v)) for k, v in dbs.items())
            if role is not None and role['login']:
                ops.append(Op('role', sql.SQL('ALTER ROLE {} NOLOGIN').format(ident)))
                change.add('disable login of role %s' % tenant.pg_role)
            if role is not None and role['login'] or (tenant.purge and dbs):
                ops.append(Op('terminate', tenant.pg_role))
            if tenant.purge:
                for dbname in sorted(dbs):
                    ops.append(
                        Op('db', sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(dbname)))
                    )
                    change.add('drop database %s' % dbname)
                after_dbs = {}
                if role is not None:
                    ops.append(Op('role', sql.SQL('DROP ROLE IF EXISTS {}').format(ident)))
                    change.add('drop role %s' % tenant.pg_role)
                    after_role = None
            change.after = {'role': after_role, 'databases': after_dbs}
        return change, ops

    # ------------------------------------------------------------------ act
    def apply(self, batch):
        """Each tenant's ops in order; role changes share one transaction."""
        for work in batch:
            if work.ops:
                self._apply_tenant(work.ops)
        return {}

    def _apply_tenant(self, ops):
        try:
            role_batch = []
            for kind, stmt in ops:
                if kind == 'role':
                    role_batch.append(stmt)
                    continue
                self._flush(role_batch)
                if kind == 'db':
                    self.conn.execute(stmt)
                elif kind == 'terminate':
                    self.conn.execute(
                        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s', (stmt,)
                    )
                elif kind == 'ext':
                    dbname, ext_stmt = stmt
                    with psycopg.connect(**self._connect_args(dbname)) as conn:
                        conn.execute(ext_stmt)
            self._flush(role_batch)
        except psycopg.Error as exc:
            raise self._fail(str(exc).strip()) from exc

    def _flush(self, batch):
        if batch:
            with self.conn.transaction():
                for stmt in batch:
                    self.conn.execute(stmt)
            del batch[:]

    # ------------------------------------------------------------------ info
    def discover(self):
        """Every tenant found: roles named tenant_<id>, with the databases they own."""
        try:
            rows = self.conn.execute(
                'SELECT r.rolname, r.rolcanlogin, r.rolconnlimit, '
                " COALESCE(array_agg(d.datname ORDER BY d.datname) FILTER (WHERE d.datname IS NOT NULL), '{}') "
                'FROM pg_roles r LEFT JOIN pg_database d ON d.datdba = r.oid '
                "WHERE r.rolname LIKE 'tenant\\_%%' GROUP BY r.rolname, r.rolcanlogin, r.rolconnlimit ORDER BY r.rolname"
            ).fetchall()
        except psycopg.Error as exc:
            raise self._fail('listing tenant roles failed: %s' % exc) from exc
        found = {}
        for name, login, limit, dbs in rows:
            tenant_id = tenant_id_from_prefixed(name, 'tenant_')
            if tenant_id:
                found[tenant_id] = {'role': name, 'login': login, 'connection_limit': limit, 'databases': list(dbs)}
        return found
