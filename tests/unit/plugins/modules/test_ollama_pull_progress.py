# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A pull's progress file (ollama_model's progress_dir), the wait that reads it (ollama_pull_wait) and the one
listing the ollama role asks for (ollama_model_info's names), against a REPLAYED Ollama API (tests/ollama_replay.py).
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._ollama import (
    ProgressFile,
    PullProgress,
    progress_path,
    read_progress,
)
from ansible_collections.selfhosted_ai.stack.plugins.modules import ollama_model, ollama_model_info, ollama_pull_wait


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def stream(progress, *events):
    return [progress.add(event) for event in events]


def test_the_progress_file_is_rewritten_at_each_new_step_and_at_most_once_a_second(tmp_path):
    clock = Clock()
    progress_file = ProgressFile(str(tmp_path / 'pulls'), 'qwen2.5:7b', clock=clock)
    assert stat.S_IMODE(os.stat(tmp_path / 'pulls').st_mode) == 0o700
    assert progress_file.path == str(tmp_path / 'pulls' / 'qwen2.5%3A7b.json')
    progress = PullProgress()
    layer = {'status': 'pulling 6a0746a1ec1a', 'digest': 'sha256:6a0746a1ec1a', 'total': 4000}

    stream(progress, {'status': 'pulling manifest'})
    progress_file.update(progress, True)
    assert read_progress(progress_file.path) == {
        'name': 'qwen2.5:7b',
        'status': 'pulling manifest',
        'completed': 0,
        'total': 0,
        'updated': 1000.0,
    }
    clock.now = 1000.25
    stream(progress, layer)
    progress_file.update(progress, True)  # a new step is written at once
    assert read_progress(progress_file.path)['total'] == 4000
    clock.now = 1000.75
    stream(progress, dict(layer, completed=1000))
    progress_file.update(progress, False)  # 0.5 s after the last write: not written yet
    assert read_progress(progress_file.path)['completed'] == 0
    clock.now = 1001.25
    stream(progress, dict(layer, completed=2500))
    progress_file.update(progress, False)
    assert read_progress(progress_file.path) == {
        'name': 'qwen2.5:7b',
        'status': 'pulling 6a0746a1ec1a',
        'completed': 2500,
        'total': 4000,
        'updated': 1001.25,
    }
    assert os.listdir(tmp_path / 'pulls') == ['qwen2.5%3A7b.json'], 'no partial file is left behind'
    progress_file.remove()
    progress_file.remove()  # gone already: no error
    assert read_progress(progress_file.path) is None


def test_two_models_never_share_a_progress_file(tmp_path):
    names = ['a/b:c', 'a_b:c', 'a/b_c:latest', 'registry.example:5000/a/b:c']
    paths = [progress_path(str(tmp_path), name) for name in names]
    assert len(set(paths)) == len(names)
    assert all(os.path.dirname(path) == str(tmp_path) for path in paths)


def test_a_pull_with_a_progress_dir_writes_the_bytes_while_it_runs_and_removes_the_file(
    run_module, ollama_replayed_api, tmp_path
):
    api = ollama_replayed_api
    api.event_delay = 0.15
    path = progress_path(str(tmp_path), 'qwen2.5:0.5b')
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            state = read_progress(path)
            if state and state not in seen:
                seen.append(state)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = run_module(ollama_model.main, {'name': 'qwen2.5:0.5b', 'api_url': api.url, 'progress_dir': str(tmp_path)})
    finally:
        stop.set()
        watcher.join()
    assert run['changed'] is True, run.result
    assert not os.path.exists(path)
    assert [state['status'] for state in seen][0] == 'pulling manifest'
    downloading = [state for state in seen if 0 < state['completed'] < state['total']]
    assert downloading, seen
    assert all(state['name'] == 'qwen2.5:0.5b' for state in seen)
    assert [state['updated'] for state in seen] == sorted(state['updated'] for state in seen)


def test_a_failed_pull_removes_its_progress_file_too(run_module, ollama_replayed_api, tmp_path):
    run = run_module(
        ollama_model.main, {'name': 'nosuch:1b', 'api_url': ollama_replayed_api.url, 'progress_dir': str(tmp_path)}
    )
    assert run.failed and 'pull model manifest: file does not exist' in run['msg']
    assert os.listdir(tmp_path) == []


def test_a_progress_dir_that_cannot_be_made_fails_before_the_pull(run_module, ollama_replayed_api, tmp_path):
    (tmp_path / 'a-file').write_text('')
    args = {
        'name': 'qwen2.5:0.5b',
        'api_url': ollama_replayed_api.url,
        'progress_dir': str(tmp_path / 'a-file' / 'pulls'),
    }
    run = run_module(ollama_model.main, args)
    assert run.failed and run['msg'].startswith('Cannot make the progress directory %s/a-file/pulls: ' % tmp_path)
    assert ollama_replayed_api.calls('POST', '/api/pull') == []


def test_model_info_says_which_of_the_names_are_present_in_one_request(run_module, ollama_replayed_api):
    api = ollama_replayed_api
    names = ['registry.ollama.ai/library/llama3:latest', 'qwen2.5:0.5b', 'codellama:13b']
    run = run_module(ollama_model_info.main, {'api_url': api.url, 'names': names})
    assert run['present'] == ['registry.ollama.ai/library/llama3:latest', 'codellama:13b']
    assert len(run['models']) == 2
    assert [(call['method'], call['path']) for call in api.requests] == [('GET', '/api/tags')]
    refused = run_module(ollama_model_info.main, {'api_url': api.url, 'names': ['Llama3']})
    assert refused.failed and api.requests[1:] == []
    assert 'present' not in run_module(ollama_model_info.main, {'api_url': api.url}).result


def job_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


def write_progress(directory, name, completed, total, updated, status='pulling 6a0746a1ec1a'):
    os.makedirs(directory, exist_ok=True)
    state = dict(name=name, status=status, completed=completed, total=total, updated=updated)
    with open(progress_path(directory, name), 'w') as handle:
        json.dump(state, handle)


def test_the_wait_returns_after_its_time_with_the_bytes_percentage_and_rate(run_module, tmp_path):
    progress_dir = str(tmp_path / 'progress')
    running = job_file(tmp_path, 'job1', {'started': True, 'finished': False, 'ansible_job_id': 'j1'})
    queued = job_file(tmp_path, 'job2', {'started': True, 'finished': False, 'ansible_job_id': 'j2'})
    write_progress(progress_dir, 'qwen2.5:7b', 1 << 30, 4 << 30, 1000.0)
    later = threading.Timer(0.5, write_progress, (progress_dir, 'qwen2.5:7b', 3 << 29, 4 << 30, 1000.5))
    later.start()
    started = time.monotonic()
    run = run_module(
        ollama_pull_wait.main,
        {
            'pulls': [{'name': 'qwen2.5:7b', 'results_file': running}, {'name': 'llama3.2', 'results_file': queued}],
            'progress_dir': progress_dir,
            'wait': 2,
        },
    )
    later.join()
    assert time.monotonic() - started >= 2
    assert run['done'] is False and run['changed'] is False
    qwen, llama = run['pulls']
    assert (qwen['completed'], qwen['total'], qwen['finished']) == (3 << 29, 4 << 30, False)
    assert qwen['bytes_per_second'] == pytest.approx((1 << 29) / 0.5, rel=0.01)
    assert llama == dict(name='llama3.2:latest', finished=False, status='', completed=0, total=0, bytes_per_second=None)
    assert run['progress_line'] == 'qwen2.5:7b 1.50 GB of 4.00 GB (37%) at 1.00 GB/s; llama3.2:latest starting'


def test_the_wait_ends_as_soon_as_every_job_has_written_its_result(run_module, tmp_path):
    done = job_file(tmp_path, 'job1', {'changed': True, 'msg': 'pulled qwen2.5:7b: 4.36 GB in 5 layers in 3m12s'})
    failed = job_file(tmp_path, 'job2', {'failed': True, 'msg': 'Ollama could not pull', 'finished': 1})
    gone = str(tmp_path / 'job3')  # async_status reports a job without its file; the wait does not hang on it
    started = time.monotonic()
    run = run_module(
        ollama_pull_wait.main,
        {
            'pulls': [
                {'name': 'qwen2.5:7b', 'results_file': done},
                {'name': 'nosuch:1b', 'results_file': failed},
                {'name': 'llama3.2', 'results_file': gone},
            ],
            'progress_dir': str(tmp_path / 'progress'),
            'wait': 30,
        },
    )
    assert time.monotonic() - started < 5
    assert run['done'] is True
    assert run['progress_line'] == 'qwen2.5:7b finished; nosuch:1b finished; llama3.2:latest finished'


@pytest.mark.parametrize(
    'args, message',
    [
        ({'pulls': [{'name': 'Llama3', 'results_file': '/nonexistent'}]}, 'lowercase'),
        ({'pulls': [{'name': '../etc', 'results_file': '/nonexistent'}]}, '..'),
        ({'pulls': [{'name': 'llama3', 'results_file': '/nonexistent'}], 'wait': -1}, 'wait must be 0 or more'),
    ],
)
def test_the_wait_refuses_bad_input(run_module, tmp_path, args, message):
    run = run_module(ollama_pull_wait.main, dict({'progress_dir': str(tmp_path)}, **args))
    assert run.failed and message in run['msg']
    assert os.listdir(tmp_path) == []
