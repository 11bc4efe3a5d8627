# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host addresses a service may be published on, and Docker's port syntax for them.

Shared by the ``published_ports`` filter and the ``loopback_address``/``private_address`` tests.
"""

import ipaddress

# Python's is_private also counts 0.0.0.0/8 and documentation ranges; a service must only be
# published where the firewall's trusted networks can reach it, so the networks are listed here.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        '10.0.0.0/8',
        '172.16.0.0/12',
        '192.168.0.0/16',  # RFC 1918
        '100.64.0.0/10',  # RFC 6598 shared address space (carrier-grade NAT, Tailscale)
        'fc00::/7',  # RFC 4193 unique local IPv6
    )
)


def parse(value):
    """The address as an ipaddress object, or None when it is not a plain IPv4/IPv6 address."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip('[]') if value.startswith('[') else value)
    except ValueError:
        return None


def is_loopback(value):
    address = parse(value)
    return address is not None and address.is_loopback


def is_private(value):
    """Loopback or a private network; never the unspecified address (0.0.0.0, ::) or a public one."""
    address = parse(value)
    if address is None:
        return False
    return address.is_loopback or any(address in net for net in PRIVATE_NETWORKS if net.version == address.version)


def docker_host_part(value):
    """Docker writes an IPv6 host address in brackets: [fd00::5]:5432:5432."""
    address = parse(value)
    if address is None:
        raise ValueError('%r is not an IPv4 or IPv6 address' % (value,))
    return '[%s]' % address if address.version == 6 else str(address)
