# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attack the tenant stack's OpenBao AppRole (the provisioner) and the tenants' templated policy, on real OpenBao 2.7.

The provisioner's AppRole and policy are made as the openbao role makes them, from the role's own policy text
(openbao_role.py renders roles/openbao/vars/main.yml). It must be refused (403) every way to more rights than
provisioning tenants: writing or deleting any ACL policy, binding a tenant-* AppRole to another policy, writing
or deleting any entity or group, naming an entity for an alias (``canonical_id``, on create and on update by id),
enabling auth methods or engines. An alias it makes for a tenant role lands on a fresh entity, never on one with policies. Tenant
tokens (templated policy, custom_metadata of the AppRole alias) must be refused other tenants' secrets and the
playbooks' secrets; a token whose alias lacks or misuses the custom_metadata reaches nothing. Each legitimate
operation the module needs is shown to work.
"""

from __future__ import annotations

import pytest

hvac = pytest.importorskip('hvac')
requests = pytest.importorskip('requests')

from openbao_role import approle_accessor  # noqa: E402
from tenant_harness import module_args, run_tenant  # noqa: E402

A, B = 'sec_a', 'sec_b'


def _login(url, role_id, secret_id):
    answer = requests.post(
        url + '/v1/auth/approle/login', json={'role_id': role_id, 'secret_id': secret_id}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()['auth']


def _call(url, token, method, path, body=None):
    answer = requests.request(method, url + '/v1/' + path, headers={'X-Vault-Token': token}, json=body, timeout=10)
    return answer.status_code


@pytest.fixture(scope='module')
def bao(stack):
    server = stack['servers']['vault']
    made = stack['openbao_role']
    tenants = [{'id': A, 'apps': ['n8n']}, {'id': B, 'apps': ['n8n']}]
    assert run_tenant(module_args(stack, tenants, ('vault',))).get('failed') is not True
    root = server.client()
    # secrets the tenants and the provisioner must not reach: the playbooks' (openbao_kv_path_prefix)
    root.secrets.kv.v2.create_or_update_secret(
        path='selfhosted_ai/postgres/superuser', secret={'password': 'p'}, mount_point='secret'
    )
    for tid in (A, B):  # (the vault backend alone generates no credential: stand-ins)
        for leaf in ('app/config', 'credentials'):
            root.secrets.kv.v2.create_or_update_secret(
                path='tenants/%s/%s' % (tid, leaf), secret={'own': tid}, mount_point='secret'
            )
    provisioner = _login(server.url, made['role_id'], made['secret_id'])
    yield {
        'server': server,
        'url': server.url,
        'root': root,
        'root_token': server.root_token,
        'token': provisioner['client_token'],
        'policy': made['tenant_policy'],
        'accessor': approle_accessor(server),
        'provisioner_auth': provisioner,
    }
    run_tenant(module_args(stack, [dict(t, state='absent', purge=True) for t in tenants], ('vault',)))


def _tenant_token(bao, name):
    root = bao['root']
    role_id = root.adapter.get('/v1/auth/approle/role/%s/role-id' % name)['data']['role_id']
    secret_id = root.adapter.post('/v1/auth/approle/role/%s/secret-id' % name)['data']['secret_id']
    return _login(bao['url'], role_id, secret_id)


def test_provisioner_holds_its_policy_only(bao):
    assert sorted(bao['provisioner_auth']['policies']) == ['default', 'selfhosted-ai-tenants']


@pytest.mark.parametrize(
    'name',
    ['tenant-x', 'tenant-sec-a', 'anything', 'selfhosted-ai-tenant', 'selfhosted-ai-tenants', 'root-like', 'default'],
)
def test_provisioner_cannot_write_any_acl_policy(bao, name):
    body = {'policy': 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'}
    assert _call(bao['url'], bao['token'], 'PUT', 'sys/policies/acl/%s' % name, body) == 403
    assert _call(bao['url'], bao['token'], 'POST', 'sys/policy/%s' % name, {'rules': body['policy']}) == 403
    # the templated policy is unchanged
    text = (
        bao['root'].sys.read_acl_policy(bao['policy'])['data']['policy']
        if hasattr(bao['root'].sys, 'read_acl_policy')
        else bao['root'].adapter.get('/v1/sys/policies/acl/%s' % bao['policy'])['data']['policy']
    )
    assert '{{identity.entity.aliases.%s.custom_metadata.tenant}}' % bao['accessor'] in text and 'sudo' not in text


@pytest.mark.parametrize(
    'body',
    [
        {'token_policies': ['root']},
        {'token_policies': 'root'},
        {'token_policies': ['default']},
        {'token_policies': 'default'},
        {'token_policies': ['selfhosted-ai-tenant', 'other']},
        {'token_policies': 'selfhosted-ai-tenant,other'},
        {'token_policies': 'selfhosted-ai-tenants'},
        {'token_policies': 'selfhosted-ai-playbooks'},
        {'token_policies': ''},
        {'policies': 'selfhosted-ai-tenant'},
        {'policies': ['root']},
        {'token_policies': 'selfhosted-ai-tenant', 'policies': 'root'},
        {'token_policies': 'selfhosted-ai-tenant', 'bind_secret_id': False},
        {'token_policies': 'selfhosted-ai-tenant', 'token_no_default_policy': False, 'token_type': 'service'},
        {'token_policies': 'selfhosted-ai-tenant', 'secret_id_bound_cidrs': ['0.0.0.0/0']},
    ],
)
@pytest.mark.parametrize('role', ['tenant-x', 'tenant-sec-a'])
def test_provisioner_cannot_bind_another_policy(bao, role, body):
    before = bao['root'].adapter.get('/v1/auth/approle/role/tenant-sec-a')['data']['token_policies']
    assert _call(bao['url'], bao['token'], 'POST', 'auth/approle/role/%s' % role, body) == 403
    assert _call(bao['url'], bao['token'], 'POST', 'auth/approle/role/%s/policies' % role, body) == 403
    assert (
        bao['root'].adapter.get('/v1/auth/approle/role/tenant-sec-a')['data']['token_policies']
        == before
        == [bao['policy']]
    )


def test_provisioner_cannot_touch_other_roles_or_set_role_ids(bao):
    url, token = bao['url'], bao['token']
    for role in ('selfhosted-ai-playbooks', 'selfhosted-ai-tenants', 'admin'):
        assert _call(url, token, 'GET', 'auth/approle/role/%s' % role) == 403
        assert _call(url, token, 'POST', 'auth/approle/role/%s/secret-id' % role) == 403
        assert _call(url, token, 'POST', 'auth/approle/role/%s' % role, {'token_policies': bao['policy']}) == 403
    assert _call(url, token, 'POST', 'auth/approle/role/tenant-sec-a/role-id', {'role_id': 'chosen'}) == 403
    assert _call(url, token, 'POST', 'auth/approle/role/tenant-sec-a/custom-secret-id', {'secret_id': 'chosen'}) == 403


def _alias_of(bao, role):
    """(alias id, canonical_id, custom_metadata) of a role's alias, read with the root token, or None."""
    root = bao['root']
    role_id = root.adapter.get('/v1/auth/approle/role/%s/role-id' % role)['data']['role_id']
    raw = root.adapter.post(
        '/v1/identity/lookup/entity', json={'alias_name': role_id, 'alias_mount_accessor': bao['accessor']}
    )
    if not isinstance(raw, dict):
        return None
    mine = [a for a in raw['data']['aliases'] if a['name'] == role_id and a['mount_accessor'] == bao['accessor']][0]
    return mine['id'], mine['canonical_id'], mine['custom_metadata']


