# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real tenant modules in-process, as Ansible would (JSON args in, JSON out)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from ansible.module_utils.testing import patch_module_args


def run_module(main, args, check_mode=False, diff=False):
    """Run a module's main() as Ansible would (JSON args in, JSON out); return the result dict."""
    args = dict(args)
    args['_ansible_check_mode'] = check_mode
    args['_ansible_diff'] = diff
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main()
    return json.loads(out.getvalue())


def run_tenant(args, check_mode=False, diff=False):
    from ansible_collections.selfhosted_ai.stack.plugins.modules import tenant

    return run_module(tenant.main, args, check_mode=check_mode, diff=diff)


def run_tenant_info(args):
    from ansible_collections.selfhosted_ai.stack.plugins.modules import tenant_info

    return run_module(tenant_info.main, args)


def module_args(stack, tenants, backends=('postgres', 'valkey', 's3', 'vault'), **extra):
    args = dict((name, stack[name]) for name in backends)
    args['backends'] = list(backends)
    args['tenants'] = tenants
    args.update(extra)
    return args
