# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The openbao role's Vault policies and its tenant-stack AppRole, made on a test server as the role makes them.

The policy texts are rendered from roles/openbao/defaults/main.yml and vars/main.yml with Ansible's own
templating (so a change to the role is what the tests see, never a copy); the AppRole is written with the
same parameters as roles/openbao/tasks/configure.yml gives module openbao_config.
"""

from __future__ import annotations

import secrets

from servers.openbao import role_var, role_vars


def render(accessor, name, **overrides):
    """One variable of the role, rendered (e.g. __openbao_tenant_policy, __openbao_tenants_policy)."""
    return role_var(accessor, name, **overrides)


def approle_accessor(server):
    return server.client().sys.list_auth_methods()['data']['approle/']['accessor']


def setup_tenant_stack(server, **overrides):
    """Write the tenants' templated policy, the playbooks' and the tenant stack's policies and AppRoles.

    Returns a dict: tenant_policy (name), approle (name), role_id, secret_id (of the tenant stack's AppRole),
    playbooks_role_id, playbooks_secret_id.
    """
    client = server.client()
    accessor = approle_accessor(server)
    variables = role_vars(accessor, **overrides)
    names = dict(
        (key, str(variables[key]))
        for key in (
            'openbao_tenant_policy_name',
            'openbao_tenants_policy_name',
            'openbao_tenants_approle_name',
            'openbao_approle_policy_name',
            'openbao_approle_name',
        )
    )
    client.sys.create_or_update_policy(
        name=names['openbao_tenant_policy_name'], policy=render(accessor, '__openbao_tenant_policy', **overrides)
    )
    out = {'tenant_policy': names['openbao_tenant_policy_name'], 'approle': names['openbao_tenants_approle_name']}
    for role, policy_name, policy_var, prefix in (
        (names['openbao_tenants_approle_name'], names['openbao_tenants_policy_name'], '__openbao_tenants_policy', ''),
        (names['openbao_approle_name'], names['openbao_approle_policy_name'], '__openbao_policy', 'playbooks_'),
    ):
        client.sys.create_or_update_policy(name=policy_name, policy=render(accessor, policy_var, **overrides))
        # as roles/openbao/tasks/configure.yml: bound to its policy, 1h/4h, a secret_id is needed
        client.adapter.post(
            '/v1/auth/approle/role/%s' % role,
            json={'token_policies': [policy_name], 'token_ttl': 3600, 'token_max_ttl': 14400, 'bind_secret_id': True},
        )
        role_id = client.adapter.get('/v1/auth/approle/role/%s/role-id' % role)['data']['role_id']
        secret_id = secrets.token_hex(24)
        client.adapter.post('/v1/auth/approle/role/%s/custom-secret-id' % role, json={'secret_id': secret_id})
        out[prefix + 'role_id'], out[prefix + 'secret_id'] = role_id, secret_id
    return out
