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
* a policy ``tenant-<id>`` allowing those paths only;
* an AppRole role ``tenant-<id>`` (auth mount ``approle_auth_mount``) bound to that policy,
  for the tenant's apps (the module creates no secret_id: the operator issues those).
"""

from __future__ import annotations

import copy
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
)

CREDENTIALS = "credentials"
_PURGE_LIMIT = 10000
# per-tenant reads (credentials, policy, AppRole role) in flight at once; Vault has no bulk read
_READ_WORKERS = 8


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
        except VaultError as exc:
            raise self._fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            raise self._fail(str(self.conn._translate(exc, "listing auth methods")))  # pylint: disable=protected-access

    def close(self):
        self.client = None

    def credentials_path(self, tenant_id):
        return "%s/%s/%s" % (self.prefix, tenant_id, CREDENTIALS)

    def policy_text(self, tenant_id):
        base = "%s/%s" % (self.prefix, tenant_id)
        return "\n".join([
            '# managed by selfhosted_ai.stack.tenant: tenant %s' % tenant_id,
            'path "%s/data/%s/*" {' % (self.mount, base),
            '  capabilities = ["create", "read", "update", "delete", "list"]',
            '}',
            'path "%s/data/%s/%s" {' % (self.mount, base, CREDENTIALS),
            '  capabilities = ["read"]',
            '}',
            'path "%s/metadata/%s/*" {' % (self.mount, base),
            '  capabilities = ["read", "list", "delete"]',
            '}',
            'path "%s/metadata/%s/%s" {' % (self.mount, base, CREDENTIALS),
            '  capabilities = ["read"]',
            '}',
            'path "%s/metadata/%s" {' % (self.mount, base),
            '  capabilities = ["list"]',
            '}',
            '',
        ])

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

    def _read_one(self, local, tenant, policies, roles, with_secrets):
        conn = self._thread_conn(local)
        client = conn.client()
        data, version = None, 0
        if with_secrets is None or tenant.id in with_secrets:
            data, version, dummy = self._call("reading credentials", conn.kv2_read, self.credentials_path(tenant.id),
                                              mount_point=self.mount) or (None, 0, False)
        policy = None
        if tenant.vault_name in policies:
            raw = self._call("reading policy", client.adapter.get, "/v1/sys/policies/acl/%s" % tenant.vault_name)
            policy = ((raw or {}).get("data") or {}).get("policy")
        role = None
        if tenant.vault_name in roles:
            raw = self._call("reading approle", client.adapter.get, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name))
            role = (raw or {}).get("data")
        stored = None
        if not tenant.present and tenant.purge:
            raw = self._call("listing secrets", client.adapter.list, "/v1/%s/metadata/%s/%s" % (self.mount, self.prefix, tenant.id))
            stored = ((raw or {}).get("data") or {}).get("keys") or []
        return {"credentials": data, "credentials_version": version, "policy": policy, "role": role, "secrets": stored}

    def read(self, tenants):
        """Bulk where Vault allows it: one LIST each of tenant folders, policies and roles, then
        only the GETs of what exists, several at a time (one client per worker thread)."""
        policies = set(self._list("/v1/sys/policies/acl"))
        roles = set(self._list("/v1/auth/%s/role" % self.auth_mount)) if self._approle_enabled else set()
        folders = self._list_or_none("/v1/%s/metadata/%s" % (self.mount, self.prefix))
        with_secrets = None if folders is None else set(key.rstrip("/") for key in folders)
        local = threading.local()
        if len(tenants) < 2:
            return dict((t.id, self._read_one(local, t, policies, roles, with_secrets)) for t in tenants)
        with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(tenants))) as pool:
            found = list(pool.map(lambda t: self._read_one(local, t, policies, roles, with_secrets), tenants))
        return dict((t.id, item) for t, item in zip(tenants, found))

    @staticmethod
    def public_view(current):
        role = current.get("role")
        return {"credentials": sorted((current.get("credentials") or {}).keys()) or None,
                "policy": current.get("policy") is not None,
                "approle": role is not None}

    # ------------------------------------------------------------------ plan
    def _role_matches(self, role, tenant):
        if role is None:
            return False
        return (sorted(role.get("token_policies") or role.get("policies") or []) == [tenant.vault_name]
                and int(role.get("token_ttl") or 0) == self.ttl and int(role.get("token_max_ttl") or 0) == self.max_ttl
                and bool(role.get("bind_secret_id", True)))

    def plan(self, tenant, current, wanted_creds, creds_will_change):
        """wanted_creds: the credentials dict to store (values may be placeholders in check mode)."""
        change = Change()
        change.before = self.public_view(current)
        ops = []
        if tenant.present:
            if creds_will_change:
                ops.append(("write_credentials", None))
                change.add("store credentials %s at %s/%s" % (", ".join(sorted(wanted_creds)), self.mount, self.credentials_path(tenant.id)))
            if (current["policy"] or "").strip() != self.policy_text(tenant.id).strip():
                ops.append(("policy", None))
                change.add("%s policy %s" % ("update" if current["policy"] else "create", tenant.vault_name))
            if self.options["approle"]:
                if not self._approle_enabled:
                    ops.append(("enable_approle", None))
                    change.add("enable auth method approle at %s/" % self.auth_mount)
                if not self._role_matches(current["role"], tenant):
                    ops.append(("role", None))
                    change.add("%s approle role %s" % ("update" if current["role"] else "create", tenant.vault_name))
            change.after = {"credentials": sorted(wanted_creds) or None, "policy": True, "approle": bool(self.options["approle"])}
        else:
            if current["role"] is not None:
                ops.append(("delete_role", None))
                change.add("delete approle role %s (its secret_ids stop working)" % tenant.vault_name)
            if current["policy"] is not None:
                ops.append(("delete_policy", None))
                change.add("delete policy %s (tokens holding it lose access)" % tenant.vault_name)
            creds = current["credentials"]
            if tenant.purge and (creds is not None or current.get("secrets")):
                ops.append(("purge", None))
                change.add("delete every secret under %s/%s/%s/" % (self.mount, self.prefix, tenant.id))
                creds = None
            change.after = {"credentials": sorted(creds or {}) or None, "policy": False, "approle": False}
        return change, ops

    # ------------------------------------------------------------------ act
    def write_credentials(self, tenant, data, version):
        ok = self._call("writing credentials", self.conn.kv2_write, self.credentials_path(tenant.id), data,
                        mount_point=self.mount, cas=version)
        if ok is False:
            raise self._fail("credentials of tenant %s changed while this run was working (check-and-set lost); run again" % tenant.id)

    def apply(self, tenant, ops):
        for kind, dummy in ops:
            if kind == "policy":
                self._call("writing policy", self.client.adapter.put, "/v1/sys/policies/acl/%s" % tenant.vault_name,
                           json={"policy": self.policy_text(tenant.id)})
            elif kind == "enable_approle":
                if not self._approle_enabled:
                    self._call("enabling approle", self.client.sys.enable_auth_method, "approle", path=self.auth_mount)
                    self._approle_enabled = True
            elif kind == "role":
                self._call("writing approle role", self.client.adapter.post, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name),
                           json={"token_policies": [tenant.vault_name], "token_ttl": self.ttl,
                                 "token_max_ttl": self.max_ttl, "bind_secret_id": True})
            elif kind == "delete_role":
                self._call("deleting approle role", self.client.adapter.delete, "/v1/auth/%s/role/%s" % (self.auth_mount, tenant.vault_name))
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
        found = {}
        for key in self._list("/v1/%s/metadata/%s" % (self.mount, self.prefix)):
            tenant_id = tenant_id_from_prefixed("tenant_" + key.rstrip("/"), "tenant_")
            if tenant_id:
                found.setdefault(tenant_id, {})["secrets_path"] = "%s/%s/%s/" % (self.mount, self.prefix, tenant_id)
        for name in self._list("/v1/sys/policies/acl"):
            tenant_id = tenant_id_from_prefixed(name, "tenant-", sep="-")
            if tenant_id:
                found.setdefault(tenant_id, {})["policy"] = name
        if self._approle_enabled:
            for name in self._list("/v1/auth/%s/role" % self.auth_mount):
                tenant_id = tenant_id_from_prefixed(name, "tenant-", sep="-")
                if tenant_id:
                    found.setdefault(tenant_id, {})["approle"] = name
        return found
