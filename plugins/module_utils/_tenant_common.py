# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tenant model shared by the tenant backends: validation, naming, results.

Private to the collection (the leading underscore): no compatibility promise.
Nothing in here talks to a server; it is safe to import without any
backend library installed.
"""

from __future__ import annotations

import re
import secrets
import string

# A tenant id is ASCII lower-case letters and digits, in groups joined by a
# single underscore, starting with a letter; 2 to 30 characters.  This is the
# intersection of what every backend accepts without quoting surprises:
#   PostgreSQL role/database name part, Valkey key prefix, Vault path segment,
#   Qdrant collection name, and (with "_" mapped to "-") an S3 bucket name and
#   a Neo4j Enterprise database name.  No leading/trailing/double underscore,
#   so the "_" -> "-" mapping can never produce "--" or a leading/trailing "-",
#   and the mapping is one-to-one.
TENANT_ID_RULE = (
    '2 to 30 ASCII characters: a lower-case letter, then lower-case letters and digits, '
    'in groups joined by single underscores (regex ^[a-z][a-z0-9]*(_[a-z0-9]+)*$)'
)
_TENANT_ID_RE = re.compile(r'[a-z][a-z0-9]*(?:_[a-z0-9]+)*', re.ASCII)
TENANT_ID_MIN = 2
TENANT_ID_MAX = 30

# An app name becomes the first part of a PostgreSQL database name
# "<app>_<tenant>"; it has no underscore so the split is unambiguous and two
# (app, tenant) pairs can never map to the same database.
APP_RULE = (
    '1 to 20 ASCII characters: a lower-case letter, then lower-case letters and digits (regex ^[a-z][a-z0-9]{0,19}$)'
)
_APP_RE = re.compile(r'[a-z][a-z0-9]{0,19}', re.ASCII)

RESERVED_IDS = frozenset(
    (
        'admin',
        'administrator',
        'all',
        'anonymous',
        'current_role',
        'current_user',
        'default',
        'everyone',
        'guest',
        'information_schema',
        'neo4j',
        'none',
        'nobody',
        'postgres',
        'public',
        'qdrant',
        'redis',
        'replication',
        'root',
        'session_user',
        'superuser',
        'sys',
        'system',
        'template0',
        'template1',
        'tenant',
        'tenants',
        'valkey',
        'vault',
        'openbao',
        'seaweedfs',
    )
)
RESERVED_PREFIXES = ('pg_', 'sys_', 'xn_')
RESERVED_SUFFIXES = ('_s3alias', '_ol_s3')

STATES = ('present', 'absent')

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class TenantInputError(ValueError):
    """Bad tenant input. Raised before any backend is contacted."""


class BackendError(Exception):
    """A backend failed. The message names the backend and its address."""

    def __init__(self, backend, address, message):
        self.backend = backend
        self.address = address
        super().__init__('%s backend at %s: %s' % (backend, address, message))


def generate_password(length=32):
    """A random password from letters and digits (safe in every URL/DSN)."""
    return ''.join(secrets.choice(_PASSWORD_ALPHABET) for dummy in range(length))


def generate_access_key():
    """An S3 key pair shaped as AWS makes them: a 20-character id of upper-case letters and digits,
    a 40-character secret (for servers where the client chooses the key: SeaweedFS's admin shell)."""
    key_id = 'T' + ''.join(secrets.choice(_KEY_ID_ALPHABET) for dummy in range(19))
    return key_id, generate_password(40)


def _describe(value):
    """repr() of a bad value, shortened, so errors show exactly what was refused."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + '...'
    return text


def check_tenant_id(value):
    if not isinstance(value, str):
        raise TenantInputError('tenant id %s is not a string; it must be %s' % (_describe(value), TENANT_ID_RULE))
    if not value:
        raise TenantInputError('tenant id is empty; it must be %s' % TENANT_ID_RULE)
    if len(value) < TENANT_ID_MIN or len(value) > TENANT_ID_MAX:
        raise TenantInputError(
            'tenant id %s has %d characters; it must be %s' % (_describe(value), len(value), TENANT_ID_RULE)
        )
    # fullmatch with re.ASCII: no trailing newline slips through (unlike "$"),
    # no Unicode look-alike letters or digits match.
    if not _TENANT_ID_RE.fullmatch(value):
        raise TenantInputError('tenant id %s is refused; it must be %s' % (_describe(value), TENANT_ID_RULE))
    if value in RESERVED_IDS:
        raise TenantInputError(
            'tenant id %s is a reserved name (reserved: %s)' % (_describe(value), ', '.join(sorted(RESERVED_IDS)))
        )
    for prefix in RESERVED_PREFIXES:
        if value.startswith(prefix):
            raise TenantInputError('tenant id %s starts with the reserved prefix %r' % (_describe(value), prefix))
    for suffix in RESERVED_SUFFIXES:
        if value.endswith(suffix):
            raise TenantInputError(
                'tenant id %s ends with the reserved suffix %r (not allowed in S3 bucket names)'
                % (_describe(value), suffix)
            )
    return value


def check_app(tenant_id, value):
    if not isinstance(value, str) or not _APP_RE.fullmatch(value):
        raise TenantInputError(
            'tenant %s: app name %s is refused; it must be %s' % (tenant_id, _describe(value), APP_RULE)
        )
    return value


class Tenant:
    """One validated tenant of the input list."""

    __slots__ = ('id', 'display_name', 'apps', 'state', 'purge', 'quotas', 'apps_host')

    def __init__(self, tenant_id, display_name, apps, state, purge, quotas, apps_host=None):
        self.id = tenant_id
        self.display_name = display_name
        self.apps = apps
        self.state = state
        self.purge = purge
        self.quotas = quotas
        # The inventory host that runs the tenant's app instances (role tenant_apps); None: the role's default.
        self.apps_host = apps_host

    @property
    def present(self):
        return self.state == 'present'

    # Names in each backend, all derived here so a reader finds the mapping in one place.
    @property
    def pg_role(self):
        return 'tenant_%s' % self.id

    def pg_databases(self):
        return ['%s_%s' % (app, self.id) for app in self.apps]

    @property
    def valkey_user(self):
        return 'tenant_%s' % self.id

    @property
    def key_prefix(self):
        return '%s:' % self.id

    @property
    def bucket(self):
        return bucket_name(self.id)

    @property
    def s3_user(self):
        return 'tenant-%s' % self.id.replace('_', '-')

    @property
    def vault_name(self):
        """Vault policy and AppRole role name."""
        return 'tenant-%s' % self.id.replace('_', '-')

    @property
    def collection(self):
        return 'tenant_%s' % self.id


def bucket_name(tenant_id):
    return 'tenant-%s' % tenant_id.replace('_', '-')


def tenant_id_from_prefixed(name, prefix, sep='_'):
    """'tenant_acme' -> 'acme' (or None when the name is not a valid tenant name)."""
    if not name.startswith(prefix):
        return None
    candidate = name[len(prefix) :]
    if sep != '_':
        candidate = candidate.replace(sep, '_')
    try:
        check_tenant_id(candidate)
    except TenantInputError:
        return None
    return candidate


_QUOTA_KEYS = {
    'pg_connection_limit': int,
    'qdrant_vector_size': int,
    'qdrant_distance': str,
    # Limits of each app container of the tenant (role tenant_apps): a size as Docker takes it, a CPU count.
    'app_memory': 'size',
    'app_cpus': float,
    # Queue-mode workers of the tenant's n8n (role tenant_apps): 0 runs n8n in regular mode.
    'n8n_workers': 'workers',
}
# A bound, so that a typo (100 for 10) cannot start a fleet of containers on one host.
N8N_WORKERS_MAX = 16
QDRANT_DISTANCES = ('Cosine', 'Euclid', 'Dot', 'Manhattan')

# A memory size as Docker's --memory takes it: a number and an optional unit b, k, m or g.
MEMORY_SIZE_RULE = 'a size such as 512m or 2g (a whole number, then b, k, m or g), at least 6m'
_MEMORY_SIZE_RE = re.compile(r'([1-9][0-9]{0,12})([bkmg]?)', re.ASCII)
_MEMORY_UNITS = {'': 1, 'b': 1, 'k': 1024, 'm': 1024**2, 'g': 1024**3}
# Docker refuses a container memory limit below 6 MiB.
MEMORY_MIN_BYTES = 6 * 1024**2


def memory_size_bytes(value):
    """Bytes of a Docker memory size ('512m', '2g', 1073741824); TenantInputError if it is not one."""
    text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    match = _MEMORY_SIZE_RE.fullmatch(text) if text is not None else None
    if not match:
        raise TenantInputError('%s is not %s' % (_describe(value), MEMORY_SIZE_RULE))
    size = int(match.group(1)) * _MEMORY_UNITS[match.group(2)]
    if size < MEMORY_MIN_BYTES:
        raise TenantInputError('%s is below the minimum; it must be %s' % (_describe(value), MEMORY_SIZE_RULE))
    return size


def check_n8n_workers(value, what):
    """A number of n8n workers: a whole number from 0 to N8N_WORKERS_MAX; TenantInputError naming `what` if not."""
    if isinstance(value, str) and re.fullmatch(r'[0-9]{1,3}', value.strip(), re.ASCII):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= N8N_WORKERS_MAX:
        raise TenantInputError(
            '%s must be a whole number from 0 (n8n in regular mode) to %d, got %s'
            % (what, N8N_WORKERS_MAX, _describe(value))
        )
    return value


_TENANT_KEYS = ('id', 'display_name', 'apps', 'state', 'purge', 'quotas', 'apps_host')
# An inventory host name as a tenant's apps_host names it (the role tenant_apps checks it is in group apps).
_INVENTORY_HOST_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,252}', re.ASCII)


def validate_tenants(raw_list, default_apps=None):
    """Validate the whole list; return Tenant objects or raise TenantInputError.

    Every check runs before any backend is touched; the first bad value stops
    everything, with a message that names the value and the rule.
    """
    if not isinstance(raw_list, list):
        raise TenantInputError('tenants must be a list of dictionaries')
    seen = {}
    result = []
    for index, raw in enumerate(raw_list):
        if not isinstance(raw, dict):
            raise TenantInputError('tenants[%d] is %s, not a dictionary' % (index, _describe(raw)))
        unknown = set(raw) - set(_TENANT_KEYS)
        if unknown:
            raise TenantInputError(
                'tenants[%d]: unknown key(s) %s; allowed: %s'
                % (index, ', '.join(sorted(repr(k) for k in unknown)), ', '.join(_TENANT_KEYS))
            )
        if 'id' not in raw:
            raise TenantInputError('tenants[%d] has no id' % index)
        try:
            tenant_id = check_tenant_id(raw['id'])
        except TenantInputError as exc:
            raise TenantInputError('tenants[%d]: %s' % (index, exc)) from None
        if tenant_id in seen:
            raise TenantInputError(
                'tenant id %r appears twice (tenants[%d] and tenants[%d]); ids must be unique'
                % (tenant_id, seen[tenant_id], index)
            )
        seen[tenant_id] = index
        state = raw.get('state', 'present')
        if state not in STATES:
            raise TenantInputError(
                'tenant %s: state %s is refused; it must be present or absent' % (tenant_id, _describe(state))
            )
        purge = raw.get('purge', False)
        if not isinstance(purge, bool):
            raise TenantInputError('tenant %s: purge must be a boolean, got %s' % (tenant_id, _describe(purge)))
        display_name = raw.get('display_name') or tenant_id
        if not isinstance(display_name, str) or len(display_name) > 200 or any(ord(c) < 32 for c in display_name):
            raise TenantInputError(
                'tenant %s: display_name must be a string of at most 200 printable characters' % tenant_id
            )
        apps = raw.get('apps')
        if apps is None:
            apps = list(default_apps or [])
        if not isinstance(apps, list):
            raise TenantInputError('tenant %s: apps must be a list of app names' % tenant_id)
        apps = [check_app(tenant_id, app) for app in apps]
        if len(set(apps)) != len(apps):
            raise TenantInputError('tenant %s: apps %s lists an app twice' % (tenant_id, apps))
        apps_host = raw.get('apps_host')
        if apps_host is not None and not (isinstance(apps_host, str) and _INVENTORY_HOST_RE.fullmatch(apps_host)):
            raise TenantInputError(
                'tenant %s: apps_host must be the name of an inventory host (letters, digits, _ . -), got %s'
                % (tenant_id, _describe(apps_host))
            )
        quotas = raw.get('quotas') or {}
        if not isinstance(quotas, dict):
            raise TenantInputError('tenant %s: quotas must be a dictionary' % tenant_id)
        clean_quotas = {}
        for key, value in quotas.items():
            if key not in _QUOTA_KEYS:
                raise TenantInputError(
                    'tenant %s: unknown quota %s; allowed: %s'
                    % (tenant_id, _describe(key), ', '.join(sorted(_QUOTA_KEYS)))
                )
            kind = _QUOTA_KEYS[key]
            if kind is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    try:
                        value = int(str(value), 10)
                    except ValueError:
                        raise TenantInputError(
                            'tenant %s: quota %s must be an integer, got %s' % (tenant_id, key, _describe(value))
                        ) from None
                if key == 'pg_connection_limit' and value < -1:
                    raise TenantInputError(
                        'tenant %s: quota pg_connection_limit must be -1 (unlimited) or more' % tenant_id
                    )
                if key != 'pg_connection_limit' and value < 1:
                    raise TenantInputError('tenant %s: quota %s must be positive' % (tenant_id, key))
            elif kind == 'size':
                try:
                    memory_size_bytes(value)
                except TenantInputError as exc:
                    raise TenantInputError('tenant %s: quota %s: %s' % (tenant_id, key, exc)) from None
                value = str(value).strip().lower()
            elif kind == 'workers':
                value = check_n8n_workers(value, 'tenant %s: quota n8n_workers' % tenant_id)
            elif kind is float:
                try:
                    value = float(str(value)) if not isinstance(value, bool) else None
                except ValueError:
                    value = None
                # Docker takes CPUs in steps of 0.01 (NanoCPUs).
                if value is None or not 0.01 <= value <= 1024:
                    raise TenantInputError(
                        'tenant %s: quota %s must be a number of CPUs from 0.01 to 1024, got %s'
                        % (tenant_id, key, _describe(quotas[key]))
                    )
            elif key == 'qdrant_distance' and value not in QDRANT_DISTANCES:
                raise TenantInputError(
                    'tenant %s: quota qdrant_distance must be one of %s' % (tenant_id, ', '.join(QDRANT_DISTANCES))
                )
            clean_quotas[key] = value
        result.append(Tenant(tenant_id, display_name, apps, state, purge, clean_quotas, apps_host))
    return result


class Change:
    """What one backend did (or would do) for one tenant."""

    def __init__(self):
        self.actions = []
        self.before = {}
        self.after = {}

    def add(self, action):
        self.actions.append(action)

    @property
    def changed(self):
        return bool(self.actions)

    def as_dict(self):
        return {'changed': self.changed, 'actions': list(self.actions)}
