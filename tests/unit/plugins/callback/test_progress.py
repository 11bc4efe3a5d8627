# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress callback: a line naming a silent task, its hosts and the time since it started.

The callback's own logic runs against a fake clock and fake hosts, tasks and results; the last tests run it for
real, as a thread of a callback object and inside ansible-playbook with the repository's ansible.cfg.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid

import pytest
from ansible_run import ansible_playbook

from ansible.plugins.loader import callback_loader


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, msg, **kwargs):
        self.lines.append(msg)


class Named:
    def __init__(self, name, action='ansible.builtin.command'):
        self.name = name
        self.action = action
        self._uuid = uuid.uuid4().hex

    def get_name(self):
        return self.name


class Result:
    def __init__(self, host, task, **result):
        self._host = host
        self._task = task
        self._result = result


def make_callback(clock, **options):
    callback = callback_loader.get('selfhosted_ai.stack.progress', display=FakeDisplay(), clock=clock)
    callback.set_options(direct={'quiet_period': 20, 'interval': 30, **options})
    return callback


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def callback(clock):
    made = make_callback(clock)
    yield made
    made.v2_playbook_on_stats(None)


def start(callback, task, *hosts):
    for host in hosts:
        callback.v2_runner_on_start(host, task)


def lines_after(callback, clock, seconds):
    clock.advance(seconds)
    return callback.beat()


def test_a_task_done_within_the_quiet_period_prints_nothing(callback, clock):
    task, host = Named('Fast task'), Named('web1')
    start(callback, task, host)
    assert lines_after(callback, clock, 19) == []
    callback.v2_runner_on_ok(Result(host, task))
    assert lines_after(callback, clock, 60) == []
    assert callback._display.lines == []


def test_a_silent_task_is_named_with_its_hosts_and_elapsed_time_then_repeated_every_interval(callback, clock):
    task = Named('Run the container, its image pulled when missing: n8n from n8nio/n8n:2.40.2')
    hosts = [Named('main'), Named('worker1'), Named('worker2')]
    start(callback, task, *hosts)

    assert lines_after(callback, clock, 20) == [
        '... still running after 20s: Run the container, its image pulled when missing: n8n from n8nio/n8n:2.40.2'
        ' - on main, worker1, worker2'
    ]
    assert lines_after(callback, clock, 29) == []
    callback.v2_runner_on_ok(Result(hosts[1], task))  # a host done: the terminal printed its line
    assert lines_after(callback, clock, 19) == []
    assert lines_after(callback, clock, 1) == [
        '... still running after 1m09s: Run the container, its image pulled when missing: n8n from n8nio/n8n:2.40.2'
        ' - on main, worker2; 1 of 3 hosts done'
    ]
    assert lines_after(callback, clock, 30) == [
        '... still running after 1m39s: Run the container, its image pulled when missing: n8n from n8nio/n8n:2.40.2'
        ' - on main, worker2; 1 of 3 hosts done'
    ]
    assert callback._display.lines[-1].endswith('1 of 3 hosts done')
    callback.v2_runner_on_failed(Result(hosts[0], task))
    callback.v2_runner_on_unreachable(Result(hosts[2], task))
    assert lines_after(callback, clock, 3600) == []


def test_retries_loop_items_and_async_polls_end_the_silence(callback, clock):
    task, host = Named('Pull and remove the models: llama3.2, qwen2.5:7b'), Named('gpu1')
    start(callback, task, host)
    clock.advance(15)
    callback.v2_runner_retry(Result(host, task))
    assert lines_after(callback, clock, 15) == []
    callback.v2_runner_on_async_poll(Result(host, task))
    assert lines_after(callback, clock, 15) == []
    callback.v2_runner_item_on_ok(Result(host, task, _ansible_item_label='present llama3.2'))
    assert lines_after(callback, clock, 25) == [
        '... still running after 1m10s: Pull and remove the models: llama3.2, qwen2.5:7b - on gpu1;'
        ' 1 loop items done, the last: present llama3.2'
    ]


def test_a_retry_with_a_progress_line_prints_it_after_the_host(callback, clock):
    task, host = (
        Named('Wait for the model pulls, printing how far they got (bytes, percentage, rate) at each retry'),
        Named('gpu1'),
    )
    start(callback, task, host)
    clock.advance(15)
    line = 'qwen2.5:7b 1.20 GB of 4.36 GB (27%) at 34.10 MB/s; llama3.2:latest pulling manifest'
    callback.v2_runner_retry(Result(host, task, progress_line=line, attempts=1, retries=1440))
    callback.v2_runner_retry(Result(host, task, attempts=2, retries=1440))  # a retry without one prints nothing
    assert callback._display.lines == ['    gpu1: ' + line]
    assert lines_after(callback, clock, 15) == []


def test_many_hosts_are_counted_past_the_first_five(callback, clock):
    task = Named('Gathering Facts')
    start(callback, task, *(Named('host%02d' % number) for number in range(12)))
    (line,) = lines_after(callback, clock, 20)
    assert line.endswith('on host00, host01, host02, host03, host04 and 7 more')


