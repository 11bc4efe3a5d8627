"""One HTTPS request through the reverse proxy, for the apps scenario's verify.yml.

The request comes as JSON on stdin (secrets never on the command line):
  {"host": ..., "method": "GET", "path": "/", "json": {...}, "headers": {...}, "basic": [user, password]}
Connects to --ip:443 with the host name as SNI and Host, trusting only the CA in --ca, and prints one JSON
object: status, headers (lower-case names) and body (parsed JSON when it is JSON, else text), or status 0
and the error.
"""

import argparse
import base64
import http.client
import json
import socket
import ssl
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--ip', required=True)
    parser.add_argument('--ca', required=True)
    args = parser.parse_args()
    spec = json.load(sys.stdin)
    headers = dict(spec.get('headers') or {})
    body = None
    if 'json' in spec:
        body = json.dumps(spec['json'])
        headers['Content-Type'] = 'application/json'
    if spec.get('basic'):
        headers['Authorization'] = 'Basic ' + base64.b64encode(':'.join(spec['basic']).encode()).decode()
    context = ssl.create_default_context(cafile=args.ca)
    try:
        sock = context.wrap_socket(socket.create_connection((args.ip, 443), 30), server_hostname=spec['host'])
        conn = http.client.HTTPConnection(spec['host'], 443, timeout=60)
        conn.sock = sock
        conn.request(spec.get('method', 'GET'), spec.get('path', '/'), body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode('utf-8', 'replace')
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text[:2000]
        result = {
            'status': response.status,
            'headers': {k.lower(): v for k, v in response.getheaders()},
            'body': parsed,
        }
    except (OSError, http.client.HTTPException) as error:
        result = {'status': 0, 'error': '%s: %s' % (type(error).__name__, error)}
    print(json.dumps(result))


if __name__ == '__main__':
    main()
