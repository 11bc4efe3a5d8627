# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recipe shared by the tenant and tenant_info modules. Private to the collection.

validate every input -> connect every selected backend -> read current state ->
plan (desired vs current) -> act unless check mode -> per-tenant, per-backend result.
The engine knows no backend by name: they follow _tenant_backend's protocol and are listed
in _tenant_registry.

Credentials: generated once, stored in Vault/OpenBao before any server is told about them,
reused on every later run; never part of a result.
"""

from __future__ import annotations

import contextlib
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import (
    PENDING,
    WRITE_CREDENTIALS,
    Credentials,
    CredentialStore,
    Phase,
    TenantWork,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError,
    TenantInputError,
    validate_tenants,
)
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_registry import BACKENDS as _REGISTRY

BACKENDS = tuple(_REGISTRY)


class MissingLibrary(Exception):
    def __init__(self, backend, library, error):
        self.backend = backend
        self.library = library
        self.error = error
        super().__init__('%s backend needs the Python library %s' % (backend, library))


@contextmanager
def failing_on_engine_errors(module, engine, input_message):
    """Turn what the engine raises into fail_json messages a person can act on; close the engine."""
    try:
        yield
    except TenantInputError as exc:
        module.fail_json(msg='%s: %s' % (input_message, exc))
    except MissingLibrary as exc:
        module.fail_json(
            msg=missing_required_lib(exc.library, reason='the %s backend' % exc.backend), exception=exc.error
        )
    except BackendError as exc:
        module.fail_json(msg=str(exc), backend=exc.backend, address=exc.address)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(
            msg='unexpected error: %s: %s' % (exc.__class__.__name__, exc), exception=traceback.format_exc()
        )
    finally:
        engine.close()


def _load(backend):
    """The backend's class, once its library is known to be there."""
    cls = _REGISTRY.get(backend)
    if cls is None:
        raise TenantInputError('unknown backend %r; known: %s' % (backend, ', '.join(BACKENDS)))
    if cls.library_error:
        raise MissingLibrary(backend, cls.library, cls.library_error)
    return cls


def selected_backends(params):
    chosen = params.get('backends')
    if not chosen:
        chosen = [b for b in BACKENDS if params.get(b)]
    if not chosen:
        raise TenantInputError(
            'no backend selected: give the connection options of at least one of %s' % ', '.join(BACKENDS)
        )
    for name in chosen:
        if name not in BACKENDS:
            raise TenantInputError('unknown backend %r; known: %s' % (name, ', '.join(BACKENDS)))
        if not params.get(name):
            raise TenantInputError(
                'backend %s is selected but its connection options (%s: {...}) are missing' % (name, name)
            )
    return [b for b in BACKENDS if b in chosen]


class TenantEngine:
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
            needing = [n for n in names if _REGISTRY[n].keeps_credentials(self.params[n] or {})]
            stores = [n for n, cls in _REGISTRY.items() if issubclass(cls, CredentialStore)]
            if needing and not any(n in names for n in stores):
                raise TenantInputError(
                    'backends %s generate credentials that are kept in Vault/OpenBao; add %s to backends '
                    'and give its connection options' % (', '.join(needing), ' or '.join(stores))
                )
        classes = dict((n, self.factory(n)) for n in names)
        for name in names:
            backend = classes[name](self.params[name])
            if tenants is not None:
                backend.validate(tenants)
            self.backends[name] = backend
        return names

    def connect(self):
        for backend in self.backends.values():
            backend.connect()

    def close(self):
        for backend in self.backends.values():
            # best effort: one backend failing to close must not keep the others open
            with contextlib.suppress(Exception):
                backend.close()

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

    def _planned(self):
        """The backends in plan order (the credential store last: it keeps what the others want)."""
        return sorted(self.backends.values(), key=lambda backend: backend.order)

    def _store(self):
        stores = [b for b in self.backends.values() if isinstance(b, CredentialStore)]
        return stores[0] if stores else None

    # ------------------------------------------------------------------ tenant
    def run(self):
        tenants = validate_tenants(self.params['tenants'], self.params.get('default_apps'))
        self.build(tenants)
        self.connect()
        current = self.read_all(tenants)
        store = self._store()
        planned = self._planned()

        results = []
        plans = {}
        creds = {}
        versions = {}
        for tenant in tenants:
            stored, versions[tenant.id] = (
                store.stored_credentials(current[store.name][tenant.id]) if store is not None else ({}, 0)
            )
            wanted = dict(stored)
            if tenant.present:
                for backend in planned:
                    backend.fill_credentials(tenant, wanted)
            creds[tenant.id] = wanted = Credentials(wanted, new=[key for key in wanted if key not in stored])
            entry = {'id': tenant.id, 'state': tenant.state, 'changed': False, 'backends': {}}
            diff_before, diff_after = {}, {}
            for backend in planned:
                change, ops = backend.plan(tenant, current[backend.name][tenant.id], wanted)
                plans[(backend.name, tenant.id)] = ops
                entry['backends'][backend.name] = change.as_dict()
                diff_before[backend.name], diff_after[backend.name] = change.before, change.after
                if tenant.present:
                    wanted.update(backend.pending_credentials(tenant, ops))
            if store is not None:
                entry['credentials_path'] = store.credentials_location(tenant)
            entry['changed'] = any(b['changed'] for b in entry['backends'].values())
            entry['_diff'] = (diff_before, diff_after)
            results.append(entry)

        if not self.check_mode:
            self._apply(tenants, plans, creds, versions)
        return tenants, results

    def _apply(self, tenants, plans, creds, versions):
        store = self._store()
        planned = self._planned()

        def batch(backend, some):
            return [TenantWork(t, plans[(backend.name, t.id)], creds[t.id]) for t in some]

        # 1. every credential into the store before a server hears of it; where the server makes them,
        # each tenant's side of that server comes first and its credentials go to the store right after
        makers = [b for b in planned if b.phase == Phase.MAKES_CREDENTIALS]
        for tenant in tenants:
            wanted = creds[tenant.id]
            for backend in makers:
                wanted.update(backend.apply(batch(backend, [tenant])).get(tenant.id) or {})
                missing = sorted(
                    key
                    for key in backend.pending_credentials(tenant, plans[(backend.name, tenant.id)])
                    if wanted.get(key) == PENDING
                )
                if missing:
                    raise BackendError(
                        backend.name,
                        backend.address,
                        'no %s was created for tenant %s' % (', '.join(missing), tenant.id),
                    )
            if store is not None and any(op.kind == WRITE_CREDENTIALS for op in plans[(store.name, tenant.id)]):
                store.write_credentials(tenant, dict(wanted), versions[tenant.id])
        # 2. the servers that use those credentials; 3. access (Vault roles) last, once everything exists
        for phase in (Phase.USES_CREDENTIALS, Phase.GRANTS_ACCESS):
            for backend in planned:
                if backend.phase == phase:
                    backend.apply(batch(backend, tenants))

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
