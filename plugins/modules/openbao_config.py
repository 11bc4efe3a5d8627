#!/usr/bin/python
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: openbao_config
short_description: KV engines, auth methods, ACL policies and AppRoles of an OpenBao/Vault server, in one call
version_added: 0.1.0
description:
  - Reads what the server has and writes only what differs - KV version 2 engines (O(kv_mounts)), auth methods
    (O(auth_methods)), ACL policies (O(policies)) and AppRoles with a given role_id and a registered secret_id
    (O(approles)). One call replaces a read and a write per item.
  - Checks every item before the first write - a mount path that holds another engine or KV version 1 and an AppRole
    whose policy is neither given nor on the server stop the module, and nothing is changed.
  - Returns the accessors of the auth methods, for policies templated on them (a second call writes those).
  - Never returns a secret; call it with C(no_log) when O(approles) carry role_ids and secret_ids.
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
extends_documentation_fragment:
  - selfhosted_ai.stack._vault
attributes:
  check_mode:
    description: Reads only; what would be written is reported in RV(actions) and as a change.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
  idempotent:
    description: A second call with the same options writes nothing.
    support: full
options:
  kv_mounts:
    description: Paths of KV version 2 engines to enable where missing.
    type: list
    elements: str
    default: []
  kv_description:
    description: Description of the KV engines it enables.
    type: str
    default: selfhosted_ai.stack secrets
  auth_methods:
    description: Auth method types to enable where missing, each at the path of its name (V(approle) at C(approle/)).
    type: list
    elements: str
    default: []
  policies:
    description: ACL policy name to its HCL text; written where the server's text differs.
    type: dict
    default: {}
  approles:
    description: AppRoles on the auth mount O(approle_mount_point), each bound to secret_ids.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The role's name.
        type: str
        required: true
      token_policies:
        description: The policies of its tokens.
        type: list
        elements: str
        required: true
      token_ttl:
        description: Token TTL in seconds.
        type: int
        default: 3600
      token_max_ttl:
        description: Token maximum TTL in seconds.
        type: int
        default: 86400
      role_id:
        description: The role_id the role must have (set where it differs). Empty - whatever the server chose.
        type: str
        default: ""
      secret_id:
        description: A secret_id to register with the role where the server does not know it. Empty - none.
        type: str
        default: ""
      secret_id_metadata:
        description: Metadata of a secret_id it registers.
        type: dict
        default: {}
requirements:
  - python >= 3.10
  - hvac
"""

EXAMPLES = r"""
- name: Enable KV version 2 at secret/ and AppRole authentication
  selfhosted_ai.stack.openbao_config:
    url: http://127.0.0.1:8200
    token: "{{ root_token }}"
    kv_mounts: [secret]
    auth_methods: [approle]
  register: engines
  no_log: true

- name: The playbooks' policy and AppRole, with the role_id and secret_id kept in the secret store
  selfhosted_ai.stack.openbao_config:
    url: http://127.0.0.1:8200
    token: "{{ root_token }}"
    policies:
      playbooks: |
        path "secret/data/stack/*" { capabilities = ["create", "read", "update"] }
    approles:
      - name: playbooks
        token_policies: [playbooks]
        role_id: "{{ stored_role_id }}"
        secret_id: "{{ stored_secret_id }}"
  no_log: true
"""

RETURN = r"""
actions:
  description: What was written (or, in check mode, would be). No secret.
  returned: always
  type: list
  elements: str
  sample: ["enabled KV version 2 at secret/", "wrote policy playbooks", "registered a secret_id with AppRole playbooks"]
auth_accessors:
  description: Path of every auth method on the server (with its trailing slash) to its accessor; empty for a method
    check mode would enable.
  returned: always
  type: dict
  sample: {"approle/": "auth_approle_1f2e3d4c", "token/": "auth_token_0a1b2c3d"}
