# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja tests loopback_address and private_address (documented in loopback_address.yml and private_address.yml)."""

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._addresses import is_loopback, is_private


class TestModule:
    def tests(self):
        return {'loopback_address': is_loopback, 'private_address': is_private}
