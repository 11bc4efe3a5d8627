# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Qdrant tenant backend against recorded API answers (no Qdrant server can run here).

The answers below are Qdrant 1.x REST replies in the documented shape (``result``/``status``/
``time``); the transport replays them and fails on any request not in the script.
JWT tokens are verified by decoding them (PyJWT when installed, and the module's own decoder).
"""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_backend import TenantWork
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_qdrant import (
    QdrantTenantBackend,
    jwt_decode,
    jwt_encode,
)

API_KEY = 'unit-qdrant-signing-key-0123456789'

LIST_EMPTY = {'result': {'collections': []}, 'status': 'ok', 'time': 1.4e-05}
LIST_ONE = {
    'result': {'collections': [{'name': 'tenant_acme'}, {'name': 'shared_docs'}]},
    'status': 'ok',
    'time': 2.1e-05,
}
GET_ACME = {
    'result': {
        'status': 'green',
        'optimizer_status': 'ok',
        'indexed_vectors_count': 0,
        'points_count': 12,
        'segments_count': 2,
        'config': {
            'params': {
                'vectors': {'size': 768, 'distance': 'Cosine'},
                'shard_number': 1,
                'replication_factor': 1,
                'write_consistency_factor': 1,
                'on_disk_payload': True,
            },
            'hnsw_config': {'m': 16, 'ef_construct': 100},
        },
        'payload_schema': {},
    },
    'status': 'ok',
    'time': 8.7e-05,
}
CREATED = {'result': True, 'status': 'ok', 'time': 0.052}
DELETED = {'result': True, 'status': 'ok', 'time': 0.011}
FORBIDDEN = {'status': {'error': 'Forbidden: Global access is required'}, 'time': 0.0}


class Replay:
    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def __call__(self, method, path, body):
        self.calls.append((method, path, body))
        assert self.script, 'unexpected request %s %s' % (method, path)
        want_method, want_path, status, answer = self.script.pop(0)
        assert (method, path) == (want_method, want_path)
        return status, answer


def _backend(script, **options):
    opts = dict(
        url='http://qdrant.test:6333',
        api_key=API_KEY,
        validate_certs=True,
        timeout=5,
        vector_size=768,
        distance='Cosine',
        jwt_rbac=True,
        jwt_ttl_days=0,
    )
    opts.update(options)
    replay = Replay(script)
    return QdrantTenantBackend(opts, transport=replay), replay


def test_create_collection_for_new_tenant_then_idempotent():
    tenants = validate_tenants([{'id': 'acme'}])
    backend, replay = _backend(
        [('GET', '/collections', 200, LIST_EMPTY), ('PUT', '/collections/tenant_acme', 200, CREATED)]
    )
    backend.connect()
    state = backend.read(tenants)
    change, ops = backend.plan(tenants[0], state['acme'], {})
    assert change.actions == ['create collection tenant_acme (size 768, Cosine)']
    backend.apply([TenantWork(tenants[0], ops, {})])
    assert replay.calls[-1][2] == {'vectors': {'size': 768, 'distance': 'Cosine'}}
    assert not replay.script

    backend, replay = _backend(
        [('GET', '/collections', 200, LIST_ONE), ('GET', '/collections/tenant_acme', 200, GET_ACME)]
    )
    backend.connect()
    state = backend.read(tenants)
    change, ops = backend.plan(tenants[0], state['acme'], {})
    assert not change.changed and ops == []
    assert state['acme']['collection']['points'] == 12


def test_quota_overrides_vector_size_and_mismatch_is_an_error():
    tenants = validate_tenants([{'id': 'acme', 'quotas': {'qdrant_vector_size': 1024, 'qdrant_distance': 'Dot'}}])
    backend, dummy = _backend(
        [('GET', '/collections', 200, LIST_ONE), ('GET', '/collections/tenant_acme', 200, GET_ACME)]
    )
    backend.connect()
    state = backend.read(tenants)
    with pytest.raises(BackendError, match='exists with size 768/Cosine, the inventory asks 1024/Dot'):
        backend.plan(tenants[0], state['acme'], {})


def test_absent_keeps_collection_purge_deletes_it():
    absent = validate_tenants([{'id': 'acme', 'state': 'absent'}])
    backend, dummy = _backend(
        [('GET', '/collections', 200, LIST_ONE), ('GET', '/collections/tenant_acme', 200, GET_ACME)]
    )
    backend.connect()
    change, ops = backend.plan(absent[0], backend.read(absent)['acme'], {})
    assert ops == [] and not change.changed
    assert any('cannot revoke one token' in w for w in backend.warnings)

    purge = validate_tenants([{'id': 'acme', 'state': 'absent', 'purge': True}])
    backend, replay = _backend(
        [
            ('GET', '/collections', 200, LIST_ONE),
            ('GET', '/collections/tenant_acme', 200, GET_ACME),
            ('DELETE', '/collections/tenant_acme', 200, DELETED),
        ]
    )
    backend.connect()
    change, ops = backend.plan(purge[0], backend.read(purge)['acme'], {})
    assert change.actions == ['delete collection tenant_acme']
    backend.apply([TenantWork(purge[0], ops, {})])
    assert not replay.script


def test_forbidden_answer_names_backend_and_address():
    backend, dummy = _backend([('GET', '/collections', 403, FORBIDDEN)])
    with pytest.raises(BackendError) as err:
        backend.connect()
    assert 'qdrant backend at http://qdrant.test:6333' in str(err.value)
    assert 'HTTP 403' in str(err.value)


def _decode_segment(segment):
    return json.loads(base64.urlsafe_b64decode(segment + '=' * (-len(segment) % 4)))


def test_jwt_claims_scoped_to_tenant_collection():
    tenant = validate_tenants([{'id': 'acme'}])[0]
    backend, dummy = _backend([])
    token = backend.token_for(tenant, None)
    header, payload, dummy_sig = token.split('.')
    assert _decode_segment(header) == {'alg': 'HS256', 'typ': 'JWT'}
    assert _decode_segment(payload) == {'access': [{'collection': 'tenant_acme', 'access': 'rw'}]}
    assert jwt_decode(token, API_KEY) == {'access': [{'collection': 'tenant_acme', 'access': 'rw'}]}
    assert jwt_decode(token, 'another-key') is None
    # deterministic without exp: the stored token is kept on rerun
    assert backend.token_for(tenant, token) == token
    # a token scoped to another collection is replaced
    other = jwt_encode({'access': [{'collection': 'tenant_evil', 'access': 'rw'}]}, API_KEY)
    assert backend.token_for(tenant, other) == token


def test_jwt_decodes_with_pyjwt_and_renews_before_expiry():
    jwt = pytest.importorskip('jwt')
    tenant = validate_tenants([{'id': 'acme'}])[0]
    backend, dummy = _backend([], jwt_ttl_days=30)
    now = 1_800_000_000
    token = backend.token_for(tenant, None, now=now)
    claims = jwt.decode(token, API_KEY, algorithms=['HS256'], options={'verify_exp': False})
    assert claims == {'access': [{'collection': 'tenant_acme', 'access': 'rw'}], 'exp': now + 30 * 86400}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, 'wrong-key', algorithms=['HS256'])
    assert backend.token_for(tenant, token, now=now + 5 * 86400) == token  # plenty left: kept
    renewed = backend.token_for(tenant, token, now=now + 25 * 86400)  # < 1/3 left: new one
    assert renewed != token
    assert jwt.decode(renewed, API_KEY, algorithms=['HS256'], options={'verify_exp': False})['exp'] == now + 55 * 86400
