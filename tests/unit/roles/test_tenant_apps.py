# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant_apps role: bad input stops it before any change, and what each tenant's containers are given.

The role runs with ansible-playbook on localhost (local connection). The bad-input runs reach no Docker engine and no
OpenBao: the role's first task refuses the list. The definitions are the role's own vars (defaults and vars/main.yml)
rendered with the endpoints and credentials the role would have read, replaced here by fixed values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / 'roles' / 'tenant_apps'

INVENTORY = """
[apps]
apphost ansible_connection=local
[proxy]
apphost
[data]
apphost
[vault]
apphost
[ollama]
apphost
"""

ENDPOINTS = {
    'postgres': {'host': 'apphost', 'container': 'postgres', 'address': 'postgres', 'reach_port': 5432},
    'valkey': {'host': 'apphost', 'container': 'valkey', 'address': 'valkey', 'reach_port': 6379},
    'object_store': {'host': 'apphost', 'container': 'seaweedfs', 'address': 'seaweedfs', 'reach_port': 8333},
    'openbao': {
        'host': 'apphost',
        'container': 'openbao',
        'address': 'openbao',
        'reach_port': 8200,
        'published_port': 8200,
        'kv_mount': 'secret',
        'tenants_path_prefix': 'tenants',
        'tenants_approle_secret': 'openbao/tenants-approle',
        'approle_secret_fields': {'role_id': {}, 'secret_id': {}},
    },
}


def credentials(tenant_id):
    return {
        'role_id': f'role-{tenant_id}',
        'secret_id': f'sid-{tenant_id}',
        'postgres_user': f'tenant_{tenant_id}',
        'postgres_password': f'pg/pw+{tenant_id}',
        'valkey_user': f'tenant_{tenant_id}',
        'valkey_password': f'vk-{tenant_id}',
        's3_access_key': f'AK{tenant_id}',
        # Shell syntax in a value: the env file Open WebUI's command sources must keep it a plain string.
        's3_secret_key': f'SK-{tenant_id}\'$(touch /tmp/pwned)`id`"',
    }


def run(tmp_path, play, tenants, inventory=INVENTORY, limit='all', **extra):
    """ansible-playbook of ``play`` against ``inventory`` with the tenants and the role's usual settings."""
    (tmp_path / 'hosts').write_text(inventory)
    (tmp_path / 'play.yml').write_text(play)
    extra_vars = {
        'tenants': tenants,
        'tenants_default_apps': ['n8n', 'openwebui'],
        'stack_domain': 'ai.test',
        'selfhosted_ai_secret_backend': 'file',
        'out': str(tmp_path / 'out.json'),
        'ansible_python_interpreter': sys.executable,
        **extra,
    }
    return ansible_playbook(
        '-i',
        tmp_path / 'hosts',
        '--limit',
        limit,
        tmp_path / 'play.yml',
        '-e',
        json.dumps(extra_vars),
        extra_env={'SELFHOSTED_AI_SECRET_DIR': str(tmp_path / 'secrets')},
        timeout=300,
    )


# As playbooks/04_tenants.yml runs it: the role checks its argument specs itself, under its own tags.
ROLE_PLAY = """
- hosts: apps
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: selfhosted_ai.stack.tenant_apps
        rolespec_validate: false
"""


