# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action of selfhosted_ai.stack.checks (documented in plugins/modules/checks.py): a role's input checks, each with
its own message, in one task instead of one ansible.builtin.assert task per check."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

CHECK_KEYS = {'that', 'msg', 'loop', 'when'}


def _as_list(value, what):
    values = [value] if isinstance(value, (str, bool)) else value
    if not isinstance(values, list) or not values or not all(isinstance(entry, (str, bool)) for entry in values):
        raise AnsibleActionFail('checks: %s must be an expression or a non-empty list of expressions' % what)
    return values


def _kind(value):
    for kind, name in ((str, 'a string'), (Mapping, 'a mapping'), (bool, 'a boolean'), ((int, float), 'a number')):
        if isinstance(value, kind):
            return name
    return 'nothing' if value is None else 'something else'


class ActionModule(ActionBase):
    """Evaluate each check's conditions in order, like a chain of assert tasks; stop at the first that fails."""

    _requires_connection = False
    _supports_check_mode = True

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # The conditions are expressions evaluated here, and a message is rendered only when its check fails
        # (assert renders every fail_msg, failing or not).
        if name == 'checks':
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        checks = self._task.args.get('checks')
        unknown = set(self._task.args) - {'checks'}
        if unknown or not isinstance(checks, list) or not checks:
            raise AnsibleActionFail('checks: takes one option, checks, a non-empty list of {that, msg[, loop, when]}')
        for number, check in enumerate(checks, start=1):
            if not isinstance(check, dict) or not {'that', 'msg'} <= set(check) or set(check) - CHECK_KEYS:
                raise AnsibleActionFail(
                    'checks: check %d must be a mapping of that, msg and optionally loop, when' % number
                )
            failure = self._first_failure(check, number)
            if failure:
                result.update(failure)
                return result
        result.update(changed=False, msg='%d checks passed' % len(checks))
        return result

    def _first_failure(self, check, number):
        conditions = _as_list(check['that'], 'that of check %d' % number)
        applies = all(self._templar.evaluate_conditional(when) for when in _as_list(check.get('when', True), 'when'))
        if not applies:
            return None
        if 'loop' not in check:
            return self._evaluate(conditions, check['msg'], self._templar)
        items = self._templar.template(check['loop'])
        if not isinstance(items, list):
            raise AnsibleActionFail('checks: the loop of check %d must be a list (got %s)' % (number, _kind(items)))
        for item in items:
            templar = self._templar.copy_with_new_env(
                available_variables=ChainMap({'item': item}, self._templar.available_variables)
            )
            failure = self._evaluate(conditions, check['msg'], templar)
            if failure:
                return failure
        return None

    @staticmethod
    def _evaluate(conditions, message, templar):
        for condition in conditions:
            if not templar.evaluate_conditional(condition):
                return {'failed': True, 'msg': templar.template(message), 'assertion': condition, 'evaluated_to': False}
        return None
