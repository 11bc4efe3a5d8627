# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault tenant backend's plan from given read states (no server, no HTTP: plan() is pure).

The real-server behaviour (templated policy, provisioner refusals) is in
tests/integration/tenants/test_vault_provisioner_security.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_vault import VAULT_SPEC, VaultTenantBackend

ACCESSOR = 'auth_approle_1234'
POLICY = 'selfhosted-ai-tenant'


def _backend(**extra):
    options = dict((k, v.get('default')) for k, v in VAULT_SPEC.items())
    options.update(url='http://127.0.0.1:8200', token='t')
    options.update(extra)
    backend = VaultTenantBackend(options)
    backend._approle_enabled = True  # pylint: disable=protected-access
    backend._approle_accessor = ACCESSOR  # pylint: disable=protected-access
    return backend


def _tenant(state='present', purge=False):
    return validate_tenants([{'id': 'acme', 'state': state, 'purge': purge}])[0]


def _alias(metadata=None, entity_policies=(), groups=(), aliases=1, disabled=False, entity_name='entity_1234'):
    return {
        'id': 'aid',
        'custom_metadata': {'tenant': 'acme'} if metadata is None else metadata,
        'entity_id': 'eid',
        'entity_name': entity_name,
        'entity_policies': list(entity_policies),
        'entity_groups': list(groups),
        'entity_aliases': aliases,
        'entity_disabled': disabled,
    }


def _current(role=True, alias=True, policies=None, **alias_args):
    return {
        'credentials': {'postgres_password': 'x'},
        'credentials_version': 1,
        'role': {
            'token_policies': policies or [POLICY],
            'token_ttl': 3600,
            'token_max_ttl': 14400,
            'bind_secret_id': True,
        }
        if role
        else None,
        'role_id': 'rid' if role else None,
        'alias': _alias(**alias_args) if role and alias else None,
        'secrets': None,
    }


# the credentials _current() holds: planning them again stores nothing
STORED = {'postgres_password': 'x'}


def _kinds(ops):
    return [kind for kind, dummy in ops]


def test_everything_in_place_plans_nothing():
    change, ops = _backend().plan(_tenant(), _current(), STORED)
    assert ops == [] and not change.as_dict()['changed']
    assert change.before == change.after


def test_new_tenant_gets_role_and_alias_never_an_entity():
    change, ops = _backend().plan(_tenant(), _current(role=False), STORED)
    assert _kinds(ops) == ['role', 'alias']
    assert change.after['policy'] is True and change.before['policy'] is False


def test_changed_credentials_are_written_first():
    change, ops = _backend().plan(_tenant(), _current(), dict(STORED, valkey_password='y'))
    assert _kinds(ops) == ['write_credentials']
    assert change.after['credentials'] == ['postgres_password', 'valkey_password']


@pytest.mark.parametrize('metadata', [{}, {'tenant': 'other'}, {'tenant': 'acme', 'extra': '1'}])
def test_wrong_custom_metadata_is_rewritten(metadata):
    dummy, ops = _backend().plan(_tenant(), _current(metadata=metadata), STORED)
    assert _kinds(ops) == ['alias']


def test_missing_alias_is_added():
    dummy, ops = _backend().plan(_tenant(), _current(alias=False), STORED)
    assert _kinds(ops) == ['alias']


@pytest.mark.parametrize('extra', [{'entity_policies': ['admin']}, {'groups': ['gid']}, {'aliases': 2}])
def test_alias_on_an_entity_with_rights_moves_to_a_fresh_entity(extra):
    change, ops = _backend().plan(_tenant(), _current(**extra), STORED)
    assert ops == [('delete_alias', 'aid'), ('alias', None)]
    assert change.before['policy'] is False and change.after['policy'] is True


def test_disabled_entity_is_refused():
    with pytest.raises(BackendError):
        _backend().plan(_tenant(), _current(disabled=True), STORED)


def test_absent_deletes_alias_before_role_keeps_data():
    change, ops = _backend().plan(_tenant('absent'), _current(), STORED)
    assert ops == [('delete_alias', 'aid'), ('delete_role', None)]
    assert change.after['credentials'] == ['postgres_password']


def test_bad_policy_name_is_refused():
    for name in ('tenant-all', 'a b', '', 'x/y'):
        with pytest.raises(BackendError):
            _backend(tenant_policy=name)


def test_policy_pattern_matches_the_role_text_only():
    pattern = _backend().policy_path_pattern()
    assert pattern.search(
        'path "secret/data/tenants/{{identity.entity.aliases.%s.custom_metadata.tenant}}/*" {' % ACCESSOR
    )
    assert not pattern.search(
        'path "secret/data/tenants/{{identity.entity.aliases.auth_approle_other.custom_metadata.tenant}}/*" {'
    )
    assert not pattern.search(
        'path "secret/data/other/{{identity.entity.aliases.%s.custom_metadata.tenant}}/*" {' % ACCESSOR
    )
    assert not pattern.search('path "secret/data/tenants/{{identity.entity.metadata.tenant}}/*" {')
    assert not pattern.search('path "secret/data/tenants/{{identity.entity.name}}/*" {')
