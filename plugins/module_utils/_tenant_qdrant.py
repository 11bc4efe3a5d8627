# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Qdrant tenant backend (REST API, standard library only). Private to the collection.

Per tenant: a collection ``tenant_<id>`` with the vector size and distance of the inventory
(per tenant quota ``qdrant_vector_size``/``qdrant_distance`` or the backend defaults), and,
when JWT RBAC is on (``jwt_rbac: true``, Qdrant ``service.jwt_rbac: true``), a token signed
HS256 with the API key and scoped to that collection only, in Qdrant's claim format
``{"access": [{"collection": "tenant_<id>", "access": "rw"}]}`` (plus ``exp`` when
``jwt_ttl_days`` > 0). The token goes to Vault, never to the output.

Qdrant keeps no list of issued tokens, so a token cannot be revoked one by one: ``absent``
removes the tenant's Vault policy (its apps can no longer fetch the token), but a token
already handed out keeps working on a kept collection until it expires (use
``jwt_ttl_days``) or the API key is rotated; the module warns. ``purge`` deletes the collection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import Op, TenantBackend
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    BackendError,
    Change,
    TenantInputError,
    tenant_id_from_prefixed,
)

try:  # the standard library is enough; the import name differs on Python 2 only
    import http.client as http_client
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover
    http_client = None

QDRANT_SPEC = dict(
    url=dict(type='str', default='http://127.0.0.1:6333'),
    api_key=dict(type='str', no_log=True),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='int', default=30),
    vector_size=dict(type='int', default=768),
    distance=dict(type='str', default='Cosine', choices=['Cosine', 'Euclid', 'Dot', 'Manhattan']),
    jwt_rbac=dict(type='bool', default=False),
    jwt_ttl_days=dict(type='int', default=0),
)

_RENEW_FRACTION = 3  # re-issue a token when less than 1/3 of its lifetime is left


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _unb64(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def jwt_encode(claims, key):
    """HS256 JWT with a deterministic encoding (sorted keys), standard library only."""
    header = _b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}, separators=(',', ':'), sort_keys=True).encode())
    payload = _b64(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode())
    signing_input = ('%s.%s' % (header, payload)).encode('ascii')
    signature = hmac.new(key.encode('utf-8'), signing_input, hashlib.sha256).digest()
    return '%s.%s.%s' % (header, payload, _b64(signature))


