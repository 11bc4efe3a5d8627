# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: backup_sources
short_description: What a host keeps, as the roles that keep it declare it
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - The backup contract. Each role that keeps state declares, in C(__<role>_backup) of its C(vars/main.yml),
    how the backup program saves and restores it - C(method) (one of the program's hooks - C(postgres),
    C(valkey), C(s3), C(volume), C(qdrant), C(neo4j)), the hook's settings (container, volumes, ...),
    C(secrets) (hook settings whose values come from the secret lookup - C(name), optional C(field) and
    generator C(params)) and C(not_started_reason) (the service does not run on this host, so there is
    nothing to back up). Method C(none) with a C(reason) says that the role keeps nothing of its own.
  - Returns one entry per role that runs on the host (its inventory groups) and declares a backup, templated
    with the role's defaults under the host's variables, so a new stateful role is backed up as soon as it
    declares what it keeps - there is no path list to keep in step.
options:
  host:
    description: The inventory host. Default - the current host.
    type: str
"""

EXAMPLES = r"""
- name: The services this host backs up
  ansible.builtin.debug:
    msg: "{{ query('selfhosted_ai.stack.backup_sources') | map(attribute='service') }}"
"""

RETURN = r"""
_raw:
  description:
    - One mapping per service - the role's C(__<role>_backup) with C(service) (the role name) added, and
      C(not_started_reason) (empty when the declaration has none).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import ROLE_GROUPS, RoleScope

REQUIRED = ('method',)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        host = self.get_option('host') or variables.get('inventory_hostname')
        if host not in (variables.get('hostvars') or {}):
            raise AnsibleLookupError(f'backup_sources: host {host!r} is not in the inventory')
        scope = RoleScope(self._loader, self._templar, variables, 'backup_sources')
        sources = []
        for role in ROLE_GROUPS:
            if host not in scope.hosts_running(role) or not scope.declares(role, 'backup'):
                continue
            declared = scope.template(role, 'backup', host)
            if declared.get('method') == 'none':  # the role keeps nothing of its own (its declaration says why)
                continue
            missing = [key for key in REQUIRED if not declared.get(key)]
            if missing:
                raise AnsibleLookupError(f'backup_sources: __{role}_backup declares no {", ".join(missing)}')
            sources.append(dict({'not_started_reason': ''}, **declared, service=role))
        return sources
