# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fork_gc callback: the collector off and the main process's objects frozen before each task's workers fork,
the main process's garbage collected every few tasks, the collector back on at the end.

The first tests drive the callback object in this process; the last run ansible-playbook with the repository's
ansible.cfg and read the collector's state from inside a worker (a lookup runs there).
"""

from __future__ import annotations

import gc
import json
import os
import re
import weakref

import pytest
from ansible_run import ansible_playbook

from ansible.plugins.loader import callback_loader


class Cycle:
    """Garbage only the collector frees: an object that refers to itself."""

    def __init__(self):
        self.me = self


@pytest.fixture
def restore_gc():
    yield
    gc.unfreeze()
    gc.enable()


def make_callback(**options):
    callback = callback_loader.get('selfhosted_ai.stack.fork_gc')
    callback.set_options(direct=options)
    return callback


def garbage():
    """A dropped reference cycle, and a weak reference that tells whether it was freed."""
    cycle = Cycle()
    return weakref.ref(cycle)


def test_the_collector_is_off_and_the_objects_frozen_from_the_playbook_start_to_its_end(restore_gc):
    callback = make_callback()
    callback.v2_playbook_on_start(None)
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0
    callback.v2_playbook_on_task_start(None, False)
    assert not gc.isenabled()
    callback.v2_playbook_on_stats(None)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_worker_forked_after_a_task_start_runs_without_the_collector_and_walks_none_of_its_parents_objects(
    restore_gc,
):
    callback = make_callback()
    callback.v2_playbook_on_start(None)
    inherited = [Cycle() for _number in range(1000)]
    callback.v2_playbook_on_task_start(None, False)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: it must never return into pytest, whatever happens here
        try:
            os.close(reader)
            tracked = sum(len(gc.get_objects(generation)) for generation in (0, 1, 2))
            state = {'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count(), 'tracked': tracked}
            os.write(writer, json.dumps(state).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        state = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert state['enabled'] is False
    # The parent's objects, the 1000 made after the playbook's start among them, are out of the collector's reach.
    assert state['frozen'] >= len(inherited)
    assert state['tracked'] < len(inherited)
    callback.v2_playbook_on_stats(None)


def test_the_main_process_collects_its_garbage_every_collect_every_tasks(restore_gc):
    callback = make_callback(collect_every=3)
    callback.v2_playbook_on_start(None)
    callback.v2_playbook_on_task_start(None, False)
    freed = garbage()
    callback.v2_playbook_on_task_start(None, False)
    assert freed() is not None, 'collected before the third task'
    callback.v2_playbook_on_handler_task_start(None)
    assert freed() is None, 'not collected at the third task'
    callback.v2_playbook_on_stats(None)


def test_collect_every_0_leaves_the_garbage_to_the_end(restore_gc):
    callback = make_callback(collect_every=0)
    callback.v2_playbook_on_start(None)
    freed = garbage()
    for _task in range(50):
        callback.v2_playbook_on_task_start(None, False)
    assert freed() is not None
    callback.v2_playbook_on_stats(None)
    gc.collect()
    assert freed() is None


LOOKUP = """
import gc
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [{'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count() > 0}]
"""

PLAYBOOK = """
- name: Read the collector's state in a worker
  hosts: all
  gather_facts: false
  tasks:
    - name: State
      ansible.builtin.debug:
        msg: "gc state {{ lookup('gc_state') | to_json }}"
"""


def worker_state(tmp_path, **env):
    (tmp_path / 'lookup_plugins').mkdir()
    (tmp_path / 'lookup_plugins' / 'gc_state.py').write_text(LOOKUP)
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    # cwd is the repository: its ansible.cfg enables the callback, as for a user of the playbooks.
    result = ansible_playbook(
        '-i',
        'localhost,',
        '-c',
        'local',
        tmp_path / 'play.yml',
        extra_env={'ANSIBLE_LOOKUP_PLUGINS': str(tmp_path / 'lookup_plugins'), **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    state = re.search(r'gc state (\{[^}]*\})', result.stdout)
    assert state, result.stdout
    return json.loads(state.group(1))


def test_ansible_playbook_forks_its_workers_without_the_collector(tmp_path):
    assert worker_state(tmp_path) == {'enabled': False, 'frozen': True}


def test_without_the_callback_the_workers_collect_as_python_does(tmp_path):
    state = worker_state(tmp_path, ANSIBLE_CALLBACKS_ENABLED='ansible.posix.profile_tasks')
    assert state == {'enabled': True, 'frozen': False}
