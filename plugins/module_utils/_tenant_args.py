# -*- coding: utf-8 -*-
# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument spec of the backend options shared by tenant and tenant_info (doc fragment _tenant)."""

from __future__ import annotations

import copy

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_postgres import POSTGRES_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_valkey import VALKEY_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_s3 import S3_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_vault import VAULT_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_qdrant import QDRANT_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_neo4j import NEO4J_SPEC
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_engine import BACKENDS


def backend_argument_spec():
    return dict(
        backends=dict(type="list", elements="str", choices=list(BACKENDS)),
        postgres=dict(type="dict", options=copy.deepcopy(POSTGRES_SPEC)),
        valkey=dict(type="dict", no_log=False, options=copy.deepcopy(VALKEY_SPEC)),
        s3=dict(type="dict", options=copy.deepcopy(S3_SPEC)),
        vault=dict(type="dict", options=copy.deepcopy(VAULT_SPEC)),
        qdrant=dict(type="dict", options=copy.deepcopy(QDRANT_SPEC)),
        neo4j=dict(type="dict", options=copy.deepcopy(NEO4J_SPEC)),
    )
