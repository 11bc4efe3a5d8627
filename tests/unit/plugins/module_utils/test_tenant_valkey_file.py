# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Valkey persist=file: reading and replacing aclfile lines, and the plan it adds (no server here;
the live round trip is in tests/integration/tenants/test_tenant_s3_shell_and_valkey_file.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_valkey
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_args import backend_argument_spec
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants


def _options(**extra):
    spec = backend_argument_spec()['valkey']['options']
    options = dict((key, value.get('default')) for key, value in spec.items())
    options.update(extra)
    return options


def test_user_lines():
    lines = [
        'user default off resetchannels -@all',
        '',
        'user tenant_a on #ab ~a:* &a:* +@all -@dangerous\r',
        '# not a user line',
        'user',
    ]
    assert _tenant_valkey._user_lines(lines) == {
        'default': 'user default off resetchannels -@all',
        'tenant_a': 'user tenant_a on #ab ~a:* &a:* +@all -@dangerous',
    }


def test_replace_file_keeps_mode_and_is_atomic(tmp_path):
    path = tmp_path / 'users.acl'
    path.write_text('old\n')
    os.chmod(path, 0o400)
    _tenant_valkey._replace_file(str(path), 'new\n')
    assert path.read_text() == 'new\n'
    assert os.stat(path).st_mode & 0o777 == 0o400
    assert [p.name for p in tmp_path.iterdir()] == ['users.acl']


def test_persist_file_needs_the_path():
    with pytest.raises(BackendError, match='persist=file needs aclfile'):
        _tenant_valkey.ValkeyTenantBackend(_options(persist='file'))


def _plan(current, state='present'):
    backend = _tenant_valkey.ValkeyTenantBackend(_options(persist='file', aclfile='/etc/valkey/users.acl'))
    tenant = validate_tenants([{'id': 'acme', 'state': state}])[0]
    return backend.plan(tenant, current, {'valkey_password': 'pw'})


def test_plan_writes_a_line_the_file_lost():
    backend = _tenant_valkey.ValkeyTenantBackend(_options())
    tenant = validate_tenants([{'id': 'acme'}])[0]
    user = backend.desired_user(tenant, 'pw')
    live = 'user tenant_acme on #%s ~acme:* &acme:* +@all -@dangerous' % user['passwords'][0]
    change, ops = _plan({'user': dict(user), 'persisted': {'file': None, 'live': live}})
    assert change.actions == ['write ACL user tenant_acme to /etc/valkey/users.acl'] and ops == [('persist', None)]
    change, ops = _plan({'user': dict(user), 'persisted': {'file': live, 'live': live}})
    assert change.actions == [] and ops == []


def test_plan_removes_the_line_of_a_deleted_user():
    change, ops = _plan({'user': None, 'persisted': {'file': 'user tenant_acme on', 'live': None}}, state='absent')
    assert change.actions == ['remove ACL user tenant_acme from /etc/valkey/users.acl'] and ops == [('persist', None)]
    change, ops = _plan({'user': None, 'persisted': {'file': None, 'live': None}}, state='absent')
    assert ops == []


def test_command_rules_in_the_servers_order_are_unchanged_and_a_missing_rule_is_a_change():
    backend = _tenant_valkey.ValkeyTenantBackend(_options())
    tenant = validate_tenants([{'id': 'acme'}])[0]
    user = backend.desired_user(tenant, 'pw')
    # ACL GETUSER prints subcommand rules first, in an order of its own
    server_order = sorted(user['commands'], key=lambda rule: ('|' not in rule, rule[::-1]))
    assert server_order != user['commands']
    change, ops = _plan({'user': dict(user, commands=server_order)})
    assert change.actions == [] and ops == []
    change, ops = _plan({'user': dict(user, commands=['+@all', '-@dangerous'])})
    assert change.actions == ['update ACL user tenant_acme: commands'] and ops[0][0] == 'setuser'


def test_the_n8n_queue_scenario_runs_n8n_under_the_tenant_rules():
    """molecule n8n_queue gives its n8n Valkey user the tenant rules, to prove n8n's queue works under them."""
    scenario = Path(__file__).parents[4] / 'molecule' / 'n8n_queue' / 'group_vars' / 'all' / 'scenario.yml'
    users = yaml.safe_load(scenario.read_text())['valkey_users']
    assert next(user for user in users if user['name'] == 'n8n')['commands'] == _tenant_valkey.DEFAULT_COMMAND_RULES


def test_a_user_is_compared_with_the_servers_form_of_the_rules_and_set_with_the_rules_as_given():
    """Redis 7.0 prints -script|flush -script|kill -script|debug as -@scripting with the scripting commands allowed
    back (read() asks the server: tests/integration/tenants/test_tenant_ladder.py); SETUSER sends the rules as given."""
    backend = _tenant_valkey.ValkeyTenantBackend(_options())
    tenant = validate_tenants([{'id': 'acme'}])[0]
    given = backend.desired_user(tenant, 'pw')
    printed = ['+@all', '-@dangerous', '-@scripting', '+script|exists', '+script|load', '+eval', '+evalsha', '-scan']
    backend.printed_rules = printed
    change, ops = backend.plan(
        tenant, {'user': dict(given, commands=list(reversed(printed)))}, {'valkey_password': 'pw'}
    )
    assert change.actions == [] and ops == []
    # the user as the rules were given (an older server's form) is not what this server prints: a change
    change, ops = backend.plan(tenant, {'user': given}, {'valkey_password': 'pw'})
    assert change.actions == ['update ACL user tenant_acme: commands']
    assert ops[0][0] == 'setuser' and ops[0][1][5:] == _tenant_valkey.DEFAULT_COMMAND_RULES
