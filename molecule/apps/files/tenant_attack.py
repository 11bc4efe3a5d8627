"""Run inside a tenant's Open WebUI container (docker exec -i ... python3 - OTHER): with the credentials the
container was given (its environment), try every other tenant's slice, the S3 gateway's gRPC port and the shared
Ollama's management API (through the proxy's filter, its only door on the tenant's network), and check that the
tenant's own slice works. Prints one JSON object: attempts, refused, own (checks of its own slice that
worked), own_attempts and what was wrongly allowed or wrongly refused.
"""

import http.client
import json
import os
import socket
import ssl
import sys
from urllib.parse import unquote, urlsplit

import boto3
import redis
import requests

OTHERS = sys.argv[1:]
ENV = os.environ
result = {'attempts': 0, 'refused': 0, 'own_attempts': 0, 'own': 0, 'allowed': [], 'own_failed': []}


def attack(label, action):
    """An attempt that must be refused: any exception counts as refused."""
    result['attempts'] += 1
    try:
        action()
    except Exception:  # noqa: BLE001 - every error is a refusal here
        result['refused'] += 1
        return
    result['allowed'].append(label)


def own(label, action):
    """A use of the tenant's own slice that must work."""
    result['own_attempts'] += 1
    try:
        action()
    except Exception as error:  # noqa: BLE001
        result['own_failed'].append('%s: %s' % (label, str(error)[:200]))
        return
    result['own'] += 1


def database(url, name):
    try:
        import psycopg as driver  # the Open WebUI image's PostgreSQL driver, 3 or 2
    except ImportError:
        import psycopg2 as driver
    parts = urlsplit(url)
    conn = driver.connect(
        host=parts.hostname,
        port=parts.port,
        user=unquote(parts.username),
        password=unquote(parts.password),
        dbname=name,
        connect_timeout=5,
    )
    try:
        conn.cursor().execute('SELECT 1')
    finally:
        conn.close()


db_url = ENV['DATABASE_URL'].replace('postgresql+psycopg://', 'postgresql://')
own_db = urlsplit(db_url).path.lstrip('/')
tenant = ENV['REDIS_KEY_PREFIX'].split(':', 1)[0]
valkey = redis.Redis.from_url(ENV['REDIS_URL'], socket_timeout=5)
s3 = boto3.client(
    's3',
    endpoint_url=ENV['S3_ENDPOINT_URL'],
    aws_access_key_id=ENV['S3_ACCESS_KEY_ID'],
    aws_secret_access_key=ENV['S3_SECRET_ACCESS_KEY'],
    region_name='us-east-1',
)
bao = ENV['BAO_ADDR']
login = requests.post(
    bao + '/v1/auth/approle/login', json={'role_id': ENV['BAO_ROLE_ID'], 'secret_id': ENV['BAO_SECRET_ID']}, timeout=10
)
token = login.json().get('auth', {}).get('client_token', '')
mount, rest = ENV['BAO_SECRET_PATH'].split('/data/', 1)
prefix = rest.rsplit('/', 1)[0]


def bao_read(path):
    answer = requests.get(bao + '/v1/' + path, headers={'X-Vault-Token': token}, timeout=10)
    answer.raise_for_status()
    return answer.json()


def ok(condition, what):
    if not condition:
        raise RuntimeError(what)


# Its own slice works.
own('database ' + own_db, lambda: database(db_url, own_db))
own('valkey set/get', lambda: (valkey.set(tenant + ':probe', 'x'), ok(valkey.get(tenant + ':probe') == b'x', 'get')))
own('valkey publish', lambda: valkey.publish(tenant + ':probe', 'x'))
own('s3 list', lambda: s3.list_objects_v2(Bucket=ENV['S3_BUCKET_NAME']))
own('s3 put', lambda: s3.put_object(Bucket=ENV['S3_BUCKET_NAME'], Key='probe', Body=b'x'))
own('openbao login', lambda: ok(token, 'no token'))
own('openbao own credentials', lambda: bao_read('%s/data/%s/%s/credentials' % (mount, prefix, tenant)))

