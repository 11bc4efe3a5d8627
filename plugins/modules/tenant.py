#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: tenant
short_description: Give each tenant its own isolated slice of PostgreSQL, Valkey, S3, Vault, Qdrant and Neo4j
version_added: 0.1.0
description:
  - Provisions a whole list of tenants in one call, with one connection per backend.
  - "Per present tenant: PostgreSQL login role C(tenant_<id>) and one database C(<app>_<id>) per app, owned by the role,
    CONNECT revoked from PUBLIC; Valkey ACL user C(tenant_<id>) limited to keys and channels C(<id>:*); S3 bucket
    C(tenant-<id>) with an identity and key allowed that bucket only; Vault AppRole C(tenant-<id>) bound to the one
    templated policy O(vault.tenant_policy), and its entity alias with custom_metadata C(tenant=<id>) (on an entity
    Vault makes, never one the module names), so that its tokens reach C(<path_prefix>/<id>/*) only; Qdrant
    collection C(tenant_<id>) (and a token scoped to it); Neo4j anchor node (Community) or database and user
    (Enterprise)."
  - Every generated credential (passwords, S3 keys, Qdrant token) is stored in Vault/OpenBao at
    C(<mount>/<path_prefix>/<id>/credentials) before any server uses it, reused on every later run, and never returned.
  - The module writes no Vault ACL policy (O(vault.tenant_policy) comes from the openbao role or the Vault's
    administrator) and no entity.
  - V(absent) revokes every access (role without LOGIN, ACL user deleted, S3 identity and keys deleted, Vault alias
    and AppRole deleted) and keeps the data (databases, keys, buckets, collections, secrets) unless O(tenants[].purge=true).
  - All input is validated before any backend is contacted; every backend is connected and read before any is changed.
  - See C(docs/tenants.md) in the collection for the naming rules and the isolation model.
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
extends_documentation_fragment:
  - selfhosted_ai.stack._tenant
attributes:
  check_mode:
    description: Predicts exactly, from the same reads a real run makes; nothing is written.
    support: full
  diff_mode:
    description: Before and after state per tenant and backend, without secrets.
    support: full
  idempotent:
    description: A second run with the same input changes nothing and reports no change.
    support: full
options:
  tenants:
    description:
      - The tenants. Ids must be unique in the list.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description:
          - Tenant id, 2 to 30 characters, regex C(^[a-z][a-z0-9]*(_[a-z0-9]+)*$) (ASCII only).
          - Reserved names (postgres, admin, root, default, public, template0, template1, system, ...) and the prefixes
            C(pg_), C(sys_), C(xn_) are refused.
        type: str
        required: true
      display_name:
        description: Human readable name (Neo4j anchor node); defaults to O(tenants[].id).
        type: str
      apps:
        description:
          - Apps of the tenant; each gets a PostgreSQL database C(<app>_<id>).
          - App names are 1 to 20 characters, regex C(^[a-z][a-z0-9]{0,19}$).
          - Defaults to O(default_apps).
        type: list
        elements: str
      state:
        description: V(present) provisions, V(absent) revokes access.
        type: str
        choices: [present, absent]
        default: present
      purge:
        description: With V(absent), also delete the tenant's data (databases, keys, bucket, collection, secrets).
        type: bool
        default: false
      quotas:
        description:
          - Limits. Keys C(pg_connection_limit) (role connection limit, -1 unlimited), C(qdrant_vector_size),
            C(qdrant_distance); C(app_memory) (a size such as V(512m) or V(2g)) and C(app_cpus) (a number of CPUs),
            the limits of each of the tenant's app containers, and C(n8n_workers) (0 to 16, the queue-mode workers of
            the tenant's n8n; 0 is regular mode), for the role C(selfhosted_ai.stack.tenant_apps) - checked here and
            used there.
        type: dict
      apps_host:
        description:
          - The inventory host (of group C(apps)) that runs the tenant's app instances, for the role
            C(selfhosted_ai.stack.tenant_apps); unset - the role's C(tenant_apps_default_host). Checked here (a host
            name), used there; this module makes the same slice wherever the apps run.
        type: str
  default_apps:
    description: Apps of tenants that do not list their own.
    type: list
    elements: str
    default: []
requirements:
  - python >= 3.10
notes:
  - Tenant names in each backend derive from the id; S3 bucket and Neo4j database names map C(_) to C(-).
"""

EXAMPLES = r"""
- name: Provision every tenant of the inventory
  selfhosted_ai.stack.tenant:
    tenants: "{{ tenants }}"
    default_apps: [n8n, openwebui]
    postgres:
      host: 127.0.0.1
      login_password: "{{ lookup('selfhosted_ai.stack.secret', 'postgres/admin') }}"
      extensions: [vector]
    valkey:
      password: "{{ lookup('selfhosted_ai.stack.secret', 'valkey/admin') }}"
    s3:
      endpoint_url: http://127.0.0.1:8333
      access_key: "{{ s3_admin_access_key }}"
      secret_key: "{{ s3_admin_secret_key }}"
    vault:
      url: https://vault.example.com:8200
      role_id: "{{ vault_role_id }}"
      secret_id: "{{ vault_secret_id }}"

- name: On the data host of this collection's stack, as playbooks/04_tenants.yml does it
  selfhosted_ai.stack.tenant:
    tenants: "{{ tenants }}"
    backends: [postgres, valkey, s3, vault]
    postgres: {host: 127.0.0.1, login_password: "{{ lookup('selfhosted_ai.stack.secret', 'postgres/superuser') }}"}
    valkey:
      username: admin
      password: "{{ lookup('selfhosted_ai.stack.secret', 'valkey/admin') }}"
      persist: file                                   # the container's aclfile is read-only
      aclfile: /etc/selfhosted_ai/valkey/users.acl
    s3:
      endpoint_url: http://127.0.0.1:8333
      access_key: "{{ s3_admin_access_key }}"
      secret_key: "{{ s3_admin_secret_key }}"
      admin_api: seaweedfs_shell                      # one read and one write batch for every identity
      seaweedfs_shell: [docker, exec, -i, seaweedfs, weed, shell, -master=127.0.0.1:9333]
    vault: {url: http://127.0.0.1:8200, role_id: "{{ tenants_role_id }}", secret_id: "{{ tenants_secret_id }}"}
  no_log: true

- name: Offboard a tenant, keeping its data
  selfhosted_ai.stack.tenant:
    tenants:
      - id: acme
        state: absent
    backends: [postgres, valkey, vault]
    postgres: "{{ tenant_postgres }}"
    valkey: "{{ tenant_valkey }}"
    vault: "{{ tenant_vault }}"
"""

RETURN = r"""
tenants:
  description: One entry per tenant of the input, in input order. Never contains a secret.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Tenant id.
      type: str
    state:
      description: The state asked for.
      type: str
    changed:
      description: Whether anything changed (or would change in check mode) for this tenant.
      type: bool
    backends:
      description: Per backend, C(changed) and the list of C(actions) taken (or that would be taken).
      type: dict
      sample: {"postgres": {"changed": true, "actions": ["create role tenant_acme", "create database n8n_acme"]}}
    credentials_path:
      description: Vault path (mount and path) of the tenant's generated credentials.
      type: str
      sample: secret/tenants/acme/credentials
  sample: [{"id": "acme", "state": "present", "changed": true, "credentials_path": "secret/tenants/acme/credentials",
            "backends": {"valkey": {"changed": true, "actions": ["create ACL user tenant_acme"]}}}]
summary:
  description: Counts of tenants seen, changed, present and absent.
  returned: always
  type: dict
  sample: {"tenants": 3, "changed": 1, "present": 2, "absent": 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_args import backend_argument_spec
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_engine import (
    TenantEngine,
    failing_on_engine_errors,
)


def argument_spec():
    spec = dict(
        tenants=dict(
            type='list',
            elements='dict',
            required=True,
            options=dict(
                id=dict(type='str', required=True),
                display_name=dict(type='str'),
                apps=dict(type='list', elements='str'),
                state=dict(type='str', default='present', choices=['present', 'absent']),
                purge=dict(type='bool', default=False),
                quotas=dict(type='dict'),
                apps_host=dict(type='str'),
            ),
        ),
        default_apps=dict(type='list', elements='str', default=[]),
    )
    spec.update(backend_argument_spec())
    return spec


def _clean_tenants(raw):
    """The suboption parser fills every key; drop the unset ones so validation sees the input."""
    out = []
    for item in raw or []:
        out.append(dict((k, v) for k, v in item.items() if v is not None))
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    params['tenants'] = _clean_tenants(module.params['tenants'])
    engine = TenantEngine(params, check_mode=module.check_mode)
    with failing_on_engine_errors(module, engine, 'invalid input, nothing was changed'):
        tenants, results = engine.run()

    changed = any(r['changed'] for r in results)
    before, after = {}, {}
    for entry in results:
        diff_before, diff_after = entry.pop('_diff')
        if entry['changed']:
            before[entry['id']], after[entry['id']] = diff_before, diff_after
    result = dict(
        changed=changed,
        tenants=results,
        summary=dict(
            tenants=len(tenants),
            changed=sum(1 for r in results if r['changed']),
            present=sum(1 for t in tenants if t.present),
            absent=sum(1 for t in tenants if not t.present),
        ),
    )
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    warnings = engine.collect_warnings()
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