@pytest.fixture(scope='module')
def privileged(bao):
    """An entity with the playbooks' policy and a group with it too, as an operator could have made them."""
    root = bao['root']
    root.adapter.post('/v1/identity/entity/name/operator', json={'policies': ['selfhosted-ai-playbooks']})
    entity_id = root.adapter.get('/v1/identity/entity/name/operator')['data']['id']
    root.adapter.post(
        '/v1/identity/group/name/operators',
        json={'policies': ['selfhosted-ai-playbooks'], 'member_entity_ids': [entity_id]},
    )
    yield entity_id
    root.adapter.delete('/v1/identity/group/name/operators')
    root.adapter.delete('/v1/identity/entity/name/operator')


def test_provisioner_cannot_write_entities_or_groups(bao, privileged):
    url, token = bao['url'], bao['token']
    entity_id = _alias_of(bao, 'tenant-sec-a')[1]
    for body in (
        {'policies': ['root']},
        {'metadata': {'tenant': A}},
        {'metadata': {'tenant': A}, 'policies': ['selfhosted-ai-playbooks']},
        {'policies': bao['policy']},
        {'disabled': True},
        {},
    ):
        for path in (
            'identity/entity/name/tenant-sec-a',
            'identity/entity/name/tenant-new',
            'identity/entity/name/operator',
            'identity/entity/id/%s' % entity_id,
            'identity/entity/id/%s' % privileged,
        ):
            assert _call(url, token, 'POST', path, body) == 403, (path, body)
        assert _call(url, token, 'POST', 'identity/entity', dict(body, name='tenant-y')) == 403
    assert (
        _call(url, token, 'POST', 'identity/entity/merge', {'from_entity_ids': [entity_id], 'to_entity_id': privileged})
        == 403
    )
    assert (
        _call(url, token, 'POST', 'identity/entity/merge', {'from_entity_ids': [privileged], 'to_entity_id': entity_id})
        == 403
    )
    assert _call(url, token, 'POST', 'identity/group', {'name': 'g', 'policies': ['root']}) == 403
    assert _call(url, token, 'POST', 'identity/group/name/operators', {'member_entity_ids': [entity_id]}) == 403
    assert _call(url, token, 'DELETE', 'identity/entity/id/%s' % privileged) == 403
    assert _call(url, token, 'GET', 'identity/entity/id/%s' % privileged) == 403
    assert _call(url, token, 'LIST', 'identity/entity/name') == 403
    assert _call(url, token, 'LIST', 'identity/entity-alias/id') == 403
    root = bao['root']
    assert root.adapter.get('/v1/identity/entity/id/%s' % entity_id)['data']['policies'] in ([], None)
    assert not root.adapter.get('/v1/identity/entity/id/%s' % entity_id)['data']['group_ids']


