# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: secret
short_description: Get a secret, generating and storing it on first use
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Returns the secret stored under each name in O(_terms). When a secret does not exist yet, it is
    generated with the operating system's cryptographically secure random generator (Python C(secrets)),
    stored, and returned, so the first run creates every password and key and later runs read the same values.
  - Two backends. V(vault) stores secrets in a HashiCorp Vault or OpenBao KV version 2 engine and creates them
    with check-and-set, so concurrent first runs agree on one value. V(file) stores one JSON file per secret,
    mode 0600, in 0700 directories on the controller, created atomically.
  - The returned values are marked unsafe, so a generated C({{) is never templated. Set C(no_log) on every
    task that receives a secret; this plugin never prints values, not even in errors.
  - In check mode a missing secret is generated but not stored (unless O(write_in_check_mode=true)), so a
    check run leaves the backend unchanged.
extends_documentation_fragment:
  - selfhosted_ai.stack._vault
  - selfhosted_ai.stack._vault.plugins
options:
  _terms:
    description:
      - Names of the secrets, such as V(n8n/encryption_key).
      - Segments of letters, digits, V(_), V(.) and V(-), separated by V(/), each starting with a letter or digit.
    type: list
    elements: str
    required: true
  backend:
    description:
      - Where secrets are stored. Set it once for the whole inventory with the variable
        C(selfhosted_ai_secret_backend) in C(group_vars/all/secrets.yml); C(playbooks/preflight.yml) checks it.
      - Any other value stops the lookup with an error that names where the value came from, before
        anything is read or written.
    type: str
    choices: [file, vault]
    default: file
    env:
      - name: SELFHOSTED_AI_SECRET_BACKEND
    ini:
      - section: selfhosted_ai_secret
        key: backend
    vars:
      - name: selfhosted_ai_secret_backend
  format:
    description:
      - What to generate.
      - V(password) is O(length) characters drawn from O(charset) or O(chars).
      - V(hex), V(base64) and V(base64url) encode O(length) random bytes (base64url without padding).
      - V(jwt_secret) is a key for HS256 JSON Web Tokens, O(length) random bytes (at least 32) encoded as
        base64url without padding.
      - V(credentials) stores and returns a mapping with C(username) (O(username)) and C(password)
        (a V(password) value).
    type: str
    choices: [password, hex, base64, base64url, jwt_secret, credentials]
    default: password
  length:
    description:
      - Characters for O(format=password) and O(format=credentials), random bytes for the other formats.
      - Between 1 and 4096. The default gives 190 bits with V(alnum) and 256 bits with the byte formats.
    type: int
    default: 32
  charset:
    description:
      - Alphabet for O(format=password) and O(format=credentials).
      - V(alnum) is C([A-Za-z0-9]); V(lower_alnum) C([a-z0-9]); V(hex) C([0-9a-f]); V(base64) adds C(+/) to V(alnum);
        V(urlsafe) adds C(-_); V(ascii_printable) is every printable ASCII character except space.
      - V(complex) is V(alnum) plus C(-_.~), with at least one lower-case letter, upper-case letter, digit and symbol in
        every value (password policies such as Flowise's ask for that); O(length) at least 4.
      - V(bcrypt_salt) is C([./A-Za-z0-9]), the alphabet of bcrypt salts (22 characters for the P(selfhosted_ai.stack.bcrypt_hash#filter) filter).
    type: str
    choices: [alnum, alpha, lower_alnum, digits, hex, base64, urlsafe, ascii_printable, complex, bcrypt_salt]
    default: alnum
  chars:
    description: Custom alphabet for passwords, instead of O(charset); at least two different characters.
    type: str
  field:
    description:
      - Field of the stored secret that holds the value (not used by O(format=credentials)).
      - Several fields may live in one secret; a missing field is generated and added, existing ones are never changed.
    type: str
    default: value
  username:
    description: User name stored with O(format=credentials); defaults to the last segment of the secret name.
    type: str
  prefix:
    description:
      - Text put before a newly generated value and stored with it, for API keys whose format starts with a fixed
        marker (Langfuse's C(pk-lf-) and C(sk-lf-)). O(length) counts the random part only.
      - At most 64 printable characters without spaces; not used with O(format=credentials). An existing value is
        returned as stored, whatever the prefix.
    type: str
  secret_dir:
    description:
      - Directory of the V(file) backend. Relative paths are relative to the inventory directory.
      - Defaults to C(.secrets) in the directory of the inventory (C(inventory_dir)); created with mode 0700 and
        a C(.gitignore) that keeps its content out of git.
    type: str
    env:
      - name: SELFHOSTED_AI_SECRET_DIR
    ini:
      - section: selfhosted_ai_secret
        key: secret_dir
    vars:
      - name: selfhosted_ai_secret_dir
  mount_point:
    description: Mount point of the KV version 2 secrets engine (V(vault) backend).
    type: str
    default: secret
    env:
      - name: SELFHOSTED_AI_VAULT_MOUNT_POINT
    ini:
      - section: selfhosted_ai_vault
        key: mount_point
    vars:
      - name: selfhosted_ai_vault_mount_point
  path_prefix:
    description: Path inside O(mount_point) under which the secrets live (V(vault) backend); may be empty.
    type: str
    default: selfhosted_ai
    env:
      - name: SELFHOSTED_AI_SECRET_PATH_PREFIX
    ini:
      - section: selfhosted_ai_secret
        key: path_prefix
    vars:
      - name: selfhosted_ai_secret_path_prefix
  write_in_check_mode:
    description: Store newly generated secrets even when the play runs in check mode.
    type: bool
    default: false
    vars:
      - name: selfhosted_ai_secret_write_in_check_mode
notes:
  - Options set through variables are templated by the lookup (Ansible passes lookups their variables untemplated),
    so C(selfhosted_ai_vault_url) set to C({{ bao_url }}) works. The Vault options are templated only when the backend is
    V(vault), so a call with O(backend=file) never evaluates them.
  - The V(vault) backend needs the Python library C(hvac) on the controller and a KV version 2 engine. The token
    or AppRole needs C(read), C(create) and C(update) on C(<mount_point>/data/<path_prefix>/*).
  - With AppRole, each lookup call logs in once for all its terms and revokes that token when it is done.
  - A secret whose latest Vault version was deleted is not regenerated; the lookup fails and says how to proceed.
  - The V(file) backend refuses directories and files that group or others can access, and symbolic links below
    O(secret_dir).
seealso:
  - name: selfhosted_ai.stack secrets guide
    description: docs/secrets.md in the collection.
    link: https://github.com/selfhosted-ai/stack/blob/main/docs/secrets.md
"""

EXAMPLES = r"""
- name: Run n8n with a stable encryption key (created on the first run)
  community.docker.docker_container:
    name: n8n
    image: docker.n8n.io/n8nio/n8n:2.40.2
    env:
      N8N_ENCRYPTION_KEY: "{{ lookup('selfhosted_ai.stack.secret', 'n8n/encryption_key', length=48) }}"
  no_log: true

- name: A JWT secret for Supabase and a hex key, from OpenBao with AppRole
  ansible.builtin.set_fact:
    supabase_jwt_secret: "{{ lookup('selfhosted_ai.stack.secret', 'supabase/jwt_secret', format='jwt_secret', length=48) }}"
    qdrant_api_key: "{{ lookup('selfhosted_ai.stack.secret', 'qdrant/api_key', format='hex') }}"
  no_log: true
  vars:
    selfhosted_ai_secret_backend: vault
    selfhosted_ai_vault_url: https://bao.example.com:8200
    selfhosted_ai_vault_ca_cert: /etc/ssl/certs/internal-ca.pem
    selfhosted_ai_vault_role_id: "{{ lookup('ansible.builtin.env', 'BAO_ROLE_ID') }}"
    selfhosted_ai_vault_secret_id: "{{ lookup('ansible.builtin.env', 'BAO_SECRET_ID') }}"

- name: A database user with a generated password, as one record
  ansible.builtin.set_fact:
    langfuse_db: "{{ lookup('selfhosted_ai.stack.secret', 'postgres/langfuse', format='credentials', username='langfuse') }}"
  no_log: true
  # langfuse_db.username == 'langfuse', langfuse_db.password is 32 alphanumeric characters

- name: A Langfuse project's API key pair, two fields of one secret (one record in OpenBao)
  ansible.builtin.set_fact:
    langfuse_public_key: "{{ lookup('selfhosted_ai.stack.secret', 'langfuse/project_keys', field='public_key', prefix='pk-lf-') }}"
    langfuse_secret_key: "{{ lookup('selfhosted_ai.stack.secret', 'langfuse/project_keys', field='secret_key', prefix='sk-lf-') }}"
  no_log: true

- name: Several secrets in one call, stored as files next to the inventory
  ansible.builtin.set_fact:
    valkey_passwords: "{{ query('selfhosted_ai.stack.secret', 'valkey/n8n', 'valkey/langfuse', charset='urlsafe') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One value per name in O(_terms), marked unsafe.
    - A string, or a mapping with C(username) and C(password) for O(format=credentials).
  type: list
  elements: raw
"""

import os

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import (
    CONNECTION_OPTIONS,
    VaultConnection,
    VaultError,
)
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._secret_backends import (
    FileSecretBackend,
    SecretBackendError,
    VaultSecretBackend,
    validate_name,
)
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._secret_gen import (
    SecretSpecError,
    field_generators,
)

display = Display()


BACKENDS = ('file', 'vault')


def check_backend(variables, direct):
    """Refuse an unknown backend, naming where it was set (Ansible's own message names only the option).

    Sources in Ansible's order of precedence, highest first; ansible.cfg is left to Ansible's check.
    """
    for origin, value in (
        ('the lookup argument backend', direct.get('backend')),
        ('the variable selfhosted_ai_secret_backend', (variables or {}).get('selfhosted_ai_secret_backend')),
        ('the environment variable SELFHOSTED_AI_SECRET_BACKEND', os.environ.get('SELFHOSTED_AI_SECRET_BACKEND')),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or value not in BACKENDS:
            raise AnsibleLookupError(
                'selfhosted_ai.stack.secret: unknown secret backend %r from %s; set it to %s'
                % (str(value)[:40], origin, ' or '.join(BACKENDS))
            )
        return


class LookupModule(LookupBase):
    def _secret_dir(self, variables):
        configured = self.get_option('secret_dir')
        inventory_dir = (variables or {}).get('inventory_dir')
        if configured:
            configured = os.path.expanduser(str(configured))
            if not os.path.isabs(configured):
                if not inventory_dir:
                    raise AnsibleLookupError(
                        'secret_dir %r is relative but there is no inventory directory to '
                        'resolve it against; give an absolute path' % configured
                    )
                configured = os.path.join(str(inventory_dir), configured)
            return configured
        if not inventory_dir:
            raise AnsibleLookupError(
                'the file backend of selfhosted_ai.stack.secret needs secret_dir (or the '
                'variable selfhosted_ai_secret_dir) when the inventory has no directory'
            )
        return os.path.join(str(inventory_dir), '.secrets')

    def _backend(self, variables):
        backend = self.get_option('backend')
        if backend == 'file':
            return FileSecretBackend(self._secret_dir(variables))
        connection = VaultConnection(**dict((k, self.get_option(k)) for k in CONNECTION_OPTIONS))
        try:
            connection.validate()
        except VaultError as e:
            raise AnsibleLookupError('selfhosted_ai.stack.secret (vault backend): %s' % e) from None
        return VaultSecretBackend(
            connection, mount_point=self.get_option('mount_point'), path_prefix=self.get_option('path_prefix')
        )

    def _templated_vars(self, variables, options):
        """The variables that feed ``options``, templated.

        Ansible passes a lookup the variables untemplated, so an inventory's
        ``selfhosted_ai_vault_url: "{{ bao_url }}"`` would reach the option as that text
        (community.hashi_vault#434); connection plugins template their variables the same way.
        Only trusted templates render (inventory, group_vars, play vars); unsafe values stay text.
        """
        definitions = C.config.get_configuration_definitions('lookup', self._load_name)
        templated = {}
        for option in options:
            for entry in definitions.get(option, {}).get('vars', []):
                if entry['name'] in variables:
                    value = variables[entry['name']]
                    templated[entry['name']] = self._templar.template(value) if self._templar is not None else value
        return templated

    def _set_options(self, variables, direct):
        """set_options() with templated variables, the Vault options only when the backend is vault.

        A file-backend call (``backend='file'``) therefore never templates the Vault options, which
        may themselves read the file backend (the playbooks' AppRole credentials do).
        """
        variables = variables or {}
        definitions = C.config.get_configuration_definitions('lookup', self._load_name)
        vault_only = set(CONNECTION_OPTIONS) | set(('mount_point', 'path_prefix'))
        var_options = self._templated_vars(variables, [o for o in definitions if o not in vault_only])
        check_backend(var_options, direct)
        self.set_options(var_options=var_options, direct=direct)
        if self.get_option('backend') == 'vault':
            var_options.update(self._templated_vars(variables, sorted(vault_only)))
            self.set_options(var_options=var_options, direct=direct)

    def run(self, terms, variables=None, **kwargs):
        self._set_options(variables, kwargs)
        fmt = self.get_option('format')
        names = []
        for term in terms:
            try:
                names.append(validate_name(term))
            except SecretBackendError as e:
                raise AnsibleLookupError(str(e)) from None

        generators = {}
        for name in names:
            try:
                generators[name] = field_generators(
                    fmt=fmt,
                    length=self.get_option('length'),
                    charset=self.get_option('charset'),
                    chars=self.get_option('chars'),
                    field=self.get_option('field'),
                    username=self.get_option('username') or name.rsplit('/', 1)[-1],
                    prefix=self.get_option('prefix'),
                )
            except SecretSpecError as e:
                raise AnsibleLookupError('selfhosted_ai.stack.secret: %s' % e) from None

        dry_run = bool((variables or {}).get('ansible_check_mode')) and not self.get_option('write_in_check_mode')
        backend = self._backend(variables)
        try:
            return [self._get(backend, name, generators[name], fmt, dry_run) for name in names]
        finally:
            if isinstance(backend, VaultSecretBackend):
                backend.connection.close()

    def _get(self, backend, name, generators, fmt, dry_run):
        # `from None` on every error of this lookup: ansible-core appends the messages of an AnsibleError's
        # causes to its own, and these messages already say everything; what lies below them (the server's
        # answers, a secret file's undecodable bytes) stays out of task results and tracebacks.
        try:
            fields, created = backend.get_or_create(name, generators, dry_run=dry_run)
        except (SecretBackendError, VaultError) as e:
            raise AnsibleLookupError('selfhosted_ai.stack.secret: %s' % e) from None
        except OSError as e:
            raise AnsibleLookupError(
                'selfhosted_ai.stack.secret: %s: %s' % (backend.describe(name), e.strerror or e.__class__.__name__)
            ) from None
        if created:
            display.vvv(
                'selfhosted_ai.stack.secret: %s %s'
                % ('generated (check mode, not stored)' if dry_run else 'generated and stored', backend.describe(name))
            )
        value = (
            {'username': fields['username'], 'password': fields['password']}
            if fmt == 'credentials'
            else fields[self.get_option('field')]
        )
        return wrap_var(value)
