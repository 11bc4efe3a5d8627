# -*- coding: utf-8 -*-
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault/OpenBao tenant backend. Private to the collection.

Connection and authentication come from ``_vault.VaultConnection`` (shared with the secrets
lookup). Per tenant, on a KV version 2 mount (default ``secret``):

* ``<path_prefix>/<id>/credentials``: every credential the tenant backends generated
  (PostgreSQL and Valkey passwords, S3 access key and secret, Qdrant token); read-only for
  the tenant, reused on every run, never returned by the modules;
* ``<path_prefix>/<id>/*``: the tenant's own secrets, read/write for the tenant;
* an identity entity ``tenant-<id>`` with metadata ``tenant=<id>``: ONE templated ACL policy
  (``tenant_policy``, written by the openbao role, never by this module) grants
  ``<path_prefix>/{{identity.entity.metadata.tenant}}/*``, so each entity reaches its own
  path only, and an entity without that metadata reaches nothing;
* an AppRole role ``tenant-<id>`` (auth mount ``approle_auth_mount``) whose only token policy
  is that templated policy, and an entity alias (the role's role_id on that mount) so its
  logins resolve to the entity; for the tenant's apps (the module creates no secret_id: the
  operator issues those).

The module writes no ACL policy: per-tenant policies ``tenant-<id>`` of earlier releases are
deleted (migration). Its own token therefore needs no right on ``sys/policies/acl`` beyond
list, delete of ``tenant-*`` and read of the templated policy (docs/tenants.md).
"""

from __future__ import annotations

import copy
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, Change, tenant_id_from_prefixed
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import (
    VAULT_ARGUMENT_SPEC, VaultConnection, VaultError)
# Re-exported: _tenant_engine checks every backend module for its library the same way.
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import HAS_HVAC, HVAC_IMPORT_ERROR  # pylint: disable=unused-import

try:
    import hvac.exceptions
except ImportError:
    pass

VAULT_SPEC = dict(VAULT_ARGUMENT_SPEC)
VAULT_SPEC.update(
    mount=dict(type="str", default="secret"),
    path_prefix=dict(type="str", default="tenants"),
    approle=dict(type="bool", default=True),
    approle_auth_mount=dict(type="str", default="approle"),
    token_ttl=dict(type="str", default="1h", no_log=False),
    token_max_ttl=dict(type="str", default="4h", no_log=False),
    tenant_policy=dict(type="str", default="selfhosted-ai-tenant"),
)

CREDENTIALS = "credentials"
# entity metadata key the templated policy reads ({{identity.entity.metadata.tenant}})
METADATA_KEY = "tenant"
_PURGE_LIMIT = 10000
# per-tenant reads (credentials, AppRole role and role_id, entity) in flight at once; Vault has no bulk read
_READ_WORKERS = 8
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _ttl_seconds(value):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text[:-1].isdigit() and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    raise ValueError("bad duration %r (use e.g. 3600, 30m, 1h, 2d)" % value)


class VaultTenantBackend(object):
    name = "vault"

    def __init__(self, options):
        self.options = options
        self.conn = VaultConnection.from_params(options)
        self.client = None
        self.warnings = []
        self.mount = options["mount"].strip("/")
        self.prefix = options["path_prefix"].strip("/")
        self.auth_mount = options["approle_auth_mount"].strip("/")
        self._approle_enabled = None
        self._approle_accessor = None
        self.tenant_policy = options["tenant_policy"]
        self._policy_state = None  # "ok", "missing" or "other" once read() ran
        if not _POLICY_NAME.match(self.tenant_policy or "") or self.tenant_policy.startswith("tenant-"):
            raise BackendError(self.name, options.get("url") or "?",
                               "vault.tenant_policy %r: use letters, digits, '.', '_' and '-', not starting with tenant-"
                               % self.tenant_policy)
        try:
            self.ttl = _ttl_seconds(options["token_ttl"])
            self.max_ttl = _ttl_seconds(options["token_max_ttl"])
        except ValueError as exc:
            raise BackendError(self.name, options.get("url") or "?", str(exc))

    @property
    def address(self):
        return self.conn.url or "(no url)"

    def _fail(self, message):
        return BackendError(self.name, self.address, message)

    def connect(self):
        try:
            self.client = self.conn.client()
            if self.options["approle"]:
                mounts = self.client.sys.list_auth_methods()
                mounts = mounts.get("data", mounts)
                self._approle_enabled = ("%s/" % self.auth_mount) in mounts
                if self._approle_enabled:
                    self._approle_accessor = (mounts["%s/" % self.auth_mount] or {}).get("accessor")
        except VaultError as exc:
            raise self._fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            raise self._fail(str(self.conn._translate(exc, "listing auth methods")))  # pylint: disable=protected-access

    def close(self):
        self.client = None

    def credentials_path(self, tenant_id):
        return "%s/%s/%s" % (self.prefix, tenant_id, CREDENTIALS)

    def policy_path_pattern(self):
        """What the templated policy must grant: the tenant's own folder through entity metadata."""
        return re.compile(r'path\s+"%s/data/%s/\{\{\s*identity\.entity\.metadata\.%s\s*\}\}/\*"'
                          % (re.escape(self.mount), re.escape(self.prefix), METADATA_KEY))

    def wanted_metadata(self, tenant):
        return {METADATA_KEY: tenant.id}

    # ------------------------------------------------------------------ read
    def _call(self, action, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except VaultError as exc:
            raise self._fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            if isinstance(exc, hvac.exceptions.InvalidPath):
                return None
            raise self._fail(str(self.conn._translate(exc, action)))  # pylint: disable=protected-access

    def _list(self, path):
        raw = self._call("listing %s" % path, self.client.adapter.list, path)
        if not raw:
            return []
        return (raw.get("data") or {}).get("keys") or []

    def _list_or_none(self, path):
        """LIST, or None when the token may not list there (then every tenant is read)."""
        try:
            return self._list(path)
        except BackendError:
            return None

    def _thread_conn(self, local):
        """A VaultConnection per worker thread sharing this run's token (no new login)."""
        conn = getattr(local, "conn", None)
        if conn is None:
            client = self.conn._new_client()  # pylint: disable=protected-access
            client.token = self.client.token
            conn = copy.copy(self.conn)
            conn._client = client  # pylint: disable=protected-access
            conn._owns_token = False  # pylint: disable=protected-access
            local.conn = conn
        return conn

    def _read_access(self, client, tenant, roles, entities):
        """AppRole role, its role_id and the tenant's entity (None where absent): at most 3 GETs."""
        role = role_id = entity = None
        if tenant.vault_name in roles:
            raw = self._call("reading approle", client.adapter.get, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name))
            role = (raw or {}).get("data")
            if role is not None:
                raw = self._call("reading approle role_id", client.adapter.get,
                                 "/v1/auth/%s/role/%s/role-id" % (self.auth_mount, tenant.vault_name))
                role_id = ((raw or {}).get("data") or {}).get("role_id")
        if tenant.vault_name in entities:
            raw = self._call("reading entity", client.adapter.get, "/v1/identity/entity/name/%s" % tenant.vault_name)
            data = (raw or {}).get("data")
            if data is not None:
                entity = {"id": data.get("id"), "metadata": data.get("metadata") or {},
                          "policies": sorted(data.get("policies") or []), "disabled": bool(data.get("disabled")),
                          "aliases": sorted((a.get("mount_accessor"), a.get("name")) for a in data.get("aliases") or [])}
        return role, role_id, entity

    def _read_one(self, local, tenant, policies, roles, entities, with_secrets):
        conn = self._thread_conn(local)
        client = conn.client()
        data, version = None, 0
        if with_secrets is None or tenant.id in with_secrets:
            data, version, dummy = self._call("reading credentials", conn.kv2_read, self.credentials_path(tenant.id),
                                              mount_point=self.mount) or (None, 0, False)
        role, role_id, entity = self._read_access(client, tenant, roles, entities)
        stored = None
        if not tenant.present and tenant.purge:
            raw = self._call("listing secrets", client.adapter.list, "/v1/%s/metadata/%s/%s" % (self.mount, self.prefix, tenant.id))
            stored = ((raw or {}).get("data") or {}).get("keys") or []
        return {"credentials": data, "credentials_version": version, "legacy_policy": tenant.vault_name in policies,
                "role": role, "role_id": role_id, "entity": entity, "secrets": stored}

    def _read_tenant_policy(self, policies):
        """State of the templated policy the openbao role writes: ok, missing, or other (grants elsewhere)."""
        if self.tenant_policy not in policies:
            return "missing"
        raw = self._call("reading policy %s" % self.tenant_policy, self.client.adapter.get,
                         "/v1/sys/policies/acl/%s" % self.tenant_policy)
        text = ((raw or {}).get("data") or {}).get("policy") or ""
        return "ok" if self.policy_path_pattern().search(text) else "other"

    def read(self, tenants):
        """Bulk where Vault allows it: one LIST each of policies, roles, entities and tenant folders,
        one GET of the templated policy, then only the GETs of what exists, several at a time (one
        client per worker thread)."""
        policies = set(self._list("/v1/sys/policies/acl"))
        roles = set(self._list("/v1/auth/%s/role" % self.auth_mount)) if self._approle_enabled else set()
        entities = set(self._list("/v1/identity/entity/name"))
        folders = self._list_or_none("/v1/%s/metadata/%s" % (self.mount, self.prefix))
        with_secrets = None if folders is None else set(key.rstrip("/") for key in folders)
        if any(t.present for t in tenants):
            self._policy_state = self._read_tenant_policy(policies)
            if self._policy_state != "ok":
                raise self._fail(
                    "ACL policy %s %s: tenants would reach nothing in Vault. The openbao role writes it (openbao_tenants_approle: "
                    "true, openbao_tenant_policy_name); with a Vault of your own, write it as docs/tenants.md shows, granting "
                    "%s/data/%s/{{identity.entity.metadata.%s}}/*"
                    % (self.tenant_policy, "does not exist" if self._policy_state == "missing" else
                       "does not grant %s/data/%s/{{identity.entity.metadata.%s}}/*" % (self.mount, self.prefix, METADATA_KEY),
                       self.mount, self.prefix, METADATA_KEY))
        local = threading.local()
        if len(tenants) < 2:
            return dict((t.id, self._read_one(local, t, policies, roles, entities, with_secrets)) for t in tenants)
        with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(tenants))) as pool:
            found = list(pool.map(lambda t: self._read_one(local, t, policies, roles, entities, with_secrets), tenants))
        return dict((t.id, item) for t, item in zip(tenants, found))

    def _entity_ok(self, entity, tenant):
        return entity is not None and entity["metadata"] == self.wanted_metadata(tenant) and not entity["disabled"]

    def _alias_ok(self, current):
        entity, role_id = current.get("entity"), current.get("role_id")
        return (entity is not None and role_id is not None and self._approle_accessor is not None
                and (self._approle_accessor, role_id) in entity["aliases"])

    def public_view(self, current, tenant):
        """policy: the tenant's access through the templated policy is in place (role bound to it
        alone, or no role; entity with the tenant's metadata)."""
        role = current.get("role")
        return {"credentials": sorted((current.get("credentials") or {}).keys()) or None,
                "policy": self._entity_ok(current.get("entity"), tenant) and (role is None or self._role_policies(role) == [self.tenant_policy]),
                "approle": role is not None,
                "entity": current.get("entity") is not None,
                "legacy_policy": bool(current.get("legacy_policy"))}

    # ------------------------------------------------------------------ plan
    @staticmethod
    def _role_policies(role):
        return sorted(role.get("token_policies") or role.get("policies") or [])

    def _role_matches(self, role):
        if role is None:
            return False
        return (self._role_policies(role) == [self.tenant_policy]
                and int(role.get("token_ttl") or 0) == self.ttl and int(role.get("token_max_ttl") or 0) == self.max_ttl
                and bool(role.get("bind_secret_id", True)))

    def plan(self, tenant, current, wanted_creds, creds_will_change):
        """wanted_creds: the credentials dict to store (values may be placeholders in check mode)."""
        change = Change()
        change.before = self.public_view(current, tenant)
        ops = []
        entity = current.get("entity")
        if tenant.present:
            if creds_will_change:
                ops.append(("write_credentials", None))
                change.add("store credentials %s at %s/%s" % (", ".join(sorted(wanted_creds)), self.mount, self.credentials_path(tenant.id)))
            if self.options["approle"]:
                if not self._approle_enabled:
                    ops.append(("enable_approle", None))
                    change.add("enable auth method approle at %s/" % self.auth_mount)
                if not self._role_matches(current["role"]):
                    ops.append(("role", None))
                    change.add("%s approle role %s bound to policy %s" % ("update" if current["role"] else "create",
                                                                          tenant.vault_name, self.tenant_policy))
            if entity is not None and entity["disabled"]:
                raise self._fail("entity %s is disabled; this module may not enable it: enable it or delete it with an "
                                 "administrator token" % tenant.vault_name)
            if not self._entity_ok(entity, tenant):
                ops.append(("entity", None))
                change.add("%s entity %s with metadata %s=%s" % ("update" if entity else "create", tenant.vault_name,
                                                                 METADATA_KEY, tenant.id))
            if self.options["approle"] and not self._alias_ok(current):
                ops.append(("alias", None))
                change.add("link approle role %s to entity %s (entity alias)" % (tenant.vault_name, tenant.vault_name))
            if entity is not None and entity["policies"]:
                self.warnings.append("entity %s carries policies %s set by someone else: its tenant gets them too; this "
                                     "module may not remove them" % (tenant.vault_name, ", ".join(entity["policies"])))
            if current.get("legacy_policy"):
                ops.append(("delete_policy", None))
                change.add("delete per-tenant policy %s of an earlier release (access now comes from %s)"
                           % (tenant.vault_name, self.tenant_policy))
            change.after = {"credentials": sorted(wanted_creds) or None, "policy": True,
                            "approle": bool(self.options["approle"]), "entity": True, "legacy_policy": False}
        else:
            if current["role"] is not None:
                ops.append(("delete_role", None))
                change.add("delete approle role %s (its secret_ids stop working)" % tenant.vault_name)
            if entity is not None:
                ops.append(("delete_entity", None))
                change.add("delete entity %s and its aliases (tokens of its logins lose access)" % tenant.vault_name)
            if current.get("legacy_policy"):
                ops.append(("delete_policy", None))
                change.add("delete per-tenant policy %s of an earlier release" % tenant.vault_name)
            creds = current["credentials"]
            if tenant.purge and (creds is not None or current.get("secrets")):
                ops.append(("purge", None))
                change.add("delete every secret under %s/%s/%s/" % (self.mount, self.prefix, tenant.id))
                creds = None
            change.after = {"credentials": sorted(creds or {}) or None, "policy": False, "approle": False,
                            "entity": False, "legacy_policy": False}
        return change, ops

    # ------------------------------------------------------------------ act
    def write_credentials(self, tenant, data, version):
        ok = self._call("writing credentials", self.conn.kv2_write, self.credentials_path(tenant.id), data,
                        mount_point=self.mount, cas=version)
        if ok is False:
            raise self._fail("credentials of tenant %s changed while this run was working (check-and-set lost); run again" % tenant.id)

    def _role_id(self, tenant):
        raw = self._call("reading approle role_id", self.client.adapter.get,
                         "/v1/auth/%s/role/%s/role-id" % (self.auth_mount, tenant.vault_name))
        role_id = ((raw or {}).get("data") or {}).get("role_id")
        if not role_id:
            raise self._fail("approle role %s has no role_id to link to entity %s" % (tenant.vault_name, tenant.vault_name))
        return role_id

    def _entity_id(self, tenant):
        raw = self._call("reading entity", self.client.adapter.get, "/v1/identity/entity/name/%s" % tenant.vault_name)
        entity_id = ((raw or {}).get("data") or {}).get("id")
        if not entity_id:
            raise self._fail("entity %s was not found after writing it" % tenant.vault_name)
        return entity_id

    def _accessor(self):
        if self._approle_accessor is None:
            mounts = self._call("listing auth methods", self.client.sys.list_auth_methods) or {}
            mounts = mounts.get("data", mounts)
            self._approle_accessor = (mounts.get("%s/" % self.auth_mount) or {}).get("accessor")
        if not self._approle_accessor:
            raise self._fail("no accessor for auth method %s/" % self.auth_mount)
        return self._approle_accessor

    def apply(self, tenant, ops):
        """Role, then entity, then the alias linking them, then the old per-tenant policy goes."""
        for kind, dummy in ops:
            if kind == "enable_approle":
                if not self._approle_enabled:
                    self._call("enabling approle", self.client.sys.enable_auth_method, "approle", path=self.auth_mount)
                    self._approle_enabled = True
            elif kind == "role":
                # token_policies as a string: the provisioner's policy allows exactly this value (allowed_parameters)
                self._call("writing approle role", self.client.adapter.post, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name),
                           json={"token_policies": self.tenant_policy, "token_ttl": self.ttl,
                                 "token_max_ttl": self.max_ttl, "bind_secret_id": True})
            elif kind == "entity":
                self._call("writing entity", self.client.adapter.post, "/v1/identity/entity/name/%s" % tenant.vault_name,
                           json={"metadata": self.wanted_metadata(tenant)})
            elif kind == "alias":
                # an alias of that role_id on another entity (a login before this entity existed) moves here
                self._call("writing entity alias", self.client.adapter.post, "/v1/identity/entity-alias",
                           json={"name": self._role_id(tenant), "mount_accessor": self._accessor(),
                                 "canonical_id": self._entity_id(tenant)})
            elif kind == "delete_role":
                self._call("deleting approle role", self.client.adapter.delete, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name))
            elif kind == "delete_entity":
                self._call("deleting entity", self.client.adapter.delete, "/v1/identity/entity/name/%s" % tenant.vault_name)
            elif kind == "delete_policy":
                self._call("deleting policy", self.client.adapter.delete, "/v1/sys/policies/acl/%s" % tenant.vault_name)
            elif kind == "purge":
                self._purge("%s/%s" % (self.prefix, tenant.id))

    def _purge(self, base):
        """Delete every secret (all versions) under base/, depth first, bounded."""
        todo = [base + "/"]
        leaves = []
        while todo and len(leaves) < _PURGE_LIMIT:
            folder = todo.pop()
            for key in self._list("/v1/%s/metadata/%s" % (self.mount, folder.rstrip("/"))):
                if key.endswith("/"):
                    todo.append(folder + key)
                else:
                    leaves.append(folder + key)
        for leaf in leaves:
            self._call("deleting %s" % leaf, self.client.adapter.delete, "/v1/%s/metadata/%s" % (self.mount, leaf))

    # ------------------------------------------------------------------ info
    def discover(self):
        """Tenant folders, AppRole roles, entities and old per-tenant policies by their names; then,
        for each tenant with a role or an entity, what they hold (several GETs at a time)."""
        found = {}
        for key in self._list("/v1/%s/metadata/%s" % (self.mount, self.prefix)):
            tenant_id = tenant_id_from_prefixed("tenant_" + key.rstrip("/"), "tenant_")
            if tenant_id:
                found.setdefault(tenant_id, {})["secrets_path"] = "%s/%s/%s/" % (self.mount, self.prefix, tenant_id)
        for name in self._list("/v1/sys/policies/acl"):
            tenant_id = tenant_id_from_prefixed(name, "tenant-", sep="-")
            if tenant_id:
                found.setdefault(tenant_id, {})["legacy_policy"] = name
        roles, entities = set(), set()
        if self._approle_enabled:
            for name in self._list("/v1/auth/%s/role" % self.auth_mount):
                tenant_id = tenant_id_from_prefixed(name, "tenant-", sep="-")
                if tenant_id:
                    found.setdefault(tenant_id, {})["approle"] = name
                    roles.add(name)
        for name in self._list("/v1/identity/entity/name"):
            tenant_id = tenant_id_from_prefixed(name, "tenant-", sep="-")
            if tenant_id:
                found.setdefault(tenant_id, {})["entity"] = name
                entities.add(name)
        ids = [tid for tid, item in found.items() if "approle" in item or "entity" in item]
        local = threading.local()

        def one(tenant_id):
            view = _TenantView(tenant_id, found[tenant_id].get("approle") or found[tenant_id].get("entity"))
            return self._read_access(self._thread_conn(local).client(), view, roles, entities)

        with ThreadPoolExecutor(max_workers=max(1, min(_READ_WORKERS, len(ids)))) as pool:
            access = list(pool.map(one, ids))
        for tenant_id, (role, role_id, entity) in zip(ids, access):
            item = found[tenant_id]
            current = {"role": role, "role_id": role_id, "entity": entity}
            if role is not None:
                item["token_policies"] = self._role_policies(role)
            if entity is not None:
                item["entity_tenant"] = entity["metadata"].get(METADATA_KEY)
                item["entity_alias"] = self._alias_ok(current)
            item["policy"] = (self.tenant_policy if role is not None and self._role_policies(role) == [self.tenant_policy]
                              and entity is not None and entity["metadata"].get(METADATA_KEY) == tenant_id
                              and self._alias_ok(current) else None)
        return found


class _TenantView(object):
    """What _read_access needs of a tenant, for discover (no validated tenant there)."""

    def __init__(self, tenant_id, vault_name):
        self.id = tenant_id
        self.vault_name = vault_name
