# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The data scenario's webhook receiver: records each notification Alertmanager POSTs, one JSON line
each ({"received": <unix time>, "body": <Alertmanager's webhook payload>}), in the file given."""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG = sys.argv[1]
open(LOG, 'a', encoding='utf-8').close()  # noqa: SIM115 (create it, empty, at start)


class Recorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(LOG, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps({'received': time.time(), 'body': json.loads(body)}) + '\n')
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(('0.0.0.0', int(sys.argv[2])), Recorder).serve_forever()
