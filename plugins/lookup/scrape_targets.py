# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: scrape_targets
short_description: The metrics endpoints of the inventory, as Prometheus on this host reaches them
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Every role whose endpoint (lookup C(endpoint)) lists C(metrics) - the exporters, OpenBao, Caddy, n8n - says there
    what it serves to Prometheus on a host - C(job), C(container), C(port), C(published_port), C(path) (default
    C(/metrics)), C(params) and C(shared) (the port also serves clients outside the firewall's contract). This lookup
    templates those endpoints for every inventory host that runs the role (its inventory groups) and returns one
    target per metric.
  - The address is the container on the stack network when the target runs on the current host, else the first
    published address that is not loopback, at the metric's published port. A target on another host that is not
    published where Prometheus can reach it is an error naming the host and the variables to set, never left out.
  - The monitoring role declares the remote targets it scrapes as its C(consumes) (lookup C(consumers)), so their
    hosts' firewalls admit the monitoring hosts to those ports and no one else.
options:
  _terms:
    description: Roles whose metrics to return; none - every role that declares metrics.
    type: list
    elements: str
  hosts:
    description: Only targets on these inventory hosts. Default - every host.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: What Prometheus on this host scrapes
  ansible.builtin.debug:
    msg: "{{ query('selfhosted_ai.stack.scrape_targets') }}"
  # [{job: node, service: exporters, host: data1, address: 10.20.0.20:9100, path: /metrics, params: {}, remote: true,
  #   published_port: 9100}, {job: openbao, service: openbao, host: edge1, address: openbao:8200, ...}]
"""

RETURN = r"""
_raw:
  description:
    - One mapping per target - job, service (the role), host, address (host:port as Prometheus reaches it), path,
      params, remote (on another host) and published_port.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._role_scope import (
    ROLE_GROUPS,
    RoleScope,
    outside_addresses,
)


def target(endpoint, metric, service, host, here):
    """One scrape target of ``metric`` (an entry of the endpoint's metrics) on ``host``, seen from ``here``."""
    base = {
        'job': metric['job'],
        'service': service,
        'host': host,
        'path': metric.get('path') or '/metrics',
        'params': metric.get('params') or {},
        'remote': host != here,
        'published_port': int(metric.get('published_port') or 0),
    }
    if host == here:
        return dict(base, address=f'{metric["container"]}:{int(metric["port"])}')
    addresses = outside_addresses(endpoint)
    if base['published_port'] <= 0 or not addresses:
        raise AnsibleLookupError(
            f'scrape_targets: the {metric["job"]} metrics ({service} role) on {host} are not published where Prometheus on {here} can '
            f'reach it (published on {endpoint.get("published_addresses")}, port {base["published_port"]}): publish '
            f"it on a private address of {host} (see the {service} role's README, metrics), or leave {host} out of "
            f'monitoring_exporter_hosts'
        )
    return dict(base, address=f'{addresses[0]}:{base["published_port"]}')


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        here = variables.get('inventory_hostname')
        only = self.get_option('hosts')
        scope = RoleScope(self._loader, self._templar, variables, 'scrape_targets')
        roles = list(terms) or [role for role in ROLE_GROUPS if scope.declares(role, 'endpoint')]
        targets = []
        for role in roles:
            for host in scope.hosts_running(role):
                if only is not None and host not in only:
                    continue
                endpoint = scope.template(role, 'endpoint', host)
                targets.extend(target(endpoint, m, role, host, here) for m in endpoint.get('metrics') or [])
        return targets
