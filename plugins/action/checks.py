# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action of selfhosted_ai.stack.checks (documented in plugins/modules/checks.py): a role's input checks, each with
its own message, and optionally its argument specs, in one task instead of one task per check."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

CHECK_KEYS = {'that', 'msg', 'loop', 'when'}
OPTIONS = {'checks', 'argument_spec'}


def _as_list(value, what):
    values = [value] if isinstance(value, (str, bool)) else value
    if not isinstance(values, list) or not values or not all(isinstance(entry, (str, bool)) for entry in values):
        raise AnsibleActionFail('checks: %s must be an expression or a non-empty list of expressions' % what)
    return values


def _kind(value):
    kinds = (
        (str, 'a string'),
        (Mapping, 'a mapping'),
        (list, 'a list'),
        (bool, 'a boolean'),
        ((int, float), 'a number'),
    )
    for kind, name in kinds:
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
        unknown = set(self._task.args) - OPTIONS
        if unknown or not isinstance(checks, list) or not checks:
            raise AnsibleActionFail(
                'checks: takes checks, a non-empty list of {that, msg[, loop, when]}, and optionally argument_spec'
            )
        if 'argument_spec' in self._task.args:
            failure = self._argument_spec_failure(self._task.args['argument_spec'], task_vars or {})
            if failure:
                result.update(failure)
                return result
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

    def _role_argument_spec(self, entry_point, task_vars):
        """The options of an entry point in the argument specs of the role this task belongs to."""
        role_path = task_vars.get('role_path')
        if not role_path:
            raise AnsibleActionFail(
                "checks: argument_spec %r names an entry point of a role's argument specs; this task is not in a role"
                % entry_point
            )
        specs = self._loader.load_from_file(os.path.join(role_path, 'meta', 'argument_specs.yml')) or {}
        entry = (specs.get('argument_specs') or {}).get(entry_point)
        if not isinstance(entry, Mapping):
            raise AnsibleActionFail(
                'checks: %s/meta/argument_specs.yml has no entry point %r' % (role_path, entry_point)
            )
        return entry.get('options') or {}

    def _argument_spec_failure(self, argument_spec, task_vars):
        """What ansible.builtin.validate_argument_spec reports for these options, with its message; None if valid."""
        if isinstance(argument_spec, str):
            argument_spec = self._role_argument_spec(argument_spec, task_vars)
        if not isinstance(argument_spec, Mapping):
            raise AnsibleActionFail(
                "checks: argument_spec must be a mapping of options or the name of an entry point of the role's "
                'argument specs (got %s)' % _kind(argument_spec)
            )
        provided = self._templar.template({name: task_vars[name] for name in argument_spec if name in task_vars})
        outcome = ArgumentSpecValidator(dict(argument_spec)).validate(provided, validate_role_argument_spec=True)
        if not outcome.error_messages:
            return None
        return {
            'failed': True,
            'msg': 'Validation of arguments failed:\n%s' % '\n'.join(outcome.error_messages),
            'argument_errors': outcome.error_messages,
        }

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
