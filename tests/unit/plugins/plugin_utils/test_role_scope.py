# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ROLE_GROUPS (which inventory groups run which role, for the endpoint contract) agrees with the playbooks."""

from pathlib import Path

import yaml

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import ROLE_GROUPS

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
