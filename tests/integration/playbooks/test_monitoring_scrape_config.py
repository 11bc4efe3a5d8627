# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventories/multi-host, rendered for real: prometheus.yml of the monitoring host (edge1) from the monitoring
role's template and the lookup selfhosted_ai.stack.scrape_targets, on the local connection, then checked by
`promtool check config` (Debian's prometheus package, as make host installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_run import REPO, play_locally

PLAYBOOK = """
- hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: "{{ repo }}/roles/monitoring/defaults/main.yml"
    - ansible.builtin.include_vars: "{{ repo }}/roles/monitoring/vars/main.yml"
    - ansible.builtin.template:
        src: "{{ repo }}/roles/monitoring/templates/prometheus.yml.j2"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


def render(tmp_path: Path, **extra) -> tuple[int, str, dict]:
    out = tmp_path / 'prometheus.yml'
    variables = {'repo': str(REPO), 'out': str(out), 'target': 'edge1', **extra}
    result = play_locally(tmp_path, PLAYBOOK, json.dumps(variables))
    config = yaml.safe_load(out.read_text()) if out.exists() else {}
    return result.returncode, result.stdout + result.stderr, config


def jobs(config: dict) -> dict:
    """job name -> (metrics_path, params, [(target, instance label)])"""
    return {
        job['job_name']: (
            job.get('metrics_path', '/metrics'),
            job.get('params', {}),
            [(t, c['labels']['instance']) for c in job['static_configs'] for t in c['targets']],
        )
        for job in config['scrape_configs']
    }


def test_every_service_of_the_inventory_is_scraped_where_it_runs(tmp_path):
    rc, output, config = render(tmp_path)
    assert rc == 0, output[-3000:]
    found = jobs(config)
    assert found['openbao'] == ('/v1/sys/metrics', {'format': ['prometheus']}, [('10.20.0.20:8200', 'data1')])
    # Caddy beside Prometheus on edge1: the container on the stack network.
    assert found['caddy'] == ('/metrics', {}, [('caddy:9180', 'edge1')])
    assert found['n8n'] == ('/metrics', {}, [('10.20.0.40:5678', 'app1')])
    assert found['n8n_webhook'] == ('/metrics', {}, [('10.20.0.40:5679', 'app1')])
    assert found['n8n_worker'] == ('/metrics', {}, [(f'10.20.0.5{i}:5682', f'worker{i}') for i in (1, 2, 3)])
    assert found['postgres'][2] == [('10.20.0.20:9187', 'data1')]
    assert found['valkey'][2] == [('10.20.0.20:9121', 'data1')]
    # Every Docker host's node exporter: edge1's own on the stack network, the others' on their address.
    nodes = found['node'][2]
    assert ('node-exporter:9100', 'edge1') in nodes and ('10.20.0.60:9100', 'store1') in nodes
    assert len(nodes) == 9
    # NVIDIA's DCGM exporter on the GPU hosts (group gpu), at their private addresses.
    assert found['gpu'] == ('/metrics', {}, [('10.20.0.31:9400', 'gpu1'), ('10.20.0.32:9400', 'gpu2')])


def probes(config: dict) -> dict:
    """route -> (target, labels without instance) of the blackbox job, and the job's relabelling."""
    (job,) = [job for job in config['scrape_configs'] if job['job_name'] == 'blackbox']
    assert job['metrics_path'] == '/probe'
    assert job['relabel_configs'] == [
        {'source_labels': ['__address__'], 'target_label': '__param_target'},
        {'target_label': '__address__', 'replacement': 'blackbox-exporter:9115'},
    ]
    return {c['labels']['route']: (c['targets'], c['labels']) for c in job['static_configs']}


def test_every_route_of_the_proxy_is_probed_with_the_answer_its_authentication_calls_for(tmp_path):
    rc, output, config = render(tmp_path)
    assert rc == 0, output[-3000:]
    found = probes(config)
    assert sorted(found) == ['api', 'flowise', 'grafana', 'langfuse', 'n8n', 'webui']
    # edge1 runs the proxy beside Prometheus: its container on the stack network, the route named in hostname, at
    # the route's health_uri (else /).
    assert found['flowise'] == (
        ['https://caddy:443/api/v1/ping'],
        {
            'instance': 'https://flowise.ai.example.org/api/v1/ping',
            'route': 'flowise',
            'proxy': 'edge1',
            'issuer': 'acme',
            'expect': '401',
            '__param_module': 'route_401_acme',
            '__param_hostname': 'flowise.ai.example.org',
        },
    )
    expected = {name: labels['expect'] for name, (unused, labels) in found.items()}
    # basic authentication and the bearer token: the proxy's 401; the apps with their own login: open.
    assert expected == {
        'api': '401',
        'flowise': '401',
        'grafana': 'open',
        'langfuse': 'open',
        'n8n': 'open',
        'webui': 'open',
    }


def test_the_rendered_configuration_passes_promtool(tmp_path):
    promtool = shutil.which('promtool')
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (make host)")
    rc, output, config = render(tmp_path)
    assert rc == 0 and config, output[-3000:]
    check = subprocess.run(
        [promtool, 'check', 'config', '--syntax-only', str(tmp_path / 'prometheus.yml')],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_remote_target_that_is_not_published_is_an_error_naming_it(tmp_path):
    rc, output, config = render(tmp_path, openbao_published_addresses=['127.0.0.1'])
    text = ' '.join(output.split())
    assert rc != 0 and config == {}
    assert 'the openbao metrics (openbao role) on data1 are not published where Prometheus on edge1' in text


def test_alertmanager_is_reached_with_its_login_and_no_other_target_gets_it(tmp_path):
    rc, output, config = render(tmp_path, monitoring_alertmanager_username='am-user')
    assert rc == 0, output[-3000:]
    login = {'username': 'am-user', 'password_file': '/etc/prometheus/alertmanager_password'}
    assert [manager['basic_auth'] for manager in config['alerting']['alertmanagers']] == [login]
    assert [(job['job_name'], job['basic_auth']) for job in config['scrape_configs'] if 'basic_auth' in job] == [
        ('alertmanager', login)
    ]
