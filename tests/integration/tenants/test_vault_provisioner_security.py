# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attack the tenant stack's OpenBao AppRole (the provisioner) and the tenants' templated policy, on real OpenBao 2.7.

The provisioner's AppRole and policy are made as the openbao role makes them, from the role's own policy text
(openbao_role.py renders roles/openbao/vars/main.yml). It must be refused (403) every way to more rights than
provisioning tenants: writing any ACL policy, binding a tenant-* AppRole to another policy, setting policies on
an entity, enabling auth methods or engines. Tenant tokens (templated policy, entity metadata) must be refused
other tenants' secrets and the playbooks' secrets; a token whose entity lacks or misuses the metadata reaches
nothing. Each legitimate operation the module needs is shown to work.
"""

from __future__ import annotations

import pytest

hvac = pytest.importorskip("hvac")
requests = pytest.importorskip("requests")

from tenant_harness import module_args, run_tenant  # noqa: E402
from openbao_role import approle_accessor  # noqa: E402

A, B = "sec_a", "sec_b"


def _login(url, role_id, secret_id):
    answer = requests.post(url + "/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret_id}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["auth"]


def _call(url, token, method, path, body=None):
    answer = requests.request(method, url + "/v1/" + path, headers={"X-Vault-Token": token}, json=body, timeout=10)
    return answer.status_code


@pytest.fixture(scope="module")
def bao(stack):
    server = stack["servers"]["vault"]
    made = stack["openbao_role"]
    tenants = [{"id": A, "apps": ["n8n"]}, {"id": B, "apps": ["n8n"]}]
    assert run_tenant(module_args(stack, tenants, ("vault",))).get("failed") is not True
    root = server.client()
    # secrets the tenants and the provisioner must not reach: the playbooks' (openbao_kv_path_prefix)
    root.secrets.kv.v2.create_or_update_secret(path="selfhosted_ai/postgres/superuser", secret={"password": "p"},
                                               mount_point="secret")
    for tid in (A, B):  # (the vault backend alone generates no credential: stand-ins)
        for leaf in ("app/config", "credentials"):
            root.secrets.kv.v2.create_or_update_secret(path="tenants/%s/%s" % (tid, leaf), secret={"own": tid},
                                                       mount_point="secret")
    provisioner = _login(server.url, made["role_id"], made["secret_id"])
    yield {"server": server, "url": server.url, "root": root, "token": provisioner["client_token"],
           "policy": made["tenant_policy"], "accessor": approle_accessor(server), "provisioner_auth": provisioner}
    run_tenant(module_args(stack, [dict(t, state="absent", purge=True) for t in tenants], ("vault",)))


def _tenant_token(bao, name):
    root = bao["root"]
    role_id = root.adapter.get("/v1/auth/approle/role/%s/role-id" % name)["data"]["role_id"]
    secret_id = root.adapter.post("/v1/auth/approle/role/%s/secret-id" % name)["data"]["secret_id"]
    return _login(bao["url"], role_id, secret_id)


def test_provisioner_holds_its_policy_only(bao):
    assert sorted(bao["provisioner_auth"]["policies"]) == ["default", "selfhosted-ai-tenants"]


@pytest.mark.parametrize("name", ["tenant-x", "tenant-sec-a", "anything", "selfhosted-ai-tenant", "selfhosted-ai-tenants",
                                  "root-like", "default"])
def test_provisioner_cannot_write_any_acl_policy(bao, name):
    body = {"policy": 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'}
    assert _call(bao["url"], bao["token"], "PUT", "sys/policies/acl/%s" % name, body) == 403
    assert _call(bao["url"], bao["token"], "POST", "sys/policy/%s" % name, {"rules": body["policy"]}) == 403
    # the templated policy is unchanged
    text = bao["root"].sys.read_acl_policy(bao["policy"])["data"]["policy"] if hasattr(bao["root"].sys, "read_acl_policy") \
        else bao["root"].adapter.get("/v1/sys/policies/acl/%s" % bao["policy"])["data"]["policy"]
    assert "{{identity.entity.metadata.tenant}}" in text and "sudo" not in text


@pytest.mark.parametrize("body", [
    {"token_policies": ["root"]},
    {"token_policies": "root"},
    {"token_policies": ["default"]},
    {"token_policies": "default"},
    {"token_policies": ["selfhosted-ai-tenant", "other"]},
    {"token_policies": "selfhosted-ai-tenant,other"},
    {"token_policies": "selfhosted-ai-tenants"},
    {"token_policies": "selfhosted-ai-playbooks"},
    {"token_policies": ""},
    {"policies": "selfhosted-ai-tenant"},
    {"policies": ["root"]},
    {"token_policies": "selfhosted-ai-tenant", "policies": "root"},
    {"token_policies": "selfhosted-ai-tenant", "bind_secret_id": False},
    {"token_policies": "selfhosted-ai-tenant", "token_no_default_policy": False, "token_type": "service"},
    {"token_policies": "selfhosted-ai-tenant", "secret_id_bound_cidrs": ["0.0.0.0/0"]},
])
@pytest.mark.parametrize("role", ["tenant-x", "tenant-sec-a"])
def test_provisioner_cannot_bind_another_policy(bao, role, body):
    before = bao["root"].adapter.get("/v1/auth/approle/role/tenant-sec-a")["data"]["token_policies"]
    assert _call(bao["url"], bao["token"], "POST", "auth/approle/role/%s" % role, body) == 403
    assert _call(bao["url"], bao["token"], "POST", "auth/approle/role/%s/policies" % role, body) == 403
    assert bao["root"].adapter.get("/v1/auth/approle/role/tenant-sec-a")["data"]["token_policies"] == before == [bao["policy"]]


def test_provisioner_cannot_touch_other_roles_or_set_role_ids(bao):
    url, token = bao["url"], bao["token"]
    for role in ("selfhosted-ai-playbooks", "selfhosted-ai-tenants", "admin"):
        assert _call(url, token, "GET", "auth/approle/role/%s" % role) == 403
        assert _call(url, token, "POST", "auth/approle/role/%s/secret-id" % role) == 403
        assert _call(url, token, "POST", "auth/approle/role/%s" % role, {"token_policies": bao["policy"]}) == 403
    assert _call(url, token, "POST", "auth/approle/role/tenant-sec-a/role-id", {"role_id": "chosen"}) == 403
    assert _call(url, token, "POST", "auth/approle/role/tenant-sec-a/custom-secret-id", {"secret_id": "chosen"}) == 403


def test_provisioner_cannot_set_entity_policies(bao):
    url, token = bao["url"], bao["token"]
    entity_id = bao["root"].adapter.get("/v1/identity/entity/name/tenant-sec-a")["data"]["id"]
    for body in ({"policies": ["root"]}, {"metadata": {"tenant": A}, "policies": ["selfhosted-ai-playbooks"]},
                 {"policies": bao["policy"]}, {"disabled": True}):
        assert _call(url, token, "POST", "identity/entity/name/tenant-sec-a", body) == 403
        assert _call(url, token, "POST", "identity/entity/name/tenant-new", body) == 403
        assert _call(url, token, "POST", "identity/entity/id/%s" % entity_id, body) == 403
        assert _call(url, token, "POST", "identity/entity", dict(body, name="tenant-y")) == 403
    assert _call(url, token, "POST", "identity/entity/name/admin", {"metadata": {"tenant": A}}) == 403
    assert _call(url, token, "POST", "identity/group", {"name": "g", "policies": ["root"]}) == 403
    assert _call(url, token, "POST", "identity/entity-alias",
                 {"name": "someone", "mount_accessor": "auth_token_0000", "canonical_id": entity_id}) == 403
    assert bao["root"].adapter.get("/v1/identity/entity/id/%s" % entity_id)["data"]["policies"] in ([], None)


def test_provisioner_cannot_write_sys(bao):
    url, token = bao["url"], bao["token"]
    assert _call(url, token, "POST", "sys/auth/userpass", {"type": "userpass"}) == 403
    assert _call(url, token, "POST", "sys/mounts/other", {"type": "kv"}) == 403
    assert _call(url, token, "POST", "auth/token/create", {"policies": ["root"]}) == 403
    assert _call(url, token, "GET", "secret/data/selfhosted_ai/postgres/superuser") == 403


def test_provisioner_legitimate_operations_work(bao):
    """What the module does: the same calls, with the provisioner's token."""
    url, token, root = bao["url"], bao["token"], bao["root"]
    root.sys.create_or_update_policy(name="tenant-legacy", policy='path "secret/data/tenants/legacy/*" { capabilities = ["read"] }')
    assert _call(url, token, "GET", "sys/auth") == 200
    assert _call(url, token, "LIST", "sys/policies/acl") == 200
    assert _call(url, token, "GET", "sys/policies/acl/%s" % bao["policy"]) == 200
    assert _call(url, token, "DELETE", "sys/policies/acl/tenant-legacy") == 204
    assert _call(url, token, "POST", "auth/approle/role/tenant-legit",
                 {"token_policies": bao["policy"], "token_ttl": 60, "token_max_ttl": 120, "bind_secret_id": True}) == 204
    assert _call(url, token, "GET", "auth/approle/role/tenant-legit/role-id") == 200
    assert _call(url, token, "POST", "identity/entity/name/tenant-legit", {"metadata": {"tenant": "legit"}}) in (200, 204)
    role_id = root.adapter.get("/v1/auth/approle/role/tenant-legit/role-id")["data"]["role_id"]
    entity_id = root.adapter.get("/v1/identity/entity/name/tenant-legit")["data"]["id"]
    assert _call(url, token, "POST", "identity/entity-alias",
                 {"name": role_id, "mount_accessor": bao["accessor"], "canonical_id": entity_id}) == 200
    assert _call(url, token, "DELETE", "identity/entity/name/tenant-legit") == 204
    assert _call(url, token, "DELETE", "auth/approle/role/tenant-legit") == 204


