# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apps that nobody may reach without a login in front. Flowise 3 makes the first visitor of a new database its
owner; ComfyUI has no logins at all. Each role's validate.yml (run by ansible-playbook on a proxy host,
localhost, reading variables only) refuses a reverse proxy route to the app without authentication, whether
the route reaches the container by name or at the address the app publishes, or only a path sub-route without
the route's authentication does. Flowise accepts such a route when the role registers an owner itself
(flowise_admin_email).
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
        name: selfhosted_ai.stack.{role}
        tasks_from: validate.yml
"""
BASIC_AUTH = {'basic_auth': ['admin']}
FORWARD_AUTH = {'forward_auth': {'upstream': 'auth:9091', 'uri': '/verify'}}
BEARER_TOKEN = {'bearer_token_secret': 'proxy/token'}


def sub_route_without_auth(upstream: str) -> dict:
    return dict(
        BASIC_AUTH, upstreams=['open-webui:8080'], paths=[{'path': '/api/*', 'upstreams': [upstream], 'auth': False}]
    )


def validate(tmp_path: Path, role: str, route: dict, **variables):
    (tmp_path / 'hosts.ini').write_text(
        f'[proxy]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n'
    )
    (tmp_path / 'validate.yml').write_text(PLAYBOOK.format(role=role))
    extra = dict(variables, reverse_proxy_routes=[dict({'name': role, 'host': f'{role}.example.org'}, **route)])
    return ansible_playbook('-i', tmp_path / 'hosts.ini', '-e', json.dumps(extra), tmp_path / 'validate.yml')


@pytest.mark.parametrize(
    ('role', 'route', 'variables', 'named'),
    [
        ('flowise', {'upstreams': ['flowise:3000']}, {}, 'flowise (flowise.example.org)'),
        (
            'flowise',
            {'upstreams': ['10.20.0.40:3001']},
            {'flowise_publish_address': '10.20.0.40'},
            'flowise.example.org',
        ),
        ('flowise', sub_route_without_auth('flowise:3000'), {}, 'flowise (flowise.example.org) /api/*'),
        ('comfyui', {'upstreams': ['comfyui:8188']}, {}, 'comfyui (comfyui.example.org)'),
        ('comfyui', sub_route_without_auth('comfyui:8188'), {}, 'comfyui (comfyui.example.org) /api/*'),
    ],
    ids=['flowise-by-name', 'flowise-published', 'flowise-sub-route', 'comfyui-by-name', 'comfyui-sub-route'],
)
def test_an_open_route_is_refused_and_named(tmp_path, role, route, variables, named):
    result = validate(tmp_path, role, route, **variables)
    assert result.returncode != 0, result.stdout
    assert 'without authentication' in result.stdout and named in result.stdout, result.stdout


@pytest.mark.parametrize(
    ('role', 'route', 'variables'),
    [
        ('flowise', dict(BASIC_AUTH, upstreams=['flowise:3000']), {}),
        ('flowise', dict(FORWARD_AUTH, upstreams=['flowise:3000']), {}),
        ('flowise', dict(BEARER_TOKEN, upstreams=['flowise:3000']), {}),
        ('flowise', {'upstreams': ['flowise:3000']}, {'flowise_admin_email': 'owner@example.org'}),
        ('flowise', sub_route_without_auth('flowise:3000'), {'flowise_admin_email': 'owner@example.org'}),
        ('flowise', {'upstreams': ['open-webui:8080']}, {}),
        (
            'comfyui',
            dict(BASIC_AUTH, upstreams=['comfyui:8188'], paths=[{'path': '/ws', 'upstreams': ['comfyui:8188']}]),
            {},
        ),
        ('comfyui', {'upstreams': ['comfyui:8188']}, {'comfyui_require_proxy_auth': False}),
        ('comfyui', {'upstreams': ['open-webui:8080']}, {}),
    ],
    ids=[
        'flowise-basic-auth',
        'flowise-forward-auth',
        'flowise-bearer-token',
        'flowise-owner-registered',
        'flowise-sub-route-owner-registered',
        'flowise-another-app',
        'comfyui-basic-auth-on-sub-route',
        'comfyui-check-turned-off',
        'comfyui-another-app',
    ],
)
def test_a_guarded_route_or_a_registered_owner_is_accepted(tmp_path, role, route, variables):
    result = validate(tmp_path, role, route, **variables)
    assert result.returncode == 0, result.stdout + result.stderr
