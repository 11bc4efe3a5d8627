# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault/OpenBao tenant backend. Private to the collection.

Connection and authentication come from ``_vault.VaultConnection`` (shared with the secrets
lookup). Per tenant, on a KV version 2 mount (default ``secret``):

* ``<path_prefix>/<id>/credentials``: every credential the tenant backends generated
  (PostgreSQL and Valkey passwords, S3 access key and secret, Qdrant token); read-only for
  the tenant, reused on every run, never returned by the modules;
* ``<path_prefix>/<id>/*``: the tenant's own secrets, read/write for the tenant;
* an AppRole role ``tenant-<id>`` (auth mount ``approle_auth_mount``) whose only token policy
  is ONE templated ACL policy (``tenant_policy``, written by the openbao role, never by this
  module) granting ``<path_prefix>/{{identity.entity.aliases.<approle accessor>.custom_metadata.tenant}}/*``;
  for the tenant's apps (the module creates no secret_id: the operator issues those);
* the entity alias of that role (name: its role_id, on the AppRole mount) with custom_metadata
  ``tenant=<id>``, created WITHOUT ``canonical_id``: OpenBao makes a fresh entity for it, with
  no policy and no group. The module writes no entity and cannot name one (its policy refuses
  ``canonical_id``), so a tenant role's logins never land on an entity holding rights; an alias
  found on an entity with policies, groups, other aliases is deleted and made again. Aliases
  are found with ``identity/lookup/entity`` (alias name and accessor), one POST per tenant role;
  a token whose entity has no such alias reaches nothing.

The module writes no ACL policy and no entity; ``absent`` deletes the alias (the entity OpenBao
made, left without alias or policy, stays: the module has no right on entities).
docs/tenants.md lists its token's rights.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import (
    WRITE_CREDENTIALS,
    CredentialStore,
    Op,
    Phase,
    TenantBackend,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError,
    Change,
    tenant_id_from_prefixed,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import (
    HVAC_IMPORT_ERROR,
    VAULT_ARGUMENT_SPEC,
    VaultConnection,
    VaultError,
)

# without hvac, the backend reports HVAC_IMPORT_ERROR before any of it is used
with contextlib.suppress(ImportError):
    import hvac.exceptions

VAULT_SPEC = dict(VAULT_ARGUMENT_SPEC)
VAULT_SPEC.update(
    mount=dict(type='str', default='secret'),
    path_prefix=dict(type='str', default='tenants'),
    approle=dict(type='bool', default=True),
    approle_auth_mount=dict(type='str', default='approle'),
    token_ttl=dict(type='str', default='1h', no_log=False),
    token_max_ttl=dict(type='str', default='4h', no_log=False),
    tenant_policy=dict(type='str', default='selfhosted-ai-tenant'),
)

CREDENTIALS = 'credentials'
# custom_metadata key of the AppRole alias that the templated policy reads
# (identity.entity.aliases.<approle accessor>.custom_metadata.tenant)
METADATA_KEY = 'tenant'
_PURGE_LIMIT = 10000
# per-tenant reads (credentials, AppRole role and role_id, the alias's entity) in flight at once; Vault has no bulk read
_READ_WORKERS = 8
_POLICY_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')


def _ttl_seconds(value):
    units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text[:-1].isdigit() and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    raise ValueError('bad duration %r (use e.g. 3600, 30m, 1h, 2d)' % value)


class VaultTenantBackend(TenantBackend, CredentialStore):
    """The credential store; planned last (it keeps what the others want) and applied last (roles
    and aliases grant access once everything exists)."""

    name = 'vault'
    argument_spec = VAULT_SPEC
    library = 'hvac'
    library_error = HVAC_IMPORT_ERROR
    order = 90
    phase = Phase.GRANTS_ACCESS

    def __init__(self, options):
        super().__init__(options)
        self.conn = VaultConnection.from_params(options)
        self.client = None
        self.mount = options['mount'].strip('/')
        self.prefix = options['path_prefix'].strip('/')
        self.auth_mount = options['approle_auth_mount'].strip('/')
        self._approle_enabled = None
        self._approle_accessor = None
        self.tenant_policy = options['tenant_policy']
        self._policy_state = None  # "ok", "missing" or "other" once read() ran
        if not _POLICY_NAME.match(self.tenant_policy or '') or self.tenant_policy.startswith('tenant-'):
            raise BackendError(
                self.name,
                options.get('url') or '?',
                "vault.tenant_policy %r: use letters, digits, '.', '_' and '-', not starting with tenant-"
                % self.tenant_policy,
            )
        try:
            self.ttl = _ttl_seconds(options['token_ttl'])
            self.max_ttl = _ttl_seconds(options['token_max_ttl'])
        except ValueError as exc:
            raise BackendError(self.name, options.get('url') or '?', str(exc)) from None

    @property
    def address(self):
        return self.conn.url or '(no url)'

    def connect(self):
        try:
            self.client = self.conn.client()
            if self.options['approle']:
                mounts = self.client.sys.list_auth_methods()
                mounts = mounts.get('data', mounts)
                self._approle_enabled = ('%s/' % self.auth_mount) in mounts
                if self._approle_enabled:
                    self._approle_accessor = (mounts['%s/' % self.auth_mount] or {}).get('accessor')
        except VaultError as exc:
            raise self._fail(str(exc)) from exc
        except Exception as exc:  # pylint: disable=broad-except
            raise self._fail(str(self.conn._translate(exc, 'listing auth methods'))) from exc  # pylint: disable=protected-access

    def close(self):
        self.client = None

    def credentials_path(self, tenant_id):
        return '%s/%s/%s' % (self.prefix, tenant_id, CREDENTIALS)

    def credentials_location(self, tenant):
        return '%s/%s' % (self.mount, self.credentials_path(tenant.id))

    def stored_credentials(self, current):
        return dict(current['credentials'] or {}), current['credentials_version']

    def policy_template(self):
        """The templated segment naming the tenant: custom_metadata of the token entity's AppRole alias."""
        return '{{identity.entity.aliases.%s.custom_metadata.%s}}' % (
            self._approle_accessor or '<accessor of %s/>' % self.auth_mount,
            METADATA_KEY,
        )

    def policy_path_pattern(self):
        """What the templated policy must grant: the tenant's own folder, named by its AppRole alias."""
        return re.compile(
            r'path\s+"%s/data/%s/\{\{\s*identity\.entity\.aliases\.%s\.custom_metadata\.%s\s*\}\}/\*"'
            % (re.escape(self.mount), re.escape(self.prefix), re.escape(self._approle_accessor or '?'), METADATA_KEY)
        )

    def wanted_metadata(self, tenant):
        return {METADATA_KEY: tenant.id}

    # ------------------------------------------------------------------ read
    def _call(self, action, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except VaultError as exc:
            raise self._fail(str(exc)) from exc
        except Exception as exc:  # pylint: disable=broad-except
            if isinstance(exc, hvac.exceptions.InvalidPath):
                return None
            raise self._fail(str(self.conn._translate(exc, action))) from exc  # pylint: disable=protected-access

    def _list(self, path):
        raw = self._call('listing %s' % path, self.client.adapter.list, path)
        if not raw:
            return []
        return (raw.get('data') or {}).get('keys') or []

    def _list_or_none(self, path):
        """LIST, or None when the token may not list there (then every tenant is read)."""
        try:
            return self._list(path)
        except BackendError:
            return None

    def _thread_conn(self, local):
        """A VaultConnection per worker thread sharing this run's token (no new login)."""
        conn = getattr(local, 'conn', None)
        if conn is None:
            client = self.conn._new_client()  # pylint: disable=protected-access
            client.token = self.client.token
            conn = copy.copy(self.conn)
            conn._client = client  # pylint: disable=protected-access
            conn._owns_token = False  # pylint: disable=protected-access
            local.conn = conn
        return conn

    def _lookup_alias(self, client, role_id):
        """The AppRole alias named role_id and its entity (one POST to identity/lookup/entity), or None."""
        raw = self._call(
            'looking up entity alias',
            client.adapter.post,
            '/v1/identity/lookup/entity',
            json={'alias_name': role_id, 'alias_mount_accessor': self._approle_accessor},
        )
        data = raw.get('data') if isinstance(raw, dict) else None  # 204 (no such alias): a Response, or None
        if not data:
            return None
        mine = [
            a
            for a in data.get('aliases') or []
            if a.get('name') == role_id and a.get('mount_accessor') == self._approle_accessor
        ]
        if not mine:
            return None
        return {
            'id': mine[0].get('id'),
            'custom_metadata': mine[0].get('custom_metadata') or {},
            'entity_id': data.get('id'),
            'entity_name': data.get('name'),
            'entity_policies': sorted(data.get('policies') or []),
            'entity_groups': sorted(data.get('group_ids') or []),
            'entity_aliases': len(data.get('aliases') or []),
            'entity_disabled': bool(data.get('disabled')),
        }

    def _read_access(self, client, tenant, roles):
        """AppRole role, its role_id and its alias (None where absent): at most 3 calls."""
        role = role_id = alias = None
        if tenant.vault_name in roles:
            raw = self._call(
                'reading approle', client.adapter.get, '/v1/auth/%s/role/%s' % (self.auth_mount, tenant.vault_name)
            )
            role = (raw or {}).get('data')
            if role is not None:
                raw = self._call(
                    'reading approle role_id',
                    client.adapter.get,
                    '/v1/auth/%s/role/%s/role-id' % (self.auth_mount, tenant.vault_name),
                )
                role_id = ((raw or {}).get('data') or {}).get('role_id')
                if role_id and self._approle_accessor:
                    alias = self._lookup_alias(client, role_id)
        return role, role_id, alias

    def _read_one(self, local, tenant, roles, with_secrets):
        conn = self._thread_conn(local)
        client = conn.client()
        data, version = None, 0
        if with_secrets is None or tenant.id in with_secrets:
            data, version, dummy = self._call(
                'reading credentials', conn.kv2_read, self.credentials_path(tenant.id), mount_point=self.mount
            ) or (None, 0, False)
        role, role_id, alias = self._read_access(client, tenant, roles)
        stored = None
        if not tenant.present and tenant.purge:
            raw = self._call(
                'listing secrets', client.adapter.list, '/v1/%s/metadata/%s/%s' % (self.mount, self.prefix, tenant.id)
            )
            stored = ((raw or {}).get('data') or {}).get('keys') or []
        return {
            'credentials': data,
            'credentials_version': version,
            'role': role,
            'role_id': role_id,
            'alias': alias,
            'secrets': stored,
        }

    def _read_tenant_policy(self):
        """State of the templated policy the openbao role writes: ok, missing, or other (grants elsewhere)."""
        if self.tenant_policy not in self._list('/v1/sys/policies/acl'):
            return 'missing'
        raw = self._call(
            'reading policy %s' % self.tenant_policy,
            self.client.adapter.get,
            '/v1/sys/policies/acl/%s' % self.tenant_policy,
        )
        text = ((raw or {}).get('data') or {}).get('policy') or ''
        return 'ok' if self.policy_path_pattern().search(text) else 'other'

    def read(self, tenants):
        """Bulk where Vault allows it: one LIST each of roles and tenant folders (and, with tenants
        present, one LIST of policies and one GET of the templated policy), then only the calls for
        what exists (role, role_id, alias lookup), several at a time (one client per worker thread)."""
        if self.options['approle'] and not self._approle_enabled and any(t.present for t in tenants):
            raise self._fail(
                'auth method %s/ is not enabled: the templated policy %s names its accessor, so enable it and '
                'write the policy first (the openbao role does both; docs/tenants.md)'
                % (self.auth_mount, self.tenant_policy)
            )
        roles = set(self._list('/v1/auth/%s/role' % self.auth_mount)) if self._approle_enabled else set()
        folders = self._list_or_none('/v1/%s/metadata/%s' % (self.mount, self.prefix))
        with_secrets = None if folders is None else set(key.rstrip('/') for key in folders)
        if self.options['approle'] and any(t.present for t in tenants):
            self._policy_state = self._read_tenant_policy()
            if self._policy_state != 'ok':
                wanted = '%s/data/%s/%s/*' % (self.mount, self.prefix, self.policy_template())
                raise self._fail(
                    'ACL policy %s %s: tenants would reach nothing in Vault. The openbao role writes it (openbao_tenants_approle: '
                    'true, openbao_tenant_policy_name); with a Vault of your own, write it as docs/tenants.md shows, granting %s'
                    % (
                        self.tenant_policy,
                        'does not exist' if self._policy_state == 'missing' else 'does not grant %s' % wanted,
                        wanted,
                    )
                )
        local = threading.local()
        if len(tenants) < 2:
            return dict((t.id, self._read_one(local, t, roles, with_secrets)) for t in tenants)
        with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(tenants))) as pool:
            found = list(pool.map(lambda t: self._read_one(local, t, roles, with_secrets), tenants))
        return dict((t.id, item) for t, item in zip(tenants, found, strict=True))

    @staticmethod
    def _alias_shared(alias):
        """Why the alias's entity gives more than the templated policy (None when it is a bare entity)."""
        why = []
        if alias['entity_policies']:
            why.append('policies %s' % ', '.join(alias['entity_policies']))
        if alias['entity_groups']:
            why.append('%d group(s)' % len(alias['entity_groups']))
        if alias['entity_aliases'] > 1:
            why.append('%d other alias(es)' % (alias['entity_aliases'] - 1))
        return ' and '.join(why) or None

    def _alias_ok(self, alias, tenant_id):
        return (
            alias is not None
            and alias['custom_metadata'] == {METADATA_KEY: tenant_id}
            and not alias['entity_disabled']
            and self._alias_shared(alias) is None
        )

    def public_view(self, tenant, current):
        """policy: the role is bound to the templated policy alone and its alias names the tenant
        (bare entity); entity: the role's alias (and so the entity its logins resolve to) exists."""
        role, alias = current.get('role'), current.get('alias')
        return {
            'credentials': sorted((current.get('credentials') or {}).keys()) or None,
            'policy': role is not None
            and self._role_policies(role) == [self.tenant_policy]
            and self._alias_ok(alias, tenant.id),
            'approle': role is not None,
            'entity': alias is not None,
        }

    # ------------------------------------------------------------------ plan
    @staticmethod
    def _role_policies(role):
        return sorted(role.get('token_policies') or role.get('policies') or [])

    def _role_matches(self, role):
        if role is None:
            return False
        return (
            self._role_policies(role) == [self.tenant_policy]
            and int(role.get('token_ttl') or 0) == self.ttl
            and int(role.get('token_max_ttl') or 0) == self.max_ttl
            and bool(role.get('bind_secret_id', True))
        )

    @staticmethod
    def _drop_alias(tenant, alias, why):
        """The op removing the alias, and its description."""
        return Op('delete_alias', alias['id']), 'delete the entity alias of approle role %s%s' % (
            tenant.vault_name,
            why,
        )

    def plan(self, tenant, current, creds):
        """creds: the credentials to store (PENDING where the S3 server makes them at apply time)."""
        change = Change()
        change.before = self.public_view(tenant, current)
        ops = []
        alias = current.get('alias')
        wanted_creds = dict(creds)
        if tenant.present:
            if wanted_creds != (current['credentials'] or {}):
                ops.append(Op(WRITE_CREDENTIALS))
                change.add(
                    'store credentials %s at %s/%s'
                    % (', '.join(sorted(wanted_creds)), self.mount, self.credentials_path(tenant.id))
                )
            if self.options['approle']:
                if not self._role_matches(current['role']):
                    ops.append(Op('role'))
                    change.add(
                        '%s approle role %s bound to policy %s'
                        % ('update' if current['role'] else 'create', tenant.vault_name, self.tenant_policy)
                    )
                if alias is not None and alias['entity_disabled']:
                    raise self._fail(
                        'the entity of approle role %s (%s) is disabled; this module may not enable it: enable it '
                        'or delete it with an administrator token' % (tenant.vault_name, alias['entity_name'])
                    )
                shared = self._alias_shared(alias) if alias is not None else None
                if shared is not None:
                    # never keep a tenant role on an entity with rights of its own: a fresh one is made
                    op, text = self._drop_alias(
                        tenant, alias, ' (its entity %s has %s)' % (alias['entity_name'], shared)
                    )
                    ops.append(op)
                    change.add(text)
                    alias = None
                if alias is None or alias['custom_metadata'] != self.wanted_metadata(tenant):
                    ops.append(Op('alias'))
                    change.add(
                        '%s the entity alias of approle role %s with custom_metadata %s=%s%s'
                        % (
                            'update' if alias else 'create',
                            tenant.vault_name,
                            METADATA_KEY,
                            tenant.id,
                            '' if alias else ' (OpenBao makes a new entity for it)',
                        )
                    )
            approle = bool(self.options['approle']) or current['role'] is not None
            change.after = {
                'credentials': sorted(wanted_creds) or None,
                'policy': True if self.options['approle'] else change.before['policy'],
                'approle': approle,
                'entity': True if self.options['approle'] else change.before['entity'],
            }
        else:
            if alias is not None:  # before the role: without it the alias could not be found again
                op, text = self._drop_alias(tenant, alias, ' (logins of that role lose access)')
                ops.append(op)
                change.add(text)
            if current['role'] is not None:
                ops.append(Op('delete_role'))
                change.add('delete approle role %s (its secret_ids stop working)' % tenant.vault_name)
            creds = current['credentials']
            if tenant.purge and (creds is not None or current.get('secrets')):
                ops.append(Op('purge'))
                change.add('delete every secret under %s/%s/%s/' % (self.mount, self.prefix, tenant.id))
                creds = None
            change.after = {
                'credentials': sorted(creds or {}) or None,
                'policy': False,
                'approle': False,
                'entity': False,
            }
        return change, ops

    # ------------------------------------------------------------------ act
    def write_credentials(self, tenant, data, version):
        ok = self._call(
            'writing credentials',
            self.conn.kv2_write,
            self.credentials_path(tenant.id),
            data,
            mount_point=self.mount,
            cas=version,
        )
        if ok is False:
            raise self._fail(
                'credentials of tenant %s changed while this run was working (check-and-set lost); run again'
                % tenant.id
            )

    def _role_id(self, tenant):
        raw = self._call(
            'reading approle role_id',
            self.client.adapter.get,
            '/v1/auth/%s/role/%s/role-id' % (self.auth_mount, tenant.vault_name),
        )
        role_id = ((raw or {}).get('data') or {}).get('role_id')
        if not role_id:
            raise self._fail('approle role %s has no role_id to name its entity alias' % tenant.vault_name)
        return role_id

    def _accessor(self):
        # connect() read it; read() stops a run with tenants when the AppRole mount is missing
        if not self._approle_accessor:
            raise self._fail('no accessor for auth method %s/' % self.auth_mount)
        return self._approle_accessor

    def apply(self, batch):
        """Per tenant: role, then its alias (a deleted one first); for absent the alias goes before the
        role. The engine wrote the credentials before the other backends applied."""
        for work in batch:
            self._apply_tenant(work.tenant, work.ops)
        return {}

    def _apply_tenant(self, tenant, ops):
        for kind, data in ops:
            if kind == 'role':
                # token_policies as a string: the provisioner's policy allows exactly this value (allowed_parameters)
                self._call(
                    'writing approle role',
                    self.client.adapter.post,
                    '/v1/auth/%s/role/%s' % (self.auth_mount, tenant.vault_name),
                    json={
                        'token_policies': self.tenant_policy,
                        'token_ttl': self.ttl,
                        'token_max_ttl': self.max_ttl,
                        'bind_secret_id': True,
                    },
                )
            elif kind == 'alias':
                # no canonical_id: a new alias gets a new entity; an existing one (same name and mount) is updated in
                # place, its entity unchanged (OpenBao 2.7, Vault)
                self._call(
                    'writing entity alias',
                    self.client.adapter.post,
                    '/v1/identity/entity-alias',
                    json={
                        'name': self._role_id(tenant),
                        'mount_accessor': self._accessor(),
                        'custom_metadata': self.wanted_metadata(tenant),
                    },
                )
            elif kind == 'delete_alias':
                self._call(
                    'deleting entity alias', self.client.adapter.delete, '/v1/identity/entity-alias/id/%s' % data
                )
            elif kind == 'delete_role':
                self._call(
                    'deleting approle role',
                    self.client.adapter.delete,
                    '/v1/auth/%s/role/%s' % (self.auth_mount, tenant.vault_name),
                )
            elif kind == 'purge':
                self._purge('%s/%s' % (self.prefix, tenant.id))

    def _purge(self, base):
        """Delete every secret (all versions) under base/, depth first, bounded."""
        todo = [base + '/']
        leaves = []
        while todo and len(leaves) < _PURGE_LIMIT:
            folder = todo.pop()
            for key in self._list('/v1/%s/metadata/%s' % (self.mount, folder.rstrip('/'))):
                if key.endswith('/'):
                    todo.append(folder + key)
                else:
                    leaves.append(folder + key)
        for leaf in leaves:
            self._call('deleting %s' % leaf, self.client.adapter.delete, '/v1/%s/metadata/%s' % (self.mount, leaf))

    # ------------------------------------------------------------------ info
    def discover(self):
        """Tenant folders and AppRole roles by their names; then, for each
        tenant with a role, the role, its role_id and its alias's entity (several at a time)."""
        found = {}
        for key in self._list('/v1/%s/metadata/%s' % (self.mount, self.prefix)):
            tenant_id = tenant_id_from_prefixed('tenant_' + key.rstrip('/'), 'tenant_')
            if tenant_id:
                found.setdefault(tenant_id, {})['secrets_path'] = '%s/%s/%s/' % (self.mount, self.prefix, tenant_id)
        roles = set()
        if self._approle_enabled:
            for name in self._list('/v1/auth/%s/role' % self.auth_mount):
                tenant_id = tenant_id_from_prefixed(name, 'tenant-', sep='-')
                if tenant_id:
                    found.setdefault(tenant_id, {})['approle'] = name
                    roles.add(name)
        ids = [tid for tid, item in found.items() if 'approle' in item]
        local = threading.local()

        def one(tenant_id):
            return self._read_access(
                self._thread_conn(local).client(), _TenantView(tenant_id, found[tenant_id]['approle']), roles
            )

        with ThreadPoolExecutor(max_workers=max(1, min(_READ_WORKERS, len(ids)))) as pool:
            access = list(pool.map(one, ids))
        for tenant_id, (role, dummy, alias) in zip(ids, access, strict=True):
            item = found[tenant_id]
            if role is not None:
                item['token_policies'] = self._role_policies(role)
            if alias is not None:
                item['entity'] = alias['entity_name']
                item['entity_tenant'] = alias['custom_metadata'].get(METADATA_KEY)
            item['entity_alias'] = self._alias_ok(alias, tenant_id)
            item['policy'] = (
                self.tenant_policy
                if role is not None
                and self._role_policies(role) == [self.tenant_policy]
                and self._alias_ok(alias, tenant_id)
                else None
            )
        return found


class _TenantView:
    """What _read_access needs of a tenant, for discover (no validated tenant there)."""

    def __init__(self, tenant_id, vault_name):
        self.id = tenant_id
        self.vault_name = vault_name
