# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY: the interface may change in any release.
"""Vault / OpenBao access through hvac, shared by plugins and modules.

``VaultConnection`` builds an hvac client from plain options, authenticates it with a
token or AppRole and turns library and network errors into ``VaultError`` messages a
person can act on. Secret values, tokens and secret_ids never appear in those messages.
``VAULT_ARGUMENT_SPEC`` matches the ``selfhosted_ai.stack._vault`` doc fragment.
"""

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback

from ansible.module_utils.basic import env_fallback

# hvac (requests with it) takes about a tenth of a second to import, paid again by every task whose worker loads
# the secret lookup: it is imported by the first connection (_import_hvac), so a run whose secrets are in the file
# backend never imports it. HAS_HVAC says whether it is installed; a failed import turns it false.
hvac = None
requests = None
HAS_HVAC = importlib.util.find_spec('hvac') is not None
HVAC_IMPORT_ERROR = None if HAS_HVAC else "ModuleNotFoundError: No module named 'hvac'"


def _import_hvac():
    """Import hvac and requests' exceptions into this module, once."""
    global hvac, requests, HAS_HVAC, HVAC_IMPORT_ERROR
    if hvac is None and HAS_HVAC:
        try:
            importlib.import_module('hvac.exceptions')
            hvac = importlib.import_module('hvac')
        except ImportError:
            HAS_HVAC, HVAC_IMPORT_ERROR = False, traceback.format_exc()
    if requests is None:
        with contextlib.suppress(ImportError):
            importlib.import_module('requests.exceptions')
            requests = importlib.import_module('requests')


AUTH_METHODS = ('auto', 'token', 'approle')

# Environment variables, in the order a module's env_fallback tries them (the first one set wins;
# the plugin doc fragment lists them the other way round because there the last one set wins).
ENV_URL = ['BAO_ADDR', 'VAULT_ADDR']
ENV_TOKEN = ['BAO_TOKEN', 'VAULT_TOKEN']
ENV_NAMESPACE = ['BAO_NAMESPACE', 'VAULT_NAMESPACE']
ENV_CACERT = ['BAO_CACERT', 'VAULT_CACERT']
ENV_CLIENT_CERT = ['BAO_CLIENT_CERT', 'VAULT_CLIENT_CERT']
ENV_CLIENT_KEY = ['BAO_CLIENT_KEY', 'VAULT_CLIENT_KEY']
ENV_ROLE_ID = ['BAO_ROLE_ID', 'VAULT_ROLE_ID']
ENV_SECRET_ID = ['BAO_SECRET_ID', 'VAULT_SECRET_ID']
ENV_SKIP_VERIFY = ['BAO_SKIP_VERIFY', 'VAULT_SKIP_VERIFY']

VAULT_ARGUMENT_SPEC = dict(
    url=dict(type='str', fallback=(env_fallback, ENV_URL)),
    auth_method=dict(type='str', default='auto', choices=list(AUTH_METHODS)),
    token=dict(type='str', no_log=True, fallback=(env_fallback, ENV_TOKEN)),
    role_id=dict(type='str', fallback=(env_fallback, ENV_ROLE_ID)),
    secret_id=dict(type='str', no_log=True, fallback=(env_fallback, ENV_SECRET_ID)),
    approle_mount_point=dict(type='str', default='approle'),
    namespace=dict(type='str', fallback=(env_fallback, ENV_NAMESPACE)),
    ca_cert=dict(type='path', fallback=(env_fallback, ENV_CACERT)),
    validate_certs=dict(type='bool'),
    client_cert=dict(type='path', fallback=(env_fallback, ENV_CLIENT_CERT)),
    client_key=dict(type='path', no_log=False, fallback=(env_fallback, ENV_CLIENT_KEY)),
    timeout=dict(type='int', default=30),
)

CONNECTION_OPTIONS = tuple(VAULT_ARGUMENT_SPEC)

_TRUE_STRINGS = ('1', 'true', 'yes', 'on', 't', 'y')
_CAS_MISMATCH = 'check-and-set'
# a KV read that finds a secret written by another process between its data and metadata reads
# reads again; get-or-generate lookups in parallel forks race exactly there
_KV2_READ_ATTEMPTS = 3


