# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventories/multi-host, rendered for real: the open_webui role's own validate and spec tasks run
for app1 with the inventory's variables, on the local connection (they only compute).

App1 runs Open WebUI, but PostgreSQL is on data1 and Ollama on gpu1 and gpu2: the definition must
point at their private addresses, not at container names that only exist on the stack network of
another host.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ansible_run import REPO, play_locally

PLAYBOOK = """
- hosts: app1
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: selfhosted_ai.stack.open_webui, tasks_from: validate.yml}
    - ansible.builtin.include_role: {name: selfhosted_ai.stack.open_webui, tasks_from: spec.yml}
    - ansible.builtin.copy:
        content: "{{ open_webui_container_spec | to_json }}"
        dest: "{{ spec_file }}"
        mode: "0600"
      delegate_to: localhost
"""


def render_open_webui(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return play_locally(tmp_path, PLAYBOOK, 'spec_file=%s' % (tmp_path / 'spec.json'), *extra)


def test_open_webui_on_the_app_host_uses_every_gpu_host_and_the_data_host(tmp_path):
    result = render_open_webui(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    spec = json.loads((tmp_path / 'spec.json').read_text())
    env = spec['env']
    assert env['OLLAMA_BASE_URLS'] == 'http://10.20.0.31:11434;http://10.20.0.32:11434'
    assert env['OLLAMA_BASE_URL'] == 'http://10.20.0.31:11434'
    assert env['DATABASE_HOST'] == '10.20.0.20'
    assert env['DATABASE_PORT'] == '5432'
    assert env['ENABLE_PERSISTENT_CONFIG'] == 'false'
    # Published on app1's private address for the proxy on edge1.
    assert spec['published_ports'] == ['10.20.0.40:3000:8080']


def test_an_ollama_url_that_would_split_or_inject_is_refused(tmp_path):
    bad = json.dumps({'open_webui_ollama_base_urls': ['http://10.20.0.31:11434;http://evil.example:11434']})
    result = render_open_webui(tmp_path, bad)
    assert result.returncode != 0
    assert 'the Ollama URLs (at least one)' in result.stdout
    assert not (tmp_path / 'spec.json').exists()


def test_an_empty_ollama_list_is_refused(tmp_path):
    result = render_open_webui(tmp_path, json.dumps({'open_webui_ollama_base_urls': []}))
    assert result.returncode != 0
    assert 'the Ollama URLs (at least one)' in result.stdout


TENANT_APPS_PLAYBOOK = """
- hosts: edge1:app1
  gather_facts: false
  tasks:
    # The role's own checks; public: its defaults and vars, under the inventory's, for the task below.
    - ansible.builtin.include_role: {name: selfhosted_ai.stack.tenant_apps, tasks_from: validate.yml, public: true}
    - ansible.builtin.copy:
        content: >-
          {{ {'routes': __tenant_apps_routes | map(attribute='upstream') | list if __tenant_apps_runs_proxy else [],
              'here': __tenant_apps_here | map(attribute='container') | list,
              'gateway': lookup('ansible.builtin.template', repo ~ '/roles/tenant_apps/templates/tenant_gateway.caddy.j2')
                         if __tenant_apps_gateway_here else ''} | to_json }}
        dest: "{{ out }}-{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


def test_tenant_apps_on_app1_are_routed_by_edge1_through_app1s_gateway(tmp_path):
    variables = {'repo': str(REPO), 'out': str(tmp_path / 'out'), 'tenants': [{'id': 'acme'}]}
    result = play_locally(tmp_path, TENANT_APPS_PLAYBOOK, json.dumps(variables))
    assert result.returncode == 0, result.stdout + result.stderr
    edge1, app1 = (json.loads((tmp_path / f'out-{host}.json').read_text()) for host in ('edge1', 'app1'))
    # app1 runs acme's apps; edge1's proxy sends their subdomains to app1's gateway, on app1's private address.
    assert app1['here'] == ['n8n-acme', 'openwebui-acme'] and edge1['here'] == []
    assert edge1['routes'] == ['10.20.0.40:8480', '10.20.0.40:8480']
    # The gateway trusts edge1 alone and sends the tenants' Ollama calls to the GPU hosts.
    assert 'trusted_proxies static 10.20.0.10\n' in app1['gateway']
    assert 'reverse_proxy 10.20.0.31:11434 10.20.0.32:11434 {' in app1['gateway']
