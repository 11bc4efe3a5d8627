# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Services are published on loopback or private addresses only: each role's own validate.yml,
run by ansible-playbook on localhost (it only reads variables), refuses 0.0.0.0, :: and public
addresses with a message naming the variable, and accepts loopback, RFC 1918 and IPv6 ULA ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: "selfhosted_ai.stack.{{ role }}"
        tasks_from: validate.yml
"""

# role -> (variable, how one address is given, what the refusal message names)
ROLES = {
    'postgres': ('postgres_published_addresses', list, 'postgres_published_addresses'),
    'valkey': ('valkey_published_addresses', list, 'valkey_published_addresses'),
    'open_webui': ('open_webui_publish_address', str, 'loopback or private'),
    'searxng': ('searxng_publish_address', str, 'loopback or private'),
    'flowise': ('flowise_publish_address', str, 'loopback or private'),
    'ollama': ('ollama_publish_address', str, 'is neither a loopback address nor'),
}


# validate.yml also checks the role's argument specs, which templates every option: given here, the options whose
# defaults ask the endpoint lookup for the data host's services (that needs the data host's facts, which this play
# on localhost does not have).
ENDPOINTS = {
    'flowise': {
        'flowise_db_host': 'postgres',
        'flowise_db_port': 5432,
        'flowise_s3_endpoint': 'http://seaweedfs:8333',
    },
    'open_webui': {
        'open_webui_db_host': 'postgres',
        'open_webui_db_port': 5432,
        'open_webui_valkey_host': 'valkey',
        'open_webui_valkey_port': 6379,
    },
    'searxng': {'searxng_valkey_host': 'valkey', 'searxng_valkey_port': 6379},
}


def validate(tmp_path: Path, role: str, extra: dict) -> subprocess.CompletedProcess:
    playbook = tmp_path / 'validate.yml'
    playbook.write_text(PLAYBOOK)
    variables = dict(extra, role=role, ansible_python_interpreter=sys.executable)
    return ansible_playbook(playbook, '-e', json.dumps(variables))


def value(role: str, address: str):
    variable, kind = ROLES[role][:2]
    return {variable: ['127.0.0.1', address] if kind is list else address, **ENDPOINTS.get(role, {})}


@pytest.mark.parametrize('role', sorted(ROLES))
@pytest.mark.parametrize('address', ['0.0.0.0', '203.0.113.7', '2001:db8::7'])
def test_a_public_or_wildcard_address_is_refused(tmp_path, role, address):
    extra = value(role, address)
    extra['ollama_publish_private'] = True
    result = validate(tmp_path, role, extra)
    assert result.returncode != 0, result.stdout
    assert ROLES[role][2] in result.stdout, result.stdout
    assert address in result.stdout


@pytest.mark.parametrize('role', sorted(ROLES))
@pytest.mark.parametrize('address', ['10.20.0.20', 'fd00::20'])
def test_loopback_and_private_addresses_are_accepted(tmp_path, role, address):
    extra = value(role, address)
    extra['ollama_publish_private'] = True
    result = validate(tmp_path, role, extra)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ollama_needs_publish_private_for_a_private_address(tmp_path):
    result = validate(tmp_path, 'ollama', {'ollama_publish_address': '10.20.0.31'})
    assert result.returncode != 0
    assert 'allowed: ollama_publish_private is off' in result.stdout
