# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: progress
type: aggregate
short_description: Says which task is still running, on which hosts and for how long, while the terminal is silent
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Ansible prints nothing while a task runs. An image pull of several GB, a model pull or a container running its
    database migrations on first start can keep a terminal silent for minutes, and a user cannot tell work from a hang.
  - While a task has printed nothing for O(quiet_period) seconds, this callback prints one line naming the task,
    the time since it started, the hosts still running it, and how many hosts (and loop items) are done; then one
    line every O(interval) seconds while the silence lasts. Any result of the task (a host done, a loop item, a retry
    of an C(until) loop, an async poll) ends the silence. A task that finishes within O(quiet_period) prints nothing,
    and neither does C(ansible.builtin.pause), which waits for the person at the terminal.
  - A retry of an C(until) loop whose result has a C(progress_line) (M(selfhosted_ai.stack.ollama_pull_wait) returns
    one with the bytes of the model pulls, their percentage and rate) prints that line, after the host's name.
  - The lines come from a background thread of the controller; the task itself and the hosts are not touched, so
    the callback costs nothing on the targets and nothing on a run whose tasks are all fast.
  - The lines go to standard output and are flushed at once, so a log written through a pipe (C(| tee run.log),
    CI) shows them in order with the task output. With a JSON standard output callback (its name ends in C(json) or
    C(jsonl)) the callback stays silent, since a line would break the document.
  - Enable it in C(callbacks_enabled) of C(ansible.cfg) (this collection's C(ansible.cfg) does).
requirements:
  - enable in configuration
options:
  enabled:
    description: Print the progress lines. V(false) keeps the callback listed but silent.
    type: bool
    default: true
    env:
      - name: SELFHOSTED_AI_PROGRESS
    ini:
      - section: callback_progress
        key: enabled
  quiet_period:
    description: Seconds a task may stay silent before the first progress line.
    type: float
    default: 20
    env:
      - name: SELFHOSTED_AI_PROGRESS_QUIET_PERIOD
    ini:
      - section: callback_progress
        key: quiet_period
  interval:
    description: Seconds between two progress lines while the task stays silent.
    type: float
    default: 30
    env:
      - name: SELFHOSTED_AI_PROGRESS_INTERVAL
    ini:
      - section: callback_progress
        key: interval
notes:
  - "A line reads: C(... still running after 2m05s: Run the container, its image pulled when missing: n8n from
    n8nio/n8n:2.40.2 - on sandbox-main, sandbox-worker; 1 of 3 hosts done)."
  - What a task waits for is said by its name. The roles of this collection name the image of a container, the
    models of a pull and the first start's migrations, so the line tells what the silence is.
"""

EXAMPLES = r"""
# ansible.cfg of a project that uses the collection
# [defaults]
# callbacks_enabled = selfhosted_ai.stack.progress
#
# [callback_progress]
# quiet_period = 20
# interval = 30

