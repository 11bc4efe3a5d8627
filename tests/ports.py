"""Free TCP ports for the servers the tests start on 127.0.0.1.

A port is chosen below the kernel's ephemeral range: ports in that range are also handed to outgoing
connections, so a port found free there can be taken before the server binds it, even by the server's
own components connecting to each other (SeaweedFS's filer lost its gRPC port that way on CI).
"""

from __future__ import annotations

import random
import socket

# the ports handed out in this process, so that a server asking for several never gets one twice
_GIVEN: set[int] = set()


def _ephemeral_start() -> int:
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default range is 32768-60999


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    high = _ephemeral_start()
    low = max(1024, high - 12000)
    for dummy in range(200):
        port = random.randrange(low, high)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError('no free TCP port on 127.0.0.1 between %d and %d' % (low, high - 1))
