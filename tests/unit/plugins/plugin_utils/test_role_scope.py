# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RoleScope: ROLE_GROUPS agrees with the playbooks; a worker templates each declaration once."""

from pathlib import Path

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils import _role_scope
from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import ROLE_GROUPS, RoleScope

PLAYBOOKS = Path(__file__).resolve().parents[4] / 'playbooks'
PREFIX = 'selfhosted_ai.stack.'


def groups_running_roles():
    """role -> the groups its plays name (exclusions such as n8n_workers:!n8n_main only narrow those)."""
    found = {}
    for path in sorted(PLAYBOOKS.glob('0[0-9]_*.yml')):
        for play in yaml.safe_load(path.read_text()) or []:
            if 'hosts' not in play:
                continue
            groups = [g for g in str(play['hosts']).split(':') if g and not g.startswith('!')]
            # The plays import their roles as tasks (rolespec_validate: false); a role's tasks_from alone (a pull) is
            # not the role running there.
            roles = [entry['role'] if isinstance(entry, dict) else entry for entry in play.get('roles', [])]
            roles += [
                task['ansible.builtin.import_role']['name']
                for task in play.get('tasks', [])
                if 'ansible.builtin.import_role' in task and 'tasks_from' not in task['ansible.builtin.import_role']
            ]
            for role in roles:
                found.setdefault(role.removeprefix(PREFIX), set()).update(groups)
    return found


def test_role_groups_are_the_playbooks_groups():
    found = groups_running_roles()
    for role, groups in ROLE_GROUPS.items():
        assert set(groups) == found.get(role), (
            f'{role}: ROLE_GROUPS says {sorted(groups)}, the playbooks {sorted(found.get(role, []))}'
        )


class InventoryHostvars(dict):
    """hostvars as the lookups see them: a host's variables by name, raw_get giving them untemplated."""

    def raw_get(self, host):
        return self[host]


class CountingTemplar:
    """A real Templar that counts the templars RoleScope makes (one per templated declaration)."""

    def __init__(self):
        self.templar = Templar(loader=DataLoader())
        self.made = 0

    def copy_with_new_env(self, **kwargs):
        self.made += 1
        return self.templar.copy_with_new_env(**kwargs)


@pytest.fixture
def role_scope(monkeypatch):
    """A RoleScope over one host, data1, with its templar's count, and no declaration templated before."""
    monkeypatch.setattr(_role_scope, '_TEMPLATED', {}, raising=False)
    hostvars = InventoryHostvars(data1={'postgres_container_name': 'pg-one', 'postgres_published_port': 5433})
    templar = CountingTemplar()
    scope = RoleScope(DataLoader(), templar, {'hostvars': hostvars, 'groups': {'data': ['data1']}}, 'test')
    return scope, templar, hostvars


def test_a_worker_templates_a_declaration_once_and_hands_out_copies(role_scope, monkeypatch):
    scope, templar = role_scope[:2]
    monkeypatch.setattr('multiprocessing.parent_process', object)  # a worker has a parent
    first = scope.template('postgres', 'endpoint', 'data1')
    first['container'] = 'changed by a caller'
    second = scope.template('postgres', 'endpoint', 'data1')
    assert templar.made == 1
    assert second['container'] == 'pg-one' and second['published_port'] == 5433


def test_the_main_process_templates_each_time_with_the_host_variables_of_now(role_scope, monkeypatch):
    scope, templar, hostvars = role_scope
    monkeypatch.setattr('multiprocessing.parent_process', lambda: None)
    assert scope.template('postgres', 'endpoint', 'data1')['container'] == 'pg-one'
    hostvars['data1']['postgres_container_name'] = 'pg-two'  # a set_fact between two tasks
    assert scope.template('postgres', 'endpoint', 'data1')['container'] == 'pg-two'
    assert templar.made == 2
