#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: tenant_app_credentials
short_description: Give each tenant's apps an AppRole secret_id, and read the tenant's credentials with it
version_added: 0.1.0
description:
  - For each tenant id, in one call - finds the tenant's AppRole C(tenant-<id>) (made by M(selfhosted_ai.stack.tenant)),
    makes sure its apps hold a working secret_id (kept in the tenant's own path, C(<path_prefix>/<id>/apps_approle)),
    logs in B(as the tenant) with it and reads C(<path_prefix>/<id>/credentials) with that token - the tenant's
    database, Valkey and S3 credentials are read with the tenant's own AppRole, never with the provisioning token.
  - The provisioning AppRole (the tenant stack's, O(role_id) and O(secret_id)) only reads the role_id, reads the
    stored secret_id and, when the tenant cannot log in with it (none yet, revoked, expired), issues a new one and
    stores it. A working secret_id is kept, so a rerun changes nothing.
  - Returns secrets. Call it with C(no_log) and pass the result to no_log tasks only.
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
extends_documentation_fragment:
  - selfhosted_ai.stack._vault
attributes:
  check_mode:
    description: Issues no secret_id; a tenant that would get one is reported changed, and its credentials are empty.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
  idempotent:
    description: A secret_id the tenant logs in with is kept.
    support: full
options:
  tenants:
    description: The ids of the tenants whose apps run (present tenants only).
    type: list
    elements: str
    required: true
  mount:
    description: KV version 2 mount of the tenants' secrets.
    type: str
    default: secret
  path_prefix:
    description: Folder of the tenants below O(mount).
    type: str
    default: tenants
requirements:
  - python >= 3.10
  - hvac
"""

EXAMPLES = r"""
- name: Read the credentials of the tenants' apps, as each tenant
  selfhosted_ai.stack.tenant_app_credentials:
    tenants: [acme, initech]
    url: http://127.0.0.1:8200
    role_id: "{{ tenants_approle_role_id }}"
    secret_id: "{{ tenants_approle_secret_id }}"
  register: tenant_app_credentials
  no_log: true
"""

RETURN = r"""
tenants:
  description: Per tenant, whether a secret_id was issued (C(changed)) and why. No secret.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "acme", "changed": true, "action": "issued a secret_id (none stored)"}]
credentials:
  description:
    - Tenant id to its apps' credentials - C(role_id), C(secret_id) and every field of the tenant's credentials record
      (C(postgres_user), C(postgres_password), C(valkey_user), C(valkey_password), C(s3_bucket), C(s3_access_key),
      C(s3_secret_key), ...). Empty for a tenant that gets a secret_id only on a real run (check mode). SECRETS.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    TenantInputError,
    check_tenant_id,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VAULT_ARGUMENT_SPEC,
    VaultConnection,
    VaultError,
)

# Where the apps' secret_id is kept, below the tenant's folder: the tenant's own token may read it.
APPS_APPROLE_SECRET = 'apps_approle'


def approle_name(tenant_id):
    return 'tenant-%s' % tenant_id.replace('_', '-')