def test_canonical_id_is_refused_on_create_and_on_update(bao, privileged):
    """No request may name the entity of an alias: a tenant role never lands on the operator's entity."""
    url, token, root = bao['url'], bao['token'], bao['root']
    role_id = root.adapter.get('/v1/auth/approle/role/tenant-sec-a/role-id')['data']['role_id']
    alias_id, entity_id, dummy = _alias_of(bao, 'tenant-sec-a')
    for target in (privileged, entity_id):
        for key in ('canonical_id', 'entity_id'):
            body = {'name': role_id, 'mount_accessor': bao['accessor'], key: target}
            assert _call(url, token, 'POST', 'identity/entity-alias', body) == 403, key
            assert _call(url, token, 'POST', 'identity/entity-alias', dict(body, name='fresh-name')) == 403, key
            assert _call(url, token, 'POST', 'identity/entity-alias/id/%s' % alias_id, {key: target}) == 403, key
            assert (
                _call(
                    url,
                    token,
                    'POST',
                    'identity/entity-alias/id/%s' % alias_id,
                    {key: target, 'mount_accessor': bao['accessor'], 'name': role_id},
                )
                == 403
            ), key
    # no update by id at all, nor an alias on another mount, nor a chosen alias id
    assert (
        _call(url, token, 'POST', 'identity/entity-alias/id/%s' % alias_id, {'custom_metadata': {'tenant': B}}) == 403
    )
    assert _call(url, token, 'POST', 'identity/entity-alias/id/%s' % alias_id, {'name': 'other'}) == 403
    token_accessor = root.sys.list_auth_methods()['data']['token/']['accessor']
    assert _call(url, token, 'POST', 'identity/entity-alias', {'name': 'x', 'mount_accessor': token_accessor}) == 403
    assert (
        _call(
            url,
            token,
            'POST',
            'identity/entity-alias',
            {'name': 'x', 'mount_accessor': bao['accessor'], 'id': alias_id},
        )
        == 403
    )
    # lookups: by the AppRole mount's alias name only
    for body in (
        {'id': privileged},
        {'name': 'operator'},
        {'alias_id': alias_id},
        {'alias_name': 'x', 'alias_mount_accessor': token_accessor},
    ):
        assert _call(url, token, 'POST', 'identity/lookup/entity', body) == 403, body
    assert _call(url, token, 'POST', 'identity/lookup/group', {'name': 'operators'}) == 403
    assert _alias_of(bao, 'tenant-sec-a')[:2] == (alias_id, entity_id)
    assert not root.adapter.get('/v1/identity/entity/id/%s' % privileged)['data']['aliases']


