# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The supabase role against the recorded contract of its pinned release, and its refusals of bad input.

Supabase's images cannot be obtained on the test machines, so these tests run the role's own input checks and
definitions (render.yml: tasks validate.yml and spec.yml, the gateway's template) with ansible-playbook on
localhost - nothing is started - and compare them with fixtures/self-hosted-v0.8.1.contract.yml, the release's
service list, images, environment names, dependencies and healthchecks as recorded there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jwt
import pytest
import yaml
from ansible_run import ansible_playbook

HERE = Path(__file__).resolve().parent
CONTRACT = yaml.safe_load((HERE / 'fixtures' / 'self-hosted-v0.8.1.contract.yml').read_text())
SERVICES = CONTRACT['services']
ALL = dict(SERVICES, **{k: v for k, v in CONTRACT['logs_overlay'].items() if isinstance(v, dict)})

# Where the role deliberately differs from the release, and why (each also in roles/supabase/README.md).
# The gateway: this role writes Envoy's whole configuration (keys inside, readable by the envoy user only)
# instead of mounting the release's templates and entrypoint script that render it from the environment.
GATEWAY_FILES = {'/etc/envoy/cds.yaml', '/etc/envoy/lds.template.yaml', '/docker-entrypoint.sh'}
# Database webhooks (98-webhooks.sql, schema supabase_functions) are not installed by the role's init scripts.
NOT_MOUNTED = {'db': {'/docker-entrypoint-initdb.d/init-scripts/98-webhooks.sql'}, 'api-gw': GATEWAY_FILES}
ENV_NOT_SET = {
    'api-gw': set(SERVICES['api-gw']['environment']),
}


def render(tmp_path, **extra):
    out = tmp_path / 'render.json'
    extra_vars = {'render_output': str(out), 'render_dir': str(tmp_path)}
    extra_vars.update(extra)
    proc = ansible_playbook(
        '-i',
        HERE / 'inventory.yml',
        HERE / 'render.yml',
        '-e',
        json.dumps(extra_vars),
        extra_env={'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'SELFHOSTED_AI_SECRET_DIR': str(tmp_path / 'secrets')},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    result['dir'] = tmp_path
    return result


@pytest.fixture(scope='module')
def default(tmp_path_factory):
    result = render(tmp_path_factory.mktemp('default'))
    assert 'failed' not in result, result
    return result


@pytest.fixture(scope='module')
def everything(tmp_path_factory):
    result = render(tmp_path_factory.mktemp('everything'), supabase_functions_enabled=True, supabase_logs_enabled=True)
    assert 'failed' not in result, result
    return result


def by_service(result):
    return {spec['service']: spec for spec in result['specs']}


def test_the_release_services_and_no_others(default, everything):
    assert set(by_service(default)) == set(SERVICES) - {'functions'}
    assert set(by_service(everything)) == set(ALL)


def test_the_release_images_and_container_names(everything):
    for service, spec in by_service(everything).items():
        assert spec['image'] == 'docker.io/' + ALL[service]['image'], service
        assert spec['name'].startswith('supabase-'), spec['name']
    names = {service: spec['name'] for service, spec in by_service(everything).items()}
    assert names['api-gw'] == ALL['api-gw']['container_name']
    # Realtime's tenant comes from the host name: the container keeps the prefix, the release's name is an alias.
    assert names['realtime'] == 'supabase-realtime'
    assert by_service(everything)['realtime']['aliases'] == [SERVICES['realtime']['container_name']]
    assert by_service(everything)['api-gw']['aliases'] == SERVICES['api-gw']['aliases']
    for service in set(ALL) - {'realtime'}:
        assert names[service] == ALL[service]['container_name'], service


def test_every_release_environment_name_is_set(everything):
    for service, spec in by_service(everything).items():
        names = set(spec['env']) | set(spec['secret_env'])
        wanted = set(ALL[service]['environment']) - ENV_NOT_SET.get(service, set())
        if service == 'storage':
            wanted |= set(SERVICES['storage']['s3_environment'])
        if service == 'studio':
            wanted |= set(CONTRACT['logs_overlay']['studio_environment'])
        assert wanted <= names, (service, sorted(wanted - names))


def test_values_are_strings_and_secrets_are_named_not_included(everything):
    for spec in everything['specs']:
        assert all(isinstance(value, str) for value in spec['env'].values()), spec['service']
        assert all(isinstance(value, str) for value in spec['secret_env'].values()), spec['service']
        assert not set(spec['env']) & set(spec['secret_env']), spec['service']
    text = json.dumps(everything['specs'])
    secrets = everything['dir'] / 'secrets'
    for path in secrets.rglob('*'):
        if path.is_file() and not path.name.startswith('.'):
            for value in json.loads(path.read_text()).values():
                assert value not in text, path.name
    assert everything['anon_key'] not in text and everything['service_key'] not in text


def test_depends_on_is_the_release_and_the_start_order_keeps_it(everything):
    order = [spec['service'] for spec in everything['specs']]
    for service, spec in by_service(everything).items():
        expected = dict(ALL[service]['depends_on'])
        if service == 'studio':  # the logs overlay makes studio wait for analytics
            expected['analytics'] = 'service_healthy'
        assert spec['depends_on'] == expected, service
        for dependency in spec['depends_on']:
            assert order.index(dependency) < order.index(service), (service, dependency)


def test_healthchecks_are_the_release(everything):
    for service, spec in by_service(everything).items():
        wanted = ALL[service]['healthcheck']
        if wanted is None:
            assert spec['healthcheck'] is None, service
            continue
        # The release reaches some containers by their compose service name from inside themselves (storage,
        # studio, vector): here they have other names, so the role asks 127.0.0.1, the same process.
        wanted = [part.replace('http://%s:' % service, 'http://127.0.0.1:') for part in wanted]
        assert spec['healthcheck']['test'] == wanted, service


def test_meta_without_a_healthcheck_is_waited_for_by_its_answer(default):
    meta = by_service(default)['meta']
    assert meta['healthcheck'] is None and '/health' in meta['wait_js']


def test_mounts_are_the_release(everything):
    for service, spec in by_service(everything).items():
        targets = {mount['target'] for mount in spec['mounts']}
        wanted = set(ALL[service]['volumes']) - NOT_MOUNTED.get(service, set())
        assert wanted <= targets, (service, sorted(wanted - targets))


def test_on_the_stack_network_and_published_nowhere(default):
    for spec in default['specs']:
        assert spec['network'] == 'ai_network' and spec['published_ports'] == [], spec['service']


def test_published_only_where_asked(tmp_path):
    result = render(tmp_path, supabase_gateway_publish_address='127.0.0.1', supabase_pooler_publish_address='10.0.0.5')
    specs = by_service(result)
    assert specs['api-gw']['published_ports'] == ['127.0.0.1:8000:8000']
    assert specs['supavisor']['published_ports'] == ['10.0.0.5:5433:5432', '10.0.0.5:6543:6543']


def test_storage_on_the_object_store_path_style(default):
    env = by_service(default)['storage']['env']
    assert env['STORAGE_BACKEND'] == 's3' and env['GLOBAL_S3_BUCKET'] == 'supabase'
    assert env['GLOBAL_S3_FORCE_PATH_STYLE'] == 'true' and env['TUS_ALLOW_S3_TAGS'] == 'false'
    assert env['GLOBAL_S3_ENDPOINT'].startswith('http://')
    assert by_service(default)['storage']['secret_env']['AWS_ACCESS_KEY_ID'] == 's3_access_key'


def test_the_keys_are_jwts_of_the_stored_secret(default):
    secret = json.loads((default['dir'] / 'secrets' / 'supabase' / 'jwt_secret.json').read_text())['value']
    assert len(secret) >= 32
    for field, role in (('anon_key', 'anon'), ('service_key', 'service_role')):
        claims = jwt.decode(default[field], secret, algorithms=['HS256'], issuer='supabase')
        assert claims['role'] == role


def gateway(result):
    return yaml.safe_load((result['dir'] / 'envoy.yaml').read_text())


def routes(result):
    listener = gateway(result)['static_resources']['listeners'][0]
    manager = listener['filter_chains'][0]['filters'][0]['typed_config']
    return manager['route_config']['virtual_hosts'][0]['routes']


def admitted(result, prefix):
    """The apikey values that open a prefix, and what happens without one."""
    keys, fallback = set(), None
    for route in routes(result):
        if route['match']['prefix'] != prefix:
            continue
        match = route['match'].get('headers') or route['match'].get('query_parameters')
        if match:
            keys.add(match[0]['string_match']['exact'])
        elif fallback is None:
            fallback = route.get('direct_response', {}).get('status', 'open')
    return keys, fallback


def test_the_gateway_admits_the_keys_and_refuses_the_rest(default):
    both = {default['anon_key'], default['service_key']}
    for prefix in ('/auth/v1/', '/rest/v1/', '/graphql/v1', '/realtime/v1/', '/realtime/v1/api'):
        assert admitted(default, prefix) == (both, 401), prefix
    assert admitted(default, '/pg/') == ({default['service_key']}, 401)
    for prefix in ('/auth/v1/verify', '/storage/v1/'):
        assert admitted(default, prefix) == (set(), 'open'), prefix
    assert routes(default)[-1] == {
        'match': {'prefix': '/'},
        'direct_response': {
            'status': 404,
            'body': {'inline_string': '{"message":"no Route matched with those values"}'},
        },
    }
    clusters = {c['name'] for c in gateway(default)['static_resources']['clusters']}
    assert clusters == {'auth', 'rest', 'realtime', 'storage', 'meta'}  # Studio is not behind the gateway


def test_realtime_is_reached_by_its_tenant_host_name(default):
    realtime = [r for r in routes(default) if r.get('route', {}).get('cluster') == 'realtime']
    assert realtime and all(r['route']['host_rewrite_literal'] == 'realtime-dev.supabase-realtime' for r in realtime)


def test_functions_and_logs_only_when_enabled(default, everything):
    assert admitted(everything, '/functions/v1/') == (set(), 'open')
    assert admitted(default, '/functions/v1/') == (set(), None)
    vector = (everything['dir'] / 'vector.yml').read_text()
    assert 'supabase-analytics:4000' in vector and 'supabase-auth' in vector


@pytest.mark.parametrize(
    ('extra', 'message'),
    [
        ({'supabase_postgres_password': 123456789012345678}, 'must be strings'),
        ({'supabase_postgres_password': '1234567890123456789'}, 'a password of digits alone'),
        ({'supabase_dashboard_password': 12345678}, 'must be strings'),
        ({'supabase_vault_enc_key': 'k' * 31}, 'exactly 32 characters'),
        ({'supabase_vault_enc_key': 'k' * 33}, 'exactly 32 characters'),
        ({'supabase_images': {'auth': 'docker.io/supabase/gotrue:latest'}}, 'every image pinned'),
        ({'supabase_images': {'auth': 'docker.io/supabase/gotrue'}}, 'every image pinned'),
        ({'supabase_images': {'kong': 'docker.io/kong:2.8.1'}}, 'only name services of the release'),
        ({'supabase_images': {'db': 'docker.io/supabase/postgres:15.8.1.085'}}, 'equal to supabase_db_major_version'),
        ({'supabase_env': {'auth': {'GOTRUE_SMTP_PORT': 587}}}, 'string values only'),
        ({'supabase_gateway_publish_address': '203.0.113.5'}, 'never public'),
        ({'object_store_buckets': ['other']}, 'object_store_buckets with supabase'),
        (
            {
                'reverse_proxy_routes': [
                    {'name': 'studio', 'host': 's.example.org', 'upstreams': ['supabase-studio:3000']}
                ]
            },
            'to supabase-studio without authentication',
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(tmp_path, extra, message):
    result = render(tmp_path, **extra)
    assert message in result.get('failed', ''), result.get('failed')
    assert 'specs' not in result
    # The refusals come before the secrets are even read: the refused password never shows.
    for value in extra.values():
        if isinstance(value, (int, str)) and len(str(value)) > 8:
            assert str(value) not in result['failed']


def test_studio_behind_the_proxy_authentication_is_accepted(tmp_path):
    route = {'name': 'studio', 'host': 's.example.org', 'upstreams': ['supabase-studio:3000'], 'basic_auth': ['admin']}
    assert 'failed' not in render(tmp_path, reverse_proxy_routes=[route])


@pytest.mark.parametrize(
    ('secret', 'length', 'name'),
    [('vault_enc_key', 31, 'supabase/vault_enc_key'), ('jwt_secret', 20, 'supabase/jwt_secret')],
)
def test_a_stored_secret_of_the_wrong_length_is_refused(tmp_path, secret, length, name):
    stored = tmp_path / 'secrets' / 'supabase'
    stored.mkdir(parents=True)
    (stored / ('%s.json' % secret)).write_text(json.dumps({'value': 'v' * length}))
    for path in (tmp_path / 'secrets', stored, stored / ('%s.json' % secret)):
        path.chmod(0o700 if path.is_dir() else 0o600)
    result = render(tmp_path)
    assert 'have the wrong length' in result.get('failed', '') and name in result['failed']
    assert 'v' * length not in result['failed']
