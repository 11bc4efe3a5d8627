# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup role on inventories/multi-host, rendered for real on the local connection (nothing is applied):
what data1 and app1 back up comes from the roles they run, the repository is the first other host of
backup_store, and bad input stops the role in its validation, before any change, with a clear message.
"""

from __future__ import annotations

import json

import pytest
from ansible_run import REPO, play_locally

SOURCES = """
- hosts: data1:app1
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars: "{{ repo }}/roles/backup/defaults/main.yml"
    - ansible.builtin.include_vars: "{{ repo }}/roles/backup/vars/main.yml"
    - ansible.builtin.copy:
        content: "{{ {'services': __backup_configured, 'repository': __backup_repository_url} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""

VALIDATE = """
- hosts: data1
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: selfhosted_ai.stack.backup
        tasks_from: validate.yml
"""


def test_what_a_host_backs_up_comes_from_the_roles_it_runs(tmp_path):
    result = play_locally(tmp_path, SOURCES, json.dumps({'repo': str(REPO), 'out': str(tmp_path)}))
    assert result.returncode == 0, result.stdout[-3000:]
    found = {host: json.loads((tmp_path / f'{host}.json').read_text()) for host in ('data1', 'app1')}
    # Qdrant and Neo4j are in the data group too; OpenBao because data1 is the vault host; ClickHouse
    # because it runs Langfuse (whose own declaration is method none: its data is in those services).
    assert found['data1']['services'] == [
        'postgres',
        'valkey',
        'object_store',
        'openbao',
        'qdrant',
        'neo4j',
        'clickhouse',
    ]
    # SearXNG keeps nothing (method none); Open WebUI's and Flowise's volumes are backed up.
    assert found['app1']['services'] == ['open_webui', 'flowise']
    # Off-host by default: store1's object store, on its private address.
    assert found['data1']['repository'] == 's3:http://10.20.0.60:8333/restic'


@pytest.mark.parametrize(
    ('variables', 'message'),
    [
        ({'backup_keep_daily': 0, 'backup_keep_weekly': 0, 'backup_keep_monthly': 0}, 'at least one above 0'),
        ({'backup_repository': 'ftp://backup.example.net/x'}, "got 'ftp://backup.example.net/x'"),
        ({'backup_services': ['postgres', 'mysql']}, 'backup_services ["mysql"]: not a service that data1 runs'),
        ({'backup_repository_host': 'gpu1'}, "backup_repository_host 'gpu1' must be an inventory host of the `data`"),
        ({'backup_schedule': 'daily\nExecStart=/bin/sh'}, 'systemd calendar expressions'),
    ],
    ids=['retention-0', 'ftp-scheme', 'unknown-service', 'store-not-s3', 'unit-injection'],
)
def test_bad_input_stops_the_role_before_any_change(tmp_path, variables, message):
    result = play_locally(tmp_path, VALIDATE, json.dumps(variables), limit='data1')
    text = ' '.join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in text, text[-2000:]
