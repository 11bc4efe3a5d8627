# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names derived from tenant ids: valid in every backend, one-to-one."""

from __future__ import annotations

import re

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._postgres import scram_matches, scram_verifier
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import (
    TenantInputError,
    check_tenant_id,
    validate_tenants,
)

S3_BUCKET = re.compile(r'^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$')


@pytest.mark.parametrize('tenant_id', ['ab', 'acme', 'acme_corp', 'a1_b2_c3', 'x' * 30])
def test_names_are_valid_everywhere(tenant_id):
    tenant = validate_tenants([{'id': tenant_id, 'apps': ['n8n', 'openwebui']}])[0]
    assert S3_BUCKET.match(tenant.bucket) and '--' not in tenant.bucket
    for name in [tenant.pg_role] + tenant.pg_databases():
        assert len(name) <= 63
    assert tenant.key_prefix == tenant_id + ':'


def test_bucket_mapping_is_one_to_one():
    ids = ['a_b_c', 'ab_c', 'a_bc', 'abc']
    buckets = [validate_tenants([{'id': i}])[0].bucket for i in ids]
    assert len(set(buckets)) == len(ids)


def test_database_names_cannot_collide():
    # apps have no underscore, so "<app>_<id>" splits at the first "_" only
    with pytest.raises(TenantInputError):
        validate_tenants([{'id': 'c', 'apps': ['a_b']}])


def test_check_tenant_id_rejects_non_strings():
    with pytest.raises(TenantInputError):
        check_tenant_id(12)


def test_scram_verifier_roundtrip():
    verifier = scram_verifier('s3cret')
    assert verifier.startswith('SCRAM-SHA-256$4096:')
    assert scram_matches(verifier, 's3cret') is True
    assert scram_matches(verifier, 'other') is False
    assert scram_matches('md5abc', 's3cret') is None


@pytest.mark.parametrize('key', ['s3_max_bytes', 'disk'])
def test_quota_without_an_effect_is_refused(key):
    with pytest.raises(TenantInputError, match='unknown quota'):
        validate_tenants([{'id': 'acme', 'quotas': {key: 1}}])
