# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant_apps role on several hosts: which host runs which tenant, how the proxy reaches the apps of a host
without it (that host's gateway), and who that gateway and its firewall admit.

Rendered with ansible-playbook on localhost (local connection) from the role's own vars and the real lookups of the
endpoint contract; no Docker engine is reached.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_tenant_apps import ENDPOINTS
from test_tenant_apps import run as run_role_play

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / 'roles' / 'tenant_apps'

# edge runs the proxy and the data services; node2 and node3 run tenants' apps, without the proxy.
INVENTORY = """
[docker_hosts]
edge ansible_connection=local ansible_host=10.0.0.1
node2 ansible_connection=local ansible_host=10.0.0.2 tenant_apps_gateway_published_addresses='["10.0.0.2"]'
node3 ansible_connection=local ansible_host=10.0.0.3
[proxy]
edge
[data]
edge
[vault]
edge
[apps]
edge
[tenant_apps]
edge
node2
node3
"""

TENANTS = [
    {'id': 'acme'},
    {'id': 'beta', 'apps': ['n8n'], 'apps_host': 'node2'},
    {'id': 'gone', 'apps': ['n8n'], 'state': 'absent', 'apps_host': 'node2'},
]


def run(tmp_path, play, tenants=None, limit='all'):
    tenants = TENANTS if tenants is None else tenants
    return run_role_play(tmp_path, play, tenants, inventory=INVENTORY, limit=limit, out=str(tmp_path / 'out'))


RENDER_PLAY = f"""
- hosts: all
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: Render what the role decides on each host
      ansible.builtin.copy:
        dest: "{{{{ out }}}}-{{{{ inventory_hostname }}}}.json"
        content: >-
          {{{{ {{'here': __tenant_apps_here | map(attribute='container') | list,
                'not_here': __tenant_apps_not_here | map(attribute='container') | list,
                'gateway': __tenant_apps_gateway_here,
                'routes': (__tenant_apps_routes | map(attribute='host') | zip(__tenant_apps_routes | map(attribute='upstream')) | list)
                          if __tenant_apps_runs_proxy else [],
                'consumers': query('selfhosted_ai.stack.consumers', 'tenant_apps'),
                'consumes': __tenant_apps_consumes,
                'ollama_url': tenant_apps_openwebui_ollama_base_url,
                'removable': __tenant_apps_removable,
                'gateway_caddyfile': lookup('ansible.builtin.template', '{ROLE}/templates/tenant_gateway.caddy.j2')
                                     if __tenant_apps_gateway_here else ''}} | to_json }}}}
        mode: "0600"
      delegate_to: localhost
      vars:
        __tenant_apps_endpoints: {json.dumps(ENDPOINTS)}
        # What a host listing shows on node2 and node3 (docker_host_info), by name, labels and network.
        __tenant_apps_listing:
          containers: "{{{{ __listed[inventory_hostname] | default([]) }}}}"
          networks: [{{Name: bridge}}, {{Name: tenant-acme}}, {{Name: tenant-beta}}, {{Name: tenant-gone}}]
        __listed:
          node2:
            - {{Names: [/n8n-beta], Labels: {{selfhosted_ai.stack: tenant_apps, selfhosted_ai.stack.tenant: beta}}}}
            - {{Names: [/n8n-beta-worker-3], Labels: {{selfhosted_ai.stack: tenant_apps, selfhosted_ai.stack.tenant: beta,
                                                     selfhosted_ai.stack.n8n_mode: worker}}}}
            - {{Names: [/openwebui-beta], Labels: {{selfhosted_ai.stack: tenant_apps, selfhosted_ai.stack.tenant: beta}}}}
            - {{Names: [/n8n-gone], Labels: {{selfhosted_ai.stack: tenant_apps, selfhosted_ai.stack.tenant: gone}}}}
            - {{Names: [/n8n-stranger], Labels: {{selfhosted_ai.stack: tenant_apps, selfhosted_ai.stack.tenant: stranger}}}}
            - {{Names: [/tenant-gateway], Labels: {{selfhosted_ai.stack: tenant_apps}}}}
            - {{Names: [/postgres], Labels: {{selfhosted_ai.stack: postgres}}}}
          node3:
            - {{Names: [/tenant-gateway], Labels: {{selfhosted_ai.stack: tenant_apps}}}}
"""


@pytest.fixture(scope='module')
def hosts(tmp_path_factory):
    """What the role decides on each host, rendered once for the module."""
    tmp_path = tmp_path_factory.mktemp('placement')
    proc = run(tmp_path, RENDER_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {host: json.loads((tmp_path / f'out-{host}.json').read_text()) for host in ('edge', 'node2', 'node3')}


def test_each_tenant_runs_on_its_own_host_and_every_other_host_lets_go_of_it(hosts):
    assert hosts['edge']['here'] == ['n8n-acme', 'openwebui-acme']
    assert hosts['node2']['here'] == ['n8n-beta']
    assert hosts['node3']['here'] == []
    # What each host removes if it has it: the absent tenant's and those placed elsewhere.
    assert hosts['edge']['not_here'] == ['n8n-beta', 'n8n-gone']
    assert hosts['node3']['not_here'] == ['n8n-acme', 'openwebui-acme', 'n8n-beta', 'n8n-gone']
    # The gateway runs where apps run without the proxy.
    assert [hosts[h]['gateway'] for h in ('edge', 'node2', 'node3')] == [False, True, False]


def test_a_host_removes_what_it_no_longer_runs_and_keeps_what_it_cannot_know(hosts):
    # node2 runs beta's n8n (and the gateway): the absent tenant's container, a worker above beta's count and the
    # app beta no longer lists go, with the networks of the tenants that have no apps here; a container of a tenant
    # the list does not name stays, as does every container of another role.
    assert hosts['node2']['removable'] == {
        'containers': ['n8n-beta-worker-3', 'n8n-gone', 'openwebui-beta'],
        'networks': ['tenant-acme', 'tenant-gone'],
    }
    # node3 runs nothing: its gateway goes.
    assert hosts['node3']['removable']['containers'] == ['tenant-gateway']


def test_open_webui_reaches_ollama_through_the_filter_of_its_own_host(hosts):
    assert hosts['edge']['ollama_url'] == 'http://caddy:11434'
    assert hosts['node2']['ollama_url'] == 'http://tenant-gateway:11434'


def test_the_proxy_routes_another_hosts_tenant_to_that_hosts_gateway(hosts):
    routes = hosts['edge']['routes']
    assert routes == [
        ['n8n-acme.ai.test', 'n8n-acme:5678'],
        ['ai-acme.ai.test', 'openwebui-acme:8080'],
        ['n8n-beta.ai.test', '10.0.0.2:8480'],
    ]


def test_the_gateway_admits_the_proxy_hosts_alone(hosts):
    # The firewall of node2 admits edge alone to the gateway's port; edge's own endpoint publishes nothing.
    assert hosts['node2']['consumers'] == [
        {'service': 'tenant_apps', 'port': 8480, 'exclusive': True, 'consumers': ['edge'], 'sources': ['10.0.0.1']}
    ]
    assert hosts['edge']['consumers'] == []
    caddyfile = hosts['node2']['gateway_caddyfile']
    assert 'trusted_proxies static 10.0.0.1' in caddyfile
    assert '@elsewhere not remote_ip 10.0.0.1' in caddyfile
    assert 'http://n8n-beta.ai.test:8480 {\n\timport from_the_proxy\n\treverse_proxy n8n-beta:5678\n}' in caddyfile
    # Only this host's tenants.
    assert 'acme' not in caddyfile


def test_a_host_with_tenant_apps_uses_the_data_hosts_services_and_is_admitted_there(hosts):
    assert hosts['node2']['consumes'] == [
        {'service': 'postgres', 'host': 'edge'},
        {'service': 'valkey', 'host': 'edge'},
        {'service': 'object_store', 'host': 'edge'},
        {'service': 'openbao', 'host': 'edge'},
    ]
    assert hosts['node3']['consumes'] == []


ROLE_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: selfhosted_ai.stack.tenant_apps
        rolespec_validate: false
"""


def test_a_tenant_placed_outside_the_tenant_apps_hosts_is_refused_before_any_change(tmp_path):
    proc = run(tmp_path, ROLE_PLAY, [{'id': 'acme', 'apps_host': 'db9'}], limit='edge')
    assert proc.returncode != 0
    assert "tenant acme: its apps would run on 'db9', which is not a host for tenant apps (edge, node2, node3)" in (
        proc.stdout
    )
    assert 'changed=0' in proc.stdout


def test_a_host_without_the_proxy_and_without_a_published_address_is_refused_before_any_change(tmp_path):
    proc = run(tmp_path, ROLE_PLAY, [{'id': 'acme', 'apps_host': 'node3'}], limit='node3')
    assert proc.returncode != 0
    assert 'node3 runs tenant apps (n8n-acme, openwebui-acme) but not the proxy' in ' '.join(proc.stdout.split())
    assert 'changed=0' in proc.stdout


def test_apps_on_a_proxy_host_are_refused_where_another_proxy_host_would_route_them(tmp_path):
    # node3 runs a second proxy: it could not reach acme's apps on edge's tenant networks.
    inventory = INVENTORY.replace('[proxy]\nedge\n', '[proxy]\nedge\nnode3\n')
    proc = run_role_play(
        tmp_path, ROLE_PLAY, [{'id': 'acme'}], inventory=inventory, limit='node3', out=str(tmp_path / 'out')
    )
    assert proc.returncode != 0
    text = ' '.join(proc.stdout.split())
    assert 'n8n-acme, openwebui-acme would run on another proxy host, which only that proxy reaches' in text
    assert 'changed=0' in proc.stdout