"""

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VAULT_ARGUMENT_SPEC,
    VaultConnection,
    VaultError,
)

try:
    import hvac
except ImportError:  # reported through HAS_HVAC
    hvac = None

# Through hvac's adapter, not its helpers: Debian 12's hvac 0.11 has no sys.*_acl_policy methods and sends a secret_id's
# metadata as an object where the server wants a JSON string.
POLICIES_PATH = '/v1/sys/policies/acl'
POLICY_PATH = POLICIES_PATH + '/%s'


class OpenBaoConfig:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.connection = VaultConnection.from_params(module.params)
        self.auth_mount = (self.params['approle_mount_point'] or 'approle').strip('/')
        self.actions = []
        self.client = None

    def call(self, action, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            raise self.connection._translate(exc, action) from None

    def read_or_none(self, action, function, *args, **kwargs):
        """The answer's data, or None where the server has no such item (404)."""
        try:
            answer = function(*args, **kwargs)
        except hvac.exceptions.InvalidPath:
            return None
        except Exception as exc:  # pylint: disable=broad-except
            raise self.connection._translate(exc, action) from None
        return (answer or {}).get('data') if isinstance(answer, dict) else None

    def write(self, action, function, *args, **kwargs):
        self.actions.append(action)
        if not self.module.check_mode:
            self.call(action, function, *args, **kwargs)

    # ------------------------------------------------------------------ reads, then checks
    def plan(self):
        """Everything read and checked; returns the writes as (action, function, args, kwargs)."""
        client = self.client
        writes = []
        mounts = self.call('reading the secrets engines', client.sys.list_mounted_secrets_engines)['data']
        for path in (p.strip('/') for p in self.params['kv_mounts']):
            mount = mounts.get(path + '/')
            if mount is None:
                writes.append(
                    (
                        'enabled KV version 2 at %s/' % path,
                        client.sys.enable_secrets_engine,
                        ('kv',),
                        {'path': path, 'options': {'version': '2'}, 'description': self.params['kv_description']},
                    )
                )
            elif mount.get('type') != 'kv' or str((mount.get('options') or {}).get('version', '1')) != '2':
                raise VaultError(
                    '%s/ holds a %s engine%s, not KV version 2: the secret lookup needs KV version 2 '
                    '(check-and-set); choose another mount path. Nothing was changed.'
                    % (path, mount.get('type'), ' version 1' if mount.get('type') == 'kv' else '')
                )
        self.auth = self.call('reading the auth methods', client.sys.list_auth_methods)['data']
        for method in self.params['auth_methods']:
            if method.strip('/') + '/' not in self.auth:
                writes.append(
                    (
                        'enabled the %s auth method' % method,
                        client.sys.enable_auth_method,
                        (method.strip('/'),),
                        {},
                    )
                )
        for name, text in sorted(self.params['policies'].items()):
            current = self.read_or_none('reading policy ' + name, client.adapter.get, POLICY_PATH % name)
            if current is None or current.get('policy') != text:
                writes.append(
                    ('wrote policy ' + name, client.adapter.put, (POLICY_PATH % name,), {'json': {'policy': text}})
                )
        approles = self.params['approles']
        if (
            approles
            and self.auth_mount + '/' not in self.auth
            and self.auth_mount not in [m.strip('/') for m in self.params['auth_methods']]
        ):
            raise VaultError(
                'no auth method at %s/ for the AppRoles %s: list approle in auth_methods. Nothing was changed.'
                % (self.auth_mount, ', '.join(r['name'] for r in approles))
            )
        server_policies = None
        for role in approles:
            missing = [p for p in role['token_policies'] if p not in self.params['policies'] and p != 'default']
            if missing:
                if server_policies is None:
                    server_policies = self.call('listing the policies', client.adapter.list, POLICIES_PATH)['data'][
                        'keys'
                    ]
                missing = [p for p in missing if p not in server_policies]
            if missing:
                raise VaultError(
                    'AppRole %s names policies the server lacks and this call does not write: %s. Nothing was changed.'
                    % (role['name'], ', '.join(missing))
                )
            writes.extend(self.plan_approle(role))
        return writes

    def plan_approle(self, role):
        approle = self.client.auth.approle
        name, mount = role['name'], self.auth_mount
        writes = []
        current = None
        if self.auth_mount + '/' in self.auth:
            current = self.read_or_none('reading AppRole ' + name, approle.read_role, name, mount_point=mount)
        wanted = {
            'token_policies': sorted(role['token_policies']),
            'token_ttl': role['token_ttl'],
            'token_max_ttl': role['token_max_ttl'],
            'bind_secret_id': True,
        }
        if (
            current is None
            or {
                'token_policies': sorted(current.get('token_policies') or []),
                'token_ttl': current.get('token_ttl'),
                'token_max_ttl': current.get('token_max_ttl'),
                'bind_secret_id': current.get('bind_secret_id'),
            }
            != wanted
        ):
            writes.append(
                (
                    ('created' if current is None else 'updated') + ' AppRole ' + name,
                    approle.create_or_update_approle,
                    (name,),
                    dict(wanted, mount_point=mount),
                )
            )
        if role['role_id']:
            role_id = None
            if current is not None:
                role_id = (
                    self.read_or_none('reading the role_id of ' + name, approle.read_role_id, name, mount) or {}
                ).get('role_id')
            if role_id != role['role_id']:
                writes.append(
                    ('set the role_id of AppRole ' + name, approle.update_role_id, (name, role['role_id'], mount), {})
                )
        if role['secret_id']:
            known = None
            if current is not None:
                known = self.secret_id_known(name, role['secret_id'])
            if not known:
                writes.append(
                    (
                        'registered a secret_id with AppRole ' + name,
                        self.client.adapter.post,
                        ('/v1/auth/%s/role/%s/custom-secret-id' % (mount, name),),
                        {'json': {'secret_id': role['secret_id'], 'metadata': json.dumps(role['secret_id_metadata'])}},
                    )
                )
        return writes

    def secret_id_known(self, name, secret_id):
        """Whether the server knows this secret_id for the role (a lookup; 404 or an empty answer: no)."""
        try:
            answer = self.client.auth.approle.read_secret_id(name, secret_id, mount_point=self.auth_mount)
        except hvac.exceptions.InvalidPath:
            return False
        except Exception as exc:  # pylint: disable=broad-except
            raise self.connection._translate(exc, 'looking up the secret_id of ' + name) from None
        return bool(isinstance(answer, dict) and answer.get('data'))

    def run(self):
        self.client = self.connection.client()
        for action, function, args, kwargs in self.plan():
            self.write(action, function, *args, **kwargs)
        auth = self.auth
        if self.actions and not self.module.check_mode and any(a.startswith('enabled the') for a in self.actions):
            auth = self.call('reading the auth methods', self.client.sys.list_auth_methods)['data']
        return {path: (method or {}).get('accessor', '') for path, method in auth.items()}


