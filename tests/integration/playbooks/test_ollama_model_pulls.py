# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ollama role's model tasks (roles/ollama/tasks/model_pulls.yml) through ansible-playbook, against a REPLAYED
Ollama API on loopback (tests/ollama_replay.py), not a real Ollama, which cannot be had on these machines.

A pull runs as an async job writing its progress to a file; the wait task prints the bytes, the percentage and the
rate at each retry (the progress callback of ansible.cfg), and async_status brings the pull's result back.
"""

from __future__ import annotations

import json
import re

import pytest
from ansible_run import ansible_playbook_on_localhost
from ollama_replay import OLLAMA_REPLAY_REGISTRY, replayed_ollama

from ansible.module_utils.common.text.formatters import bytes_to_human

pytestmark = pytest.mark.integration

PLAYBOOK = 'tests/integration/playbooks/files/ollama_model_pulls.yml'


@pytest.fixture
def ollama():
    with replayed_ollama() as api:
        yield api


def play(api, tmp_path, *args, models=('qwen2.5:0.5b', 'library-fan/tiny:q4', 'llama3'), absent=('codellama:13b',)):
    extra = {
        'ollama_test_api_url': api.url,
        'ollama_models': list(models),
        'ollama_models_absent': list(absent),
        'ollama_pull_report_every': 1,
        'ollama_pull_progress_dir': str(tmp_path / 'progress'),
    }
    # The async jobs' directory of this test alone (the role removes each job's file once read).
    result = ansible_playbook_on_localhost(
        '-e', json.dumps(extra), *args, PLAYBOOK, timeout=180, extra_env={'ANSIBLE_ASYNC_DIR': str(tmp_path / 'async')}
    )
    return result, result.stdout + result.stderr


def recap_changed(output):
    return int(re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)', output).group(1))


def test_a_pull_says_how_far_it_got_and_a_rerun_changes_nothing(ollama, tmp_path):
    ollama.event_delay = 0.25  # 17 lines for qwen2.5:0.5b: about 4 s, several reports at one a second
    result, output = play(ollama, tmp_path)
    assert result.returncode == 0, output[-4000:]

    progress = re.findall(r'^    localhost: (.*)$', output, re.MULTILINE)
    assert progress, 'no progress line in:\n' + output[-4000:]
    size = r'[0-9.]+ (?:Bytes|KB|MB)'
    assert any(re.search(r'qwen2\.5:0\.5b %s of %s \(\d+%%\)' % (size, size), line) for line in progress), progress
    assert any('library-fan/tiny:q4' in line for line in progress), progress

    for name in ('qwen2.5:0.5b', 'library-fan/tiny:q4'):
        layers = OLLAMA_REPLAY_REGISTRY[name][0]
        size = bytes_to_human(sum(size for dummy, size in layers))
        assert 'pulled %s: %s in %d layers in ' % (name, size, len(layers)) in output
    assert 'deleted codellama:13b (6.86 GB)' in output
    pulled = sorted(call['body']['model'] for call in ollama.calls('POST', '/api/pull'))
    assert pulled == ['library-fan/tiny:q4', 'qwen2.5:0.5b'], 'llama3 is present and must not be pulled'
    assert set(ollama.names()) >= {'qwen2.5:0.5b', 'library-fan/tiny:q4', 'llama3:latest'}
    assert 'codellama:13b' not in ollama.names()
    assert list((tmp_path / 'progress').iterdir()) == [], 'a finished pull leaves no progress file'
    assert list((tmp_path / 'async').iterdir()) == [], 'a pull read by async_status leaves its job file'

    ollama.requests.clear()
    result, output = play(ollama, tmp_path)
    assert result.returncode == 0, output[-4000:]
    assert recap_changed(output) == 0, output[-3000:]
    assert [(call['method'], call['path']) for call in ollama.requests] == [('GET', '/api/tags')]
    assert '    localhost: ' not in output


def test_check_mode_says_what_it_would_pull_and_pulls_nothing(ollama, tmp_path):
    before = ollama.names()
    result, output = play(ollama, tmp_path, '--check')
    assert result.returncode == 0, output[-4000:]
    assert 'qwen2.5:0.5b would be pulled' in output
    assert 'would delete codellama:13b (6.86 GB)' in output
    assert ollama.calls('POST', '/api/pull') == [] and ollama.calls('DELETE') == []
    assert ollama.names() == before


def test_a_failed_pull_fails_the_play_with_ollamas_message(ollama, tmp_path):
    result, output = play(ollama, tmp_path, models=('qwen2.5:0.5b', 'nosuch:1b'), absent=())
    assert result.returncode != 0
    flat = ' '.join(output.split())
    assert "Ollama could not pull 'nosuch:1b': pull model manifest: file does not exist" in flat, output[-3000:]
    assert 'qwen2.5:0.5b' in ollama.names(), 'the other pull ran to its end'
    assert 'nosuch:1b' not in ollama.names()
    assert list((tmp_path / 'async').iterdir()) == [], 'the job files stay after a failed pull'
