# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/_ollama.py alone: name rules, progress summary, and the client against the REPLAYED API
(fixture ollama_replayed_api: a local server answering as Ollama's documentation shows, not Ollama)."""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import (
    ModelName,
    OllamaClient,
    OllamaPullError,
    PullProgress,
    validate_api_url,
)


@pytest.mark.parametrize(
    'text, short, full',
    [
        ('llama3', 'llama3:latest', 'registry.ollama.ai/library/llama3:latest'),
        (
            'llama3.2:3b-instruct-q4_k_m',
            'llama3.2:3b-instruct-q4_k_m',
            'registry.ollama.ai/library/llama3.2:3b-instruct-q4_k_m',
        ),
        ('library/llama3:8b', 'llama3:8b', 'registry.ollama.ai/library/llama3:8b'),
        ('mattw/pygmalion', 'mattw/pygmalion:latest', 'registry.ollama.ai/mattw/pygmalion:latest'),
        (
            'hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m',
            'hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m',
            'hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m',
        ),
        ('localhost:5000/team/model:v1', 'localhost:5000/team/model:v1', 'localhost:5000/team/model:v1'),
        ('gpt-oss:120b-cloud', 'gpt-oss:120b-cloud', 'registry.ollama.ai/library/gpt-oss:120b-cloud'),
    ],
)
def test_name_forms(text, short, full):
    name = ModelName.parse(text)
    assert name.short == short
    assert name.full == full


@pytest.mark.parametrize(
    'text, fragment',
    [
        ('Llama3', 'lowercase'),
        ('llama3@sha256:0f9b', 'digest'),
        ('a/b/c/d', 'too many'),
        ('llama3:a:b', 'more than one tag'),
        ('ns.x/model', 'namespace part'),
        ('model:' + 'x' * 81, 'tag part'),
        ('../model', 'malformed'),
        ('   ', 'empty'),
    ],
)
def test_name_errors_say_what_is_wrong(text, fragment):
    with pytest.raises(ValueError) as exc:
        ModelName.parse(text)
    assert fragment in str(exc.value)
    assert 'lowercase' in str(exc.value)  # the rules are always spelled out


def test_matches_is_case_insensitive_on_listed_names():
    name = ModelName.parse('mattw/pygmalion:latest')
    assert name.matches('MattW/Pygmalion:latest')
    assert name.matches('registry.ollama.ai/mattw/pygmalion:latest')
    assert not name.matches('mattw/pygmalion:7b')
    assert not name.matches('pygmalion:latest')
    assert not name.matches(None)


def test_progress_summary_merges_layer_lines():
    progress = PullProgress()
    new = []
    for event in [
        {'status': 'pulling manifest'},
        {'status': 'pulling manifest'},
        {'status': 'pulling aaaa', 'digest': 'sha256:aaaa', 'total': 10},
        {'status': 'pulling aaaa', 'digest': 'sha256:aaaa', 'total': 10, 'completed': 4},
        {'status': 'pulling aaaa', 'digest': 'sha256:aaaa', 'total': 10, 'completed': 10},
        {'digest': 'sha256:bbbbbbbbbbbbbbbbbbbb', 'total': 5, 'completed': 5},  # newer server: no status
        {'status': 'success'},
    ]:
        entry = progress.add(event)
        if entry is not None:
            new.append(entry['status'])
    assert new == ['pulling manifest', 'pulling aaaa', 'pulling bbbbbbbbbbbb', 'success']
    assert progress.entries[1] == {'status': 'pulling aaaa', 'digest': 'sha256:aaaa', 'total': 10, 'completed': 10}
    assert progress.total_bytes == 15


def test_api_url_trailing_slash_and_path_prefix():
    assert validate_api_url('https://ai.example.org/ollama/') == 'https://ai.example.org/ollama'
    with pytest.raises(ValueError):
        validate_api_url('ai.example.org:11434')


def test_client_pull_reports_each_new_entry(ollama_replayed_api):
    client = OllamaClient(ollama_replayed_api.url)
    seen = []
    progress = client.pull('qwen2.5:0.5b', on_entry=lambda entry: seen.append(entry['status']))
    assert seen == [entry['status'] for entry in progress.entries]
    assert seen[0] == 'pulling manifest' and seen[-1] == 'success'


def test_client_pull_unknown_model(ollama_replayed_api):
    client = OllamaClient(ollama_replayed_api.url)
    with pytest.raises(OllamaPullError) as exc:
        client.pull('nope:latest')
    assert 'pull model manifest: file does not exist' in exc.value.message


def test_client_delete_missing_returns_false(ollama_replayed_api):
    client = OllamaClient(ollama_replayed_api.url)
    assert client.delete('nope:latest') is False
    assert client.delete('llama3:latest') is True
    assert [m['name'] for m in client.list_models()] == ['codellama:13b']