class TenantAppCredentials:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.mount = params['mount'].strip('/')
        self.prefix = params['path_prefix'].strip('/')
        self.auth_mount = (params['approle_mount_point'] or 'approle').strip('/')
        self.connection_options = {k: params.get(k) for k in VAULT_ARGUMENT_SPEC}
        self.provisioner = VaultConnection.from_params(params)

    def role_id(self, tenant_id):
        client = self.provisioner.client()
        path = '/v1/auth/%s/role/%s/role-id' % (self.auth_mount, approle_name(tenant_id))
        try:
            answer = client.adapter.get(path)
        except Exception as exc:  # pylint: disable=broad-except
            raise VaultError(
                'tenant %s: cannot read the role_id of its AppRole %s (%s); the tenant stack makes it: run '
                'playbooks/04_tenants.yml (role selfhosted_ai.stack.tenants) for this tenant first'
                % (tenant_id, approle_name(tenant_id), self.provisioner._translate(exc, 'reading ' + path))
            ) from None
        return ((answer or {}).get('data') or {}).get('role_id')

    def tenant_login(self, role_id, secret_id):
        """A connection logged in as the tenant, or None when the secret_id does not work."""
        options = dict(self.connection_options, token=None, auth_method='approle', role_id=role_id, secret_id=secret_id)
        connection = VaultConnection(**options)
        try:
            connection.client()
        except VaultError as exc:
            if 'AppRole login' in str(exc):
                return None
            raise
        return connection

    def issue_secret_id(self, tenant_id):
        client = self.provisioner.client()
        path = '/v1/auth/%s/role/%s/secret-id' % (self.auth_mount, approle_name(tenant_id))
        try:
            answer = client.adapter.post(path)
        except Exception as exc:  # pylint: disable=broad-except
            raise self.provisioner._translate(exc, 'issuing a secret_id for ' + approle_name(tenant_id)) from None
        return ((answer or {}).get('data') or {}).get('secret_id')

    def run(self, tenant_ids):
        results, credentials = [], {}
        for tenant_id in tenant_ids:
            role_id = self.role_id(tenant_id)
            stored_path = '%s/%s/%s' % (self.prefix, tenant_id, APPS_APPROLE_SECRET)
            stored, dummy_version, dummy_deleted = self.provisioner.kv2_read(stored_path, mount_point=self.mount)
            secret_id = (stored or {}).get('secret_id')
            tenant = self.tenant_login(role_id, secret_id) if secret_id else None
            if tenant is not None:
                results.append({'id': tenant_id, 'changed': False, 'action': 'none'})
            else:
                why = 'the stored one is refused' if secret_id else 'none stored'
                results.append({'id': tenant_id, 'changed': True, 'action': 'issued a secret_id (%s)' % why})
                if self.module.check_mode:
                    credentials[tenant_id] = {}
                    continue
                secret_id = self.issue_secret_id(tenant_id)
                self.provisioner.kv2_write(stored_path, {'secret_id': secret_id}, mount_point=self.mount)
                tenant = self.tenant_login(role_id, secret_id)
                if tenant is None:
                    raise VaultError(
                        'tenant %s: a secret_id just issued for %s is refused' % (tenant_id, approle_name(tenant_id))
                    )
            try:
                record, dummy_version, dummy_deleted = tenant.kv2_read(
                    '%s/%s/credentials' % (self.prefix, tenant_id), mount_point=self.mount
                )
            finally:
                tenant.close()
            if not record:
                raise VaultError(
                    'tenant %s: no credentials at %s/%s/%s/credentials; run playbooks/04_tenants.yml (role '
                    'selfhosted_ai.stack.tenants) for this tenant first'
                    % (tenant_id, self.mount, self.prefix, tenant_id)
                )
            credentials[tenant_id] = dict(record, role_id=role_id, secret_id=secret_id)
        return results, credentials


def main():
    argument_spec = dict(
        VAULT_ARGUMENT_SPEC,
        tenants=dict(type='list', elements='str', required=True),
        mount=dict(type='str', default='secret'),
        path_prefix=dict(type='str', default='tenants'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib('hvac'), exception=HVAC_IMPORT_ERROR)
    try:
        tenant_ids = [check_tenant_id(tenant_id) for tenant_id in module.params['tenants']]
    except TenantInputError as exc:
        module.fail_json(msg=str(exc))
    if len(set(tenant_ids)) != len(tenant_ids):
        module.fail_json(msg='tenants lists a tenant twice: %s' % tenant_ids)
    worker = TenantAppCredentials(module)
    try:
        worker.provisioner.validate()
        results, credentials = worker.run(tenant_ids)
    except VaultError as exc:
        module.fail_json(msg=str(exc))
    finally:
        worker.provisioner.close()
    module.exit_json(changed=any(r['changed'] for r in results), tenants=results, credentials=credentials)


if __name__ == '__main__':
    main()
