# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The protocol every tenant backend follows, so the engine knows none by name. Private to the collection.

A backend is one class, a subclass of ``TenantBackend``, listed in ``_tenant_registry``. The engine
plans the backends in ``order`` and applies them by ``phase``:

* ``Phase.MAKES_CREDENTIALS``: the server makes the tenant's credentials (an S3 server that creates
  the keys). Applied tenant by tenant; what it made goes to the credential store right after, before
  any other server hears of it.
* then the credential store writes every tenant's credentials;
* ``Phase.USES_CREDENTIALS``: servers told credentials the store already holds;
* ``Phase.GRANTS_ACCESS``: last, so access is granted once everything exists.

The credential store (Vault/OpenBao) is a backend that also implements ``CredentialStore``.
"""

from __future__ import annotations

import abc
import enum
from typing import Any, NamedTuple

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError

# the value a credential has in check mode and in the plan when the server makes it at apply time
PENDING = '(generated on apply)'
# the store's op that writes a tenant's credentials (done by the engine, before the other backends apply)
WRITE_CREDENTIALS = 'write_credentials'


class Phase(enum.IntEnum):
    MAKES_CREDENTIALS = 1
    USES_CREDENTIALS = 2
    GRANTS_ACCESS = 3


class Op(NamedTuple):
    """One planned operation of one backend for one tenant: a backend-defined kind and its argument."""

    kind: str
    arg: Any = None


class TenantWork(NamedTuple):
    """What ``apply`` gets per tenant: the tenant, its planned ops, the credentials the store holds for it."""

    tenant: Any
    ops: list
    credentials: dict


class Credentials(dict):
    """The credentials to keep for one tenant (``PENDING`` where the apply makes them); ``new``: the
    keys the store does not hold yet (a password just generated)."""

    def __init__(self, values=(), new=()):
        super().__init__(values)
        self.new = frozenset(new)


def is_new(creds, key):
    """True when ``creds`` (Credentials, or a plain dict: nothing new) has ``key`` freshly generated."""
    return key in getattr(creds, 'new', ())


class TenantBackend(abc.ABC):
    """One data service. ``name`` is its registry key and the name of its connection option."""

    name: str = ''
    argument_spec: dict = {}
    # the Python library the backend needs and the import traceback when it is missing
    library: str | None = None
    library_error: str | None = None
    # plan order (results list the backends in it); the credential store plans last
    order: int = 50
    phase: Phase = Phase.USES_CREDENTIALS

    def __init__(self, options):
        self.options = options
        self.warnings = []

    @classmethod
    def keeps_credentials(cls, options):
        """Whether the backend, with these options, generates credentials the store must keep."""
        del options
        return False

    @property
    @abc.abstractmethod
    def address(self):
        """Where the server is, for messages."""

    def _fail(self, message):
        return BackendError(self.name, self.address, message)

    def validate(self, tenants):  # noqa: B027  an optional hook: most backends have nothing to check
        """Input checks that need no server (raise TenantInputError)."""

    @abc.abstractmethod
    def connect(self):
        """Connect and check the login's rights."""

    @abc.abstractmethod
    def close(self):
        """Release the connection."""

    @abc.abstractmethod
    def read(self, tenants):
        """Current state: {tenant id: state}, for every tenant given."""

    @abc.abstractmethod
    def public_view(self, tenant, current):
        """The state of one tenant without internals or secrets, for diff output."""

    def fill_credentials(self, tenant, wanted):  # noqa: B027  an optional hook: only credential users fill
        """Add the credentials this backend needs to ``wanted`` (stored ones first), for a present tenant."""

    @abc.abstractmethod
    def plan(self, tenant, current, creds):
        """(Change, [Op]) that bring one tenant from ``current`` to what is wanted; ``creds``: Credentials."""

    def pending_credentials(self, tenant, ops):
        """Credentials the apply of ``ops`` will make, as {key: PENDING} (phase MAKES_CREDENTIALS)."""
        del tenant, ops
        return {}

    @abc.abstractmethod
    def apply(self, batch):
        """Run the ops of every TenantWork in ``batch`` (empty ops: nothing to do for that tenant);
        return {tenant id: credentials made} (empty unless the server made credentials)."""

    @abc.abstractmethod
    def discover(self):
        """{tenant id: what exists}, found by the names the backend gives tenants."""


class CredentialStore(abc.ABC):
    """A backend that also keeps every tenant's credentials (plans Op(WRITE_CREDENTIALS) when they change)."""

    @abc.abstractmethod
    def stored_credentials(self, current):
        """(credentials dict, version for check-and-set) from one tenant's read state."""

    @abc.abstractmethod
    def credentials_location(self, tenant):
        """Where the tenant's credentials are kept (returned as credentials_path)."""

    @abc.abstractmethod
    def write_credentials(self, tenant, data, version):
        """Store ``data`` with check-and-set against ``version``."""