@pytest.mark.parametrize(
    ('tenants', 'extra', 'message'),
    [
        (
            [{'id': 'acme', 'apps': ['n8n', 'comfyui']}],
            {},
            "tenant acme, app comfyui: no app instance can run for 'comfyui'",
        ),
        (
            [{'id': 'acme'}],
            {'reverse_proxy_routes': [{'name': 'chat', 'host': 'ai-acme.ai.test', 'upstreams': ['x:1']}]},
            "subdomain 'ai-acme.ai.test' is taken by another route of the proxy",
        ),
        # beta's Open WebUI and aibeta's n8n would both be aibeta.ai.test.
        (
            [{'id': 'beta'}, {'id': 'aibeta'}],
            {'tenant_apps_host_names': {'n8n': '{id}.{domain}', 'openwebui': 'ai{id}.{domain}'}},
            "subdomain 'aibeta.ai.test' is taken by tenant beta, app openwebui",
        ),
        (
            [{'id': 'acme', 'quotas': {'app_memory': 'a lot'}}],
            {},
            "tenant acme: quota app_memory: 'a lot' is not a size",
        ),
        ([{'id': 'acme'}], {'tenant_apps_app_memory': '2 GB'}, "'2 GB' is not a size"),
        # Both are written into the proxy's configuration.
        (
            [{'id': 'acme'}],
            {'tenant_apps_ollama_upstreams': ['ollama:11434 {\n}\nhttp://:9999 {\n respond ok']},
            'tenant_apps_ollama_upstreams a non-empty list of host:port',
        ),
        (
            [{'id': 'acme'}],
            {'tenant_apps_ollama_allowed_paths': ['/api/chat', '/api/pull /api/delete']},
            'tenant_apps_ollama_allowed_paths a list of paths',
        ),
        ([{'id': 'acme'}], {'tenant_apps_secrets_dir': 'etc/tenant_apps'}, 'tenant_apps_secrets_dir an absolute path'),
    ],
    ids=[
        'unsupported-app',
        'subdomain-of-another-route',
        'duplicate-subdomain',
        'quota-not-a-size',
        'default-not-a-size',
        'ollama-upstream-not-host-port',
        'ollama-path-with-a-space',
        'secrets-dir-not-absolute',
    ],
)
def test_bad_input_is_refused_by_the_first_task(tmp_path, tenants, extra, message):
    proc = run(tmp_path, ROLE_PLAY, tenants, **extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in out, out
    # The role's first task (its argument specs, then its checks) failed: nothing ran before it.
    tasks = re.findall(r'^TASK \[([^\]]*)\]', out, re.MULTILINE)
    assert tasks == ["selfhosted_ai.stack.tenant_apps : Check the role's settings"], out


def test_no_tenants_nothing_runs(tmp_path):
    proc = run(tmp_path, ROLE_PLAY, [])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'changed=0' in proc.stdout and 'failed=0' in proc.stdout


DEFINITIONS_PLAY = f"""
- hosts: apps
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: Render what the role gives each container
      ansible.builtin.copy:
        dest: "{{{{ out }}}}"
        content: "{{{{ {{'definitions': __tenant_apps_definitions, 'files': __tenant_apps_secret_file_entries,
                        'networks': __tenant_apps_networks, 'shared': __tenant_apps_shared_containers}} | to_json }}}}"
        mode: "0600"
      vars:
        __tenant_apps_endpoints: {json.dumps(ENDPOINTS)}
        __tenant_apps_credentials: {{credentials: {json.dumps({t: credentials(t) for t in ('acme', 'beta')})}}}
        __tenant_apps_proxy: {{container: caddy}}
"""


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('tenant_apps')
    tenants = [
        {'id': 'acme', 'quotas': {'app_memory': '2g', 'app_cpus': 1.5}},
        {'id': 'beta', 'apps': ['openwebui']},
        {'id': 'gone', 'state': 'absent'},
    ]
    proc = run(tmp_path, DEFINITIONS_PLAY, tenants)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / 'out.json').read_text())
    data['tmp'] = tmp_path
    data['by_name'] = {d['name']: (d, secret_files(data, d)) for d in data['definitions']}
    return data


SECRETS_DIR = '/etc/selfhosted_ai/tenant_apps'


def secret_files(data, definition):
    """The secret files mounted into the container: target in the container -> the entry written on the host."""
    entries = {entry['path']: entry for entry in data['files']}
    mounts = [m for m in definition['mounts'] if m['type'] == 'bind']
    assert all(m['read_only'] and m['source'] in entries for m in mounts), mounts
    return {m['target']: entries[m['source']] for m in mounts}


