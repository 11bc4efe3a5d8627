# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private client of Ollama's REST API for the ollama_model* modules.

Not a public API: names and behaviour may change without notice.
Uses ansible.module_utils.urls.open_url only, so targets need no extra Python package.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlparse

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_API_URL = 'http://127.0.0.1:11434'
DEFAULT_REGISTRY = 'registry.ollama.ai'
DEFAULT_NAMESPACE = 'library'
DEFAULT_TAG = 'latest'


def ollama_argument_spec():
    """Connection options shared by the ollama_model* modules (documented in doc_fragments/_ollama.py)."""
    return dict(
        api_url=dict(type='str', default=DEFAULT_API_URL),
        bearer_token=dict(type='str', no_log=True),
        timeout=dict(type='int', default=30),
        validate_certs=dict(type='bool', default=True),
    )


# Model name rules. Ollama itself accepts mixed case and matches names case-insensitively; these modules
# accept lowercase only, so that the name compared with GET /api/tags is the name that gets pulled.
_MODEL_PART = re.compile(r'^[a-z0-9_][a-z0-9_.-]{0,79}$')
_TAG_PART = re.compile(r'^[a-z0-9_][a-z0-9_.-]{0,79}$')
_NAMESPACE_PART = re.compile(r'^[a-z0-9_][a-z0-9_-]{0,79}$')
_HOST_PART = re.compile(r'^[a-z0-9_][a-z0-9_.:-]{0,349}$')

NAME_RULES = (
    '[host/][namespace/]model[:tag] in lowercase; model and tag: letters a-z, digits, "_", "-", "."; '
    'namespace: letters a-z, digits, "_", "-"; each part starts with a letter, digit or "_" and has at most '
    '80 characters; the tag defaults to "latest", the namespace to "library"; no "..", no "@digest"'
)


