# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the backend options shared by tenant and tenant_info (doc fragment _tenant)."""

from __future__ import annotations

import copy

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_registry import BACKENDS


def backend_argument_spec():
    spec = dict(backends=dict(type='list', elements='str', choices=list(BACKENDS)))
    for name, cls in BACKENDS.items():
        # no_log=False: the option holds connection settings, its secret suboptions are no_log themselves
        spec[name] = dict(type='dict', no_log=False, options=copy.deepcopy(cls.argument_spec))
    return spec