def sourced(tmp_path, content):
    """The variables a shell gets from `set -a && . file`, as Open WebUI's command sources its env file."""
    env_file = tmp_path / 'env'
    env_file.write_text(content)
    proc = subprocess.run(
        [
            'bash',
            '-c',
            'set -a && . "$1" && set +a && exec python3 -c "import json, os; print(json.dumps(dict(os.environ)))"',
            'bash',
            str(env_file),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={'PATH': os.environ['PATH']},
        cwd=tmp_path,
    )
    return json.loads(proc.stdout)


def test_present_tenants_get_their_containers_each_on_its_own_network(rendered):
    assert sorted(rendered['by_name']) == ['n8n-acme', 'openwebui-acme', 'openwebui-beta']
    assert rendered['networks'] == ['tenant-acme', 'tenant-beta']
    for name, (definition, dummy) in rendered['by_name'].items():
        tenant = name.split('-', 1)[1]
        assert definition['networks'] == [{'name': f'tenant-{tenant}'}], name
    # The data services of this host and the proxy join every tenant network; Ollama, on this host too, does not.
    assert sorted(rendered['shared']) == ['caddy', 'openbao', 'postgres', 'seaweedfs', 'valkey']


def test_open_webui_reaches_ollama_through_the_proxys_filter(rendered):
    for name in ('openwebui-acme', 'openwebui-beta'):
        assert rendered['by_name'][name][0]['env']['OLLAMA_BASE_URL'] == 'http://caddy:11434', name


def test_limits_come_from_the_quotas(rendered):
    assert (rendered['by_name']['n8n-acme'][0]['memory'], rendered['by_name']['n8n-acme'][0]['cpus']) == ('2g', 1.5)
    assert (rendered['by_name']['openwebui-beta'][0]['memory'], rendered['by_name']['openwebui-beta'][0]['cpus']) == (
        '1g',
        1.0,
    )


def test_n8n_uses_the_tenant_slice_and_prefixes_inside_it(rendered):
    definition, files = rendered['by_name']['n8n-acme']
    env = definition['env']
    assert env['DB_POSTGRESDB_DATABASE'] == 'n8n_acme' and env['DB_POSTGRESDB_USER'] == 'tenant_acme'
    assert env['QUEUE_BULL_REDIS_USERNAME'] == 'tenant_acme'
    assert env['QUEUE_BULL_PREFIX'].startswith('acme:') and env['N8N_REDIS_KEY_PREFIX'].startswith('acme:')
    assert env['S3_BUCKET'] == 'tenant-acme'
    assert env['WEBHOOK_URL'] == 'https://n8n-acme.ai.test/'
    # n8n reads its secrets from the files its *_FILE variables name, each mounted from the instance's directory.
    content = {name: files[env[name]]['content'] for name in env if name.endswith('_FILE')}
    assert content['DB_POSTGRESDB_PASSWORD_FILE'] == 'pg/pw+acme'
    assert content['QUEUE_BULL_REDIS_PASSWORD_FILE'] == 'vk-acme'
    assert (content['BAO_ROLE_ID_FILE'], content['BAO_SECRET_ID_FILE']) == ('role-acme', 'sid-acme')
    assert len(content['N8N_ENCRYPTION_KEY_FILE']) == 48
    assert content['AWS_SHARED_CREDENTIALS_FILE'] == (
        '[default]\naws_access_key_id = AKacme\naws_secret_access_key = ' + credentials('acme')['s3_secret_key'] + '\n'
    )
    assert sorted(content) == sorted(
        [
            'N8N_ENCRYPTION_KEY_FILE',
            'DB_POSTGRESDB_PASSWORD_FILE',
            'QUEUE_BULL_REDIS_PASSWORD_FILE',
            'AWS_SHARED_CREDENTIALS_FILE',
            'BAO_ROLE_ID_FILE',
            'BAO_SECRET_ID_FILE',
        ]
    )
    assert {entry['path'].rsplit('/', 1)[0] for entry in files.values()} == {SECRETS_DIR + '/n8n-acme'}
    assert {entry['owner'] for entry in files.values()} == {'1000'}  # n8n's node user, the files 0400


def test_open_webui_sources_the_tenant_slice_from_its_env_file(rendered):
    definition, files = rendered['by_name']['openwebui-beta']
    env = definition['env']
    assert env['VECTOR_DB'] == 'pgvector' and env['REDIS_KEY_PREFIX'].startswith('beta:')
    assert env['S3_BUCKET_NAME'] == 'tenant-beta' and env['WEBUI_URL'] == 'https://ai-beta.ai.test'
    assert env['WEBUI_ADMIN_EMAIL'] == 'admin@beta.ai.test'
    assert definition['command'] == [
        'bash',
        '-c',
        'set -a && . /run/secrets/tenant/env && set +a && exec bash start.sh',
    ]
    assert list(files) == ['/run/secrets/tenant/env'] and files['/run/secrets/tenant/env']['owner'] == '0'
    secrets = sourced(rendered['tmp'], files['/run/secrets/tenant/env']['content'])
    # The password is URL-encoded, '/' included.
    assert secrets['DATABASE_URL'] == 'postgresql://tenant_beta:pg%2Fpw%2Bbeta@postgres:5432/openwebui_beta'
    assert secrets['REDIS_URL'] == secrets['WEBSOCKET_REDIS_URL'] == 'redis://tenant_beta:vk-beta@valkey:6379/0'
    assert secrets['S3_ACCESS_KEY_ID'] == 'AKbeta'
    assert secrets['S3_SECRET_ACCESS_KEY'] == credentials('beta')['s3_secret_key']  # quotes, $( ) and ` kept as text
    assert (secrets['BAO_ROLE_ID'], secrets['BAO_SECRET_ID']) == ('role-beta', 'sid-beta')
    assert len(secrets['WEBUI_SECRET_KEY']) == 48 and len(secrets['WEBUI_ADMIN_PASSWORD']) == 24
    assert not (rendered['tmp'] / 'pwned').exists() and not Path('/tmp/pwned').exists()


def test_each_instance_has_its_own_keys(rendered):
    acme, beta = (
        sourced(rendered['tmp'], rendered['by_name'][name][1]['/run/secrets/tenant/env']['content'])
        for name in ('openwebui-acme', 'openwebui-beta')
    )
    assert acme['WEBUI_SECRET_KEY'] != beta['WEBUI_SECRET_KEY']
    assert acme['WEBUI_ADMIN_PASSWORD'] != beta['WEBUI_ADMIN_PASSWORD']


def test_no_secret_in_the_definitions(rendered):
    text = json.dumps(rendered['definitions'])
    for tenant in ('acme', 'beta'):
        for field in ('postgres_password', 'valkey_password', 's3_access_key', 's3_secret_key', 'role_id', 'secret_id'):
            assert credentials(tenant)[field] not in text
    for entry in rendered['files']:
        for line in entry['content'].splitlines():
            assert line.split('=', 1)[-1].strip().strip("'") not in text, entry['path']


def test_a_variable_of_the_wrong_type_is_refused_by_the_roles_own_argument_check(tmp_path):
    proc = run(tmp_path, ROLE_PLAY, [{'id': 'acme'}], tenant_apps_ollama_gate_port='eleven')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert 'Validation of arguments failed' in out and 'tenant_apps_ollama_gate_port' in out, out
    tasks = re.findall(r'^TASK \[([^\]]*)\]', out, re.MULTILINE)
    assert tasks == ["selfhosted_ai.stack.tenant_apps : Check the role's settings"], out
