# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bulk reads of the S3 and Vault backends see exactly what one-by-one reads see.

Tenants in mixed states (provisioned, never provisioned, revoked, revoked with secrets of its
own) are read with the backends' ``read`` (Vault: LIST first, then GETs several at a time; S3:
every identity in one ``weed shell`` call) and with the plain per-tenant reads (Vault: no LIST
shortcut, one GET after the other; S3: the IAM API, ListAccessKeys and GetUserPolicy per
identity, one after the other); the two must agree.
"""

from __future__ import annotations

import pytest
from tenant_harness import module_args, run_tenant

from ansible_collections.selfhosted_ai.stack.plugins.module_utils import _tenant_s3, _tenant_vault
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import validate_tenants
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_engine import TenantEngine
from ansible_collections.selfhosted_ai.stack.plugins.modules.tenant import argument_spec

pytestmark = pytest.mark.integration

IDS = ['bulk_made%d' % i for i in range(5)] + ['bulk_never', 'bulk_revoked']


def _params(stack, tenants):
    args = module_args(stack, tenants)
    spec = argument_spec()
    for name in ('postgres', 'valkey', 's3', 'vault'):
        options = dict((key, value.get('default')) for key, value in spec[name]['options'].items())
        options.update(args[name])
        args[name] = options
    for name in ('qdrant', 'neo4j'):
        args[name] = None
    return args


def test_bulk_reads_match_one_by_one(stack, monkeypatch):
    # the IAM API writes (its inline policies are what the two reads compare)
    stack = dict(stack, s3=stack['s3_shell_read'])
    made = [{'id': tid, 'apps': ['n8n']} for tid in IDS if tid != 'bulk_never']
    assert run_tenant(module_args(stack, made))['changed'] is True
    assert (
        run_tenant(module_args(stack, [{'id': 'bulk_revoked', 'apps': ['n8n'], 'state': 'absent'}]))['changed'] is True
    )

    # S3 states a rerun must see: a key nobody has the secret of, a policy deleted by hand
    iam = stack['servers']['s3'].client(service='iam')
    iam.create_access_key(UserName='tenant-bulk-made1')
    iam.delete_user_policy(UserName='tenant-bulk-made2', PolicyName='tenant-bucket')

    wanted = [{'id': tid, 'apps': ['n8n']} for tid in IDS[:-1]] + [
        {'id': 'bulk_revoked', 'apps': ['n8n'], 'state': 'absent', 'purge': True}
    ]
    params = _params(stack, wanted)
    tenants = validate_tenants(params['tenants'], params.get('default_apps'))
    engine = TenantEngine(params, check_mode=True)
    engine.build(tenants)
    engine.connect()
    try:
        bulk = engine.read_all(tenants)
        vault = engine.backends['vault']
        s3 = engine.backends['s3']
        assert isinstance(s3.admin, _tenant_s3.SeaweedShellAdmin)
        # one by one: no LIST shortcut for credentials, the IAM API per identity, one worker
        monkeypatch.setattr(vault, '_list_or_none', lambda path: None)
        monkeypatch.setattr(_tenant_vault, '_READ_WORKERS', 1)
        monkeypatch.setattr(_tenant_s3, '_READ_WORKERS', 1)
        single_vault = vault.read(tenants)
        s3.admin = _tenant_s3.IamApiAdmin(s3.admin.iam, s3.admin.policy_name)
        single_s3 = s3.read(tenants)
    finally:
        engine.close()
    assert bulk['vault'] == single_vault
    assert bulk['s3'] == single_s3
    # the states are the mixed ones this test means to cover
    assert bulk['vault']['bulk_never']['credentials'] is None and bulk['vault']['bulk_never']['alias'] is None
    assert bulk['vault']['bulk_made0']['credentials'] and bulk['vault']['bulk_made0']['role']
    assert bulk['vault']['bulk_made0']['alias']['custom_metadata'] == {'tenant': 'bulk_made0'}
    assert (
        bulk['vault']['bulk_made0']['alias']['entity_policies'] == []
        and bulk['vault']['bulk_made0']['alias']['entity_groups'] == []
    )
    assert bulk['vault']['bulk_made0']['role_id']
    assert bulk['vault']['bulk_revoked']['credentials'] and bulk['vault']['bulk_revoked']['alias'] is None
    assert bulk['vault']['bulk_revoked']['role'] is None
    assert bulk['vault']['bulk_revoked']['secrets'] == ['credentials']
    assert bulk['s3']['bulk_made4']['identity']['access_keys'] and bulk['s3']['bulk_never']['identity'] is None
    assert len(bulk['s3']['bulk_made1']['identity']['access_keys']) == 2
    assert bulk['s3']['bulk_made2']['identity']['policy'] is None and bulk['s3']['bulk_made3']['identity']['policy']
    assert bulk['s3']['bulk_revoked']['identity'] is None

    purge = [{'id': tid, 'apps': ['n8n'], 'state': 'absent', 'purge': True} for tid in IDS]
    assert run_tenant(module_args(stack, purge))['changed'] is True
