# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openbao_config module, run by ansible-playbook against a real OpenBao (fixture openbao, dev mode).

What the openbao role asks of it: a KV version 2 engine and an auth method enabled, policies and AppRoles written with
a given role_id and a registered secret_id; check mode predicts and writes nothing; a rerun writes nothing; a drifted
AppRole is put back; a mount path holding another engine, an AppRole naming a policy nobody writes and bad input are
refused before any write. Without no_log on the task: the module's no_log options keep the ids out of its output.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import hvac
import pytest
from ansible_run import ansible_playbook_on_localhost

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - selfhosted_ai.stack.openbao_config: "{{ module_args }}"
      register: result
      ignore_errors: true
    - ansible.builtin.copy:
        content: "{{ {'changed': result.changed | default(false), 'failed': result.failed | default(false),
                      'msg': result.msg | default(''), 'actions': result.actions | default([]),
                      'auth_accessors': result.auth_accessors | default({})} | to_json }}"
        dest: "{{ result_file }}"
      check_mode: false
"""


def run(tmp_path: Path, server, args: dict, *options: str):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    result_file = tmp_path / 'result.json'
    result_file.unlink(missing_ok=True)
    extra = {'module_args': dict(args, url=server.url, token=server.root_token), 'result_file': str(result_file)}
    proc = ansible_playbook_on_localhost('-e', json.dumps(extra), *options, tmp_path / 'play.yml')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(result_file.read_text())


@pytest.fixture
def names():
    tag = secrets.token_hex(3)
    return {'kv': 'kv-' + tag, 'policy': 'pol-' + tag, 'role': 'role-' + tag}


def policy_text(names):
    return 'path "%s/data/app/*" {\n  capabilities = ["create", "read", "update"]\n}\n' % names['kv']


def wanted(names, role_id, secret_id):
    return {
        'kv_mounts': [names['kv']],
        'auth_methods': ['approle'],
        'policies': {names['policy']: policy_text(names)},
        'approles': [
            {
                'name': names['role'],
                'token_policies': [names['policy']],
                'token_ttl': 3600,
                'token_max_ttl': 14400,
                'role_id': role_id,
                'secret_id': secret_id,
                'secret_id_metadata': {'managed_by': 'test'},
            }
        ],
    }


def server_state(client, names):
    """What the server holds of this test's items, read independently of the module."""
    mounts = client.sys.list_mounted_secrets_engines()['data']
    policies = client.sys.list_acl_policies()['data']['keys']
    try:
        roles = client.adapter.list('/v1/auth/approle/role') or {}
    except hvac.exceptions.InvalidPath:  # no AppRole at all
        roles = {}
    return {
        'kv': (mounts.get(names['kv'] + '/') or {}).get('options'),
        'policy': names['policy'] in policies,
        'role': names['role'] in ((roles.get('data') or {}).get('keys') or []),
    }


def test_check_run_rerun_and_the_approle_logs_in(tmp_path, openbao, names):
    client = openbao.client()
    role_id, secret_id = secrets.token_hex(16), secrets.token_hex(24)
    args = wanted(names, role_id, secret_id)
    before = server_state(client, names)

    proc, check = run(tmp_path, openbao, args, '--check')
    assert check['changed'] is True and not check['failed'], check
    assert check['actions'] == [
        'enabled KV version 2 at %s/' % names['kv'],
        'wrote policy ' + names['policy'],
        'created AppRole ' + names['role'],
        'set the role_id of AppRole ' + names['role'],
        'registered a secret_id with AppRole ' + names['role'],
    ]
    assert server_state(client, names) == before == {'kv': None, 'policy': False, 'role': False}

    proc, first = run(tmp_path, openbao, args)
    assert first['actions'] == check['actions'] and first['changed'] is True
    assert first['auth_accessors']['approle/'].startswith('auth_approle_')
    assert role_id not in proc.stdout + proc.stderr and secret_id not in proc.stdout + proc.stderr
    assert server_state(client, names) == {'kv': {'version': '2'}, 'policy': True, 'role': True}
    assert client.sys.read_acl_policy(names['policy'])['data']['policy'] == policy_text(names)
    role = client.auth.approle.read_role(names['role'])['data']
    assert (role['token_policies'], role['token_ttl'], role['token_max_ttl'], role['bind_secret_id']) == (
        [names['policy']],
        3600,
        14400,
        True,
    )
    # The AppRole's token has the policy: it writes under app/ and nowhere else of the engine.
    app = hvac.Client(url=openbao.url)
    app.auth.approle.login(role_id=role_id, secret_id=secret_id)
    app.secrets.kv.v2.create_or_update_secret('app/x', {'v': '1'}, mount_point=names['kv'])
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.create_or_update_secret('other/x', {'v': '1'}, mount_point=names['kv'])

    for options in (('--check',), ()):
        proc, again = run(tmp_path, openbao, args, *options)
        assert again['changed'] is False and again['actions'] == [], (options, again)


def test_a_drifted_approle_is_put_back(tmp_path, openbao, names):
    client = openbao.client()
    role_id, secret_id = secrets.token_hex(16), secrets.token_hex(24)
    args = wanted(names, role_id, secret_id)
    run(tmp_path, openbao, args)
    client.auth.approle.create_or_update_approle(names['role'], token_policies=['default'], token_ttl=60)
    client.auth.approle.update_role_id(names['role'], 'someone-elses')
    accessor = client.auth.approle.list_secret_id_accessors(names['role'])['data']['keys'][0]
    client.auth.approle.destroy_secret_id_accessor(names['role'], accessor)
    client.sys.create_or_update_acl_policy(names['policy'], 'path "sys/*" { capabilities = ["sudo", "read"] }')

    proc, result = run(tmp_path, openbao, args)
    assert result['actions'] == [
        'wrote policy ' + names['policy'],
        'updated AppRole ' + names['role'],
        'set the role_id of AppRole ' + names['role'],
        'registered a secret_id with AppRole ' + names['role'],
    ]
    hvac.Client(url=openbao.url).auth.approle.login(role_id=role_id, secret_id=secret_id)
    assert client.sys.read_acl_policy(names['policy'])['data']['policy'] == policy_text(names)


@pytest.mark.parametrize(
    ('case', 'message'),
    [
        ('kv1', 'holds a kv engine version 1, not KV version 2'),
        ('other-engine', 'holds a transit engine, not KV version 2'),
        ('unknown-policy', 'names policies the server lacks and this call does not write: nobody-writes-this'),
        ('short-max-ttl', 'token_max_ttl at least token_ttl'),
        ('empty-policy', 'has no text'),
    ],
)
def test_bad_input_changes_nothing(tmp_path, openbao, names, case, message):
    client = openbao.client()
    args = wanted(names, secrets.token_hex(16), secrets.token_hex(24))
    if case == 'kv1':
        client.sys.enable_secrets_engine('kv', path=names['kv'], options={'version': '1'})
    elif case == 'other-engine':
        client.sys.enable_secrets_engine('transit', path=names['kv'])
    elif case == 'unknown-policy':
        args['approles'][0]['token_policies'].append('nobody-writes-this')
    elif case == 'short-max-ttl':
        args['approles'][0]['token_max_ttl'] = 60
    elif case == 'empty-policy':
        args['policies'][names['policy']] = '  '
    before = server_state(client, names)

    proc, result = run(tmp_path, openbao, args)
    assert result['failed'] is True and message in result['msg'], result
    assert server_state(client, names) == before
    assert before['policy'] is False and before['role'] is False
