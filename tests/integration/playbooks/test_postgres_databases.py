# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The postgres_databases module, run by ansible-playbook against a real PostgreSQL (fixture postgres_server).

Without no_log on the task: the module's own no_log options keep the passwords out of its output.
What the postgres role asks of it: owners and databases with CONNECT for the owner alone, service logins that
reach only the maintenance database with their predefined roles, extensions; nothing changed on a rerun,
nothing in check mode, a password rotated, an owner put back, a bad input refused before any change.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import psycopg
import pytest
from ansible_run import ansible_playbook_on_localhost

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - selfhosted_ai.stack.postgres_databases: "{{ module_args }}"
      register: result
    - ansible.builtin.copy:
        content: "{{ {'changed': result.changed, 'actions': result.actions} | to_json }}"
        dest: "{{ result_file }}"
      check_mode: false
"""


@pytest.fixture
def names():
    tag = secrets.token_hex(3)
    return {key: 'pgdb_%s_%s' % (key, tag) for key in ('app', 'other', 'owner', 'monitor')}


@pytest.fixture
def passwords(names):
    return {names['owner']: secrets.token_urlsafe(18), names['monitor']: secrets.token_urlsafe(18)}


def run(tmp_path: Path, server, args: dict, *options: str):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    result_file = tmp_path / 'result.json'
    result_file.unlink(missing_ok=True)
    module_args = dict(
        args, login_host=server.host, login_port=server.port, login_user=server.user, login_password=server.password
    )
    extra = {'module_args': module_args, 'result_file': str(result_file)}
    proc = ansible_playbook_on_localhost('-e', json.dumps(extra), *options, tmp_path / 'play.yml')
    outcome = json.loads(result_file.read_text()) if result_file.exists() else None
    return proc, outcome


def connect(server, user, password, dbname):
    return psycopg.connect(
        host=server.host, port=server.port, user=user, password=password, dbname=dbname, connect_timeout=5
    )


def admin(server, dbname='postgres'):
    return connect(server, server.user, server.password, dbname)


def stack(names, passwords):
    return {
        'databases': [{'name': names['app'], 'owner': names['owner'], 'extensions': ['pg_trgm']}],
        'users': [{'name': names['monitor'], 'roles': ['pg_monitor']}],
        'passwords': passwords,
    }


def test_creates_then_changes_nothing(tmp_path, postgres_server, names, passwords):
    proc, outcome = run(tmp_path, postgres_server, stack(names, passwords))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome['changed'] is True
    assert 'create database %s owned by %s' % (names['app'], names['owner']) in outcome['actions']
    for password in passwords.values():
        assert password not in proc.stdout + json.dumps(outcome)

    with connect(postgres_server, names['owner'], passwords[names['owner']], names['app']) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'").fetchone()
        assert (
            conn.execute(
                'SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()'
            ).fetchone()[0]
            == 'UTF8'
        )
        assert conn.execute(
            'SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user'
        ).fetchone() == (False, False, False)
    with connect(postgres_server, names['monitor'], passwords[names['monitor']], 'postgres') as conn:
        assert conn.execute("SELECT pg_has_role(current_user, 'pg_monitor', 'MEMBER')").fetchone()[0] is True
    # PUBLIC lost CONNECT: the monitoring login reaches no app database, and no login template1.
    with pytest.raises(psycopg.OperationalError, match='permission denied'):
        connect(postgres_server, names['monitor'], passwords[names['monitor']], names['app'])
    with pytest.raises(psycopg.OperationalError, match='permission denied'):
        connect(postgres_server, names['owner'], passwords[names['owner']], 'template1')

    proc, outcome = run(tmp_path, postgres_server, stack(names, passwords))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome == {'changed': False, 'actions': []}


def test_check_mode_reports_and_changes_nothing(tmp_path, postgres_server, names, passwords):
    assert run(tmp_path, postgres_server, stack(names, passwords))[0].returncode == 0
    wanted = stack(names, dict(passwords, **{names['owner']: 'rotated-' + secrets.token_urlsafe(12)}))
    wanted['databases'].append({'name': names['other'], 'owner': names['owner']})

    proc, outcome = run(tmp_path, postgres_server, wanted, '--check')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome['changed'] is True
    assert set(outcome['actions']) == {
        'set the password of role %s' % names['owner'],
        'create database %s owned by %s' % (names['other'], names['owner']),
        'revoke CONNECT on database %s from PUBLIC' % names['other'],
    }
    connect(postgres_server, names['owner'], passwords[names['owner']], names['app']).close()
    with admin(postgres_server) as conn:
        assert conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', (names['other'],)).fetchone() is None


def test_rotates_a_password_and_puts_the_owner_back(tmp_path, postgres_server, names, passwords):
    assert run(tmp_path, postgres_server, stack(names, passwords))[0].returncode == 0
    with admin(postgres_server) as conn:
        conn.autocommit = True
        conn.execute('ALTER DATABASE %s OWNER TO %s' % (names['app'], names['monitor']))
    rotated = dict(passwords, **{names['owner']: 'rotated-' + secrets.token_urlsafe(12)})

    proc, outcome = run(tmp_path, postgres_server, stack(names, rotated))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome['actions'] == [
        'set the password of role %s' % names['owner'],
        'make %s the owner of database %s' % (names['owner'], names['app']),
    ]
    connect(postgres_server, names['owner'], rotated[names['owner']], names['app']).close()
    with pytest.raises(psycopg.OperationalError, match='password authentication failed'):
        connect(postgres_server, names['owner'], passwords[names['owner']], names['app'])


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        (
            lambda args, names: args['passwords'].pop(names['monitor']),
            'no password given for the login role(s) pgdb_monitor_',
        ),
        (lambda args, names: args['databases'].append(dict(args['databases'][0])), 'databases listed twice: pgdb_app_'),
        (
            lambda args, names: args['databases'].append({'name': 'template1', 'owner': names['owner']}),
            'template1: maintenance databases are not app databases',
        ),
    ],
)
def test_bad_input_changes_nothing(tmp_path, postgres_server, names, passwords, change, message):
    args = stack(names, dict(passwords))
    change(args, names)
    proc, outcome = run(tmp_path, postgres_server, args)
    assert proc.returncode != 0
    assert outcome is None
    assert message in proc.stdout
    with admin(postgres_server) as conn:
        found = conn.execute(
            'SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)', ([names['owner'], names['monitor']],)
        ).fetchone()[0]
    assert found == 0
