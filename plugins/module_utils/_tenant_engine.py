# -*- coding: utf-8 -*-
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recipe shared by the tenant and tenant_info modules. Private to the collection.

validate every input -> connect every selected backend -> read current state ->
plan (desired vs current) -> act unless check mode -> per-tenant, per-backend result.

Credentials: generated once, stored in Vault/OpenBao before any server is told about them,
reused on every later run; never part of a result.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError, TenantInputError, generate_access_key, generate_password, validate_tenants)

BACKENDS = ("postgres", "valkey", "s3", "vault", "qdrant", "neo4j")
# the order in which changes are planned and applied (S3 first: when the server makes its keys
# they must reach Vault before anything else; Vault policies last)
_APPLY_ORDER = ("s3", "postgres", "valkey", "qdrant", "neo4j")
_PENDING = "(generated on apply)"


class MissingLibrary(Exception):
    def __init__(self, backend, library, error):
        self.backend = backend
        self.library = library
        self.error = error
        super(MissingLibrary, self).__init__("%s backend needs the Python library %s" % (backend, library))


@contextmanager
def failing_on_engine_errors(module, engine, input_message):
    """Turn what the engine raises into fail_json messages a person can act on; close the engine."""
    try:
        yield
    except TenantInputError as exc:
        module.fail_json(msg="%s: %s" % (input_message, exc))
    except MissingLibrary as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason="the %s backend" % exc.backend), exception=exc.error)
    except BackendError as exc:
        module.fail_json(msg=str(exc), backend=exc.backend, address=exc.address)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="unexpected error: %s: %s" % (exc.__class__.__name__, exc), exception=traceback.format_exc())
    finally:
        engine.close()


def _load(backend):
    """Import a backend class lazily so unused backends need no library."""
    # pylint: disable=import-outside-toplevel
    if backend == "postgres":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_postgres as mod
        if not mod.HAS_PSYCOPG:
            raise MissingLibrary(backend, "psycopg", mod.PSYCOPG_IMPORT_ERROR)
        return mod.PostgresTenantBackend
    if backend == "valkey":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_valkey as mod
        if not mod.HAS_REDIS:
            raise MissingLibrary(backend, "redis", mod.REDIS_IMPORT_ERROR)
        return mod.ValkeyTenantBackend
    if backend == "s3":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_s3 as mod
        if not mod.HAS_BOTO3:
            raise MissingLibrary(backend, "boto3", mod.BOTO3_IMPORT_ERROR)
        return mod.S3TenantBackend
    if backend == "vault":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_vault as mod
        if not mod.HAS_HVAC:
            raise MissingLibrary(backend, "hvac", mod.HVAC_IMPORT_ERROR)
        return mod.VaultTenantBackend
    if backend == "qdrant":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_qdrant as mod
        return mod.QdrantTenantBackend
    if backend == "neo4j":
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_neo4j as mod
        return mod.Neo4jTenantBackend
    raise TenantInputError("unknown backend %r; known: %s" % (backend, ", ".join(BACKENDS)))


def selected_backends(params):
    chosen = params.get("backends")
    if not chosen:
        chosen = [b for b in BACKENDS if params.get(b)]
    if not chosen:
        raise TenantInputError("no backend selected: give the connection options of at least one of %s" % ", ".join(BACKENDS))
    for name in chosen:
        if name not in BACKENDS:
            raise TenantInputError("unknown backend %r; known: %s" % (name, ", ".join(BACKENDS)))
        if not params.get(name):
            raise TenantInputError("backend %s is selected but its connection options (%s: {...}) are missing" % (name, name))
    return [b for b in BACKENDS if b in chosen]


