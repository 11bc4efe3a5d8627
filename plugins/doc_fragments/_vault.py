# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY: the interface may change in any release.


class ModuleDocFragment:
    # Connection and authentication options shared by everything that talks to Vault/OpenBao.
    # Matches VAULT_ARGUMENT_SPEC in plugins/module_utils/_vault.py.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - URL of the HashiCorp Vault or OpenBao server, for example V(https://vault.example.com:8200).
      - Taken from E(BAO_ADDR) or E(VAULT_ADDR) when not given (E(BAO_ADDR) wins when both are set).
    type: str
  auth_method:
    description:
      - How to authenticate.
      - V(token) uses O(token); V(approle) logs in with O(role_id) and O(secret_id).
      - V(auto) picks V(approle) when O(role_id) or O(secret_id) is set, V(token) otherwise.
    type: str
    choices: [auto, token, approle]
    default: auto
  token:
    description:
      - Vault token for O(auth_method=token).
      - Taken from E(BAO_TOKEN) or E(VAULT_TOKEN) when not given.
    type: str
  role_id:
    description:
      - AppRole role ID for O(auth_method=approle).
      - Taken from E(BAO_ROLE_ID) or E(VAULT_ROLE_ID) when not given.
    type: str
  secret_id:
    description:
      - AppRole secret ID for O(auth_method=approle).
      - Taken from E(BAO_SECRET_ID) or E(VAULT_SECRET_ID) when not given.
    type: str
  approle_mount_point:
    description: Path the AppRole auth method is mounted on.
    type: str
    default: approle
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace to work in.
      - Taken from E(BAO_NAMESPACE) or E(VAULT_NAMESPACE) when not given.
    type: str
  ca_cert:
    description:
      - Path to a PEM file with the CA certificate(s) that sign the server's TLS certificate.
      - Taken from E(BAO_CACERT) or E(VAULT_CACERT) when not given.
    type: path
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate.
      - When not set, certificates are verified unless E(BAO_SKIP_VERIFY) or E(VAULT_SKIP_VERIFY) is true.
    type: bool
  client_cert:
    description:
      - Path to a PEM client certificate for servers that require mutual TLS.
      - Taken from E(BAO_CLIENT_CERT) or E(VAULT_CLIENT_CERT) when not given.
    type: path
  client_key:
    description:
      - Path to the private key of O(client_cert) when it is not in the same file.
      - Taken from E(BAO_CLIENT_KEY) or E(VAULT_CLIENT_KEY) when not given.
    type: path
  timeout:
    description: Seconds to wait for each answer of the server.
    type: int
    default: 30
requirements:
  - hvac (Python library)
"""

    # The same options for plugins, with Ansible variables, environment and ansible.cfg sources.
    # For environment variables the last one set in each list wins.
    PLUGINS = r"""
options:
  url:
    env:
      - name: VAULT_ADDR
      - name: BAO_ADDR
    ini:
      - section: selfhosted_ai_vault
        key: url
    vars:
      - name: selfhosted_ai_vault_url
  auth_method:
    env:
      - name: SELFHOSTED_AI_VAULT_AUTH_METHOD
    ini:
      - section: selfhosted_ai_vault
        key: auth_method
    vars:
      - name: selfhosted_ai_vault_auth_method
  token:
    env:
      - name: VAULT_TOKEN
      - name: BAO_TOKEN
    vars:
      - name: selfhosted_ai_vault_token
  role_id:
    env:
      - name: VAULT_ROLE_ID
      - name: BAO_ROLE_ID
    ini:
      - section: selfhosted_ai_vault
        key: role_id
    vars:
      - name: selfhosted_ai_vault_role_id
  secret_id:
    env:
      - name: VAULT_SECRET_ID
      - name: BAO_SECRET_ID
    vars:
      - name: selfhosted_ai_vault_secret_id
  approle_mount_point:
    env:
      - name: SELFHOSTED_AI_VAULT_APPROLE_MOUNT_POINT
    ini:
      - section: selfhosted_ai_vault
        key: approle_mount_point
    vars:
      - name: selfhosted_ai_vault_approle_mount_point
  namespace:
    env:
      - name: VAULT_NAMESPACE
      - name: BAO_NAMESPACE
    ini:
      - section: selfhosted_ai_vault
        key: namespace
    vars:
      - name: selfhosted_ai_vault_namespace
  ca_cert:
    env:
      - name: VAULT_CACERT
      - name: BAO_CACERT
    ini:
      - section: selfhosted_ai_vault
        key: ca_cert
    vars:
      - name: selfhosted_ai_vault_ca_cert
  validate_certs:
    ini:
      - section: selfhosted_ai_vault
        key: validate_certs
    vars:
      - name: selfhosted_ai_vault_validate_certs
  client_cert:
    env:
      - name: VAULT_CLIENT_CERT
      - name: BAO_CLIENT_CERT
    ini:
      - section: selfhosted_ai_vault
        key: client_cert
    vars:
      - name: selfhosted_ai_vault_client_cert
  client_key:
    env:
      - name: VAULT_CLIENT_KEY
      - name: BAO_CLIENT_KEY
    ini:
      - section: selfhosted_ai_vault
        key: client_key
    vars:
      - name: selfhosted_ai_vault_client_key
  timeout:
    env:
      - name: SELFHOSTED_AI_VAULT_TIMEOUT
    ini:
      - section: selfhosted_ai_vault
        key: timeout
    vars:
      - name: selfhosted_ai_vault_timeout
"""
