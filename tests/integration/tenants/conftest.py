# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the tenant integration tests (servers come from tests/integration/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope='session')
def stack(postgres_server, valkey_server, seaweedfs_server, openbao):
    """Connection options of the four live backends, as the module takes them. Vault: the tenant stack's
    AppRole and policies made as the openbao role makes them (never the root token)."""
    from openbao_role import setup_tenant_stack

    s3_iam = seaweedfs_server.module_options()
    bao = setup_tenant_stack(openbao)
    return {
        'postgres': postgres_server.module_options(),
        'valkey': valkey_server.module_options(),
        # identities read and written in one batch through SeaweedFS's admin shell, as
        # playbooks/04_tenants.yml does
        's3': dict(s3_iam, seaweedfs_shell=seaweedfs_server.shell_command(), admin_api='seaweedfs_shell'),
        # identities read in one shell call, written through the IAM API
        's3_shell_read': dict(s3_iam, seaweedfs_shell=seaweedfs_server.shell_command()),
        # identities read and written with the IAM API alone (two reads per identity)
        's3_iam': s3_iam,
        'vault': {
            'url': openbao.url,
            'role_id': bao['role_id'],
            'secret_id': bao['secret_id'],
            'tenant_policy': bao['tenant_policy'],
        },
        'openbao_role': bao,
        'servers': {'postgres': postgres_server, 'valkey': valkey_server, 's3': seaweedfs_server, 'vault': openbao},
    }


def pytest_terminal_summary(terminalreporter):
    """Print the isolation matrix counts (shown with or without -s)."""
    from _probe import ISOLATION_COUNTS

    if not ISOLATION_COUNTS:
        return
    terminalreporter.section('tenant isolation matrix')
    for backend, counts in sorted(ISOLATION_COUNTS.items()):
        terminalreporter.write_line(
            '%-14s cross-tenant attempts %4d refused %4d | own-resource attempts %3d accepted %3d'
            % (backend, counts['cross'], counts['refused'], counts['own'], counts['accepted'])
        )
