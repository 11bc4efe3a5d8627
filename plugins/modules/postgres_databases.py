#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: postgres_databases
short_description: The apps' databases, their owners and the services' login roles, in one connection
version_added: 0.1.0
description:
  - Makes a PostgreSQL server hold what the inventory's apps need, as the C(postgres) role declares it. Login roles
    (C(LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE)) for every database owner and every service user, with their
    passwords; the databases (C(UTF-8) from C(template0)) with their owners; C(CONNECT) on each app database and
    C(CONNECT, TEMPORARY) on C(postgres) and C(template1) revoked from C(PUBLIC); C(CONNECT) on C(postgres) granted
    to the service users; their memberships (C(pg_monitor), ...); the extensions each database asks for.
  - One module run instead of one per object and item of the community.postgresql modules it replaces (a rerun
    that changes nothing ran 17 of those for four databases). It reads the catalogs once and changes only what
    differs.
  - Passwords are compared with the stored SCRAM-SHA-256 verifiers and sent as new verifiers, never in clear text.
  - Adds and grants only. It drops no role, database, grant, membership or extension that the inventory no longer
    lists.
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
attributes:
  check_mode:
    description: Reads the catalogs and reports what it would change.
    support: full
  diff_mode:
    description: Returns no diff; RV(actions) names the changes.
    support: none
  idempotent:
    description: A second run with the same input changes nothing.
    support: full