def jwt_decode(token, key):
    """Claims of an HS256 token whose signature matches ``key``; None otherwise."""
    try:
        header, payload, signature = token.split('.')
        expected = hmac.new(key.encode('utf-8'), ('%s.%s' % (header, payload)).encode('ascii'), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        if json.loads(_unb64(header)).get('alg') != 'HS256':
            return None
        return json.loads(_unb64(payload))
    except (ValueError, AttributeError, TypeError):
        return None


class QdrantTenantBackend(TenantBackend):
    name = 'qdrant'
    argument_spec = QDRANT_SPEC
    order = 40

    def __init__(self, options, transport=None):
        super().__init__(options)
        self._transport = transport
        self._conn = None
        parts = urlsplit(options['url'])
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise BackendError(self.name, options['url'], 'url must be http(s)://host[:port]')
        self._parts = parts
        self._collections = None
        if options['jwt_rbac'] and not options.get('api_key'):
            raise BackendError(self.name, options['url'], 'jwt_rbac needs api_key (tokens are signed with it)')

    @classmethod
    def keeps_credentials(cls, options):
        return bool(options.get('jwt_rbac'))

    @property
    def address(self):
        return self.options['url']

    def validate(self, tenants):
        for tenant in tenants:
            size = tenant.quotas.get('qdrant_vector_size', self.options['vector_size'])
            if not 1 <= size <= 65536:
                raise TenantInputError('tenant %s: qdrant vector size %s is out of range 1..65536' % (tenant.id, size))

    # ------------------------------------------------------------------ HTTP
    def request(self, method, path, body=None):
        """(status, parsed JSON) over one persistent connection (or the injected transport)."""
        if self._transport is not None:
            return self._transport(method, path, body)
        headers = {'Accept': 'application/json'}
        if self.options.get('api_key'):
            headers['api-key'] = self.options['api_key']
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        try:
            if self._conn is None:
                port = self._parts.port
                if self._parts.scheme == 'https':
                    import ssl

                    ctx = ssl.create_default_context()
                    if not self.options['validate_certs']:
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                    self._conn = http_client.HTTPSConnection(
                        self._parts.hostname, port or 443, timeout=self.options['timeout'], context=ctx
                    )
                else:
                    self._conn = http_client.HTTPConnection(
                        self._parts.hostname, port or 80, timeout=self.options['timeout']
                    )
            self._conn.request(method, (self._parts.path.rstrip('/') + path), body=data, headers=headers)
            resp = self._conn.getresponse()
            raw = resp.read()
        except (OSError, http_client.HTTPException) as exc:
            self._conn = None
            raise self._fail('%s %s failed: %s' % (method, path, exc)) from exc
        try:
            parsed = json.loads(raw.decode('utf-8')) if raw else {}
        except ValueError:
            parsed = {'raw': raw[:200].decode('utf-8', 'replace')}
        return resp.status, parsed

    def _ok(self, method, path, body=None, allow=(200,)):
        status, data = self.request(method, path, body)
        if status not in allow:
            detail = (
                (data.get('status') or {}).get('error') if isinstance(data.get('status'), dict) else data.get('status')
            )
            if status in (401, 403):
                raise self._fail(
                    '%s %s refused (HTTP %d): the api_key must be the admin (read-write) key' % (method, path, status)
                )
            raise self._fail('%s %s answered HTTP %d: %s' % (method, path, status, detail or data))
        return status, data

    def connect(self):
        dummy, data = self._ok('GET', '/collections')
        self._collections = set(c['name'] for c in (data.get('result') or {}).get('collections', []))

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ read
    def read(self, tenants):
        state = {}
        for tenant in tenants:
            if tenant.collection not in self._collections:
                state[tenant.id] = {'collection': None}
                continue
            status, data = self._ok('GET', '/collections/%s' % quote(tenant.collection), allow=(200, 404))
            if status == 404:
                state[tenant.id] = {'collection': None}
                continue
            params = ((data.get('result') or {}).get('config') or {}).get('params') or {}
            vectors = params.get('vectors') or {}
            state[tenant.id] = {
                'collection': {
                    'size': vectors.get('size'),
                    'distance': vectors.get('distance'),
                    'points': (data.get('result') or {}).get('points_count'),
                }
            }
        return state

    def public_view(self, tenant, current):
        return {'collection': current.get('collection')}

    def _want(self, tenant):
        return {
            'size': tenant.quotas.get('qdrant_vector_size', self.options['vector_size']),
            'distance': tenant.quotas.get('qdrant_distance', self.options['distance']),
        }

    def claims_for(self, tenant, now=None):
        claims = {'access': [{'collection': tenant.collection, 'access': 'rw'}]}
        if self.options['jwt_ttl_days'] > 0:
            claims['exp'] = int(now if now is not None else time.time()) + self.options['jwt_ttl_days'] * 86400
        return claims

    def token_for(self, tenant, stored, now=None):
        """The token to keep in Vault: the stored one while it is valid and scoped right, else a new one."""
        if not self.options['jwt_rbac']:
            return None
        now = int(now if now is not None else time.time())
        if stored:
            claims = jwt_decode(stored, self.options['api_key'])
            if claims and claims.get('access') == self.claims_for(tenant)['access']:
                ttl = self.options['jwt_ttl_days'] * 86400
                exp = claims.get('exp')
                if ttl == 0 and exp is None:
                    return stored
                if ttl and exp and exp - now > ttl // _RENEW_FRACTION:
                    return stored
        return jwt_encode(self.claims_for(tenant, now), self.options['api_key'])

    def fill_credentials(self, tenant, wanted):
        token = self.token_for(tenant, wanted.get('qdrant_api_key'))
        if token:
            wanted['qdrant_api_key'] = token

    def plan(self, tenant, current, creds):
        change = Change()
        change.before = self.public_view(tenant, current)
        ops = []
        coll = current['collection']
        if tenant.present:
            want = self._want(tenant)
            if coll is None:
                ops.append(Op('create', want))
                change.add('create collection %s (size %d, %s)' % (tenant.collection, want['size'], want['distance']))
                change.after = {'collection': dict(want, points=0)}
            else:
                if (coll['size'], coll['distance']) != (want['size'], want['distance']):
                    raise self._fail(
                        'collection %s exists with size %s/%s, the inventory asks %s/%s; Qdrant cannot change '
                        'it in place (recreate it, the points are lost)'
                        % (tenant.collection, coll['size'], coll['distance'], want['size'], want['distance'])
                    )
                change.after = {'collection': coll}
        else:
            change.after = {'collection': coll}
            if tenant.purge and coll is not None:
                ops.append(Op('delete'))
                change.add('delete collection %s' % tenant.collection)
                change.after = {'collection': None}
            elif coll is not None and self.options['jwt_rbac']:
                self.warnings.append(
                    "qdrant: tenant %s's token stays valid on the kept collection %s until it expires "
                    'or the API key changes (Qdrant cannot revoke one token)' % (tenant.id, tenant.collection)
                )
        return change, ops

    def apply(self, batch):
        for tenant, ops, dummy in batch:
            for kind, arg in ops:
                if kind == 'create':
                    self._ok(
                        'PUT',
                        '/collections/%s' % quote(tenant.collection),
                        {'vectors': {'size': arg['size'], 'distance': arg['distance']}},
                    )
                elif kind == 'delete':
                    self._ok('DELETE', '/collections/%s' % quote(tenant.collection), allow=(200, 404))
        return {}

    def discover(self):
        found = {}
        for name in sorted(self._collections or ()):
            tenant_id = tenant_id_from_prefixed(name, 'tenant_')
            if tenant_id:
                found[tenant_id] = {'collection': name}
        return found
