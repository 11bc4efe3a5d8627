# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory variable ``selfhosted_ai_secret_backend`` chooses the secret lookup's backend.

Real ``ansible-playbook`` runs against inventories written here, the vault backend on the test
OpenBao (``bao server -dev`` on loopback). Each playbook calls the lookup WITHOUT ``backend=``: only
the inventory says where secrets go. Values are compared as SHA-256 digests, never printed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import textwrap

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

# What a role does: ask for a secret by name, with no backend of its own.
PLAYBOOK = textwrap.dedent("""\
    - name: Use a secret the way the roles do
      hosts: all
      gather_facts: false
      tasks:
        - name: Get or generate the secret
          ansible.builtin.set_fact:
            __value: "{{ lookup('selfhosted_ai.stack.secret', 'stack/probe') }}"
          no_log: true
        - name: Write its digest for the test
          ansible.builtin.copy:
            content: "{{ __value | hash('sha256') }}"
            dest: "{{ digest_file }}"
            mode: "0600"
          delegate_to: localhost
    """)


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


class Inventory:
    """A user's inventory directory: hosts.yml and group_vars/all/secrets.yml."""

    def __init__(self, path):
        self.path = path
        (path / 'group_vars' / 'all').mkdir(parents=True)
        (path / 'hosts.yml').write_text(
            yaml.safe_dump(
                {
                    'all': {
                        'hosts': {
                            'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
                        }
                    }
                }
            )
        )
        self.secret_dir = path / '.secrets'

    def secrets_yml(self, text):
        (self.path / 'group_vars' / 'all' / 'secrets.yml').write_text(textwrap.dedent(text))

    def stored_files(self):
        if not self.secret_dir.exists():
            return []
        return sorted(str(p.relative_to(self.secret_dir)) for p in self.secret_dir.rglob('*.json'))


@pytest.fixture
def inventory(tmp_path):
    return Inventory(tmp_path / 'inventory')


