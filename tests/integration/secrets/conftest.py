# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The secret lookup through Ansible's plugin loader, as a playbook gets it."""

from __future__ import annotations

import os

import pytest

from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
COLLECTIONS = os.path.join(REPO, '.collections')

# Before any test module imports from ansible_collections (see tests/unit/plugins/lookup/conftest.py).
if AnsibleCollectionConfig.collection_finder is None:
    init_plugin_loader([COLLECTIONS])


@pytest.fixture
def secret_lookup():
    """Return a function giving a fresh instance of selfhosted_ai.stack.secret."""

    def _get():
        plugin = lookup_loader.get('selfhosted_ai.stack.secret')
        assert plugin is not None, 'selfhosted_ai.stack.secret not found below %s' % COLLECTIONS
        return plugin

    return _get


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No Vault/OpenBao or lookup settings leak in from the shell running the tests."""
    for key in list(os.environ):
        if key.startswith(('VAULT_', 'BAO_', 'SELFHOSTED_AI_')):
            monkeypatch.delenv(key)