# Every other tenant's slice is refused.
for other in OTHERS:
    for app in ('n8n', 'openwebui'):
        attack('database %s_%s' % (app, other), lambda app=app, other=other: database(db_url, '%s_%s' % (app, other)))
    attack('valkey get %s:*' % other, lambda other=other: valkey.get(other + ':n8n:anything'))
    attack('valkey set %s:*' % other, lambda other=other: valkey.set(other + ':probe', 'x'))
    attack('valkey scan match %s:*' % other, lambda other=other: valkey.scan(0, match=other + ':*'))
    attack('valkey publish %s:*' % other, lambda other=other: valkey.publish(other + ':open-webui:channel', 'x'))

    def subscribe(other=other):
        pubsub = valkey.pubsub()
        pubsub.subscribe(other + ':open-webui:channel')
        message = pubsub.get_message(timeout=2)
        ok(message and message.get('type') == 'subscribe', 'no subscription')

    attack('valkey subscribe %s:*' % other, subscribe)
    bucket = 'tenant-' + other.replace('_', '-')
    attack('s3 list ' + bucket, lambda bucket=bucket: s3.list_objects_v2(Bucket=bucket))
    attack('s3 put ' + bucket, lambda bucket=bucket: s3.put_object(Bucket=bucket, Key='x', Body=b'x'))
    attack(
        'openbao read %s' % other, lambda other=other: bao_read('%s/data/%s/%s/credentials' % (mount, prefix, other))
    )
    # Another tenant's containers are on another network: not even their names resolve here.
    for container, port in (('n8n-' + other, 5678), ('openwebui-' + other, 8080)):
        attack(
            'connect %s:%d' % (container, port), lambda c=container, p=port: socket.create_connection((c, p), 3).close()
        )
attack('database postgres', lambda: database(db_url, 'postgres'))
attack('valkey scan', lambda: valkey.scan(0))
attack('valkey keys *', lambda: valkey.keys('*'))
attack('valkey dbsize', valkey.dbsize)
attack('openbao list tenants', lambda: bao_read('%s/metadata/%s?list=true' % (mount, prefix)))


# The S3 gateway's gRPC port (S3 port + 10000) asks for a client certificate: without one no call gets through.
def grpc_without_certificate():
    gateway = urlsplit(ENV['S3_ENDPOINT_URL'])
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(['h2'])
    with socket.create_connection((gateway.hostname, gateway.port + 10000), 5) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00')
        ok(tls.recv(64), 'the server closed the connection')


def grpc_plain():
    gateway = urlsplit(ENV['S3_ENDPOINT_URL'])
    with socket.create_connection((gateway.hostname, gateway.port + 10000), 5) as raw:
        raw.sendall(b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + b'\x00\x00\x00\x04\x00\x00\x00\x00\x00')
        answer = raw.recv(64)
        # An HTTP/2 server answers with a SETTINGS frame (type 4 at byte 3).
        ok(len(answer) >= 4 and answer[3] == 4, 'no HTTP/2 answer')


attack('s3 gateway gRPC over TLS without a client certificate', grpc_without_certificate)
attack('s3 gateway gRPC in plain HTTP/2', grpc_plain)

# The shared Ollama through the proxy's filter (OLLAMA_BASE_URL): only the filter's own 403 counts as refused (a
# 502 means the request went on to Ollama). The path is sent as written: no client-side cleaning of '..'.
ollama = urlsplit(ENV['OLLAMA_BASE_URL'])


def proxy_status(method, path, body=b'{}', port=ollama.port):
    """The status Caddy answers on the tenant network: the Ollama filter's port unless another is given."""
    conn = http.client.HTTPConnection(ollama.hostname, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={'Content-Type': 'application/json'})
        return conn.getresponse().status
    finally:
        conn.close()


def ollama_call(method, path, body=b'{}'):
    """Raises when the filter refuses (403), as attack() takes a refusal; any other answer went through."""
    status = proxy_status(method, path, body)
    if status == 403:
        raise PermissionError('%s %s: 403 from the filter' % (method, path))


for method, path, body in (
    ('POST', '/api/pull', b'{"model": "tinyllama"}'),
    ('DELETE', '/api/delete', b'{"model": "tinyllama"}'),
    ('POST', '/api/create', b'{"model": "mine", "from": "tinyllama"}'),
    ('POST', '/api/copy', b'{"source": "tinyllama", "destination": "mine"}'),
    ('POST', '/api/push', b'{"model": "tinyllama"}'),
    ('POST', '/api/blobs/sha256:' + '0' * 64, b'x'),
    ('POST', '/v1/models/../../api/pull', b'{"model": "tinyllama"}'),
    ('POST', '/API/PULL', b'{"model": "tinyllama"}'),
):
    attack('ollama %s %s' % (method, path), lambda m=method, p=path, b=body: ollama_call(m, p, b))
own('ollama filter passes GET /api/tags', lambda: ollama_call('GET', '/api/tags'))
own('ollama filter passes GET /v1/models', lambda: ollama_call('GET', '/v1/models'))


def caddy_metrics():
    """Caddy's metrics listener (port 9180) names every route's host: only its own 403 counts as refused."""
    if proxy_status('GET', '/metrics', body=None, port=9180) == 403:
        raise PermissionError('GET /metrics: 403 from the listener')


attack("caddy's metrics listener", caddy_metrics)
print(json.dumps(result))
