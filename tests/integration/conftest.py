# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the integration tests. Keep this a thin list of imports from servers/.

pytest puts this directory on sys.path (no __init__.py here), so ``servers`` imports as a package.
"""
# pytest finds the fixtures by the names imported here, so they look unused to pylint.
# pylint: disable=unused-import

from servers.local_registry import local_valkey_image  # noqa: F401  (containers from the harness's registry)
from servers.openbao import openbao, openbao_tls  # noqa: F401  (fixtures, session scope)
from servers.postgres import postgres_server  # noqa: F401,E402  (tenant tests: PostgreSQL 15, session scope)
from servers.seaweedfs import seaweedfs_server  # noqa: F401,E402  (tenant tests: SeaweedFS S3, session scope)
from servers.valkey import valkey_server  # noqa: F401,E402  (tenant tests: Valkey/Redis, session scope)