def check_input(params):
    for name, text in params['policies'].items():
        if not isinstance(text, str) or not text.strip():
            raise VaultError('policy %s has no text' % name)
    names = [role['name'] for role in params['approles']]
    if len(set(names)) != len(names):
        raise VaultError('approles lists a role twice: %s' % json.dumps(names))
    for role in params['approles']:
        if not role['token_policies']:
            raise VaultError('AppRole %s has no token_policies' % role['name'])
        if role['token_ttl'] <= 0 or role['token_max_ttl'] < role['token_ttl']:
            raise VaultError(
                'AppRole %s: token_ttl must be positive and token_max_ttl at least token_ttl (now %s and %s)'
                % (role['name'], role['token_ttl'], role['token_max_ttl'])
            )


def main():
    argument_spec = dict(
        VAULT_ARGUMENT_SPEC,
        kv_mounts=dict(type='list', elements='str', default=[]),
        kv_description=dict(type='str', default='selfhosted_ai.stack secrets'),
        auth_methods=dict(type='list', elements='str', default=[]),
        policies=dict(type='dict', default={}),
        approles=dict(
            type='list',
            elements='dict',
            default=[],
            options=dict(
                name=dict(type='str', required=True),
                token_policies=dict(type='list', elements='str', required=True, no_log=False),
                token_ttl=dict(type='int', default=3600, no_log=False),
                token_max_ttl=dict(type='int', default=86400, no_log=False),
                role_id=dict(type='str', default='', no_log=True),
                secret_id=dict(type='str', default='', no_log=True),
                secret_id_metadata=dict(type='dict', default={}, no_log=False),
            ),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib('hvac'), exception=HVAC_IMPORT_ERROR)
    worker = OpenBaoConfig(module)
    try:
        check_input(module.params)
        worker.connection.validate()
        accessors = worker.run()
    except VaultError as exc:
        module.fail_json(msg=str(exc), actions=worker.actions)
    finally:
        worker.connection.close()
    module.exit_json(changed=bool(worker.actions), actions=worker.actions, auth_accessors=accessors)


if __name__ == '__main__':
    main()
