#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: tenant_info
short_description: Report the tenants found in each backend and what exists for each
version_added: 0.1.0
description:
  - Lists the tenants that PostgreSQL, Valkey, S3, Vault/OpenBao, Qdrant and Neo4j hold, found by the names
    M(selfhosted_ai.stack.tenant) gives them (C(tenant_<id>), C(tenant-<id>), C(<path_prefix>/<id>/)).
  - Reads only; one connection per backend. Returns no secret.
  - "Vault: C(approle) the role C(tenant-<id>), C(token_policies) its policies, C(entity) the name of the entity its
    logins resolve to (the one Vault made for the role's alias), C(entity_tenant) the alias's custom_metadata
    C(tenant), C(entity_alias) whether that alias is as the tenant module makes it (custom_metadata, entity without
    policies, groups or other aliases), C(policy) the templated policy when all of it is in place."
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
extends_documentation_fragment:
  - selfhosted_ai.stack._tenant
attributes:
  check_mode:
    description: Reads only.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
  idempotent:
    description: Reads only.
    support: full
options:
  ids:
    description: Only report these tenant ids (all when empty).
    type: list
    elements: str
    default: []
requirements:
  - python >= 3.10
"""

EXAMPLES = r"""
- name: What does each backend hold?
  selfhosted_ai.stack.tenant_info:
    postgres: "{{ tenant_postgres }}"
    valkey: "{{ tenant_valkey }}"
  register: found

- name: Show the tenants known to PostgreSQL
  ansible.builtin.debug:
    msg: "{{ found.tenants | dict2items | selectattr('value.postgres', 'defined') | map(attribute='key') }}"
"""

RETURN = r"""
tenants:
  description: Tenant id to, per backend where something exists, what exists.
  returned: always
  type: dict
  sample:
    acme:
      postgres: {"role": "tenant_acme", "login": true, "connection_limit": -1, "databases": ["n8n_acme"]}
      valkey: {"user": "tenant_acme"}
      s3: {"bucket": "tenant-acme", "identity": {"name": "tenant-acme", "access_keys": 1, "policy": true}}
      vault: {"secrets_path": "secret/tenants/acme/", "approle": "tenant-acme", "token_policies": ["selfhosted-ai-tenant"],
              "entity": "entity_3f1c2a9b", "entity_tenant": "acme", "entity_alias": true, "policy": "selfhosted-ai-tenant"}
backends:
  description: The backends that were read.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_args import backend_argument_spec
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import check_tenant_id
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_engine import (
    TenantEngine,
    failing_on_engine_errors,
)


def main():
    spec = dict(ids=dict(type='list', elements='str', default=[]))
    spec.update(backend_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    engine = TenantEngine(dict(module.params), check_mode=True)
    with failing_on_engine_errors(module, engine, 'invalid input'):
        for tenant_id in module.params['ids']:
            check_tenant_id(tenant_id)
        found = engine.info(set(module.params['ids']) or None)
    module.exit_json(changed=False, tenants=dict(sorted(found.items())), backends=sorted(engine.backends))


if __name__ == '__main__':
    main()
