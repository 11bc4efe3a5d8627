# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventories/multi-host, rendered for real: the firewall's DOCKER-USER rules of data1 admit exactly
the hosts that use its published PostgreSQL and Valkey (app1 and the n8n workers), not the rest of the
trusted network (edge1, the GPU hosts). The rules come from the role's own template and the lookup
selfhosted_ai.stack.consumers, on the local connection (nothing is applied).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ansible_run import REPO, play_locally

PLAYBOOK = """
- hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: "{{ repo }}/roles/firewall/defaults/main.yml"
    - ansible.builtin.include_vars: "{{ repo }}/roles/firewall/vars/main.yml"
    - ansible.builtin.set_fact:
        __firewall_consumed_ports: "{{ query('selfhosted_ai.stack.consumers', addresses=addresses | default(true)) }}"
    - ansible.builtin.template:
        src: "{{ repo }}/roles/firewall/templates/docker-user.rules.j2"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


def render(tmp_path: Path, **extra) -> tuple[int, str, list[str]]:
    out = tmp_path / 'rules'
    variables = {
        'repo': str(REPO),
        'out': str(out),
        'target': 'data1',
        'firewall_trusted_networks': ['10.20.0.0/24'],
        **extra,
    }
    result = play_locally(tmp_path, PLAYBOOK, json.dumps(variables))
    rules = [line for line in out.read_text().splitlines() if line.startswith('-A')] if out.exists() else []
    return result.returncode, result.stdout + result.stderr, rules


def port_rules(rules: list[str], port: int) -> list[str]:
    return [re.sub(r'^-A \S+ ', '', r) for r in rules if f'--ctorigdstport {port} ' in r]


def test_data_ports_admit_only_their_consumers_before_the_trusted_network(tmp_path):
    rc, output, rules = render(tmp_path)
    assert rc == 0, output[-3000:]
    consumers = ['10.20.0.40', '10.20.0.51', '10.20.0.52', '10.20.0.53']  # app1, worker1..3
    for port in (5432, 6379):
        assert port_rules(rules, port) == [
            f'-p tcp -m conntrack --ctorigdstport {port} -s {source} -j RETURN' for source in consumers
        ] + [f'-p tcp -m conntrack --ctorigdstport {port} -j DROP']
        # The port's own rules come before the trusted network's RETURN, which would admit edge1 and gpu1.
        last = max(i for i, r in enumerate(rules) if f'--ctorigdstport {port} ' in r)
        assert last < rules.index('-A selfhosted-docker -s 10.20.0.0/24 -j RETURN')
    # S3 is published on loopback only there: no rule of its own.
    assert port_rules(rules, 8333) == []


def test_scraped_ports_admit_only_the_monitoring_host(tmp_path):
    # data1 publishes its exporters and OpenBao's API (for /v1/sys/metrics) on its private address for
    # Prometheus on edge1 (group monitoring): edge1 alone, not the rest of the trusted network.
    rc, output, rules = render(tmp_path)
    assert rc == 0, output[-3000:]
    for port in (8200, 9100, 9187, 9121):
        assert port_rules(rules, port) == [
            f'-p tcp -m conntrack --ctorigdstport {port} -s 10.20.0.10 -j RETURN',
            f'-p tcp -m conntrack --ctorigdstport {port} -j DROP',
        ], port
    # A worker's health and metrics port: edge1 alone.
    rc, output, rules = render(tmp_path, target='worker1')
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 5682) == [
        '-p tcp -m conntrack --ctorigdstport 5682 -s 10.20.0.10 -j RETURN',
        '-p tcp -m conntrack --ctorigdstport 5682 -j DROP',
    ]


def test_a_metrics_port_shared_with_the_proxy_admits_the_monitoring_host_and_drops_nothing(tmp_path):
    # n8n main and webhook on app1 serve the proxy (through the trusted network) on the port Prometheus
    # scrapes: edge1 is admitted, and the port is not closed to the trusted network.
    rc, output, rules = render(tmp_path, target='app1')
    assert rc == 0, output[-3000:]
    for port in (5678, 5679):
        assert port_rules(rules, port) == [f'-p tcp -m conntrack --ctorigdstport {port} -s 10.20.0.10 -j RETURN']
    assert '-A selfhosted-docker -s 10.20.0.0/24 -j RETURN' in rules


def test_without_address_resolution_the_known_addresses_are_the_whole_answer(tmp_path):
    # The firewall asks once with addresses=false and, when no consumer is unresolved, takes those sources as they are.
    for target in ('data1', 'app1', 'store1'):
        rc, output, resolved = render(tmp_path, target=target)
        assert rc == 0, output[-3000:]
        rc, output, known = render(tmp_path, target=target, addresses=False)
        assert rc == 0, output[-3000:]
        assert known == resolved and len(known) > 0, target


def test_the_monitoring_host_publishes_no_metrics_port(tmp_path):
    # edge1 runs Prometheus beside Caddy and its own exporters: scraped on the stack network, nothing published.
    rc, output, rules = render(tmp_path, target='edge1')
    assert rc == 0, output[-3000:]
    assert [port for port in (9100, 9180, 8200) if port_rules(rules, port)] == []


def test_a_data_port_the_inventory_opens_to_all_stays_open(tmp_path):
    rc, output, rules = render(tmp_path, firewall_allowed_ports=[{'port': 5432, 'proto': 'tcp'}])
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 5432) == ['-p tcp -m conntrack --ctorigdstport 5432 -j RETURN']
    assert port_rules(rules, 6379)[-1] == '-p tcp -m conntrack --ctorigdstport 6379 -j DROP'


def test_a_consumer_without_a_known_address_is_an_error(tmp_path):
    # Host names only, no facts: the firewall cannot admit a host it has no address for.
    rc, output, rules = render(tmp_path, ansible_host='host.lan')
    text = ' '.join(output.split())
    assert rc != 0 and rules == []
    assert (
        'consumers: app1 uses postgres on data1, whose firewall admits it by address, but app1 has no known IPv4'
        in text
    )


def test_the_backup_store_admits_only_the_hosts_that_back_up_there(tmp_path):
    # store1 (group backup_store) publishes S3 on its private address for the repositories of data1 and
    # app1 (group backup); nothing else of store1 is published.
    rc, output, rules = render(tmp_path, target='store1')
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 8333) == [
        f'-p tcp -m conntrack --ctorigdstport 8333 -s {source} -j RETURN'
        for source in ['10.20.0.40', '10.20.0.20']  # app1, data1
    ] + ['-p tcp -m conntrack --ctorigdstport 8333 -j DROP']
    assert port_rules(rules, 5432) == [] and port_rules(rules, 6379) == []


def test_with_tenants_the_gateway_of_app1_admits_edge1_alone_and_data1_admits_app1(tmp_path):
    # The tenants' apps run on app1 (group apps), which does not run the proxy: its gateway's port admits edge1's
    # proxy alone, and data1's S3 and OpenBao, published once there are tenants, admit app1 beside what they did.
    tenants = {'tenants': [{'id': 'acme'}]}
    rc, output, rules = render(tmp_path, target='app1', **tenants)
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 8480) == [
        '-p tcp -m conntrack --ctorigdstport 8480 -s 10.20.0.10 -j RETURN',
        '-p tcp -m conntrack --ctorigdstport 8480 -j DROP',
    ]
    rc, output, rules = render(tmp_path, target='data1', **tenants)
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 8333) == [
        '-p tcp -m conntrack --ctorigdstport 8333 -s 10.20.0.40 -j RETURN',
        '-p tcp -m conntrack --ctorigdstport 8333 -j DROP',
    ]
    assert port_rules(rules, 8200) == [
        f'-p tcp -m conntrack --ctorigdstport 8200 -s {source} -j RETURN' for source in ['10.20.0.40', '10.20.0.10']
    ] + ['-p tcp -m conntrack --ctorigdstport 8200 -j DROP']
    # Without tenants no gateway runs, and nothing is published for it.
    rc, output, rules = render(tmp_path, target='app1')
    assert rc == 0, output[-3000:]
    assert port_rules(rules, 8480) == []