def test_tenant_tokens_reach_their_own_secrets_only(bao):
    url = bao["url"]
    auth = _tenant_token(bao, "tenant-sec-a")
    token = auth["client_token"]
    assert sorted(auth["policies"]) == ["default", bao["policy"]]
    assert _call(url, token, "GET", "secret/data/tenants/%s/app/config" % A) == 200
    assert _call(url, token, "GET", "secret/data/tenants/%s/credentials" % A) == 200
    assert _call(url, token, "LIST", "secret/metadata/tenants/%s" % A) == 200
    assert _call(url, token, "POST", "secret/data/tenants/%s/app/other" % A, {"data": {"k": "v"}}) == 200
    assert _call(url, token, "POST", "secret/data/tenants/%s/credentials" % A, {"data": {"k": "v"}}) == 403
    assert _call(url, token, "GET", "secret/data/tenants/%s/app/config" % B) == 403
    assert _call(url, token, "GET", "secret/data/tenants/%s/credentials" % B) == 403
    assert _call(url, token, "POST", "secret/data/tenants/%s/app/config" % B, {"data": {"k": "v"}}) == 403
    assert _call(url, token, "DELETE", "secret/metadata/tenants/%s/app/config" % B) == 403
    assert _call(url, token, "LIST", "secret/metadata/tenants") == 403
    assert _call(url, token, "GET", "secret/data/selfhosted_ai/postgres/superuser") == 403
    assert _call(url, token, "LIST", "secret/metadata/selfhosted_ai") == 403
    assert _call(url, token, "PUT", "sys/policies/acl/tenant-sec-a", {"policy": 'path "*" { capabilities = ["read"] }'}) == 403


