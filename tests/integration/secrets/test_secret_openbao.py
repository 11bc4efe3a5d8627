# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The selfhosted_ai.stack.secret lookup against a real OpenBao (``bao server -dev``).

Every test works below its own path prefix, so the shared server needs no cleanup.
Values are compared, never printed: cross-process checks exchange SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import textwrap

import pytest
from ports import free_port

from ansible.errors import AnsibleLookupError

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import VaultConnection
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils import _secret_backends as backends
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils import _secret_gen as gen

pytestmark = pytest.mark.integration

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '.collections'))

CHILD = textwrap.dedent("""
    import hashlib, sys
    from ansible.plugins.loader import init_plugin_loader, lookup_loader
    init_plugin_loader([sys.argv[1]])
    lookup = lookup_loader.get('selfhosted_ai.stack.secret')
    value = lookup.run([sys.argv[2]], variables={}, backend='vault', path_prefix=sys.argv[3])[0]
    print(hashlib.sha256(value.encode()).hexdigest())
""")


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def prefix(request):
    return 'it-%s-%s' % (request.node.name[:40].replace('[', '-').replace(']', ''), secrets.token_hex(3))


def vault(openbao, prefix, **extra):
    options = dict(backend='vault', url=openbao.url, token=openbao.root_token, path_prefix=prefix)
    options.update(extra)
    return options


def test_get_or_generate_creates_once(openbao, secret_lookup, prefix):
    first = secret_lookup().run(['n8n/encryption_key'], variables={}, length=48, **vault(openbao, prefix))[0]
    assert len(first) == 48 and set(first) <= set(gen.CHARSETS['alnum'])
    assert openbao.read_kv2(prefix + '/n8n/encryption_key') == {'value': first}
    for dummy in range(3):  # new plugin instances, other generation options: the stored value wins
        again = secret_lookup().run(
            ['n8n/encryption_key'], variables={}, length=8, format='hex', **vault(openbao, prefix)
        )[0]
        assert again == first
    assert openbao.kv2_version(prefix + '/n8n/encryption_key') == 1  # never rewritten


def test_connection_from_environment_and_vars(openbao, secret_lookup, prefix, monkeypatch):
    monkeypatch.setenv('BAO_ADDR', openbao.url)
    monkeypatch.setenv('BAO_TOKEN', openbao.root_token)
    from_env = secret_lookup().run(['env'], variables={}, backend='vault', path_prefix=prefix)[0]
    monkeypatch.delenv('BAO_ADDR')
    monkeypatch.delenv('BAO_TOKEN')
    variables = {
        'selfhosted_ai_secret_backend': 'vault',
        'selfhosted_ai_vault_url': openbao.url,
        'selfhosted_ai_vault_token': openbao.root_token,
        'selfhosted_ai_secret_path_prefix': prefix,
    }
    assert secret_lookup().run(['env'], variables=variables)[0] == from_env
    assert openbao.read_kv2(prefix + '/env') == {'value': from_env}


