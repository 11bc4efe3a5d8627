# -*- coding: utf-8 -*-
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test harness only (not part of the collection): records what a ``--check`` run predicts.

molecule's ``check`` step runs converge.yml with ``--check`` and fails only when a task fails. On a
converged instance it must also predict no change; this callback writes the tasks that reported
``changed`` in a check run to ``$MOLECULE_EPHEMERAL_DIRECTORY/check-changes.json``, and
molecule/shared/check_mode_no_change.yml (imported by verify.yml) asserts that list is empty.
Outside check mode, or outside molecule, it does nothing.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: check_mode_changes
type: aggregate
short_description: Record the tasks a check-mode run reports as changed (molecule harness)
description:
  - Writes the host and name of every task reported as changed during an C(ansible-playbook --check) run to
    C($MOLECULE_EPHEMERAL_DIRECTORY/check-changes.json).
requirements:
  - enabled in callbacks_enabled, run by molecule (MOLECULE_EPHEMERAL_DIRECTORY set)
"""

import json
import os

from ansible import context
from ansible.plugins.callback import CallbackBase

RECORD = 'check-changes.json'


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'check_mode_changes'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._changed = []

    @staticmethod
    def _active():
        return bool(context.CLIARGS.get('check')) and bool(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY'))

    def v2_runner_on_ok(self, result):
        if self._active() and result.is_changed():
            self._changed.append({'host': result._host.get_name(), 'task': result.task_name})

    def v2_playbook_on_stats(self, stats):
        if not self._active():
            return
        path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], RECORD)
        with open(path, 'w') as handle:
            json.dump({'changed': self._changed,
                       'hosts': dict((host, stats.summarize(host)) for host in sorted(stats.processed))}, handle)