class TenantEngine(object):
    def __init__(self, params, check_mode=False, factory=None):
        self.params = params
        self.check_mode = check_mode
        self.factory = factory or _load
        self.backends = {}
        self.warnings = []

    # ------------------------------------------------------------------ setup
    def build(self, tenants=None):
        """Everything that needs no server: backend choice, options, per-backend input checks."""
        names = selected_backends(self.params)
        if tenants is not None and any(t.present for t in tenants):
            needing = [n for n in names if n in ("postgres", "valkey", "s3")
                       or (n == "qdrant" and (self.params["qdrant"] or {}).get("jwt_rbac"))
                       or (n == "neo4j" and (self.params["neo4j"] or {}).get("edition") != "community")]
            if needing and "vault" not in names:
                raise TenantInputError("backends %s generate credentials that are kept in Vault/OpenBao; add vault to "
                                       "backends and give its connection options" % ", ".join(needing))
        classes = dict((n, self.factory(n)) for n in names)
        for name in names:
            backend = classes[name](self.params[name])
            if tenants is not None and hasattr(backend, "validate"):
                backend.validate(tenants)
            self.backends[name] = backend
        return names

    def connect(self):
        for backend in self.backends.values():
            backend.connect()

    def close(self):
        for backend in self.backends.values():
            try:
                backend.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def read_all(self, tenants):
        """Every backend's read, the backends side by side (each has its own connection); the
        first failure in backend order is raised, as when they ran one after the other."""
        names = list(self.backends)
        if len(names) < 2:
            return dict((name, self.backends[name].read(tenants)) for name in names)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = [(name, pool.submit(self.backends[name].read, tenants)) for name in names]
            return dict((name, future.result()) for name, future in futures)

    def collect_warnings(self):
        out = list(self.warnings)
        for backend in self.backends.values():
            out.extend(backend.warnings)
        return out

    # ------------------------------------------------------------------ tenant
    def run(self):
        tenants = validate_tenants(self.params["tenants"], self.params.get("default_apps"))
        self.build(tenants)
        self.connect()
        current = self.read_all(tenants)
        vault = self.backends.get("vault")

        results = []
        plans = {}
        creds_plan = {}
        for tenant in tenants:
            stored = dict((current["vault"][tenant.id]["credentials"] or {}) if vault else {})
            wanted = dict(stored)
            if tenant.present:
                self._fill_credentials(tenant, wanted)
            creds = dict(wanted)
            for key in ("postgres_password", "valkey_password", "neo4j_password"):
                if key in creds and key not in stored:
                    creds["_new_" + key] = True
            entry = {"id": tenant.id, "state": tenant.state, "changed": False, "backends": {}}
            diff_before, diff_after = {}, {}
            for name in _APPLY_ORDER:
                backend = self.backends.get(name)
                if backend is None:
                    continue
                change, ops = backend.plan(tenant, current[name][tenant.id], creds)
                plans[(name, tenant.id)] = ops
                entry["backends"][name] = change.as_dict()
                diff_before[name], diff_after[name] = change.before, change.after
                if name == "s3" and backend.keys_made_by_server and tenant.present and any(op[0] == "create_key" for op in ops):
                    wanted["s3_access_key"] = wanted["s3_secret_key"] = _PENDING
                if name == "qdrant" and tenant.present:
                    token = backend.token_for(tenant, stored.get("qdrant_api_key"))
                    if token:
                        wanted["qdrant_api_key"] = token
            if vault:
                if tenant.purge and not tenant.present:
                    wanted = {}
                creds_change = tenant.present and wanted != stored
                change, ops = vault.plan(tenant, current["vault"][tenant.id], wanted, creds_change)
                plans[("vault", tenant.id)] = ops
                creds_plan[tenant.id] = (wanted, current["vault"][tenant.id]["credentials_version"])
                entry["backends"]["vault"] = change.as_dict()
                diff_before["vault"], diff_after["vault"] = change.before, change.after
                entry["credentials_path"] = "%s/%s" % (vault.mount, vault.credentials_path(tenant.id))
            entry["changed"] = any(b["changed"] for b in entry["backends"].values())
            entry["_diff"] = (diff_before, diff_after)
            results.append(entry)

        if not self.check_mode:
            self._apply(tenants, plans, creds_plan)
        return tenants, results

    def _fill_credentials(self, tenant, wanted):
        names = self.backends
        if "postgres" in names:
            wanted.setdefault("postgres_user", tenant.pg_role)
            if not wanted.get("postgres_password"):
                wanted["postgres_password"] = generate_password()
            wanted["postgres_databases"] = ",".join(tenant.pg_databases())
        if "valkey" in names:
            wanted.setdefault("valkey_user", tenant.valkey_user)
            wanted["valkey_key_prefix"] = tenant.key_prefix
            if not wanted.get("valkey_password"):
                wanted["valkey_password"] = generate_password()
            db_map = (self.params["valkey"] or {}).get("db_numbers") or {}
            if self.params["valkey"].get("layout") == "db_number" and tenant.id in db_map:
                wanted["valkey_db"] = str(db_map[tenant.id])
        if "s3" in names:
            wanted["s3_bucket"] = tenant.bucket
            if not self.backends["s3"].keys_made_by_server and not (wanted.get("s3_access_key") and wanted.get("s3_secret_key")):
                wanted["s3_access_key"], wanted["s3_secret_key"] = generate_access_key()
        if "neo4j" in names and self.backends["neo4j"].needs_password:
            wanted.setdefault("neo4j_user", tenant.pg_role)
            if not wanted.get("neo4j_password"):
                wanted["neo4j_password"] = generate_password()

    def _apply(self, tenants, plans, creds_plan):
        vault = self.backends.get("vault")
        s3 = self.backends.get("s3")
        # 1. every credential into Vault before a server hears of it; when the S3 server makes the
        # keys, each tenant's S3 side comes first and its key goes to Vault right after
        for tenant in tenants:
            wanted, version = creds_plan.get(tenant.id, ({}, 0))
            if s3 is not None and s3.keys_made_by_server:
                made = s3.apply(tenant, plans[("s3", tenant.id)])
                wanted.update(made)
            if vault is not None and any(op[0] == "write_credentials" for op in plans[("vault", tenant.id)]):
                if _PENDING in wanted.values():
                    raise BackendError("s3", s3.address, "no access key was created for tenant %s" % tenant.id)
                vault.write_credentials(tenant, wanted, version)
        if s3 is not None and not s3.keys_made_by_server:
            s3.apply_batch([(t, plans[("s3", t.id)], creds_plan.get(t.id, ({}, 0))[0]) for t in tenants])
        # 2. the servers that use those credentials
        for name in ("postgres", "qdrant", "neo4j"):
            backend = self.backends.get(name)
            if backend is None:
                continue
            for tenant in tenants:
                ops = plans[(name, tenant.id)]
                if not ops:
                    continue
                if name == "postgres":
                    backend.apply(ops)
                else:
                    backend.apply(tenant, ops)
        if "valkey" in self.backends:
            self.backends["valkey"].apply_all([(t, plans[("valkey", t.id)]) for t in tenants])
        # 3. Vault policies and AppRoles last: access is granted once everything exists
        if vault is not None:
            for tenant in tenants:
                ops = [op for op in plans[("vault", tenant.id)] if op[0] != "write_credentials"]
                if ops:
                    vault.apply(tenant, ops)

    # ------------------------------------------------------------------ info
    def info(self, only=None):
        self.build(None)
        self.connect()
        found = {}
        for name, backend in self.backends.items():
            for tenant_id, data in backend.discover().items():
                if only and tenant_id not in only:
                    continue
                found.setdefault(tenant_id, {})[name] = data
        return found