@pytest.mark.parametrize("metadata", [None, {}, {"tenant": ""}, {"tenant": "*"}, {"tenant": "+"}, {"tenant": ".."},
                                      {"tenant": "../selfhosted_ai"}, {"other": A}])
def test_entity_without_the_metadata_reaches_nothing(bao, metadata):
    """OpenBao 2.7: a templated path whose metadata key is unset (or set to a glob or a traversal) grants nothing."""
    root, url = bao["root"], bao["url"]
    name = "tenant-probe"
    root.adapter.post("/v1/auth/approle/role/%s" % name, json={"token_policies": bao["policy"], "token_ttl": 60})
    try:
        if metadata is not None:  # None: no entity made, the login creates one without metadata
            root.adapter.post("/v1/identity/entity/name/%s" % name, json={"metadata": metadata})
            role_id = root.adapter.get("/v1/auth/approle/role/%s/role-id" % name)["data"]["role_id"]
            entity_id = root.adapter.get("/v1/identity/entity/name/%s" % name)["data"]["id"]
            root.adapter.post("/v1/identity/entity-alias",
                              json={"name": role_id, "mount_accessor": bao["accessor"], "canonical_id": entity_id})
        auth = _tenant_token(bao, name)
        token = auth["client_token"]
        assert bao["policy"] in auth["policies"]
        for path in ("secret/data/tenants/%s/app/config" % A, "secret/data/tenants/%s/credentials" % B,
                     "secret/data/tenants//x", "secret/data/tenants/*/x", "secret/data/tenants/probe/x",
                     "secret/data/selfhosted_ai/postgres/superuser", "secret/data/tenants/../selfhosted_ai/postgres/superuser"):
            # 403, or 400 where the value makes the templated path invalid ("*", "+", "../x"): OpenBao
            # refuses the request
            assert _call(url, token, "GET", path) in (400, 403), path
            assert _call(url, token, "POST", path, {"data": {"k": "v"}}) in (400, 403), path
        for path in ("secret/metadata/tenants", "secret/metadata/tenants/", "secret/metadata/tenants/%s" % A):
            assert _call(url, token, "LIST", path) in (400, 403), path
    finally:
        root.adapter.delete("/v1/auth/approle/role/%s" % name)
        entities = root.adapter.list("/v1/identity/entity/name") or {}
        if name in ((entities.get("data") or {}).get("keys") or []):
            root.adapter.delete("/v1/identity/entity/name/%s" % name)
