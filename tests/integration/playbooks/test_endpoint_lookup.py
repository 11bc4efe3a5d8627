# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The endpoint contract: lookup selfhosted_ai.stack.endpoint against inventories/multi-host, for real.

Each data role defines its endpoint once (vars/main.yml); the lookup templates it with the role's
defaults under the service host's inventory variables, and says where the calling host reaches it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_run import play_locally

PLAYBOOK = """
- hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        content: "{{ query('selfhosted_ai.stack.endpoint', *services, host=service_host) | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


def endpoints(tmp_path: Path, target: str, services: list[str], *extra: str, limit: str | None = None):
    variables = {'target': target, 'services': services, 'service_host': 'data1', 'out_dir': str(tmp_path)}
    result = play_locally(tmp_path, PLAYBOOK, json.dumps(variables), *extra, limit=limit)
    out = tmp_path / f'{target}.json'
    return result, (json.loads(out.read_text()) if out.exists() else None)


def test_app_host_reaches_postgres_and_valkey_on_the_data_hosts_private_address(tmp_path):
    result, (postgres, valkey) = endpoints(tmp_path, 'app1', ['postgres', 'valkey'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert (postgres['address'], postgres['reach_port'], postgres['container'], postgres['port']) == (
        '10.20.0.20',
        5432,
        'postgres',
        5432,
    )
    assert postgres['published_addresses'] == ['127.0.0.1', '10.20.0.20']
    assert (postgres['admin_user'], postgres['admin_secret']) == ('postgres', 'postgres/superuser')
    assert (valkey['address'], valkey['reach_port'], valkey['acl_file']) == (
        '10.20.0.20',
        6379,
        '/etc/selfhosted_ai/valkey/users.acl',
    )
    assert (valkey['admin_user'], valkey['admin_secret']) == ('admin', 'valkey/admin')


def test_on_the_data_host_the_container_is_reached_on_the_stack_network(tmp_path):
    result, (postgres, store, bao) = endpoints(tmp_path, 'data1', ['postgres', 'object_store', 'openbao'])
    assert result.returncode == 0, result.stdout + result.stderr
    assert (postgres['address'], postgres['reach_port'], postgres['network']) == ('postgres', 5432, 'ai_network')
    assert store['admin_secret_fields'] == {
        'access_key': {'length': 20, 'charset': 'alnum'},
        'secret_key': {'length': 40, 'charset': 'alnum'},
    }
    assert store['admin_shell'] == ['docker', 'exec', '-i', 'seaweedfs', 'weed', 'shell', '-master=127.0.0.1:9333']
    assert (bao['published_port'], bao['kv_mount'], bao['tenant_policy']) == (8200, 'secret', 'selfhosted-ai-tenant')
    assert bao['approle_secret_fields']['secret_id'] == {'backend': 'file', 'format': 'hex', 'length': 24}


def test_the_inventory_overrides_the_role_default_and_limit_changes_nothing(tmp_path):
    result, (postgres,) = endpoints(
        tmp_path, 'app1', ['postgres'], 'postgres_published_port=15432', 'postgres_container_name=pg', limit='app1'
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (postgres['address'], postgres['reach_port'], postgres['container']) == ('10.20.0.20', 15432, 'pg')


def test_a_service_published_on_loopback_only_is_an_error_for_another_host(tmp_path):
    result, out = endpoints(tmp_path, 'app1', ['object_store'])
    output = ' '.join((result.stdout + result.stderr).split())
    assert result.returncode != 0 and out is None
    assert (
        "endpoint: object_store on data1 is not published where app1 can reach it (published on ['127.0.0.1'], "
        'port 8333): set object_store_published_port and a private address of data1 in '
        'object_store_published_addresses'
    ) in output


def test_missing_facts_of_the_service_host_are_an_error_not_a_guess(tmp_path):
    facts_address = json.dumps({'postgres_published_addresses': ["{{ ansible_facts['default_ipv4']['address'] }}"]})
    result, out = endpoints(tmp_path, 'app1', ['postgres'], facts_address, limit='app1')
    output = ' '.join((result.stdout + result.stderr).split())
    assert result.returncode != 0 and out is None
    assert 'endpoint: the postgres endpoint of data1 cannot be computed' in output
    assert 'gather them in this run (include data1 in --limit)' in output


def test_roles_without_an_endpoint_and_unknown_names_are_refused(tmp_path):
    result = endpoints(tmp_path, 'data1', ['qdrant'])[0]
    assert 'endpoint: the qdrant role defines no endpoint' in result.stdout + result.stderr
    result = endpoints(tmp_path, 'data1', ['../roles/postgres'])[0]
    assert "endpoint: '../roles/postgres' is not a role of this collection" in result.stdout + result.stderr
