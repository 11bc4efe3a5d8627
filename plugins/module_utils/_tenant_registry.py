# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every tenant backend, by name (the order of the backends option's choices). Private to the collection.

Imports are static so that Ansible ships every backend with the modules; each backend module
imports its library in a try block and names it in ``library``/``library_error``.
"""

from __future__ import annotations

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import (
    _tenant_neo4j,
    _tenant_postgres,
    _tenant_qdrant,
    _tenant_s3,
    _tenant_valkey,
    _tenant_vault,
)

BACKENDS = dict(
    (cls.name, cls)
    for cls in (
        _tenant_postgres.PostgresTenantBackend,
        _tenant_valkey.ValkeyTenantBackend,
        _tenant_s3.S3TenantBackend,
        _tenant_vault.VaultTenantBackend,
        _tenant_qdrant.QdrantTenantBackend,
        _tenant_neo4j.Neo4jTenantBackend,
    )
)
