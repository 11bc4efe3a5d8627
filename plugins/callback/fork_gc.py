# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: fork_gc
type: aggregate
short_description: Python's garbage collector on the controller, set for Ansible's one fork per task and host
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Ansible runs every task on every host in a process forked from the controller's main process, which holds the
    playbooks, the inventory, the variables and the results. Python's garbage collector in such a worker walks the
    objects it inherited as well as its own, and each walk writes to their pages, which the kernel then copies for
    the worker; on a rerun that changes nothing that is a good part of the controller's time.
  - This callback applies what Python's documentation of C(gc.freeze) recommends for a parent that forks without
    exec - the collector off in the parent, the parent's objects frozen right before the forks. At the start of each
    task it freezes the main process's objects (moves them out of the collector's reach), so the workers forked for
    the task inherit a collector that is off and has nothing to walk; a worker lives for one task, and the memory it
    allocates goes back to the system when it exits.
  - The main process collects its garbage itself every O(collect_every) tasks (objects unfrozen, one full
    collection, frozen again), so a long run does not keep the garbage of all its tasks. The playbook's end turns
    the collector back on.
  - Measured on this collection's sandbox (README, Reruns) - a no-op rerun of C(site.yml) over SSH took about a tenth
    less time with it than without it, alternating, and the main process's peak memory grew from 81 to 90 MB.
  - Enable it in C(callbacks_enabled) of C(ansible.cfg) (this collection's C(ansible.cfg) does).
requirements:
  - enable in configuration
options:
  collect_every:
    description: Tasks between two full collections of the main process's garbage; V(0) never collects.
    type: int
    default: 100
    env:
      - name: SELFHOSTED_AI_FORK_GC_COLLECT_EVERY
    ini:
      - section: callback_fork_gc
        key: collect_every
notes:
  - The workers of a task run without the collector, so a task that built cyclic garbage in the hundreds of MB in
    one worker would keep it until the worker exits. None of Ansible's or this collection's plugins do.
"""

import gc

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Freeze the main process's objects before each task's workers fork; collect its garbage every few tasks."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'selfhosted_ai.stack.fork_gc'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._tasks = 0
        self._collect_every = 100
        self._active = False

    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._collect_every = max(int(self.get_option('collect_every')), 0)

    def v2_playbook_on_start(self, playbook) -> None:
        self._active = True
        gc.disable()
        gc.freeze()

    def _before_forks(self) -> None:
        if not self._active:
            return
        self._tasks += 1
        if self._collect_every and self._tasks % self._collect_every == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._before_forks()

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._before_forks()

    def v2_playbook_on_cleanup_task_start(self, task) -> None:
        self._before_forks()

    def v2_playbook_on_stats(self, stats) -> None:
        self._active = False
        gc.unfreeze()
        gc.enable()
