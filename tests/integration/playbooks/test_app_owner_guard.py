# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flowise 3 makes the first visitor of a new database its owner. The flowise role's validate.yml (run by
ansible-playbook on a proxy host, localhost, reading variables only) refuses a reverse proxy route to
Flowise without authentication unless the role registers an owner itself (flowise_admin_email), whether
the route reaches the container by name or at the address Flowise publishes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

PLAYBOOK = """
- hosts: proxy
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: selfhosted_ai.stack.flowise
        tasks_from: validate.yml
"""


def validate(tmp_path: Path, route: dict, **variables):
    (tmp_path / 'hosts.ini').write_text(
        f'[proxy]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n'
    )
    (tmp_path / 'validate.yml').write_text(PLAYBOOK)
    extra = dict(variables, reverse_proxy_routes=[dict({'name': 'flowise', 'host': 'flowise.example.org'}, **route)])
    return ansible_playbook('-i', tmp_path / 'hosts.ini', '-e', json.dumps(extra), tmp_path / 'validate.yml')


@pytest.mark.parametrize(
    ('route', 'variables'),
    [
        ({'upstreams': ['flowise:3000']}, {}),
        ({'upstreams': ['10.20.0.40:3001']}, {'flowise_publish_address': '10.20.0.40'}),
    ],
    ids=['by-name', 'published'],
)
def test_an_open_route_without_an_owner_is_refused(tmp_path, route, variables):
    result = validate(tmp_path, route, **variables)
    assert result.returncode != 0, result.stdout
    assert 'the first visitor' in result.stdout and 'flowise.example.org' in result.stdout, result.stdout


@pytest.mark.parametrize(
    ('route', 'variables'),
    [
        ({'upstreams': ['flowise:3000'], 'basic_auth': ['admin']}, {}),
        ({'upstreams': ['flowise:3000'], 'forward_auth': {'upstream': 'auth:9091', 'uri': '/verify'}}, {}),
        ({'upstreams': ['flowise:3000']}, {'flowise_admin_email': 'owner@example.org'}),
        ({'upstreams': ['open-webui:8080']}, {}),
    ],
    ids=['basic-auth', 'forward-auth', 'owner-registered', 'another-app'],
)
def test_a_guarded_route_or_a_registered_owner_is_accepted(tmp_path, route, variables):
    result = validate(tmp_path, route, **variables)
    assert result.returncode == 0, result.stdout + result.stderr