def test_same_value_in_separate_processes(openbao, secret_lookup, prefix):
    env = dict(os.environ, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)

    def child():
        return subprocess.Popen(
            [sys.executable, '-c', CHILD, COLLECTIONS, 'shared/key', prefix],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # Six processes race for the first creation, then two more read it later.
    digests = []
    for batch in (6, 2):
        procs = [child() for dummy in range(batch)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            digests.append(out.strip())
    here = secret_lookup().run(['shared/key'], variables={}, **vault(openbao, prefix))[0]
    assert len(digests) == 8 and set(digests) == {digest(here)}
    assert openbao.kv2_version(prefix + '/shared/key') == 1


def test_formats_and_added_fields(openbao, secret_lookup, prefix):
    opts = vault(openbao, prefix)
    jwt = secret_lookup().run(['supabase'], variables={}, field='jwt_secret', format='jwt_secret', length=48, **opts)[0]
    assert len(jwt) == 64
    anon = secret_lookup().run(['supabase'], variables={}, field='anon_salt', format='hex', **opts)[0]
    assert len(anon) == 64
    # the second field was added with check-and-set on version 1; the first is unchanged
    assert openbao.read_kv2(prefix + '/supabase') == {'jwt_secret': jwt, 'anon_salt': anon}
    assert openbao.kv2_version(prefix + '/supabase') == 2
    record = secret_lookup().run(['postgres/langfuse'], variables={}, format='credentials', **opts)[0]
    assert record['username'] == 'langfuse' and len(record['password']) == 32
    assert openbao.read_kv2(prefix + '/postgres/langfuse') == record


def test_approle_auth(openbao, secret_lookup, prefix):
    policy = 'path "secret/data/%s/*" { capabilities = ["create", "read", "update"] }' % prefix
    role_id, secret_id = openbao.approle('role-' + prefix, policy)
    variables = {'selfhosted_ai_vault_role_id': role_id, 'selfhosted_ai_vault_secret_id': secret_id}
    value = secret_lookup().run(['app/key'], variables=variables, backend='vault', url=openbao.url, path_prefix=prefix)[
        0
    ]
    assert openbao.read_kv2(prefix + '/app/key') == {'value': value}
    # the token of each AppRole login is revoked when the lookup is done: none pile up
    accessors = len(openbao.client().auth.token.list_accessors()['data']['keys'])
    for dummy in range(3):
        secret_lookup().run(['app/key'], variables=variables, backend='vault', url=openbao.url, path_prefix=prefix)
    assert len(openbao.client().auth.token.list_accessors()['data']['keys']) == accessors
    again = secret_lookup().run(
        ['app/key'],
        variables={},
        backend='vault',
        url=openbao.url,
        path_prefix=prefix,
        auth_method='approle',
        role_id=role_id,
        secret_id=secret_id,
    )[0]
    assert again == value

    # the AppRole's policy confines it to its prefix
    with pytest.raises(
        AnsibleLookupError, match='permission denied while reading secret/other-%s/x at %s' % (prefix, openbao.url)
    ):
        secret_lookup().run(['x'], variables=variables, backend='vault', url=openbao.url, path_prefix='other-' + prefix)
    assert openbao.read_kv2('other-%s/x' % prefix) is None

    wrong = secrets.token_hex(16)
    with pytest.raises(
        AnsibleLookupError, match='AppRole login to %s .*failed, check role_id and secret_id' % openbao.url
    ) as failure:
        secret_lookup().run(
            ['app/key'],
            variables={},
            backend='vault',
            url=openbao.url,
            path_prefix=prefix,
            role_id=role_id,
            secret_id=wrong,
        )
    assert wrong not in str(failure.value) and value not in str(failure.value)


def test_wrong_token_is_a_clear_error(openbao, secret_lookup, prefix):
    token = 's.' + secrets.token_hex(12)
    with pytest.raises(AnsibleLookupError, match='permission denied / invalid token for %s' % openbao.url) as failure:
        secret_lookup().run(['x'], variables={}, **vault(openbao, prefix, token=token))
    assert token not in str(failure.value)
    assert openbao.read_kv2(prefix + '/x') is None


def test_token_without_write_permission(openbao, secret_lookup, prefix):
    token = openbao.token('path "secret/data/%s/*" { capabilities = ["read"] }' % prefix, 'ro-' + prefix)
    with pytest.raises(
        AnsibleLookupError, match='permission denied while writing secret/%s/x at %s' % (prefix, openbao.url)
    ):
        secret_lookup().run(['x'], variables={}, **vault(openbao, prefix, token=token))
    assert openbao.read_kv2(prefix + '/x') is None


def test_nothing_listening_names_the_url(secret_lookup, prefix):
    url = 'http://127.0.0.1:%d' % free_port()
    with pytest.raises(AnsibleLookupError, match='cannot reach Vault/OpenBao at %s' % url):
        secret_lookup().run(['x'], variables={}, backend='vault', url=url, token='t', path_prefix=prefix, timeout=5)


def test_cas_race_between_two_writers_yields_one_value(openbao, prefix):
    first = backends.VaultSecretBackend(VaultConnection(url=openbao.url, token=openbao.root_token), path_prefix=prefix)
    second = backends.VaultSecretBackend(VaultConnection(url=openbao.url, token=openbao.root_token), path_prefix=prefix)
    real_write = first.connection.kv2_write
    outcome = {}

    def write_after_the_other_writer(path, data, mount_point='secret', cas=None):
        # `second` creates the secret after `first` read "missing" and before `first` writes
        if 'second' not in outcome:
            outcome['second'] = second.get_or_create('race', gen.field_generators(length=40))
        outcome.setdefault('cas', []).append(cas)
        written = real_write(path, data, mount_point, cas)
        outcome.setdefault('written', []).append(written)
        return written

    first.connection.kv2_write = write_after_the_other_writer
    fields, created = first.get_or_create('race', gen.field_generators(length=40))
    second_fields, second_created = outcome['second']
    assert second_created is True and created is False
    assert fields == second_fields == openbao.read_kv2(prefix + '/race')
    assert outcome['cas'] == [0] and outcome['written'] == [False]  # the server refused the losing write
    assert openbao.kv2_version(prefix + '/race') == 1


def test_deleted_secret_is_not_regenerated(openbao, secret_lookup, prefix):
    secret_lookup().run(['gone'], variables={}, **vault(openbao, prefix))
    openbao.client().secrets.kv.v2.delete_latest_version_of_secret(path=prefix + '/gone')
    with pytest.raises(AnsibleLookupError, match='latest version .1. of .* is deleted'):
        secret_lookup().run(['gone'], variables={}, **vault(openbao, prefix))
    assert openbao.kv2_version(prefix + '/gone') == 1


def test_kv_version_1_mount_is_refused(openbao, secret_lookup, prefix):
    mount = 'kv1-' + prefix
    openbao.client().sys.enable_secrets_engine('kv', path=mount, options={'version': '1'})
    with pytest.raises(AnsibleLookupError, match='not KV version 2'):
        secret_lookup().run(['x'], variables={}, mount_point=mount, **vault(openbao, prefix))
    assert openbao.client().adapter.get('/v1/%s/%s/x' % (mount, prefix), raise_exception=False).status_code == 404


def test_custom_mount_and_namespace(openbao, secret_lookup, prefix):
    client = openbao.client()
    client.sys.create_namespace(path=prefix)
    ns_client = openbao.client()
    ns_client.adapter.namespace = prefix
    ns_client.sys.enable_secrets_engine('kv', path='apps', options={'version': '2'})
    value = secret_lookup().run(['x'], variables={}, namespace=prefix, mount_point='apps', **vault(openbao, 'team'))[0]
    raw = ns_client.secrets.kv.v2.read_secret_version(path='team/x', mount_point='apps', raise_on_deleted_version=True)
    assert raw['data']['data'] == {'value': value}
    assert openbao.read_kv2('team/x') is None  # nothing in the root namespace


@pytest.mark.filterwarnings('ignore::urllib3.exceptions.InsecureRequestWarning')
def test_tls_with_ca_cert(openbao_tls, secret_lookup, prefix):
    opts = dict(backend='vault', url=openbao_tls.url, token=openbao_tls.root_token, path_prefix=prefix)
    with pytest.raises(AnsibleLookupError, match='TLS verification failed for %s' % openbao_tls.url):
        secret_lookup().run(['x'], variables={}, **opts)
    value = secret_lookup().run(['x'], variables={}, ca_cert=openbao_tls.ca_cert, **opts)[0]
    assert openbao_tls.read_kv2(prefix + '/x') == {'value': value}
    assert secret_lookup().run(['x'], variables={}, validate_certs=False, **opts)[0] == value


def test_missing_mount_is_a_clear_error(openbao, secret_lookup, prefix):
    with pytest.raises(
        AnsibleLookupError, match="no KV version 2 secrets engine is mounted at 'nope-%s' on %s" % (prefix, openbao.url)
    ):
        secret_lookup().run(['x'], variables={}, mount_point='nope-' + prefix, **vault(openbao, prefix))


def test_check_mode_does_not_write(openbao, secret_lookup, prefix):
    value = secret_lookup().run(['x'], variables={'ansible_check_mode': True}, **vault(openbao, prefix))[0]
    assert len(value) == 32
    assert openbao.read_kv2(prefix + '/x') is None
    stored = secret_lookup().run(['x'], variables={}, **vault(openbao, prefix))[0]
    assert secret_lookup().run(['x'], variables={'ansible_check_mode': True}, **vault(openbao, prefix))[0] == stored
