# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vault tenant backend's plan from given read states (no server, no HTTP: plan() is pure).

The real-server behaviour (templated policy, provisioner refusals) is in
tests/integration/tenants/test_vault_provisioner_security.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_common import BackendError, validate_tenants
from ansible_collections.selfhosted_ai.stack.plugins.module_utils._tenant_vault import VAULT_SPEC, VaultTenantBackend

ACCESSOR = "auth_approle_1234"
POLICY = "selfhosted-ai-tenant"


def _backend(**extra):
    options = dict((k, v.get("default")) for k, v in VAULT_SPEC.items())
    options.update(url="http://127.0.0.1:8200", token="t")
    options.update(extra)
    backend = VaultTenantBackend(options)
    backend._approle_enabled = True  # pylint: disable=protected-access
    backend._approle_accessor = ACCESSOR  # pylint: disable=protected-access
    return backend


def _tenant(state="present", purge=False):
    return validate_tenants([{"id": "acme", "state": state, "purge": purge}])[0]


def _current(role=True, entity=True, metadata=None, alias=True, legacy=False, policies=None):
    return {
        "credentials": {"postgres_password": "x"}, "credentials_version": 1, "legacy_policy": legacy,
        "role": {"token_policies": policies or [POLICY], "token_ttl": 3600, "token_max_ttl": 14400,
                 "bind_secret_id": True} if role else None,
        "role_id": "rid" if role else None,
        "entity": {"id": "eid", "metadata": {"tenant": "acme"} if metadata is None else metadata, "policies": [],
                   "disabled": False, "aliases": [(ACCESSOR, "rid")] if alias else []} if entity else None,
        "secrets": None,
    }


def _kinds(ops):
    return [kind for kind, dummy in ops]


def test_everything_in_place_plans_nothing():
    change, ops = _backend().plan(_tenant(), _current(), {"postgres_password": "x"}, False)
    assert ops == [] and not change.as_dict()["changed"]
    assert change.before == change.after


def test_new_tenant_gets_role_entity_and_alias():
    change, ops = _backend().plan(_tenant(), _current(role=False, entity=False), {}, False)
    assert _kinds(ops) == ["role", "entity", "alias"]
    assert change.after["policy"] is True and change.before["policy"] is False


def test_earlier_release_is_migrated():
    """Role bound to its own policy tenant-acme, no entity, the old policy present."""
    current = _current(entity=False, legacy=True, policies=["tenant-acme"])
    dummy, ops = _backend().plan(_tenant(), current, {}, False)
    assert _kinds(ops) == ["role", "entity", "alias", "delete_policy"]


@pytest.mark.parametrize("metadata", [{}, {"tenant": "other"}, {"tenant": "acme", "extra": "1"}])
def test_wrong_metadata_is_rewritten(metadata):
    dummy, ops = _backend().plan(_tenant(), _current(metadata=metadata), {}, False)
    assert _kinds(ops) == ["entity"]


def test_missing_alias_is_added():
    dummy, ops = _backend().plan(_tenant(), _current(alias=False), {}, False)
    assert _kinds(ops) == ["alias"]


def test_absent_deletes_role_entity_and_old_policy_keeps_data():
    change, ops = _backend().plan(_tenant("absent"), _current(legacy=True), {}, False)
    assert _kinds(ops) == ["delete_role", "delete_entity", "delete_policy"]
    assert change.after["credentials"] == ["postgres_password"]


def test_bad_policy_name_is_refused():
    for name in ("tenant-all", "a b", "", "x/y"):
        with pytest.raises(BackendError):
            _backend(tenant_policy=name)


def test_policy_pattern_matches_the_role_text_only():
    pattern = _backend().policy_path_pattern()
    assert pattern.search('path "secret/data/tenants/{{identity.entity.metadata.tenant}}/*" {')
    assert not pattern.search('path "secret/data/other/{{identity.entity.metadata.tenant}}/*" {')
    assert not pattern.search('path "secret/data/tenants/{{identity.entity.name}}/*" {')
