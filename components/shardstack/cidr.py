"""CIDR blocks as users write them in arguments and in the stack config."""

import contextlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import Text


def cidr_reason(value: str) -> str | None:
    """Why ``value`` is not a CIDR block (IPv4 or IPv6, without host bits), or None."""
    try:
        if "/" not in value:
            raise ValueError(value)
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "is not a CIDR block like '203.0.113.0/24'"
    if network.with_prefixlen != value:
        return f"has host bits set; the network it is in is {network.with_prefixlen!r}"
    return None


@dataclass(frozen=True)
class CidrBlock(Text):
    """A CIDR block; in a stack config a single address stands for its own block ('203.0.113.7' is a /32)."""

    def from_text(self, value: Any) -> Any:
        if isinstance(value, str) and "/" not in value:
            with contextlib.suppress(ValueError):
                return ipaddress.ip_network(value.strip()).with_prefixlen
        return value


CIDR_BLOCK = CidrBlock("a CIDR block like '203.0.113.0/24'", cidr_reason)
"""A block of client addresses (IPv4 or IPv6): who may reach an API, a firewall's allowed networks."""


def admitted_networks(what: str, instead: str = "") -> CidrBlock:
    """Return the kind of the CIDR blocks admitted to ``what`` ('the Kubernetes API'): never the whole internet;
    ``instead`` is what else the user may do ('keep private_endpoint True')."""

    def reason(value: str) -> str | None:
        found = cidr_reason(value)
        if found is None and ipaddress.ip_network(value).prefixlen == 0:
            alternative = f", or {instead}" if instead else ""
            return (
                f"would open {what} to the whole internet; list the networks that need to reach it (e.g. your "
                f"office or VPN egress){alternative}"
            )
        return found

    return CidrBlock(CIDR_BLOCK.description, reason)


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
