"""IPv4 blocks as users write them in arguments."""

import ipaddress
from typing import Any


def ipv4_network(value: Any) -> ipaddress.IPv4Network | None:
    """Return the IPv4 block ``value`` lies in (host bits cleared), or None when it is not one."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None
