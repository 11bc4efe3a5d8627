# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant gateway's reload handler (roles/tenant_apps/handlers/main.yml), run for real against this machine's
Docker engine, where no container has the name given: a reload that is tried fails on it."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest
from ansible_run import ansible_playbook_on_localhost

PLAYBOOK = Path(__file__).parent / 'files' / 'tenant_gateway_reload.yml'

pytestmark = pytest.mark.skipif(shutil.which('docker') is None, reason='the docker CLI is not installed here')


def notify_reload(gateway: str, **extra):
    extra = {'gateway_name': gateway, 'tenant_apps_not_started_reason': '', **extra}
    return ansible_playbook_on_localhost('-e', json.dumps(extra), PLAYBOOK)


def test_a_gateway_that_runs_is_reloaded():
    # Tried, so it fails on the missing container: the handler runs when nothing says otherwise.
    gateway = 'no-such-gateway-' + secrets.token_hex(4)
    result = notify_reload(gateway)
    assert result.returncode != 0
    assert 'RUNNING HANDLER [Reload the tenant gateway]' in result.stdout
    assert 'No such container: ' + gateway in result.stdout + result.stderr


def test_a_gateway_not_started_here_is_left_alone():
    result = notify_reload('no-such-gateway-' + secrets.token_hex(4), tenant_apps_not_started_reason='no image here')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'failed=0' in result.stdout


def test_a_gateway_the_play_just_created_is_left_alone():
    gateway = 'no-such-gateway-' + secrets.token_hex(4)
    result = notify_reload(gateway, container_results={gateway: {'changed': True}})
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'failed=0' in result.stdout