def test_alias_made_by_the_provisioner_never_lands_on_an_entity_with_policies(bao, privileged):
    url, token, root = bao['url'], bao['token'], bao['root']
    assert (
        _call(url, token, 'POST', 'auth/approle/role/tenant-att', {'token_policies': bao['policy'], 'token_ttl': 60})
        == 204
    )
    try:
        role_id = root.adapter.get('/v1/auth/approle/role/tenant-att/role-id')['data']['role_id']
        assert (
            _call(
                url,
                token,
                'POST',
                'identity/entity-alias',
                {'name': role_id, 'mount_accessor': bao['accessor'], 'canonical_id': privileged},
            )
            == 403
        )
        answer = requests.post(
            url + '/v1/identity/entity-alias',
            headers={'X-Vault-Token': token},
            timeout=10,
            json={'name': role_id, 'mount_accessor': bao['accessor'], 'custom_metadata': {'tenant': A}},
        )
        assert answer.status_code == 200, answer.text
        made = answer.json()['data']['canonical_id']
        assert made != privileged
        entity = root.adapter.get('/v1/identity/entity/id/%s' % made)['data']
        assert entity['policies'] in ([], None) and not entity['group_ids'] and len(entity['aliases']) == 1
        auth = _tenant_token(bao, 'tenant-att')
        assert auth['entity_id'] == made and sorted(auth['policies']) == ['default', bao['policy']]
        # acting as tenant A (the provisioner's job), nothing of the operator's
        assert _call(url, auth['client_token'], 'GET', 'secret/data/tenants/%s/app/config' % A) == 200
        assert _call(url, auth['client_token'], 'GET', 'secret/data/selfhosted_ai/postgres/superuser') == 403
        # posting again (the module's update) keeps the entity
        assert (
            _call(
                url,
                token,
                'POST',
                'identity/entity-alias',
                {'name': role_id, 'mount_accessor': bao['accessor'], 'custom_metadata': {'tenant': B}},
            )
            == 200
        )
        assert _alias_of(bao, 'tenant-att')[1:] == (made, {'tenant': B})
    finally:
        alias = _alias_of(bao, 'tenant-att')
        if alias:
            root.adapter.delete('/v1/identity/entity/id/%s' % alias[1])
        root.adapter.delete('/v1/auth/approle/role/tenant-att')
    assert not root.adapter.get('/v1/identity/entity/id/%s' % privileged)['data']['aliases']


def test_module_moves_an_alias_off_an_entity_with_policies(bao, stack, privileged):
    """An alias put on the operator's entity (by an administrator's canonical_id) is deleted and made again."""
    root, url = bao['root'], bao['url']
    args = module_args(stack, [{'id': 'sec_c', 'apps': ['n8n']}], ('vault',))
    assert run_tenant(args)['changed'] is True
    try:
        role_id = root.adapter.get('/v1/auth/approle/role/tenant-sec-c/role-id')['data']['role_id']
        root.adapter.post(
            '/v1/identity/entity-alias',
            json={'name': role_id, 'mount_accessor': bao['accessor'], 'canonical_id': privileged},
        )
        assert _alias_of(bao, 'tenant-sec-c')[1] == privileged
        check = run_tenant(args, check_mode=True)
        actions = check['tenants'][0]['backends']['vault']['actions']
        assert check['changed'] is True and any('delete the entity alias' in a and 'policies' in a for a in actions), (
            actions
        )
        done = run_tenant(args)
        assert done['tenants'][0]['backends']['vault']['actions'] == actions
        assert run_tenant(args)['changed'] is False
        alias_id, entity_id, metadata = _alias_of(bao, 'tenant-sec-c')
        assert entity_id != privileged and metadata == {'tenant': 'sec_c'}
        assert not root.adapter.get('/v1/identity/entity/id/%s' % privileged)['data']['aliases']
        auth = _tenant_token(bao, 'tenant-sec-c')
        assert auth['entity_id'] == entity_id and sorted(auth['policies']) == ['default', bao['policy']]
        assert _call(url, auth['client_token'], 'GET', 'secret/data/selfhosted_ai/postgres/superuser') == 403
    finally:
        run_tenant(module_args(stack, [{'id': 'sec_c', 'state': 'absent', 'purge': True}], ('vault',)))