options:
  databases:
    description: The apps' databases.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
      owner:
        description: Its owner, a login role this module creates.
        type: str
        required: true
      extensions:
        description: Extensions created in it (the version the server offers by default).
        type: list
        elements: str
        default: []
  users:
    description: Login roles of services that have no database of their own; they may connect to C(postgres).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      roles:
        description: Roles it becomes a member of, such as C(pg_monitor).
        type: list
        elements: str
        default: []
  passwords:
    description: The password of every owner and user, by role name.
    type: dict
    required: true
  login_host:
    description: Server address.
    type: str
    default: 127.0.0.1
  login_port:
    description: Server port.
    type: int
    default: 5432
  login_user:
    description: A superuser (the password checks read C(pg_authid)).
    type: str
    default: postgres
  login_password:
    description: Its password.
    type: str
    required: true
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
requirements:
  - python >= 3.9
  - psycopg >= 3.1 (Debian's python3-psycopg)
"""

EXAMPLES = r"""
- name: Create the apps' databases and owners and the monitoring login
  selfhosted_ai.stack.postgres_databases:
    databases:
      - {name: openwebui, owner: openwebui, extensions: [vector]}
    users:
      - {name: monitoring, roles: [pg_monitor]}
    passwords: "{{ dict(['openwebui', 'monitoring'] | zip(query('selfhosted_ai.stack.secret', 'postgres/openwebui', 'postgres/monitoring'))) }}"
    login_password: "{{ lookup('selfhosted_ai.stack.secret', 'postgres/superuser') }}"
  no_log: true
"""

RETURN = r"""
actions:
  description: What was changed (in check mode, what would be), without passwords.
  returned: always
  type: list
  elements: str
  sample: ["create role openwebui", "create database openwebui owned by openwebui", "create extension vector in openwebui"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._postgres import scram_matches, scram_verifier

try:
    import psycopg
    from psycopg import sql

    PSYCOPG_IMPORT_ERROR = None
except ImportError:
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

MAINTENANCE_DATABASES = ('postgres', 'template1')
LOGIN_ATTRIBUTES = {'rolcanlogin': True, 'rolsuper': False, 'rolcreatedb': False, 'rolcreaterole': False}
LOGIN_CLAUSE = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'

# Per database: its owner and whether PUBLIC (grantee 0) holds CONNECT and TEMPORARY; the roles granted CONNECT.
DATABASES_QUERY = """
SELECT d.datname, pg_get_userbyid(d.datdba),
       bool_or(a.grantee = 0 AND a.privilege_type = 'CONNECT'),
       bool_or(a.grantee = 0 AND a.privilege_type = 'TEMPORARY'),
       coalesce(array_agg(pg_get_userbyid(a.grantee)) FILTER (WHERE a.grantee <> 0 AND a.privilege_type = 'CONNECT'), '{}')
FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
WHERE d.datname = ANY(%s)
GROUP BY d.datname, d.datdba
"""
ROLES_QUERY = """
SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolpassword,
       coalesce(array_agg(g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}')
FROM pg_authid r
LEFT JOIN pg_auth_members m ON m.member = r.oid
LEFT JOIN pg_authid g ON g.oid = m.roleid
WHERE r.rolname = ANY(%s)
GROUP BY r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolpassword
"""


class Plan:
    """Statements to run, each with what it does in words (the words go to the result, the SQL may hold a verifier)."""

    def __init__(self):
        self.steps = []

    def add(self, words, statement, database='postgres'):
        self.steps.append((words, statement, database))

    @property
    def actions(self):
        return [step[0] for step in self.steps]


def plan_login_role(plan, name, password, current):
    ident = sql.Identifier(name)
    if current is None:
        plan.add(
            'create role %s' % name,
            sql.SQL('CREATE ROLE {} ' + LOGIN_CLAUSE + ' PASSWORD {}').format(
                ident, sql.Literal(scram_verifier(password))
            ),
        )
        return
    if any(current[key] != wanted for key, wanted in LOGIN_ATTRIBUTES.items()):
        plan.add('set %s of role %s' % (LOGIN_CLAUSE, name), sql.SQL('ALTER ROLE {} ' + LOGIN_CLAUSE).format(ident))
    if not scram_matches(current['verifier'], password):
        plan.add(
            'set the password of role %s' % name,
            sql.SQL('ALTER ROLE {} PASSWORD {}').format(ident, sql.Literal(scram_verifier(password))),
        )


def plan_revoke_public(plan, database, current, privileges):
    held = [privilege for privilege in privileges if current is None or current['public'][privilege]]
    if held:
        plan.add(
            'revoke %s on database %s from PUBLIC' % (', '.join(held), database),
            sql.SQL('REVOKE {} ON DATABASE {} FROM PUBLIC').format(
                sql.SQL(', ').join(sql.SQL(privilege) for privilege in held), sql.Identifier(database)
            ),
        )


class Server:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.connections = {}

    def connection(self, database):
        if database not in self.connections:
            try:
                self.connections[database] = psycopg.connect(
                    host=self.params['login_host'],
                    port=self.params['login_port'],
                    user=self.params['login_user'],
                    password=self.params['login_password'],
                    dbname=database,
                    connect_timeout=self.params['connect_timeout'],
                    autocommit=True,
                    application_name='selfhosted_ai.stack.postgres_databases',
                )
            except psycopg.Error as exc:
                self.module.fail_json(
                    msg='cannot connect to %s:%s/%s as %s: %s'
                    % (
                        self.params['login_host'],
                        self.params['login_port'],
                        database,
                        self.params['login_user'],
                        first_line(exc),
                    )
                )
        return self.connections[database]

    def close(self):
        for conn in self.connections.values():
            conn.close()

    def roles(self, names):
        rows = self.connection('postgres').execute(ROLES_QUERY, (names,)).fetchall()
        return {
            name: dict(
                rolcanlogin=login,
                rolsuper=superuser,
                rolcreatedb=createdb,
                rolcreaterole=createrole,
                verifier=verifier,
                member_of=set(groups),
            )
            for name, login, superuser, createdb, createrole, verifier, groups in rows
        }

    def databases(self, names):
        rows = self.connection('postgres').execute(DATABASES_QUERY, (names,)).fetchall()
        return {
            name: dict(owner=owner, public={'CONNECT': connect, 'TEMPORARY': temporary}, connect=set(grantees))
            for name, owner, connect, temporary, grantees in rows
        }

    def extensions(self, database):
        return {row[0] for row in self.connection(database).execute('SELECT extname FROM pg_extension').fetchall()}


def first_line(exc):
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def build_plan(server, databases, users, passwords):
    plan = Plan()
    login_names = list(dict.fromkeys([db['owner'] for db in databases] + [user['name'] for user in users]))
    roles = server.roles(login_names)
    for name in login_names:
        plan_login_role(plan, name, passwords[name], roles.get(name))

    current = server.databases([db['name'] for db in databases] + list(MAINTENANCE_DATABASES))
    for db in databases:
        name, owner, found = db['name'], db['owner'], current.get(db['name'])
        if found is None:
            plan.add(
                'create database %s owned by %s' % (name, owner),
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(name), sql.Identifier(owner)
                ),
            )
        elif found['owner'] != owner:
            plan.add(
                'make %s the owner of database %s' % (owner, name),
                sql.SQL('ALTER DATABASE {} OWNER TO {}').format(sql.Identifier(name), sql.Identifier(owner)),
            )
        plan_revoke_public(plan, name, found, ['CONNECT'])
    for name in MAINTENANCE_DATABASES:
        plan_revoke_public(plan, name, current[name], ['CONNECT', 'TEMPORARY'])

    can_connect = current['postgres']['connect']
    for user in users:
        if user['name'] not in can_connect:
            plan.add(
                'grant CONNECT on database postgres to %s' % user['name'],
                sql.SQL('GRANT CONNECT ON DATABASE postgres TO {}').format(sql.Identifier(user['name'])),
            )
        member_of = roles.get(user['name'], {}).get('member_of', set())
        for group in user['roles']:
            if group not in member_of:
                plan.add(
                    'grant role %s to %s' % (group, user['name']),
                    sql.SQL('GRANT {} TO {}').format(sql.Identifier(group), sql.Identifier(user['name'])),
                )

    for db in databases:
        # A database this run creates has none yet; in check mode it cannot be read.
        present = server.extensions(db['name']) if db['name'] in current else set()
        for extension in db['extensions']:
            if extension not in present:
                plan.add(
                    'create extension %s in %s' % (extension, db['name']),
                    sql.SQL('CREATE EXTENSION IF NOT EXISTS {}').format(sql.Identifier(extension)),
                    database=db['name'],
                )
    return plan


def check_input(module):
    databases, users, passwords = module.params['databases'], module.params['users'], module.params['passwords']
    names = [db['name'] for db in databases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        module.fail_json(msg='databases listed twice: %s' % ', '.join(duplicates))
    logins = [db['owner'] for db in databases] + [user['name'] for user in users]
    missing = sorted({name for name in logins if not isinstance(passwords.get(name), str) or not passwords.get(name)})
    if missing:
        module.fail_json(msg='no password given for the login role(s) %s' % ', '.join(missing))
    reserved = sorted(set(names) & set(MAINTENANCE_DATABASES))
    if reserved:
        module.fail_json(msg='%s: maintenance databases are not app databases' % ', '.join(reserved))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            databases=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(
                    name=dict(type='str', required=True),
                    owner=dict(type='str', required=True),
                    extensions=dict(type='list', elements='str', default=[]),
                ),
            ),
            users=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(name=dict(type='str', required=True), roles=dict(type='list', elements='str', default=[])),
            ),
            passwords=dict(type='dict', required=True, no_log=True),
            login_host=dict(type='str', default='127.0.0.1'),
            login_port=dict(type='int', default=5432),
            login_user=dict(type='str', default='postgres'),
            login_password=dict(type='str', required=True, no_log=True),
            connect_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    if PSYCOPG_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMPORT_ERROR)
    check_input(module)

    server = Server(module)
    try:
        plan = build_plan(server, module.params['databases'], module.params['users'], module.params['passwords'])
        done = []
        if not module.check_mode:
            for words, statement, database in plan.steps:
                try:
                    server.connection(database).execute(statement)
                except psycopg.Error as exc:
                    module.fail_json(msg='%s failed: %s' % (words, first_line(exc)), actions=done)
                done.append(words)
    finally:
        server.close()
    module.exit_json(changed=bool(plan.steps), actions=plan.actions)


if __name__ == '__main__':
    main()
