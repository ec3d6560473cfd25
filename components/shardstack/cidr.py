"""CIDR blocks as users write them in arguments and in the stack config."""

import contextlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import ListOf, Text
from shardstack.specs.problem import Path, Problem


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


INTERNET_SHARE = 0.5
"""Blocks that together cover this share of IPv4's or IPv6's addresses, or more, are the whole internet in all but
name: no network that needs to reach one API is that big (0.0.0.0/1 and 128.0.0.0/1 are 0.0.0.0/0)."""


WHOLE_INTERNET_REFUSED = (
    f"Blocks that cover {INTERNET_SHARE:.0%} of the internet or more, alone or together (0.0.0.0/0, or 0.0.0.0/1 "
    "with 128.0.0.0/1), are refused."
)
"""How the argument docs state the rule of :func:`internet_coverage`."""


def internet_coverage(blocks: Iterable[Any]) -> str | None:
    """How much of the internet ``blocks`` cover together ('all of IPv4', '75% of IPv6') when it is
    :data:`INTERNET_SHARE` or more, judged by the addresses they span, not their spelling; else None. Values that
    are not CIDR blocks are skipped: their own check names them."""
    networks: dict[int, list[Any]] = {4: [], 6: []}
    for block in blocks:
        with contextlib.suppress(ValueError, TypeError):
            network = ipaddress.ip_network(block, strict=False)
            networks[network.version].append(network)
    for version, found in networks.items():
        space = 2 ** (32 if version == 4 else 128)
        covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(found))
        if covered >= INTERNET_SHARE * space:
            return f"{'all' if covered == space else f'{covered / space:.0%}'} of IPv{version}"
    return None


def _opens_to_the_internet(what: str, instead: str, coverage: str) -> str:
    alternative = f", or {instead}" if instead else ""
    return (
        f"would open {what} to the whole internet ({coverage}); list the networks that need to reach it (e.g. your "
        f"office or VPN egress){alternative}"
    )


@dataclass(frozen=True)
class AdmittedNetworks(ListOf):
    """CIDR blocks admitted to ``what``, each once: never the whole internet, alone or together."""

    what: str = "it"
    instead: str = ""
    """What else the user may do instead ('keep private_endpoint True')."""

    def problems(self, value: Any, path: Path) -> list[Problem]:
        problems = super().problems(value, path)
        if not problems and (coverage := internet_coverage(value)):
            together = f"together {_opens_to_the_internet(self.what, self.instead, coverage)}"
            problems.append(Problem(path, together, list(value)))
        return problems


def admitted_networks(what: str, instead: str = "") -> AdmittedNetworks:
    """Return the kind of the CIDR blocks admitted to ``what`` ('the Kubernetes API'): never the whole internet,
    alone or together; ``instead`` is what else the user may do ('keep private_endpoint True')."""

    def reason(value: str) -> str | None:
        found = cidr_reason(value)
        if found is None and (coverage := internet_coverage([value])):
            return _opens_to_the_internet(what, instead, coverage)
        return found

    return AdmittedNetworks(CidrBlock(CIDR_BLOCK.description, reason), unique=True, what=what, instead=instead)


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
