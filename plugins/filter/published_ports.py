# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r"""
name: published_ports
short_description: Docker published_ports entries for a port on a list of host addresses
version_added: 0.1.0
author:
  - selfhosted_ai.stack maintainers (@selfhosted-ai)
description:
  - Returns C(<address>:<host port>:<container port>) for each address, with IPv6 addresses in brackets as
    Docker requires. An empty address list, empty addresses or a host port of 0 give no entry.
positional: host_port, container_port
options:
  _input:
    description: Host addresses (a list, or one address as a string).
    type: raw
    required: true
  host_port:
    description: Port on the host; 0 publishes nothing.
    type: int
    required: true
  container_port:
    description: Port inside the container.
    type: int
    required: true
"""

EXAMPLES = r"""
published_ports: "{{ ['127.0.0.1', 'fd00::5'] | selfhosted_ai.stack.published_ports(5432, 5432) }}"
# => ['127.0.0.1:5432:5432', '[fd00::5]:5432:5432']
"""

RETURN = r"""
_value:
  description: Entries for community.docker.docker_container's published_ports.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.selfhosted_ai.stack.plugins.plugin_utils._addresses import docker_host_part


def published_ports(addresses, host_port, container_port):
    if isinstance(addresses, str):
        addresses = [addresses]
    try:
        host_port, container_port = int(host_port), int(container_port)
    except (TypeError, ValueError):
        raise AnsibleFilterError(
            'published_ports: the ports must be integers, got %r and %r' % (host_port, container_port)
        ) from None
    if host_port == 0:
        return []
    entries = []
    for address in addresses or []:
        address = to_text(address).strip()
        if not address:
            continue
        try:
            entries.append('%s:%d:%d' % (docker_host_part(address), host_port, container_port))
        except ValueError as exc:
            raise AnsibleFilterError('published_ports: %s' % exc) from exc
    return entries


class FilterModule:
    def filters(self):
        return {'published_ports': published_ports}