def test_other_aliases_custom_metadata_gives_nothing(bao):
    """Whatever the provisioner writes in the custom_metadata of another AppRole's alias (it would need that role's
    role_id, which it cannot read), tokens without the templated policy reach no tenant path."""
    url, token, root = bao['url'], bao['token'], bao['root']
    role_id = root.adapter.get('/v1/auth/approle/role/selfhosted-ai-playbooks/role-id')['data']['role_id']
    playbooks = _tenant_token(bao, 'selfhosted-ai-playbooks')  # the first login makes its alias
    assert _call(
        url,
        token,
        'POST',
        'identity/entity-alias',
        {'name': role_id, 'mount_accessor': bao['accessor'], 'custom_metadata': {'tenant': A}},
    ) in (200, 204)
    made = _alias_of(bao, 'selfhosted-ai-playbooks')
    assert made[2] == {'tenant': A} and made[1] == playbooks['entity_id']  # written, on its own entity
    for path in ('secret/data/tenants/%s/app/config' % A, 'secret/data/tenants/%s/credentials' % A):
        assert _call(url, playbooks['client_token'], 'GET', path) == 403
        assert _call(url, _tenant_token(bao, 'selfhosted-ai-playbooks')['client_token'], 'GET', path) == 403
    root.adapter.post('/v1/identity/entity-alias/id/%s' % made[0], json={'custom_metadata': {}})


def test_provisioner_cannot_write_sys(bao):
    url, token = bao['url'], bao['token']
    assert _call(url, token, 'POST', 'sys/auth/userpass', {'type': 'userpass'}) == 403
    assert _call(url, token, 'POST', 'sys/mounts/other', {'type': 'kv'}) == 403
    assert _call(url, token, 'POST', 'auth/token/create', {'policies': ['root']}) == 403
    assert _call(url, token, 'GET', 'secret/data/selfhosted_ai/postgres/superuser') == 403


def test_provisioner_legitimate_operations_work(bao):
    """What the module does: the same calls, with the provisioner's token."""
    url, token, root = bao['url'], bao['token'], bao['root']
    assert _call(url, token, 'GET', 'sys/auth') == 200
    assert _call(url, token, 'LIST', 'sys/policies/acl') == 200
    assert _call(url, token, 'GET', 'sys/policies/acl/%s' % bao['policy']) == 200
    assert (
        _call(
            url,
            token,
            'POST',
            'auth/approle/role/tenant-legit',
            {'token_policies': bao['policy'], 'token_ttl': 60, 'token_max_ttl': 120, 'bind_secret_id': True},
        )
        == 204
    )
    assert _call(url, token, 'GET', 'auth/approle/role/tenant-legit/role-id') == 200
    role_id = root.adapter.get('/v1/auth/approle/role/tenant-legit/role-id')['data']['role_id']
    lookup = {'alias_name': role_id, 'alias_mount_accessor': bao['accessor']}
    assert _call(url, token, 'POST', 'identity/lookup/entity', lookup) == 204  # no alias yet
    body = {'name': role_id, 'mount_accessor': bao['accessor'], 'custom_metadata': {'tenant': 'legit'}}
    assert _call(url, token, 'POST', 'identity/entity-alias', body) == 200
    assert _call(url, token, 'POST', 'identity/entity-alias', dict(body, custom_metadata={'tenant': 'legit2'})) == 200
    alias_id, entity_id, metadata = _alias_of(bao, 'tenant-legit')
    assert metadata == {'tenant': 'legit2'}
    assert _call(url, token, 'POST', 'identity/lookup/entity', lookup) == 200
    assert _call(url, token, 'DELETE', 'identity/entity-alias/id/%s' % alias_id) == 204
    root.adapter.delete('/v1/identity/entity/id/%s' % entity_id)
    assert _call(url, token, 'DELETE', 'auth/approle/role/tenant-legit') == 204


def test_provisioner_cannot_delete_policies_or_entities(bao):
    """It has no right on ACL policies but reading the templated one, and none on entities."""
    url, token, root = bao['url'], bao['token'], bao['root']
    root.sys.create_or_update_policy(
        name='tenant-other', policy='path "secret/data/tenants/other/*" { capabilities = ["read"] }'
    )
    root.adapter.post('/v1/identity/entity/name/tenant-other', json={'metadata': {'tenant': 'other'}})
    try:
        for name in ('tenant-other', bao['policy'], 'selfhosted-ai-tenants', 'selfhosted-ai-playbooks'):
            assert _call(url, token, 'DELETE', 'sys/policies/acl/%s' % name) == 403, name
            assert _call(url, token, 'DELETE', 'sys/policy/%s' % name) == 403, name
        assert _call(url, token, 'DELETE', 'identity/entity/name/tenant-other') == 403
        assert _call(url, token, 'DELETE', 'identity/entity/name/tenant-sec-a') == 403
        assert 'tenant-other' in root.adapter.list('/v1/sys/policies/acl')['data']['keys']
        assert root.adapter.get('/v1/identity/entity/name/tenant-other')['data']['metadata'] == {'tenant': 'other'}
    finally:
        root.adapter.delete('/v1/identity/entity/name/tenant-other')
        root.sys.delete_policy(name='tenant-other')


