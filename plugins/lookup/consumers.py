# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: consumers
short_description: The published data ports of a host and the inventory hosts that use each
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - The other half of the endpoint contract (lookup C(endpoint)). Roles that use a service on another host declare
    it in C(__<role>_consumes) of their C(vars/main.yml) (n8n - PostgreSQL and Valkey of C(n8n_data_host); Open
    WebUI - PostgreSQL of C(open_webui_data_host)). For a host, this lookup returns every service of the collection
    that runs there (by its inventory groups) and is published on an address that is not loopback, with its port
    and the inventory hosts whose declarations name it - what the firewall admits to that port.
  - A service's endpoint may also list C(metrics) (the monitoring role scrapes them, lookup C(scrape_targets)), each
    with its own C(published_port); a declaration with a C(port) names that port, one without it the endpoint's
    C(published_port). Each published port is one entry. C(exclusive) is false for a metrics port the service also
    serves to clients outside this contract (n8n's main port, which the reverse proxy reaches) - the firewall then
    admits the consumers there without dropping the rest.
  - Each declaration is templated for the consuming host with its role's defaults under that host's inventory
    variables, like the endpoint. A consumer's address is its default IPv4 address from its facts, or its
    C(ansible_host) when that is an IPv4 address; a consumer with neither is an error naming it, never skipped.
options:
  _terms:
    description: Services (role names) to report; none - every service the host runs.
    type: list
    elements: str
  host:
    description: The host that runs the services. Default - the current host.
    type: str
  addresses:
    description:
      - Resolve the consumers' addresses into C(sources). False - C(unresolved) lists the consumers without a known
        address instead, whose facts the caller gathers before asking again, and C(sources) holds the addresses of
        the others (the whole answer when C(unresolved) is empty).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The hosts PostgreSQL on this host must admit
  ansible.builtin.debug:
    msg: "{{ query('selfhosted_ai.stack.consumers', 'postgres') }}"
  # [{service: postgres, port: 5432, exclusive: true, consumers: [app1, worker1], sources: [10.20.0.40, 10.20.0.51]}]
"""

RETURN = r"""
_raw:
  description:
    - One mapping per published port of a service - service, port, exclusive, consumers (host names) and sources
      (their addresses); with O(addresses=false) also unresolved, and sources of the resolved consumers only.
  type: list
  elements: dict
"""

import ipaddress

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import (
    ROLE_GROUPS,
    RoleScope,
    outside_addresses,
)


def _ipv4(value):
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        return None


def source_address(hostvars, host):
    """The address a consumer connects from: its default IPv4 address, else an IPv4 ansible_host; or None."""
    facts = hostvars[host].get('ansible_facts') or {}
    return _ipv4((facts.get('default_ipv4') or {}).get('address', '')) or _ipv4(hostvars[host].get('ansible_host', ''))


def published_ports(endpoint):
    """{host port: exclusive} of what the endpoint publishes outside loopback: its port and its metrics' ports."""
    if not outside_addresses(endpoint):
        return {}
    ports = {}
    main = int(endpoint.get('published_port') or 0)
    if main > 0:
        ports[main] = True
    for metric in endpoint.get('metrics') or []:
        port = int(metric.get('published_port') or 0)
        if port > 0:
            ports[port] = ports.get(port, False) or not metric.get('shared', False)
    return ports


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        host = self.get_option('host') or variables.get('inventory_hostname')
        hostvars = variables.get('hostvars') or {}
        if host not in hostvars:
            raise AnsibleLookupError(f'consumers: host {host!r} is not in the inventory')
        scope = RoleScope(self._loader, self._templar, variables, 'consumers')
        services = list(terms) or [role for role in ROLE_GROUPS if scope.declares(role, 'endpoint')]
        declared = None
        result = []
        for service in services:
            if host not in scope.hosts_running(service):
                continue
            endpoint = scope.template(service, 'endpoint', host)
            ports = published_ports(endpoint)
            if not ports:
                continue
            if declared is None:
                declared = self._declarations(scope)
            main = int(endpoint.get('published_port') or 0)
            for port, exclusive in ports.items():
                consumers = sorted(
                    {c for c, (s, h, p) in declared if (s, h) == (service, host) and (p or main) == port and c != host}
                )
                entry = {'service': service, 'port': port, 'exclusive': exclusive, 'consumers': consumers}
                if self.get_option('addresses'):
                    entry['sources'] = [self._address(hostvars, c, service, host) for c in consumers]
                else:
                    known = {c: source_address(hostvars, c) for c in consumers}
                    entry['unresolved'] = [c for c in consumers if known[c] is None]
                    entry['sources'] = [known[c] for c in consumers if known[c] is not None]
                result.append(entry)
        return result

    @staticmethod
    def _declarations(scope):
        """(consumer, (service, service host, port or 0)) for every declaration of every role, on the hosts running it."""
        used = []
        for role in ROLE_GROUPS:
            if not scope.declares(role, 'consumes'):
                continue
            for consumer in scope.hosts_running(role):
                for entry in scope.template(role, 'consumes', consumer):
                    used.append((consumer, (entry['service'], entry['host'], int(entry.get('port') or 0))))
        return used

    @staticmethod
    def _address(hostvars, consumer, service, host):
        address = source_address(hostvars, consumer)
        if address is None:
            raise AnsibleLookupError(
                f'consumers: {consumer} uses {service} on {host}, whose firewall admits it by address, but {consumer} '
                f'has no known IPv4 address: gather its facts (include it in --limit) or set its ansible_host to its IP'
            )
        return address
