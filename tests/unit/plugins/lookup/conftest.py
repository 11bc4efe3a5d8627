# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup plugins through Ansible's own plugin loader, as a playbook gets them.

The loader reads DOCUMENTATION into the option definitions, so get_option() sees the
same env/vars/ini sources and defaults it sees in a real run.
"""

from __future__ import annotations

import os

import pytest

from ansible.plugins.loader import lookup_loader

# tests/unit/conftest.py installed Ansible's collection loader on this path.
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '.collections'))


@pytest.fixture(scope='session')
def lookup_plugin():
    """Return a function giving a fresh instance of a lookup plugin by FQCN."""

    def _get(fqcn):
        plugin = lookup_loader.get(fqcn)
        assert plugin is not None, '%s not found below %s' % (fqcn, COLLECTIONS)
        return plugin

    return _get