class ModelName:
    """A validated Ollama model name, with the forms Ollama uses for it."""

    def __init__(self, host, namespace, model, tag):
        self.host = host
        self.namespace = namespace
        self.model = model
        self.tag = tag

    @classmethod
    def parse(cls, text):
        """Parse and validate a model name; raise ValueError with a message a person can act on."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError('The model name is empty. Expected %s.' % NAME_RULES)
        original = text
        text = text.strip()
        if text != text.lower():
            raise ValueError(
                'Model name %r has upper-case letters; write it in lowercase (%s).' % (original, NAME_RULES)
            )
        if '@' in text:
            raise ValueError('Model name %r has a digest; name the model by tag instead (%s).' % (original, NAME_RULES))
        if '..' in text or '//' in text or text.startswith('/') or text.endswith('/') or text.endswith(':'):
            raise ValueError('Model name %r is malformed (%s).' % (original, NAME_RULES))
        segments = text.split('/')
        if len(segments) > 3:
            raise ValueError('Model name %r has too many "/" (%s).' % (original, NAME_RULES))
        last = segments.pop()
        model, sep, tag = last.partition(':')
        if not sep:
            tag = DEFAULT_TAG
        elif ':' in tag:
            raise ValueError('Model name %r has more than one tag (%s).' % (original, NAME_RULES))
        namespace = segments.pop() if segments else DEFAULT_NAMESPACE
        host = segments.pop() if segments else DEFAULT_REGISTRY
        for label, value, pattern in (
            ('host', host, _HOST_PART),
            ('namespace', namespace, _NAMESPACE_PART),
            ('model', model, _MODEL_PART),
            ('tag', tag, _TAG_PART),
        ):
            if not pattern.match(value):
                raise ValueError(
                    'Model name %r: the %s part %r is not valid (%s).' % (original, label, value, NAME_RULES)
                )
        return cls(host, namespace, model, tag)

    @property
    def short(self):
        """The form GET /api/tags lists (Ollama's DisplayShortest): llama3:latest, ns/model:tag, host/ns/model:tag."""
        if self.host != DEFAULT_REGISTRY:
            prefix = '%s/%s/' % (self.host, self.namespace)
        elif self.namespace != DEFAULT_NAMESPACE:
            prefix = '%s/' % self.namespace
        else:
            prefix = ''
        return '%s%s:%s' % (prefix, self.model, self.tag)

    @property
    def full(self):
        return '%s/%s/%s:%s' % (self.host, self.namespace, self.model, self.tag)

    def matches(self, listed_name):
        """Whether a name listed by the server designates this model (Ollama compares names case-insensitively)."""
        if not listed_name:
            return False
        try:
            other = ModelName.parse(listed_name.lower())
        except ValueError:
            return False
        return other.full == self.full

    def __str__(self):
        return self.short


def validate_api_url(api_url):
    """Return the API URL without trailing slash; raise ValueError when it is not an http(s) URL."""
    parsed = urlparse(api_url or '')
    if parsed.scheme not in ('http', 'https') or not parsed.netloc:
        raise ValueError('api_url %r is not an http:// or https:// URL (for example %s).' % (api_url, DEFAULT_API_URL))
    if parsed.query or parsed.fragment:
        raise ValueError('api_url %r must not have a query string or a fragment.' % api_url)
    return api_url.rstrip('/')


def model_info(entry):
    """The part of a GET /api/tags entry that the modules return."""
    return {
        'name': entry.get('name'),
        'model': entry.get('model', entry.get('name')),
        'size': entry.get('size'),
        'digest': entry.get('digest'),
        'modified_at': entry.get('modified_at'),
        'details': entry.get('details') or {},
    }


class OllamaError(Exception):
    """Any failure talking to Ollama; the message is meant for the person running the play."""

    def __init__(self, message, status=None, url=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url


class OllamaConnectionError(OllamaError):
    """The API could not be reached (refused, DNS, TLS, timeout)."""


class OllamaPullError(OllamaError):
    """Ollama answered, but the pull failed (unknown model, registry unreachable from Ollama, disk full...)."""


class PullProgress:
    """A short summary of a pull's NDJSON stream: one entry per status change and one per layer."""

    def __init__(self):
        self.entries = []

    def add(self, event):
        """Record one streamed object; return the entry when it starts a new one, None when it updates one."""
        status = to_text(event.get('status') or '')
        digest = event.get('digest')
        if digest:
            for entry in self.entries:
                if entry.get('digest') == digest:
                    if event.get('total'):
                        entry['total'] = event['total']
                    if event.get('completed') is not None:
                        entry['completed'] = max(entry.get('completed') or 0, event['completed'])
                    return None
            entry = {
                'status': status or 'pulling %s' % digest.replace('sha256:', '')[:12],
                'digest': digest,
                'total': event.get('total'),
                'completed': event.get('completed') or 0,
            }
            self.entries.append(entry)
            return entry
        if not status or (self.entries and self.entries[-1]['status'] == status and 'digest' not in self.entries[-1]):
            return None
        entry = {'status': status}
        self.entries.append(entry)
        return entry

    @property
    def total_bytes(self):
        return sum(entry.get('total') or 0 for entry in self.entries)

    @property
    def completed_bytes(self):
        return sum(entry.get('completed') or 0 for entry in self.entries)

    @property
    def status(self):
        return self.entries[-1]['status'] if self.entries else 'starting'


# A pull run as an async job writes its progress to a file that ollama_pull_wait reads: Ansible shows
# nothing of a module while it runs, so the file is how the controller learns how far a pull got.


def progress_path(directory, short_name):
    """The progress file of the pull of a model (its ModelName.short) in directory. Percent-encoded, so that two
    names never share a file (a/b:c and a_b:c would both be a_b_c with the separators replaced)."""
    return os.path.join(directory, quote(short_name, safe='') + '.json')


def read_progress(path):
    """What a ProgressFile last wrote, or None."""
    try:
        with open(path) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


class ProgressFile:
    """The state of one pull (step, bytes, time), rewritten at each new step and at most once a second."""

    MIN_INTERVAL = 1.0

    def __init__(self, directory, short_name, clock=time.time):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.path = progress_path(directory, short_name)
        self.name = short_name
        self._clock = clock
        self._written = None

    def update(self, progress, new_step=False):
        now = self._clock()
        if not new_step and self._written is not None and now - self._written < self.MIN_INTERVAL:
            return
        self._written = now
        state = dict(
            name=self.name,
            status=progress.status,
            completed=progress.completed_bytes,
            total=progress.total_bytes,
            updated=now,
        )
        partial = self.path + '.partial'
        # The file only reports: a full disk must not fail the pull it reports on.
        with contextlib.suppress(OSError):
            with open(partial, 'w') as handle:
                json.dump(state, handle)
            os.replace(partial, self.path)

    def remove(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class OllamaClient:
    """The few calls of Ollama's API (docs/api.md of ollama/ollama) the modules need."""

    def __init__(self, api_url=DEFAULT_API_URL, bearer_token=None, timeout=30, validate_certs=True):
        self.api_url = validate_api_url(api_url)
        self.bearer_token = bearer_token
        self.timeout = timeout
        self.validate_certs = validate_certs

    def _headers(self):
        headers = {'Accept': 'application/json'}
        if self.bearer_token:
            headers['Authorization'] = 'Bearer %s' % self.bearer_token
        return headers

    def _open(self, method, path, payload=None, timeout=None):
        url = self.api_url + path
        headers = self._headers()
        data = None
        if payload is not None:
            data = json.dumps(payload).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        try:
            return open_url(
                url,
                data=data,
                headers=headers,
                method=method,
                timeout=timeout or self.timeout,
                validate_certs=self.validate_certs,
                http_agent='selfhosted_ai.stack',
            )
        except HTTPError as exc:
            raise self._http_error(method, path, exc) from exc
        except (TimeoutError, URLError, UrlsConnectionError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, 'reason', None) or exc
            raise OllamaConnectionError(
                'Cannot reach the Ollama API at %s (%s %s): %s. Check that Ollama runs and that api_url is right.'
                % (self.api_url, method, path, to_text(reason)),
                url=url,
            ) from exc

    def _http_error(self, method, path, exc):
        try:
            body = to_text(exc.read())
        except Exception:  # pylint: disable=broad-except
            body = ''
        message = body.strip()
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict) and decoded.get('error'):
                message = to_text(decoded['error'])
        except ValueError:
            pass
        hint = ''
        if exc.code in (401, 403):
            hint = ' Check bearer_token: the API (or the proxy in front of it) refused the request.'
        return OllamaError(
            'Ollama API %s %s%s answered HTTP %d: %s.%s'
            % (method, self.api_url, path, exc.code, message or exc.reason, hint),
            status=exc.code,
            url=self.api_url + path,
        )

    def _json(self, method, path, payload=None):
        response = self._open(method, path, payload)
        try:
            body = response.read()
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise OllamaConnectionError(
                'Reading the answer of %s %s%s failed: %s' % (method, self.api_url, path, to_text(exc)),
                url=self.api_url + path,
            ) from exc
        if not body.strip():
            return {}
        try:
            return json.loads(to_text(body))
        except ValueError:
            raise OllamaError(
                '%s %s%s did not answer JSON (is api_url an Ollama server?): %r'
                % (method, self.api_url, path, body[:200]),
                url=self.api_url + path,
            ) from None

    def list_models(self):
        """GET /api/tags: the models present locally, as Ollama lists them."""
        data = self._json('GET', '/api/tags')
        models = data.get('models') if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise OllamaError('GET %s/api/tags answered without a "models" list: %r' % (self.api_url, data))
        return models

    def find_model(self, name, models=None):
        """The /api/tags entry designating name (a ModelName), or None."""
        for entry in self.list_models() if models is None else models:
            if name.matches(entry.get('name')) or name.matches(entry.get('model')):
                return entry
        return None

    def delete(self, listed_name):
        """DELETE /api/delete; True when deleted, False when Ollama says the model does not exist (404)."""
        try:
            self._json('DELETE', '/api/delete', {'model': listed_name})
        except OllamaError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def pull(self, name, on_entry=None, read_timeout=600, on_event=None):
        """POST /api/pull with streaming; return the PullProgress. Raise OllamaPullError on a streamed error.

        read_timeout is the longest silence tolerated between two lines of the stream, not a limit on the
        whole download. on_entry(entry) is called for each new PullProgress entry as it arrives, and
        on_event(progress, new_step) after every streamed object.
        """
        path = '/api/pull'
        response = self._open('POST', path, {'model': name, 'stream': True}, timeout=read_timeout)
        progress = PullProgress()
        succeeded = False
        try:
            for raw in response:
                line = to_text(raw).strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise OllamaError(
                        'POST %s%s streamed a line that is not JSON: %r' % (self.api_url, path, line[:200])
                    ) from None
                if not isinstance(event, dict):
                    continue
                status = to_text(event.get('status') or '')
                # Ollama reports a failure inside the stream, after HTTP 200: {"error": "..."} from the classic
                # server, {"status": "error: ..."} from the newer registry client.
                error = event.get('error') or (status[len('error:') :].strip() if status.startswith('error:') else None)
                if error:
                    raise OllamaPullError(
                        'Ollama could not pull %r: %s' % (name, to_text(error)), url=self.api_url + path
                    )
                entry = progress.add(event)
                if entry is not None and on_entry is not None:
                    on_entry(entry)
                if on_event is not None:
                    on_event(progress, entry is not None)
                if status == 'success':
                    succeeded = True
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise OllamaConnectionError(
                'The pull stream of %r from %s%s broke off: %s (read_timeout %ss)'
                % (name, self.api_url, path, to_text(exc), read_timeout),
                url=self.api_url + path,
            ) from exc
        if not succeeded:
            last = progress.entries[-1]['status'] if progress.entries else 'nothing'
            raise OllamaPullError(
                'The pull of %r from %s%s ended without "success" (last status: %s).'
                % (name, self.api_url, path, last),
                url=self.api_url + path,
            )
        return progress
