# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tenant modules through ansible-playbook: proves the module path users run (FQCN, AnsiballZ).

TENANT_MODULE_PYTHON names another interpreter for the modules, e.g. one with the library versions
of Debian 12's packages (python3-hvac 0.11.2, python3-redis 4.3.4, python3-psycopg 3.1.7,
python3-boto3 1.26.27) that playbooks/04_tenants.yml installs on the data host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _probe import credentials, pg_login

pytestmark = pytest.mark.integration

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def test_playbook_provisions_and_removes(stack, tmp_path):
    extra = {
        'tenant_list': [{'id': 'pb_one', 'apps': ['n8n']}, {'id': 'pb_two', 'apps': ['flowise']}],
        'tenant_postgres': stack['postgres'],
        'tenant_valkey': stack['valkey'],
        'tenant_s3': stack['s3'],
        'tenant_vault': stack['vault'],
        'ansible_python_interpreter': os.environ.get('TENANT_MODULE_PYTHON') or sys.executable,
    }
    vars_file = tmp_path / 'vars.json'
    vars_file.write_text(json.dumps(extra))
    vars_file.chmod(0o600)
    playbook = os.path.join(os.path.dirname(__file__), 'playbook_tenants.yml')
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
        ANSIBLE_STDOUT_CALLBACK='default',
        ANSIBLE_NOCOLOR='1',
    )
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    proc = subprocess.run(
        [ansible_playbook, '-i', 'localhost,', playbook, '-e', '@%s' % vars_file],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for secret in (
        stack['postgres']['login_password'],
        stack['valkey']['password'],
        stack['s3']['secret_key'],
        stack['vault']['secret_id'],
    ):
        assert secret not in output
    assert 'ok=6' in output and 'failed=0' in output
    # the last task purged: nothing left, credentials gone
    assert credentials(stack, 'pb_one') is None
    assert not pg_login(stack, 'tenant_pb_one', 'x', 'n8n_pb_one')
