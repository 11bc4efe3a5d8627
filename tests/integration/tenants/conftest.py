# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the tenant integration tests (servers come from tests/integration/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def stack(postgres_server, valkey_server, seaweedfs_server, openbao):
    """Connection options of the four live backends, as the module takes them."""
    return {
        "postgres": postgres_server.module_options(),
        "valkey": valkey_server.module_options(),
        "s3": seaweedfs_server.module_options(),
        "vault": {"url": openbao.url, "token": openbao.root_token},
        "servers": {"postgres": postgres_server, "valkey": valkey_server, "s3": seaweedfs_server, "vault": openbao},
    }


def pytest_terminal_summary(terminalreporter):
    """Print the isolation matrix counts (shown with or without -s)."""
    from _probe import ISOLATION_COUNTS
    if not ISOLATION_COUNTS:
        return
    terminalreporter.section("tenant isolation matrix")
    for backend, counts in sorted(ISOLATION_COUNTS.items()):
        terminalreporter.write_line(
            "%-9s cross-tenant attempts %4d refused %4d | own-resource attempts %3d accepted %3d"
            % (backend, counts["cross"], counts["refused"], counts["own"], counts["accepted"]))
