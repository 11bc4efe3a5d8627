# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fails an `ansible-playbook --check` run on converged hosts that reports a change (molecule's `check` step).

Molecule's check step only runs the converge playbook with --check; a run that predicts changes on a
converged host still passes there. With this callback enabled, such a run lists every task it would
change and exits with status 3 after the recap, so the step fails. Runs without --check are untouched.

A scenario may also run `check` before `converge` (a preview on fresh instances): molecule's state says
the scenario has not converged yet, so changes are expected; they are listed, and only a failed task
fails the step (as ansible-playbook itself decides).
"""

DOCUMENTATION = r"""
name: check_mode_no_change
type: aggregate
short_description: Fail a --check run that reports any change
description:
  - In check mode, records every task result that reports a change; after the recap, lists them and exits 3.
  - Before molecule's converge step (C(converged) false in the scenario's state file), lists them only.
requirements:
  - enabled in callbacks_enabled
"""

import os
from pathlib import Path

import yaml

from ansible import context
from ansible.plugins.callback import CallbackBase

EXIT_STATUS = 3


def scenario_converged():
    """Whether molecule's scenario has converged (True outside molecule: every check run is held to no change)."""
    ephemeral = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY')
    state_file = Path(ephemeral, 'state.yml') if ephemeral else None
    if state_file is None or not state_file.is_file():
        return True
    state = yaml.safe_load(state_file.read_text()) or {}
    return bool(state.get('converged', True))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'check_mode_no_change'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._changed = []

    def _record(self, result):
        if context.CLIARGS.get('check') and result.is_changed():
            self._changed.append(f'{result._host.get_name()}: {result._task.get_name()}')

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_item_on_ok(self, result):
        self._record(result)

    def v2_playbook_on_stats(self, stats):
        if not context.CLIARGS.get('check') or not self._changed:
            return
        # Items report both per item and for their task: list each task once.
        unique = list(dict.fromkeys(self._changed))
        if not scenario_converged():
            self._display.display(
                'check mode on fresh instances (before converge) would change:\n  ' + '\n  '.join(unique)
            )
            return
        self._display.error(
            'check mode on a converged host must report no change, but these tasks would change:\n  '
            + '\n  '.join(unique)
        )
        raise SystemExit(EXIT_STATUS)
