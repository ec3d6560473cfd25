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


def sized_ipv4_block(
    arg: str, value: Any, example: str, prefixes: tuple[int, int], holds: str
) -> ipaddress.IPv4Network | str:
    """Return the IPv4 block ``value`` (given as ``arg``) when it is one, without host bits, of a size from a
    /``prefixes[0]`` (largest) to a /``prefixes[1]`` (smallest); else why not (``example`` is a valid value,
    ``holds`` says what the range holds, to explain its size)."""
    block = ipv4_network(value)
    largest, smallest = prefixes
    if block is None:
        return f"{arg}={value!r} is not an IPv4 CIDR block: use e.g. {example!r}"
    if block.with_prefixlen != value:
        return f"{arg}={value!r} has host bits set; the block it lies in is {block.with_prefixlen!r}"
    if not largest <= block.prefixlen <= smallest:
        return f"{arg}={value!r} is a /{block.prefixlen}; use a /{largest} to a /{smallest}: {holds}"
    return block