@pytest.fixture
def play(tmp_path):
    if not os.access(ANSIBLE_PLAYBOOK, os.X_OK):
        pytest.skip('ansible-playbook not found next to %s' % sys.executable)
    playbook = tmp_path / 'playbook.yml'
    playbook.write_text(PLAYBOOK)
    digest_file = tmp_path / 'digest'
    (tmp_path / 'ansible.cfg').write_text('[defaults]\nretry_files_enabled = false\n')

    def _play(inventory, playbook_path=None, **env_extra):
        env = dict(
            (k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'VAULT_', 'BAO_', 'SELFHOSTED_AI_'))
        )
        env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.collections'),
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_HOME=str(tmp_path / 'ansible-home'),
            ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
            ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'),
            **env_extra,
        )
        proc = subprocess.run(
            [
                ANSIBLE_PLAYBOOK,
                '-i',
                str(inventory.path / 'hosts.yml'),
                str(playbook_path or playbook),
                '-e',
                'digest_file=%s' % digest_file,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        proc.output = ' '.join((proc.stdout + proc.stderr).split())
        proc.digest = digest_file.read_text() if digest_file.exists() else None
        return proc

    return _play


def test_vault_in_the_inventory_puts_the_secret_in_openbao(openbao, inventory, play):
    prefix = 'inv-' + secrets.token_hex(4)
    # Connection values through templates, as users write them: they must be rendered, not taken as text.
    inventory.secrets_yml(
        """\
        selfhosted_ai_secret_backend: vault
        bao_listen: "%s"
        selfhosted_ai_vault_url: "{{ bao_listen }}"
        selfhosted_ai_vault_token: "{{ lookup('ansible.builtin.env', 'TEST_BAO_TOKEN') }}"
        selfhosted_ai_secret_path_prefix: %s
        """
        % (openbao.url, prefix)
    )
    result = play(inventory, TEST_BAO_TOKEN=openbao.root_token)
    assert result.returncode == 0, result.output[-3000:]
    stored = openbao.read_kv2(prefix + '/stack/probe')
    assert stored is not None and set(stored) == {'value'}
    assert result.digest == digest(stored['value'])
    assert inventory.stored_files() == []  # nothing went to the file backend
    assert openbao.root_token not in result.output

    again = play(inventory, TEST_BAO_TOKEN=openbao.root_token)  # a second run reads the same value
    assert again.returncode == 0 and again.digest == result.digest
    assert openbao.kv2_version(prefix + '/stack/probe') == 1


def test_file_in_the_inventory_keeps_the_secret_beside_it(openbao, inventory, play):
    inventory.secrets_yml('selfhosted_ai_secret_backend: file\n')
    # A Vault address in the environment must not matter when the inventory says file.
    result = play(inventory, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)
    assert result.returncode == 0, result.output[-3000:]
    assert inventory.stored_files() == ['stack/probe.json']
    assert result.digest == digest(yaml.safe_load((inventory.secret_dir / 'stack' / 'probe.json').read_text())['value'])
    assert openbao.read_kv2('selfhosted_ai/stack/probe') is None


@pytest.mark.parametrize('value', ['vaultt', 'openbao', "''", 'File'])
def test_an_unknown_backend_stops_with_a_clear_error(openbao, inventory, play, value):
    inventory.secrets_yml('selfhosted_ai_secret_backend: %s\n' % value)
    result = play(inventory, BAO_ADDR=openbao.url, BAO_TOKEN=openbao.root_token)
    assert result.returncode != 0
    shown = yaml.safe_load(value)
    assert (
        'unknown secret backend %r from the variable selfhosted_ai_secret_backend; set it to file or vault' % shown
    ) in result.output, result.output[-3000:]
    assert inventory.stored_files() == [] and not inventory.secret_dir.exists()
    assert result.digest is None


def test_an_unknown_backend_in_the_environment_names_the_environment(inventory, play):
    result = play(inventory, SELFHOSTED_AI_SECRET_BACKEND='consul')
    assert result.returncode != 0
    assert (
        "unknown secret backend 'consul' from the environment variable SELFHOSTED_AI_SECRET_BACKEND" in result.output
    ), result.output[-3000:]
    assert not inventory.secret_dir.exists()


def test_bootstrap_switch_to_the_stacks_openbao(openbao, inventory, play):
    """docs/secrets.md "Bootstrap": the AppRole credentials live in the file backend, everything else in OpenBao.

    Step 1 is what the openbao role does on its first run (roles/openbao/tasks/configure.yml, module openbao_config): it generates the
    playbooks' AppRole credentials with the FILE backend and sets them in OpenBao as role-id/custom-secret-id.
    Step 2 is the inventory of docs/secrets.md: backend vault, credentials read from the file backend.
    """
    prefix = 'boot-' + secrets.token_hex(4)
    inventory.secrets_yml('selfhosted_ai_secret_backend: file\n')
    credentials = inventory.path.parent / 'credentials.yml'
    credentials.write_text(
        textwrap.dedent("""\
        - name: What the openbao role does first
          hosts: all
          gather_facts: false
          tasks:
            - name: Hand the AppRole credentials to the test (a 0600 file)
              ansible.builtin.copy:
                content: "{{ {'role_id': lookup('selfhosted_ai.stack.secret', 'openbao/approle', field='role_id',
                             backend='file', format='hex', length=16),
                             'secret_id': lookup('selfhosted_ai.stack.secret', 'openbao/approle', field='secret_id',
                             backend='file', format='hex', length=24)} | to_json }}"
                dest: "{{ digest_file }}"
                mode: "0600"
              no_log: true
              delegate_to: localhost
        """)
    )
    first = play(inventory, credentials)
    assert first.returncode == 0, first.output[-3000:]
    assert inventory.stored_files() == ['openbao/approle.json']
    ids = yaml.safe_load(first.digest)
    # The openbao role's policy and AppRole, with the ids from the file backend (role-id, custom-secret-id).
    client = openbao.client()
    name = 'playbooks-' + prefix
    client.sys.create_or_update_policy(
        name=name, policy='path "secret/data/%s/*" { capabilities = ["create", "read", "update"] }' % prefix
    )
    client.auth.approle.create_or_update_approle(role_name=name, token_policies=[name], token_ttl='10m')
    client.auth.approle.update_role_id(role_name=name, role_id=ids['role_id'])
    client.auth.approle.create_custom_secret_id(role_name=name, secret_id=ids['secret_id'])

    inventory.secrets_yml(
        """\
        selfhosted_ai_secret_backend: vault
        selfhosted_ai_vault_url: %s
        selfhosted_ai_secret_path_prefix: %s
        selfhosted_ai_vault_role_id: "{{ lookup('selfhosted_ai.stack.secret', 'openbao/approle', field='role_id', backend='file') }}"
        selfhosted_ai_vault_secret_id: "{{ lookup('selfhosted_ai.stack.secret', 'openbao/approle', field='secret_id', backend='file') }}"
        """
        % (openbao.url, prefix)
    )
    second = play(inventory)
    assert second.returncode == 0, second.output[-3000:]
    stored = openbao.read_kv2(prefix + '/stack/probe')
    assert stored is not None and second.digest == digest(stored['value'])
    # The file backend still holds only the AppRole credentials; the stack's secret went to OpenBao.
    assert inventory.stored_files() == ['openbao/approle.json']
    for secret_value in ids.values():
        assert secret_value not in second.output
