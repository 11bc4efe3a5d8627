# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local HTTP server that replays Ollama's documented API (ollama/ollama docs/api.md), for the unit tests of the
ollama_model* modules and the playbook test of the ollama role's model pulls.

It answers the calls the modules make, with the bodies and status codes the Ollama documentation and server
show: GET /api/tags, POST /api/pull (NDJSON stream, HTTP/1.1 chunked, errors sent inside the stream after
HTTP 200), DELETE /api/delete (404 + {"error": "model '...' not found"}). It is a replay, not Ollama: tests
that use it say so in their names.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Entries as in the "List Local Models" example of docs/api.md.
OLLAMA_DOC_TAGS = [
    {
        'name': 'codellama:13b',
        'model': 'codellama:13b',
        'modified_at': '2023-11-04T14:56:49.277302595-07:00',
        'size': 7365960935,
        'digest': '9f438cb9cd581fc025612d27f7c1a6669ff83a8bb0ed86c94fcf4c5440555697',
        'details': {
            'format': 'gguf',
            'family': 'llama',
            'families': None,
            'parameter_size': '13B',
            'quantization_level': 'Q4_0',
        },
    },
    {
        'name': 'llama3:latest',
        'model': 'llama3:latest',
        'modified_at': '2023-12-07T09:32:18.757212583-08:00',
        'size': 3825819519,
        'digest': 'fe938a131f40e6f6d40083c9f0f430a515233eb2edaa6d72eb85c50d64f2300e',
        'details': {
            'format': 'gguf',
            'family': 'llama',
            'families': None,
            'parameter_size': '7B',
            'quantization_level': 'Q4_0',
        },
    },
]

# What the registry can deliver: name -> (layers [(digest, size)], /api/tags entry after the pull).
OLLAMA_REPLAY_REGISTRY = {
    'qwen2.5:0.5b': (
        [
            ('sha256:c5396e06af294bd101b30dce59131a76d2b773e76950acc870eda801d3ab0515', 397807936),
            ('sha256:66b9ea09bd5b7099cbb4fc820f31b575c0366fa439b08245566692c6784e281e', 68),
            ('sha256:eb4402837c7829a690fa845de4d7f3fd842c2adee476d5341da8a46ea9255175', 11343),
        ],
        {
            'name': 'qwen2.5:0.5b',
            'model': 'qwen2.5:0.5b',
            'modified_at': '2026-11-22T10:41:46.000000000Z',
            'size': 397821319,
            'digest': 'a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67',
            'details': {
                'parent_model': '',
                'format': 'gguf',
                'family': 'qwen2',
                'families': ['qwen2'],
                'parameter_size': '494.03M',
                'quantization_level': 'Q4_K_M',
            },
        },
    ),
    'library-fan/tiny:q4': (
        [('sha256:0f9b3c1bde8a6c1e3b2b1c5d3d4a3e2f1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c', 1048576)],
        {
            'name': 'library-fan/tiny:q4',
            'model': 'library-fan/tiny:q4',
            'modified_at': '2026-11-22T10:42:00Z',
            'size': 1048576,
            'digest': '5d1c3b5fcb5d8ad1365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e',
            'details': {
                'format': 'gguf',
                'family': 'llama',
                'families': None,
                'parameter_size': '1M',
                'quantization_level': 'Q4_0',
            },
        },
    ),
}


class OllamaReplayedAPI:
    """State and request log of the replaying server (see the fixture ollama_replayed_api)."""

    def __init__(self):
        self.models = [dict(entry) for entry in OLLAMA_DOC_TAGS]
        self.registry = dict(OLLAMA_REPLAY_REGISTRY)
        self.requests = []
        self.bearer_token = None  # when set, requests without this token get 401
        self.error_style = 'classic'  # 'classic': {"error": ...}; 'registry': {"status": "error: ..."}
        self.cut_stream_after = None  # close the pull stream after this many lines, without "success"
        self.event_delay = 0.0  # seconds before each streamed line: a download that takes a while
        self.fail_tags_with = None  # (status, body) to answer GET /api/tags with
        self.url = None

    def names(self):
        return [entry['name'] for entry in self.models]

    def calls(self, method=None, path=None):
        return [
            r
            for r in self.requests
            if (method is None or r['method'] == method) and (path is None or r['path'] == path)
        ]

    def pull_stream(self, name):
        """The objects Ollama streams for a pull, as in the "Pull a Model" section of docs/api.md."""
        yield {'status': 'pulling manifest'}
        if name not in self.registry:
            if self.error_style == 'registry':
                yield {'status': 'error: model "%s" not found' % name}
            else:
                yield {'error': 'pull model manifest: file does not exist'}
            return
        layers, entry = self.registry[name]
        for digest, size in layers:
            status = 'pulling %s' % digest[7:19]
            yield {'status': status, 'digest': digest, 'total': size}
            for part in (1, 2, 3):
                yield {'status': status, 'digest': digest, 'total': size, 'completed': size * part // 3}
        yield {'status': 'verifying sha256 digest'}
        yield {'status': 'writing manifest'}
        yield {'status': 'removing any unused layers'}
        self.models.insert(0, dict(entry))
        yield {'status': 'success'}


def _replay_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):  # keep pytest output clean
            pass

        def _body(self):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            return json.loads(raw) if raw else None

        def _send_json(self, status, payload):
            data = json.dumps(payload).encode() if payload is not None else b''
            self.send_response(status)
            self.send_header('Content-Type', 'application/json; charset=utf-8')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body):
            state.requests.append(
                {'method': self.command, 'path': self.path, 'headers': dict(self.headers.items()), 'body': body}
            )

        def _authorized(self):
            if state.bearer_token is None:
                return True
            if self.headers.get('Authorization') == 'Bearer %s' % state.bearer_token:
                return True
            self._send_json(401, {'error': 'unauthorized'})
            return False

        def do_GET(self):
            self._record(None)
            if not self._authorized():
                return
            if self.path == '/api/tags':
                if state.fail_tags_with:
                    status, body = state.fail_tags_with
                    self._send_json(status, body)
                    return
                self._send_json(200, {'models': state.models})
            else:
                self._send_json(404, {'error': 'not found'})

        def do_DELETE(self):
            body = self._body()
            self._record(body)
            if not self._authorized():
                return
            name = (body or {}).get('model') or (body or {}).get('name')
            for entry in list(state.models):
                if entry['name'] == name:
                    state.models.remove(entry)
                    self._send_json(200, None)
                    return
            self._send_json(404, {'error': "model '%s' not found" % name})

        def do_POST(self):
            body = self._body()
            self._record(body)
            if not self._authorized():
                return
            if self.path != '/api/pull':
                self._send_json(404, {'error': 'not found'})
                return
            name = (body or {}).get('model') or (body or {}).get('name')
            self.send_response(200)
            self.send_header('Content-Type', 'application/x-ndjson')
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            for count, event in enumerate(state.pull_stream(name)):
                if state.cut_stream_after is not None and count >= state.cut_stream_after:
                    break
                time.sleep(state.event_delay)
                line = (json.dumps(event) + '\n').encode()
                self.wfile.write(b'%x\r\n%s\r\n' % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b'0\r\n\r\n')
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def replayed_ollama():
    """A replaying server on 127.0.0.1 (a free port) while the block runs; yields its OllamaReplayedAPI."""
    state = OllamaReplayedAPI()
    server = ThreadingHTTPServer(('127.0.0.1', 0), _replay_handler(state))
    state.url = 'http://127.0.0.1:%d' % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
