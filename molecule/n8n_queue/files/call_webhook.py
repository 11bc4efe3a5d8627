"""Call the n8n_queue scenario's webhook through the proxy, many times at once.

Connects to the proxy's address but speaks TLS and HTTP for the route's host name (SNI, Host), so
no DNS entry is needed; trusts only the CA exported by the reverse proxy role. Prints one JSON
object: every call with its number, HTTP status, parsed body (or error) and times. With --progress,
the number of finished calls is written to that file as calls finish (verify.yml waits on it before
it stops a worker in the middle of a batch).
"""

import argparse
import concurrent.futures
import http.client
import json
import socket
import ssl
import threading
import time


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `host` (SNI, Host header, certificate name) at the address `ip`."""

    def __init__(self, ip, host, port, context, timeout):
        super().__init__(host, port, context=context, timeout=timeout)
        self._ip = ip

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--ip', required=True)
    parser.add_argument('--host', required=True)
    parser.add_argument('--port', type=int, default=443)
    parser.add_argument('--ca', required=True)
    parser.add_argument('--path', default='/webhook/square')
    parser.add_argument('--header', action='append', default=[], help='Name: value')
    parser.add_argument('--first', type=int, default=1, help='n of the first call')
    parser.add_argument('--count', type=int, default=20)
    parser.add_argument('--parallel', type=int, default=10)
    parser.add_argument('--interval', type=float, default=0.0, help='seconds between call starts')
    parser.add_argument('--wait-ms', type=int, default=0, help='the workflow sleeps this long')
    parser.add_argument('--timeout', type=float, default=180.0)
    parser.add_argument('--progress')
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.ca)
    headers = dict(h.split(':', 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    lock = threading.Lock()
    done = [0]

    def call(n):
        started = time.time()
        result = {'n': n, 'started': started}
        try:
            conn = PinnedHTTPSConnection(args.ip, args.host, args.port, context, args.timeout)
            conn.request('GET', '%s?n=%d&wait=%d' % (args.path, n, args.wait_ms), headers=headers)
            response = conn.getresponse()
            body = response.read().decode('utf-8', 'replace')
            result['status'] = response.status
            try:
                result['body'] = json.loads(body)
            except ValueError:
                result['body'] = body[:500]
            conn.close()
        except Exception as error:  # every failure is reported, none raised
            result['status'] = 0
            result['error'] = '%s: %s' % (type(error).__name__, error)
        result['seconds'] = round(time.time() - started, 3)
        with lock:
            done[0] += 1
            if args.progress:
                with open(args.progress, 'w') as progress:
                    progress.write(str(done[0]))
        return result

    began = time.time()
    futures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
        for n in range(args.first, args.first + args.count):
            futures.append(pool.submit(call, n))
            if args.interval:
                time.sleep(args.interval)
    results = sorted((f.result() for f in futures), key=lambda r: r['n'])
    print(json.dumps({'calls': results, 'seconds': round(time.time() - began, 3)}))


if __name__ == '__main__':
    main()
