# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A role's variables as they are on an inventory host, without running the role there.

The endpoint contract (lookups endpoint and consumers) templates what a role declares in its
vars/main.yml with the role's defaults under the host's inventory variables and facts: Ansible's
precedence for that host (role vars over inventory and facts over role defaults).
"""

import copy
import multiprocessing
import re
from pathlib import Path

from ansible.errors import AnsibleError, AnsibleLookupError

ROLES_DIR = Path(__file__).resolve().parents[2] / 'roles'
_ROLE_NAME = re.compile(r'^[a-z][a-z0-9_]*$')

# The inventory groups whose hosts run each role (playbooks/00_infrastructure.yml ... 03_apps.yml;
# tests/unit/plugins/plugin_utils/test_role_scope.py checks that the playbooks agree).
ROLE_GROUPS = {
    'postgres': ('data',),
    'valkey': ('data',),
    'object_store': ('data', 'backup_store'),
    'openbao': ('vault',),
    'n8n': ('n8n_main', 'n8n_webhook', 'n8n_workers'),
    'qdrant': ('data',),
    'neo4j': ('data',),
    'open_webui': ('apps',),
    'searxng': ('searxng',),
    'flowise': ('flowise',),
    # Langfuse runs with its own ClickHouse on the one host of group langfuse (roles/langfuse/README.md).
    'clickhouse': ('langfuse',),
    'langfuse': ('langfuse',),
    'comfyui': ('comfyui',),
    # Supabase (its own supabase/postgres) on the hosts of group supabase, the data host usually.
    'supabase': ('supabase',),
    'reverse_proxy': ('proxy',),
    # Tenants' apps (group tenant_apps, else apps: the role decides) and their routes on the proxy hosts.
    'tenant_apps': ('tenant_apps', 'apps', 'proxy'),
    'backup': ('backup',),
    'exporters': ('docker_hosts',),
    'monitoring': ('monitoring',),
}

# The role files RoleScope read in this process, by path.
_LOADED = {}

# Templated declarations by (role, name, host), in a worker process only. A worker runs one task for one host and
# sees the inventory and facts as they were when it started (set_fact's results reach the main process after the
# task), so a declaration templates the same way all through it: the lookups of one task (consumers templates the
# monitoring role's consumes, which asks scrape_targets for every role's endpoint again) template each one once.
# The main process keeps none: its facts change from task to task.
_TEMPLATED = {}

_LOOPBACK = re.compile(r'^(127\.|::1$|\[::1\]$|localhost$)')


def outside_addresses(endpoint):
    """The endpoint's published addresses another host can reach (not loopback), in their order."""
    return [str(a) for a in endpoint.get('published_addresses') or [] if str(a) and not _LOOPBACK.match(str(a))]


class RoleScope:
    """Templates ``__<role>_<name>`` of a role for an inventory host (``variables``: a lookup's variables)."""

    def __init__(self, loader, templar, variables, plugin):
        self._loader = loader
        self._templar = templar
        self._variables = variables
        self._plugin = plugin

    def _load(self, path):
        # Parsed once per process and shared (read only): a task's lookups may read every role's files (consumers does),
        # and Ansible's loader hands out a deep copy of its cached parse on each call.
        if path not in _LOADED:
            found = path.is_file() and self._loader.load_from_file(str(path), trusted_as_template=True)
            _LOADED[path] = found or {}
        return _LOADED[path]

    def declares(self, role, name):
        """Whether the role's vars/main.yml declares ``__<role>_<name>``."""
        return f'__{role}_{name}' in self._load(ROLES_DIR / role / 'vars' / 'main.yml')

    def template(self, role, name, host):
        if not isinstance(role, str) or not _ROLE_NAME.match(role) or not (ROLES_DIR / role).is_dir():
            raise AnsibleLookupError(f'{self._plugin}: {role!r} is not a role of this collection')
        role_vars = self._load(ROLES_DIR / role / 'vars' / 'main.yml')
        declared = role_vars.get(f'__{role}_{name}')
        if declared is None:
            raise AnsibleLookupError(
                f'{self._plugin}: the {role} role defines no {name} (__{role}_{name} in vars/main.yml)'
            )
        hostvars = self._variables['hostvars']
        if host not in hostvars:
            raise AnsibleLookupError(f'{self._plugin}: host {host!r} is not in the inventory')
        remember = multiprocessing.parent_process() is not None
        if remember and (role, name, host) in _TEMPLATED:
            return copy.deepcopy(_TEMPLATED[role, name, host])
        # The host's variables untemplated, so they template in this one scope.
        scope = {
            **self._load(ROLES_DIR / role / 'defaults' / 'main.yml'),
            **hostvars.raw_get(host),
            **role_vars,
            'inventory_hostname': host,
            'hostvars': hostvars,
            'groups': self._variables.get('groups', {}),
        }
        templar = self._templar.copy_with_new_env(available_variables=scope)
        try:
            templated = templar.template(declared)
        except AnsibleError as exc:
            raise AnsibleLookupError(
                f'{self._plugin}: the {role} {name} of {host} cannot be computed ({exc.message}). If it needs facts of '
                f'{host}, gather them in this run (include {host} in --limit) or keep them in the fact cache.'
            ) from None
        if remember:
            _TEMPLATED[role, name, host] = copy.deepcopy(templated)
        return templated

    def hosts_running(self, role):
        """The inventory hosts of the role's groups (ROLE_GROUPS), in inventory order, once each."""
        groups = self._variables.get('groups', {})
        return list(dict.fromkeys(h for group in ROLE_GROUPS.get(role, ()) for h in groups.get(group, [])))
