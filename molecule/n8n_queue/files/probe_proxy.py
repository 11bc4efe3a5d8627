"""Probe the reverse proxy the way a browser would, for the n8n_queue scenario's verify.yml.

Prints one JSON object:
  http:          plain HTTP to the route's host: status and Location (expected: a redirect to https)
  https:         HTTPS to the route's host, trusting only the exported CA: status and response headers
  unknown_https: HTTPS with an unknown host name (SNI and Host): the error, or the status if one came
  unknown_https_unverified: the same without certificate checks: shows that the proxy itself refuses
  unknown_http:  plain HTTP with an unknown Host header: the error, or the status if one came
"""

import argparse
import http.client
import json
import socket
import ssl


def request(ip, port, host, path, context=None, timeout=15):
    sock = socket.create_connection((ip, port), timeout)
    try:
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname=host)
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request('GET', path)
        response = conn.getresponse()
        response.read()
        return {'status': response.status, 'headers': {k.lower(): v for k, v in response.getheaders()}}
    except Exception as error:  # reported, not raised: refusals are expected for unknown names
        return {'status': 0, 'error': '%s: %s' % (type(error).__name__, error)}
    finally:
        sock.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--ip', required=True)
    parser.add_argument('--host', required=True)
    parser.add_argument('--unknown-host', required=True)
    parser.add_argument('--ca', required=True)
    parser.add_argument('--path', default='/healthz')
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    print(
        json.dumps(
            {
                'http': request(args.ip, 80, args.host, args.path),
                'https': request(args.ip, 443, args.host, args.path, context),
                'unknown_https': request(args.ip, 443, args.unknown_host, args.path, context),
                'unknown_https_unverified': request(args.ip, 443, args.unknown_host, args.path, unverified),
                'unknown_http': request(args.ip, 80, args.unknown_host, args.path),
            }
        )
    )


if __name__ == '__main__':
    main()
