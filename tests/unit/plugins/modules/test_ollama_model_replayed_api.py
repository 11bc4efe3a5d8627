# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ollama_model and ollama_model_info against a REPLAYED Ollama API, not a real Ollama.

The server (fixture ollama_replayed_api in tests/unit/conftest.py) runs on 127.0.0.1 at a random port and
answers with the bodies and status codes of Ollama's documented API (docs/api.md of ollama/ollama) and of
its server code for errors. Ollama itself cannot be obtained on the machines these tests were written on;
a live test against a real Ollama is still owed.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from ports import free_port

from ansible.module_utils.common.text.formatters import bytes_to_human

from ansible_collections.selfhosted_ai.stack.plugins.modules import ollama_model, ollama_model_info


def tags(api):
    """Read the replayed server's model list directly, as an independent check (not through the module)."""
    with urllib.request.urlopen(api.url + '/api/tags', timeout=5) as response:
        return [m['name'] for m in json.load(response)['models']]


class TestOllamaModelReplayedAPI:
    def test_pull_new_model(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url})

        assert not run.failed, run.result
        assert run['changed'] is True
        assert run['name'] == 'qwen2.5:0.5b'
        (pull,) = api.calls('POST', '/api/pull')
        assert pull['body'] == {'model': 'qwen2.5:0.5b', 'stream': True}
        assert run['model']['digest'] == 'a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67'
        assert run['model']['details']['family'] == 'qwen2'
        statuses = [entry['status'] for entry in run['progress']]
        assert statuses[0] == 'pulling manifest'
        assert statuses[-1] == 'success'
        assert 'verifying sha256 digest' in statuses
        layers = [entry for entry in run['progress'] if entry.get('digest')]
        # One entry per layer, however many progress lines were streamed for it, and complete.
        assert len(layers) == 3
        assert all(entry['completed'] == entry['total'] for entry in layers)
        assert len(run['progress']) == 1 + 3 + 4
        assert any('pulling manifest' in line for line in run.logs)
        assert 'qwen2.5:0.5b' in tags(api)
        total = sum(entry['total'] for entry in layers)
        assert re.fullmatch(
            r'pulled qwen2\.5:0\.5b: %s in 3 layers in \d+s' % re.escape(bytes_to_human(total)), run['msg']
        )

    def test_second_run_is_idempotent_and_sends_no_pull(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url})
        del api.requests[:]

        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url})
        assert run['changed'] is False
        assert [(r['method'], r['path']) for r in api.requests] == [('GET', '/api/tags')]

    @pytest.mark.parametrize(
        'name', ['llama3', 'llama3:latest', 'library/llama3', 'registry.ollama.ai/library/llama3:latest']
    )
    def test_already_present_under_another_spelling(self, run_module, ollama_replayed_api, name):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': name, 'api_url': api.url})

        assert run['changed'] is False
        assert run['name'] == 'llama3:latest'
        assert run['model']['size'] == 3825819519
        assert run['progress'] == []
        assert run['msg'] == 'llama3:latest (3.56 GB) is present'
        assert api.calls('POST', '/api/pull') == []

    def test_other_tag_of_a_present_model_is_pulled(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'llama3:70b', 'api_url': api.url})
        # Not in the replay's registry: the pull is attempted (and fails), proving llama3:latest did not count.
        assert run.failed
        assert len(api.calls('POST', '/api/pull')) == 1

    def test_namespaced_model(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'library-fan/tiny:q4', 'api_url': api.url})
        assert run['changed'] is True
        assert api.calls('POST', '/api/pull')[0]['body']['model'] == 'library-fan/tiny:q4'
        assert run['model']['name'] == 'library-fan/tiny:q4'

    def test_check_mode_pull_predicts_change_and_changes_nothing(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        before = tags(api)
        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url}, check_mode=True)

        assert run['changed'] is True
        assert run['model'] is None
        assert run['progress'] == []
        assert run['msg'] == 'qwen2.5:0.5b would be pulled'
        assert api.calls('POST', '/api/pull') == []
        assert tags(api) == before

    def test_check_mode_delete_predicts_change_and_changes_nothing(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(
            ollama_model.main, {'name': 'codellama:13b', 'state': 'absent', 'api_url': api.url}, check_mode=True
        )
        assert run['changed'] is True
        assert api.calls('DELETE') == []
        assert 'codellama:13b' in tags(api)

    def test_check_mode_on_present_model_predicts_no_change(self, run_module, ollama_replayed_api):
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': ollama_replayed_api.url}, check_mode=True)
        assert run['changed'] is False

    def test_absent_deletes(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'codellama:13b', 'state': 'absent', 'api_url': api.url})

        assert run['changed'] is True
        assert run['model'] is None
        (delete,) = api.calls('DELETE', '/api/delete')
        assert delete['body'] == {'model': 'codellama:13b'}
        assert tags(api) == ['llama3:latest']
        assert re.fullmatch(r'deleted codellama:13b \(\d+\.\d\d GB\)', run['msg'])

    def test_absent_when_missing_sends_no_delete(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'mistral', 'state': 'absent', 'api_url': api.url})

        assert not run.failed
        assert run['changed'] is False
        assert api.calls('DELETE') == []
        assert run['msg'] == 'mistral:latest is absent'

    def test_absent_raced_by_another_delete(self, run_module, ollama_replayed_api, monkeypatch):
        # Listed, then gone before our DELETE: Ollama answers 404, nothing changed by this task.
        api = ollama_replayed_api
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _ollama

        original = _ollama.OllamaClient.list_models

        def list_then_vanish(client):
            models = original(client)
            api.models = [m for m in api.models if m['name'] != 'codellama:13b']
            return models

        monkeypatch.setattr(_ollama.OllamaClient, 'list_models', list_then_vanish)
        run = run_module(ollama_model.main, {'name': 'codellama:13b', 'state': 'absent', 'api_url': api.url})
        assert not run.failed
        assert run['changed'] is False
        assert len(api.calls('DELETE', '/api/delete')) == 1

    def test_unknown_model_fails_with_ollamas_message(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        before = tags(api)
        run = run_module(ollama_model.main, {'name': 'no-such-model:7b', 'api_url': api.url})

        assert run.failed
        assert run['changed'] is False  # the pull was attempted but stored nothing
        assert len(api.calls('POST', '/api/pull')) == 1
        assert 'no-such-model:7b' in run['msg']
        assert 'pull model manifest: file does not exist' in run['msg']
        assert tags(api) == before

    def test_unknown_model_error_of_the_newer_registry_client(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        api.error_style = 'registry'
        run = run_module(ollama_model.main, {'name': 'no-such-model', 'api_url': api.url})
        assert run.failed
        assert 'model "no-such-model:latest" not found' in run['msg']

    def test_stream_that_ends_without_success_fails(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        api.cut_stream_after = 3
        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url})
        assert run.failed
        assert 'ended without "success"' in run['msg']

    def test_server_down_names_the_url(self, run_module):
        url = 'http://127.0.0.1:%d' % free_port()
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': url, 'timeout': 5})
        assert run.failed
        assert url in run['msg']
        assert 'Cannot reach the Ollama API' in run['msg']
        assert run['changed'] is False

    def test_http_error_on_listing(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        api.fail_tags_with = (500, {'error': 'open /root/.ollama/models/manifests: permission denied'})
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': api.url})
        assert run.failed
        assert 'HTTP 500' in run['msg']
        assert 'permission denied' in run['msg']

    def test_bearer_token_is_sent(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        api.bearer_token = 's3cret-token'
        run = run_module(
            ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url + '/', 'bearer_token': 's3cret-token'}
        )
        assert not run.failed, run.result
        assert run['changed'] is True
        assert api.requests
        assert all(r['headers'].get('Authorization') == 'Bearer s3cret-token' for r in api.requests)

    def test_no_bearer_token_header_without_token(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run_module(ollama_model.main, {'name': 'llama3', 'api_url': api.url})
        assert all('Authorization' not in r['headers'] for r in api.requests)

    def test_wrong_bearer_token_fails_with_a_hint(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        api.bearer_token = 's3cret-token'
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': api.url, 'bearer_token': 'wrong'})
        assert run.failed
        assert 'HTTP 401' in run['msg']
        assert 'bearer_token' in run['msg']
        assert 'wrong' not in run['msg']

    def test_bearer_token_is_no_log(self):
        from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import ollama_argument_spec

        assert ollama_argument_spec()['bearer_token']['no_log'] is True

    @pytest.mark.parametrize(
        'name',
        [
            'Llama3',  # upper case
            'llama3@sha256:abc',  # digest
            '../llama3',  # path tricks
            'a/b/c/d',  # too many parts
            'llama3:',  # empty tag
            'llama3:7b:q4',  # two tags
            'my.space/llama3',  # dot in namespace
            '-llama3',  # bad first character
            'llama 3',  # space
            'x' * 81,  # too long
            '',
        ],
    )
    def test_bad_name_is_rejected_before_any_request(self, run_module, ollama_replayed_api, name):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': name, 'api_url': api.url})
        assert run.failed
        assert 'name' in run['msg'].lower()
        assert api.requests == []

    @pytest.mark.parametrize('url', ['127.0.0.1:11434', 'ftp://127.0.0.1/', 'http://', 'http://h:1/?x=1'])
    def test_bad_api_url_is_rejected(self, run_module, url):
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': url})
        assert run.failed
        assert 'api_url' in run['msg']

    def test_diff(self, run_module, ollama_replayed_api):
        api = ollama_replayed_api
        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url}, check_mode=True, diff=True)
        assert run['diff'] == {
            'before': {'name': 'qwen2.5:0.5b', 'state': 'absent'},
            'after': {'name': 'qwen2.5:0.5b', 'state': 'present'},
        }
        run = run_module(ollama_model.main, {'name': 'llama3', 'api_url': api.url}, diff=True)
        assert run['diff']['before'] == run['diff']['after']


class TestOllamaModelInfoReplayedAPI:
    def test_lists_models(self, run_module, ollama_replayed_api):
        run = run_module(ollama_model_info.main, {'api_url': ollama_replayed_api.url})
        assert run['changed'] is False
        assert [m['name'] for m in run['models']] == ['codellama:13b', 'llama3:latest']
        first = run['models'][0]
        assert first['size'] == 7365960935
        assert first['digest'] == '9f438cb9cd581fc025612d27f7c1a6669ff83a8bb0ed86c94fcf4c5440555697'
        assert first['modified_at'] == '2023-11-04T14:56:49.277302595-07:00'
        assert first['details']['parameter_size'] == '13B'

    def test_name_filter(self, run_module, ollama_replayed_api):
        run = run_module(ollama_model_info.main, {'api_url': ollama_replayed_api.url, 'name': 'llama3'})
        assert [m['name'] for m in run['models']] == ['llama3:latest']
        run = run_module(ollama_model_info.main, {'api_url': ollama_replayed_api.url, 'name': 'mistral'})
        assert run['models'] == []

    def test_check_mode(self, run_module, ollama_replayed_api):
        run = run_module(ollama_model_info.main, {'api_url': ollama_replayed_api.url}, check_mode=True)
        assert len(run['models']) == 2

    def test_bad_name_rejected_before_any_request(self, run_module, ollama_replayed_api):
        run = run_module(ollama_model_info.main, {'api_url': ollama_replayed_api.url, 'name': 'Bad Name'})
        assert run.failed
        assert ollama_replayed_api.requests == []

    def test_server_down(self, run_module):
        url = 'http://127.0.0.1:%d' % free_port()
        run = run_module(ollama_model_info.main, {'api_url': url, 'timeout': 5})
        assert run.failed
        assert url in run['msg']
