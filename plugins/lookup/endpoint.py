# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: endpoint
short_description: How to reach a service of the stack on a host, as the service's own role defines it
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - The endpoint contract. Each role that other roles and plays use (C(postgres), C(valkey), C(object_store),
    C(openbao)) defines its endpoint once, in C(__<role>_endpoint) of its C(vars/main.yml) - container name,
    network, port, published addresses and port, admin user, admin secret name and the secret's generator
    parameters. Consumers read it through this lookup instead of restating the role's defaults.
  - The endpoint is templated with the role's defaults under the host's inventory variables and facts, as if
    the role ran on that host. It needs neither the role nor a fact of its own, so a run with C(--limit) gets
    the same answer as a full run; a value it cannot compute (facts of a host that was never gathered, say) is
    an error naming the host, never a guess.
  - The result adds where the caller reaches the service - C(address) and C(reach_port) - on the same host, the
    container on the stack network; from another host, the first published address that is not loopback, at
    the published port. A service that is not published where another host can reach it is an error for that
    host, with the variables to set.
options:
  _terms:
    description: Role names whose endpoint to return.
    type: list
    elements: str
    required: true
  host:
    description: The inventory host that runs the service. Default - the current host.
    type: str
  from_host:
    description: The inventory host that connects to it (decides C(address) and C(reach_port)). Default - the current host.
    type: str
"""

EXAMPLES = r"""
- name: PostgreSQL of the data host, as n8n on this host reaches it
  ansible.builtin.set_fact:
    n8n_db: "{{ lookup('selfhosted_ai.stack.endpoint', 'postgres', host=groups['data'][0]) }}"
  # n8n_db.address, n8n_db.reach_port, n8n_db.container, n8n_db.admin_secret ...
"""

RETURN = r"""
_raw:
  description:
    - One mapping per term - the role's C(__<role>_endpoint) templated for O(host), plus C(host), C(address) and
      C(reach_port) as seen from O(from_host).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import RoleScope, outside_addresses


def reach(endpoint, host, from_host):
    """Add address and reach_port: the container on the same host, else a published, non-loopback address."""
    if host == from_host:
        return dict(endpoint, host=host, address=endpoint['container'], reach_port=int(endpoint['port']))
    published = outside_addresses(endpoint)
    if int(endpoint.get('published_port') or 0) <= 0 or not published:
        # The role's variables are named <prefix>_published_port and <prefix>_published_addresses.
        prefix = endpoint.get('variable_prefix') or endpoint['service']
        raise AnsibleLookupError(
            f'endpoint: {endpoint["service"]} on {host} is not published where {from_host} can reach it (published on '
            f'{endpoint.get("published_addresses")}, port {endpoint.get("published_port")}): set '
            f'{prefix}_published_port and a private address of {host} in {prefix}_published_addresses'
        )
    return dict(endpoint, host=host, address=published[0], reach_port=int(endpoint['published_port']))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        here = variables.get('inventory_hostname')
        host = self.get_option('host') or here
        from_host = self.get_option('from_host') or here
        hostvars = variables.get('hostvars') or {}
        for name in (host, from_host):
            if name not in hostvars:
                raise AnsibleLookupError(f'endpoint: host {name!r} is not in the inventory')
        scope = RoleScope(self._loader, self._templar, variables, 'endpoint')
        return [reach(dict(scope.template(role, 'endpoint', host), service=role), host, from_host) for role in terms]
