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

from ansible_run import play_locally

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