def test_tenant_tokens_reach_their_own_secrets_only(bao):
    url = bao['url']
    auth = _tenant_token(bao, 'tenant-sec-a')
    token = auth['client_token']
    assert sorted(auth['policies']) == ['default', bao['policy']]
    assert _call(url, token, 'GET', 'secret/data/tenants/%s/app/config' % A) == 200
    assert _call(url, token, 'GET', 'secret/data/tenants/%s/credentials' % A) == 200
    assert _call(url, token, 'LIST', 'secret/metadata/tenants/%s' % A) == 200
    assert _call(url, token, 'POST', 'secret/data/tenants/%s/app/other' % A, {'data': {'k': 'v'}}) == 200
    assert _call(url, token, 'POST', 'secret/data/tenants/%s/credentials' % A, {'data': {'k': 'v'}}) == 403
    assert _call(url, token, 'GET', 'secret/data/tenants/%s/app/config' % B) == 403
    assert _call(url, token, 'GET', 'secret/data/tenants/%s/credentials' % B) == 403
    assert _call(url, token, 'POST', 'secret/data/tenants/%s/app/config' % B, {'data': {'k': 'v'}}) == 403
    assert _call(url, token, 'DELETE', 'secret/metadata/tenants/%s/app/config' % B) == 403
    assert _call(url, token, 'LIST', 'secret/metadata/tenants') == 403
    assert _call(url, token, 'GET', 'secret/data/selfhosted_ai/postgres/superuser') == 403
    assert _call(url, token, 'LIST', 'secret/metadata/selfhosted_ai') == 403
    assert (
        _call(url, token, 'PUT', 'sys/policies/acl/tenant-sec-a', {'policy': 'path "*" { capabilities = ["read"] }'})
        == 403
    )


@pytest.mark.parametrize(
    'metadata',
    [
        None,
        {},
        {'tenant': ''},
        {'tenant': '*'},
        {'tenant': '+'},
        {'tenant': '..'},
        {'tenant': '../selfhosted_ai'},
        {'other': A},
    ],
)
def test_alias_without_the_custom_metadata_reaches_nothing(bao, metadata):
    """OpenBao 2.7: a templated path whose custom_metadata key is unset (or set to a glob or a traversal) grants nothing."""
    root, url = bao['root'], bao['url']
    name = 'tenant-probe'
    root.adapter.post('/v1/auth/approle/role/%s' % name, json={'token_policies': bao['policy'], 'token_ttl': 60})
    try:
        if metadata is not None:  # None: no alias made, the login creates one without custom_metadata
            role_id = root.adapter.get('/v1/auth/approle/role/%s/role-id' % name)['data']['role_id']
            status = _call(
                url,
                bao['root_token'],
                'POST',
                'identity/entity-alias',
                {'name': role_id, 'mount_accessor': bao['accessor'], 'custom_metadata': metadata},
            )
            # OpenBao refuses an empty value (0 < len <= 512); the login then makes an alias without custom_metadata
            assert status == 200 if metadata.get('tenant') != '' else status >= 400
        auth = _tenant_token(bao, name)
        token = auth['client_token']
        assert bao['policy'] in auth['policies']
        for path in (
            'secret/data/tenants/%s/app/config' % A,
            'secret/data/tenants/%s/credentials' % B,
            'secret/data/tenants//x',
            'secret/data/tenants/*/x',
            'secret/data/tenants/probe/x',
            'secret/data/selfhosted_ai/postgres/superuser',
            'secret/data/tenants/../selfhosted_ai/postgres/superuser',
        ):
            # 403, or 400 where the value makes the templated path invalid ("*", "+", "../x"): OpenBao
            # refuses the request
            assert _call(url, token, 'GET', path) in (400, 403), path
            assert _call(url, token, 'POST', path, {'data': {'k': 'v'}}) in (400, 403), path
        for path in ('secret/metadata/tenants', 'secret/metadata/tenants/', 'secret/metadata/tenants/%s' % A):
            assert _call(url, token, 'LIST', path) in (400, 403), path
    finally:
        alias = _alias_of(bao, name)
        if alias:
            root.adapter.delete('/v1/identity/entity/id/%s' % alias[1])
        root.adapter.delete('/v1/auth/approle/role/%s' % name)