@pytest.mark.parametrize('action', ['pause', 'ansible.builtin.pause', 'ansible.legacy.pause'])
def test_a_pause_waiting_for_the_user_gets_no_line_in_its_prompt(callback, clock, action):
    start(callback, Named('Confirm the upgrade', action=action), Named('h1'))
    assert lines_after(callback, clock, 600) == []


def test_tasks_of_the_free_strategy_are_followed_apart(callback, clock):
    slow, fast, host1, host2 = Named('Slow'), Named('Fast'), Named('h1'), Named('h2')
    start(callback, slow, host1)
    start(callback, fast, host2)
    callback.v2_runner_on_skipped(Result(host2, fast))
    assert lines_after(callback, clock, 20) == ['... still running after 20s: Slow - on h1']


@pytest.mark.parametrize(
    ('options', 'env'),
    [
        ({'enabled': False}, {}),
        ({}, {'SELFHOSTED_AI_PROGRESS': 'false'}),
        ({}, {'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json'}),
    ],
    ids=['option enabled=false', 'SELFHOSTED_AI_PROGRESS=false', 'a JSON stdout callback'],
)
def test_turned_off_it_prints_nothing_and_starts_no_thread(clock, monkeypatch, options, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    callback = callback_loader.get('selfhosted_ai.stack.progress', display=FakeDisplay(), clock=clock)
    callback.set_options(direct=options or None)
    task, host = Named('Sleep'), Named('h1')
    start(callback, task, host)
    assert lines_after(callback, clock, 3600) == []
    assert callback._thread is None


def test_the_options_come_from_the_environment(clock, monkeypatch):
    monkeypatch.setenv('SELFHOSTED_AI_PROGRESS_QUIET_PERIOD', '5')
    monkeypatch.setenv('SELFHOSTED_AI_PROGRESS_INTERVAL', '7')
    callback = callback_loader.get('selfhosted_ai.stack.progress', display=FakeDisplay(), clock=clock)
    callback.set_options()
    task, host = Named('Sleep'), Named('h1')
    start(callback, task, host)
    assert lines_after(callback, clock, 4) == []
    assert len(lines_after(callback, clock, 1)) == 1
    assert lines_after(callback, clock, 6) == []
    assert len(lines_after(callback, clock, 1)) == 1
    callback.v2_playbook_on_stats(None)


def test_the_thread_prints_while_results_arrive_from_other_threads():
    """Real clock and thread: hosts start and finish from several threads while the heartbeat reads the same state."""
    callback = make_callback(time.monotonic, quiet_period=0.05, interval=0.05)
    slow_task, slow_host = Named('Sleep'), Named('slow')
    start(callback, slow_task, slow_host)

    def churn(worker):
        for number in range(300):
            task, host = Named('Quick %d' % number), Named('w%d' % worker)
            callback.v2_runner_on_start(host, task)
            callback.v2_runner_on_ok(Result(host, task))

    workers = [threading.Thread(target=churn, args=(worker,)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    deadline = time.monotonic() + 5
    while not any('Sleep' in line for line in callback._display.lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    callback.v2_runner_on_ok(Result(slow_host, slow_task))
    callback.v2_playbook_on_stats(None)

    assert callback._thread is None
    assert callback._tasks == {}
    assert any(
        re.fullmatch(r'\.\.\. still running after \d+s: Sleep - on slow', line) for line in callback._display.lines
    )


PLAYBOOK = """
- name: A fast task and a slow one
  hosts: all
  gather_facts: false
  tasks:
    - name: Note the start
      ansible.builtin.set_fact:
        started: true
    - name: Wait for the long work
      ansible.builtin.command: sleep {{ nap }}
      changed_when: false
"""


def play(tmp_path, **env):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    (tmp_path / 'hosts.ini').write_text(
        'slow1 nap=5\nslow2 nap=5\nquick nap=0.1\n'
        f'[all:vars]\nansible_connection=local\nansible_python_interpreter={sys.executable}\n'
    )
    # cwd is the repository: its ansible.cfg enables the callback, as for a user of the playbooks.
    result = ansible_playbook(
        '-i',
        tmp_path / 'hosts.ini',
        tmp_path / 'play.yml',
        extra_env={'SELFHOSTED_AI_PROGRESS_QUIET_PERIOD': '2.5', 'SELFHOSTED_AI_PROGRESS_INTERVAL': '1', **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_ansible_playbook_prints_the_lines_of_a_slow_task_only(tmp_path):
    output = play(tmp_path)
    lines = re.findall(r'^\.\.\. still running after .*$', output, re.MULTILINE)
    assert lines, output
    # The quick host may still be listed on a loaded machine; the slow ones are, and nothing else is named.
    for line in lines:
        assert re.fullmatch(
            r'\.\.\. still running after \ds: Wait for the long work - on [a-z0-9, ]+(; [12] of 3 hosts done)?', line
        ), lines
    assert any('slow1' in line and 'slow2' in line for line in lines), lines
    assert 'Note the start - ' not in output
    # The lines come between the task's start and its results.
    assert output.index('... still running') < output.rindex('ok: [slow1]')


def test_ansible_playbook_prints_no_line_when_turned_off(tmp_path):
    output = play(tmp_path, SELFHOSTED_AI_PROGRESS='false')
    assert 'still running' not in output
    assert 'ok: [slow1]' in output