def _raise_on_deleted(kv):
    """hvac >= 1.1 takes raise_on_deleted_version (and warns when it is not given); 0.11 does not."""
    try:
        parameters = inspect.signature(kv.read_secret_version).parameters
    except (TypeError, ValueError):
        return {}
    return {'raise_on_deleted_version': True} if 'raise_on_deleted_version' in parameters else {}


class VaultError(Exception):
    """A Vault problem, described for a person; never carries secret values."""


def _env_skip_verify(environ=None):
    environ = os.environ if environ is None else environ
    for name in ENV_SKIP_VERIFY:
        value = environ.get(name)
        if value is not None and value.strip() != '':
            return value.strip().lower() in _TRUE_STRINGS
    return False


def _last_line(text):
    lines = (text or '').strip().splitlines()
    return lines[-1] if lines else ''


def _server_errors(exc):
    """The error strings Vault sent back, joined (they never echo request bodies)."""
    errors = getattr(exc, 'errors', None)
    if isinstance(errors, (list, tuple)) and errors:
        return '; '.join(str(e) for e in errors)
    text = str(exc)
    return text or exc.__class__.__name__


class VaultConnection:
    """Connection and authentication options for one Vault/OpenBao server.

    Build it with keyword arguments named as in ``VAULT_ARGUMENT_SPEC`` (``from_params``
    takes a module's ``params``), then call ``client()`` for an authenticated hvac client
    or use the KV v2 helpers, which translate every failure into ``VaultError``.
    """

    def __init__(
        self,
        url=None,
        auth_method='auto',
        token=None,
        role_id=None,
        secret_id=None,
        approle_mount_point='approle',
        namespace=None,
        ca_cert=None,
        validate_certs=None,
        client_cert=None,
        client_key=None,
        timeout=30,
    ):
        self.url = (url or '').strip().rstrip('/') or None
        self.auth_method = auth_method or 'auto'
        self.token = token or None
        self.role_id = role_id or None
        self.secret_id = secret_id or None
        self.approle_mount_point = (approle_mount_point or 'approle').strip('/')
        self.namespace = namespace or None
        self.ca_cert = ca_cert or None
        self.validate_certs = (not _env_skip_verify()) if validate_certs is None else bool(validate_certs)
        self.client_cert = client_cert or None
        self.client_key = client_key or None
        self.timeout = 30 if timeout is None else int(timeout)
        self._client = None
        self._owns_token = False

    @classmethod
    def from_params(cls, params):
        """Build from a dict such as a module's params; unknown keys are ignored."""
        return cls(**dict((k, params.get(k)) for k in CONNECTION_OPTIONS if k in params))

    # ------------------------------------------------------------------ validation
    @property
    def effective_auth_method(self):
        if self.auth_method != 'auto':
            return self.auth_method
        if self.role_id or self.secret_id:
            return 'approle'
        return 'token'

    def validate(self):
        """Check the options without contacting the server; raise VaultError."""
        _import_hvac()
        if not HAS_HVAC:
            raise VaultError(
                'the Python library hvac is required for Vault/OpenBao access but could not be '
                'imported by %s (install it: pip install hvac); %s' % (sys.executable, _last_line(HVAC_IMPORT_ERROR))
            )
        if not self.url:
            raise VaultError('no Vault/OpenBao URL given: set the url option or VAULT_ADDR/BAO_ADDR')
        if not (self.url.startswith('http://') or self.url.startswith('https://')):
            raise VaultError('the Vault/OpenBao URL %r must start with http:// or https://' % self.url)
        if self.auth_method not in AUTH_METHODS:
            raise VaultError('auth_method must be one of %s, not %r' % (', '.join(AUTH_METHODS), self.auth_method))
        method = self.effective_auth_method
        if method == 'token' and not self.token:
            raise VaultError(
                'no token for %s: set the token option or VAULT_TOKEN/BAO_TOKEN, '
                'or use AppRole (role_id and secret_id)' % self.url
            )
        if method == 'approle' and not (self.role_id and self.secret_id):
            raise VaultError('AppRole authentication to %s needs both role_id and secret_id' % self.url)
        if self.client_key and not self.client_cert:
            raise VaultError('client_key was given without client_cert')
        for label, path in (
            ('ca_cert', self.ca_cert),
            ('client_cert', self.client_cert),
            ('client_key', self.client_key),
        ):
            if path and not os.path.isfile(path):
                raise VaultError('%s file %s does not exist' % (label, path))
        if self.timeout <= 0:
            raise VaultError('timeout must be a positive number of seconds')

    # ------------------------------------------------------------------ errors
    def _scrub(self, text):
        text = str(text)
        for value in (self.token, self.secret_id):
            if value:
                text = text.replace(value, '********')
        return text

    def _network_error(self, exc):
        """VaultError for a requests exception, or None when it is not a network problem."""
        if requests is None:
            return None
        if isinstance(exc, requests.exceptions.SSLError):
            return VaultError(
                'TLS verification failed for %s (set ca_cert to the CA that signed the server '
                'certificate, or client_cert/client_key when the server asks for one): %s'
                % (self.url, self._scrub(exc)[:400])
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return VaultError('Vault/OpenBao at %s did not answer within %s seconds' % (self.url, self.timeout))
        if isinstance(exc, requests.exceptions.ConnectionError):
            return VaultError(
                'cannot reach Vault/OpenBao at %s (is it running and is the URL right?): %s'
                % (self.url, self._scrub(exc)[:400])
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return VaultError('request to Vault/OpenBao at %s failed: %s' % (self.url, self._scrub(exc)[:400]))
        return None

    def _translate(self, exc, action):
        """Turn any exception raised while doing `action` into a VaultError."""
        if isinstance(exc, VaultError):
            return exc
        net = self._network_error(exc)
        if net is not None:
            return net
        if hvac is not None:
            detail = self._scrub(_server_errors(exc))
            if isinstance(exc, (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)):
                return VaultError('permission denied while %s at %s: %s' % (action, self.url, detail))
            if isinstance(exc, hvac.exceptions.VaultDown):
                return VaultError('Vault/OpenBao at %s is sealed or not ready: %s' % (self.url, detail))
            if isinstance(exc, hvac.exceptions.VaultNotInitialized):
                return VaultError('Vault/OpenBao at %s is not initialised' % self.url)
            if isinstance(exc, hvac.exceptions.VaultError):
                return VaultError('Vault/OpenBao at %s refused %s: %s' % (self.url, action, detail))
        return VaultError(
            'unexpected error while %s at %s: %s: %s'
            % (action, self.url, exc.__class__.__name__, self._scrub(exc)[:400])
        )

    # ------------------------------------------------------------------ client
    def _new_client(self):
        verify = False
        if self.validate_certs:
            verify = self.ca_cert or True
        cert = None
        if self.client_cert:
            cert = (self.client_cert, self.client_key) if self.client_key else self.client_cert
        return hvac.Client(
            url=self.url, token=None, verify=verify, cert=cert, timeout=self.timeout, namespace=self.namespace
        )

    def _authenticate(self, client):
        method = self.effective_auth_method
        if method == 'approle':
            try:
                client.auth.approle.login(
                    role_id=self.role_id, secret_id=self.secret_id, mount_point=self.approle_mount_point
                )
            except Exception as e:  # pylint: disable=broad-except
                err = self._network_error(e)
                if err is not None:
                    raise err from e
                raise VaultError(
                    'AppRole login to %s (auth mount %r) failed, check role_id and secret_id: %s'
                    % (self.url, self.approle_mount_point, self._scrub(_server_errors(e)))
                ) from e
            self._owns_token = True
            return
        client.token = self.token
        try:
            client.auth.token.lookup_self()
        except Exception as e:  # pylint: disable=broad-except
            err = self._network_error(e)
            if err is not None:
                raise err from e
            if isinstance(e, (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)):
                raise VaultError(
                    'permission denied / invalid token for %s: the server refused the token (%s)'
                    % (self.url, self._scrub(_server_errors(e)))
                ) from e
            raise self._translate(e, 'checking the token') from e

    def client(self):
        """An authenticated hvac client (created once per connection object)."""
        if self._client is None:
            self.validate()
            client = self._new_client()
            self._authenticate(client)
            self._client = client
        return self._client

    def close(self):
        """Revoke the token this object obtained by logging in (AppRole), so short-lived
        runs do not pile up tokens until their TTL ends. A token given to us is left alone."""
        client, self._client = self._client, None
        if client is not None and self._owns_token:
            self._owns_token = False
            # best effort: the token expires with its TTL anyway
            with contextlib.suppress(Exception):
                client.auth.token.revoke_self()

    # ------------------------------------------------------------------ KV v2
    def kv2_read(self, path, mount_point='secret'):
        """Read the latest version of a KV v2 secret.

        Returns ``(data, version, deleted)``: ``data`` is the dict of fields (None when the
        secret does not exist or its latest version is deleted), ``version`` the current
        version number (0 when the path has never been written).

        Works with hvac 0.11 (Debian 12's python3-hvac) to 2.x: a missing or deleted latest
        version is an error on every version (hvac >= 1.1 is asked to raise, older ones always
        do), and the metadata endpoint then tells a deleted secret from one never written.
        """
        client = self.client()
        kv = client.secrets.kv.v2
        for dummy in range(_KV2_READ_ATTEMPTS):
            try:
                raw = kv.read_secret_version(path=path, mount_point=mount_point, **_raise_on_deleted(kv))
                break
            except Exception as e:  # pylint: disable=broad-except
                if not isinstance(e, hvac.exceptions.InvalidPath):
                    raise self._translate(e, 'reading %s/%s' % (mount_point, path)) from e
                found = self._kv2_read_metadata(kv, path, mount_point)
                if found is not None:
                    return found
                # another process wrote it between the two reads (get-or-generate races): read it again
        else:
            raise VaultError(
                '%s/%s on %s was written while it was being read, %d times; run again'
                % (mount_point, path, self.url, _KV2_READ_ATTEMPTS)
            )
        body = (raw or {}).get('data') or {}
        metadata = body.get('metadata') or {}
        version = int(metadata.get('version') or 0)
        if metadata.get('deletion_time') or metadata.get('destroyed'):
            return None, version, True
        data = body.get('data')
        if not isinstance(data, dict):
            data = {}
        return data, version, False

    def _kv2_read_metadata(self, kv, path, mount_point):
        """(None, version, deleted) of a secret whose latest version could not be read; None when
        its latest version exists after all (written since the read)."""
        try:
            raw = kv.read_secret_metadata(path=path, mount_point=mount_point)
        except Exception as e:  # pylint: disable=broad-except
            if isinstance(e, (hvac.exceptions.InvalidPath, hvac.exceptions.Forbidden)):
                # never written, or a token that may not read metadata: a check-and-set write tells
                return None, 0, False
            raise self._translate(e, 'reading the metadata of %s/%s' % (mount_point, path)) from e
        body = (raw or {}).get('data') or {}
        version = int(body.get('current_version') or 0)
        if version == 0:
            return None, 0, False
        latest = (body.get('versions') or {}).get(str(version)) or {}
        if latest.get('deletion_time') or latest.get('destroyed'):
            return None, version, True
        return None

    def kv2_mount_version(self, mount_point='secret'):
        """The KV version of a mount ('1', '2'), or None when the server does not tell us."""
        client = self.client()
        try:
            raw = client.adapter.get('/v1/sys/internal/ui/mounts/%s' % mount_point.strip('/'))
        except Exception:  # pylint: disable=broad-except
            return None
        try:
            data = raw.get('data') or {}
            if data.get('type') not in ('kv', 'generic'):
                return data.get('type') and 'other:%s' % data.get('type')
            return str((data.get('options') or {}).get('version') or '1')
        except AttributeError:
            return None

    def kv2_write(self, path, data, mount_point='secret', cas=None):
        """Write a KV v2 secret; with ``cas`` the write only succeeds at that version.

        Returns True when written, False when a check-and-set lost against another writer.
        """
        client = self.client()
        try:
            client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, cas=cas, mount_point=mount_point)
        except Exception as e:  # pylint: disable=broad-except
            if isinstance(e, hvac.exceptions.InvalidRequest) and _CAS_MISMATCH in _server_errors(e):
                return False
            if isinstance(e, hvac.exceptions.InvalidPath):
                raise VaultError(
                    'no KV version 2 secrets engine is mounted at %r on %s (enable one: '
                    'bao secrets enable -path=%s kv-v2)' % (mount_point, self.url, mount_point)
                ) from e
            raise self._translate(e, 'writing %s/%s' % (mount_point, path)) from e
        return True
