# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest fixtures of the unit tests.

Several people add fixtures here: append yours, keep the others as they are.
"""

from __future__ import annotations

import os

import pytest
from ollama_replay import replayed_ollama

from ansible.module_utils import _internal as ansible_module_utils_internal
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

# Install Ansible's collection loader before any test module imports from ansible_collections
# (plugin tests need the collection's metadata loaded, as in a real run).
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '.collections'))])


class ModuleExited(Exception):
    """Raised instead of sys.exit when a module calls exit_json or fail_json."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class ModuleRun:
    """What one run of a module produced: its result dict and what it logged."""

    def __init__(self, result, logs):
        self.result = result
        self.logs = logs

    @property
    def failed(self):
        return bool(self.result.get('failed'))

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)


@pytest.fixture
def run_module(monkeypatch):
    """Run a module's main() with the given arguments and return a ModuleRun.

    The module's exit_json/fail_json are intercepted (so the test process does not exit) and
    module.log() lines are collected in ModuleRun.logs instead of going to syslog/journald.
    Check mode: pass check_mode=True (sets _ansible_check_mode like the controller does).
    """

    def _run(main, args=None, check_mode=False, diff=False):
        logs = []

        def exit_json(self, **kwargs):
            kwargs.setdefault('changed', False)
            kwargs['warnings'] = list(ansible_warnings.get_warning_messages())
            raise ModuleExited(kwargs)

        def fail_json(self, msg, **kwargs):
            kwargs['failed'] = True
            kwargs['msg'] = msg
            kwargs['warnings'] = list(ansible_warnings.get_warning_messages())
            raise ModuleExited(kwargs)

        def log(self, msg, log_args=None):
            logs.append(msg)

        monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
        monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
        monkeypatch.setattr(basic.AnsibleModule, 'log', log)
        # module.warn() collects into a process-wide dict: give every run its own. Once controller code
        # has been imported in the test process (lookup plugin tests do), warnings would go to Display
        # instead: a module runs on the target, where that flag is false.
        monkeypatch.setattr(ansible_warnings, '_global_warnings', {})
        monkeypatch.setattr(ansible_module_utils_internal, 'is_controller', False)

        module_args = dict(args or {})
        if check_mode:
            module_args['_ansible_check_mode'] = True
        if diff:
            module_args['_ansible_diff'] = True
        with patch_module_args(module_args), pytest.raises(ModuleExited) as exited:
            main()
        return ModuleRun(exited.value.result, logs)

    return _run


@pytest.fixture
def ollama_replayed_api():
    """A local server on 127.0.0.1 (random port) replaying Ollama's documented API (tests/ollama_replay.py).
    Yields OllamaReplayedAPI."""
    with replayed_ollama() as state:
        yield state