# Silence it for one run:
#   SELFHOSTED_AI_PROGRESS=false ansible-playbook playbooks/site.yml
"""

import sys
import threading
import time

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._durations import short_duration

# Hosts named in one line; a larger remainder is counted.
HOSTS_NAMED = 5
# Tasks that wait for the person at the terminal: a line would land in their prompt.
WAITS_FOR_THE_USER = frozenset({'pause', 'ansible.builtin.pause', 'ansible.legacy.pause'})


class RunningTask:
    """One task while it runs: its hosts, and when it last said something."""

    def __init__(self, name: str, now: float):
        self.name = name
        self.started = now
        self.last_output = now
        self.beats_in_silence = 0
        self.running: list[str] = []  # in start order
        self.done = 0
        self.items_done = 0
        self.last_item = ''

    def heard(self, now: float) -> None:
        self.last_output = now
        self.beats_in_silence = 0

    def due(self, now: float, quiet_period: float, interval: float) -> bool:
        return bool(self.running) and now - self.last_output >= quiet_period + self.beats_in_silence * interval

    def line(self, now: float) -> str:
        hosts = ', '.join(self.running[:HOSTS_NAMED])
        if len(self.running) > HOSTS_NAMED:
            hosts += ' and %d more' % (len(self.running) - HOSTS_NAMED)
        details = ['on ' + hosts]
        if self.done:
            details.append('%d of %d hosts done' % (self.done, self.done + len(self.running)))
        if self.items_done:
            details.append('%d loop items done, the last: %s' % (self.items_done, self.last_item))
        return '... still running after %s: %s - %s' % (
            short_duration(now - self.started),
            self.name,
            '; '.join(details),
        )


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'selfhosted_ai.stack.progress'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, clock=time.monotonic):
        super().__init__(display=display)
        self.wants_implicit_tasks = True  # fact gathering can be slow too
        self._clock = clock
        self._lock = threading.Lock()
        self._tasks: dict[str, RunningTask] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._quiet_period = 20.0
        self._interval = 30.0
        self._silent = False

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._quiet_period = max(float(self.get_option('quiet_period')), 0.0)
        self._interval = max(float(self.get_option('interval')), 0.1)
        stdout_callback = str(C.config.get_config_value('DEFAULT_STDOUT_CALLBACK') or '')
        self._silent = not self.get_option('enabled') or stdout_callback.endswith(('json', 'jsonl'))

    # The heartbeat: the thread, and one beat that tests call with a fake clock.

    def beat(self) -> list[str]:
        """Print (and return) the line of each task silent long enough."""
        now = self._clock()
        with self._lock:
            lines = []
            for task in self._tasks.values():
                if task.due(now, self._quiet_period, self._interval):
                    lines.append(task.line(now))
                    task.beats_in_silence += 1
        for line in lines:
            self._display.display(line, color=C.COLOR_VERBOSE)
        if lines:
            sys.stdout.flush()  # piped stdout is block-buffered: the line and the output before it go out now
        return lines

    def _run_heartbeat(self) -> None:
        # A tick well below the shortest wait keeps a line's lateness small without waking often.
        tick = min(max(min(self._quiet_period, self._interval) / 4, 0.05), 1.0)
        while not self._stop.wait(tick):
            self.beat()

    def _start_heartbeat(self) -> None:
        if self._silent or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run_heartbeat, name='selfhosted_ai.stack.progress', daemon=True)
        self._thread.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        self._stop = threading.Event()

    # What Ansible reports: which host started which task, and every sign of life of it.

    def v2_runner_on_start(self, host, task):
        if self._silent or task.action in WAITS_FOR_THE_USER:
            return
        now = self._clock()
        with self._lock:
            running = self._tasks.get(task._uuid)
            if running is None:
                running = self._tasks[task._uuid] = RunningTask(task.get_name().strip(), now)
            running.running.append(host.get_name())
        self._start_heartbeat()

    def _heard(self, result, finished: bool = False, item: bool = False) -> None:
        with self._lock:
            running = self._tasks.get(result._task._uuid)
            if running is None:
                return
            running.heard(self._clock())
            if item:
                running.items_done += 1
                running.last_item = str(result._result.get('_ansible_item_label', result._result.get('item', '')))
            host = result._host.get_name()
            if finished and host in running.running:
                running.running.remove(host)
                running.done += 1
                if not running.running:
                    del self._tasks[result._task._uuid]

    def v2_runner_on_ok(self, result):
        self._heard(result, finished=True)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._heard(result, finished=True)

    def v2_runner_on_skipped(self, result):
        self._heard(result, finished=True)

    def v2_runner_on_unreachable(self, result):
        self._heard(result, finished=True)

    def v2_runner_item_on_ok(self, result):
        self._heard(result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._heard(result, item=True)

    def v2_runner_item_on_skipped(self, result):
        self._heard(result, item=True)

    def v2_runner_retry(self, result):
        self._heard(result)
        # A wait in an until loop can say how far the awaited work got (ollama_pull_wait's bytes and rate).
        line = result._result.get('progress_line')
        if line and not self._silent:
            self._display.display('    %s: %s' % (result._host.get_name(), line), color=C.COLOR_VERBOSE)
            sys.stdout.flush()

    def v2_runner_on_async_poll(self, result):
        self._heard(result)

    def v2_playbook_on_play_start(self, play):
        # A play ends only when its tasks have; what is left is from hosts removed mid-task.
        with self._lock:
            self._tasks.clear()

    def v2_playbook_on_stats(self, stats):
        with self._lock:
            self._tasks.clear()
        self._stop_heartbeat()
