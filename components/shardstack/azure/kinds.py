"""What Azure values are, as argument kinds (see :mod:`shardstack.specs.kinds`): regions, resource group names,
resource IDs, private address ranges, Entra object IDs. Each says what it allows and refuses a value with the
reason, so that every Azure component and the stack config word the same mistake the same way.

Values that are Pulumi Outputs are not known yet: the kinds that take them (``Input(...)``) never refuse them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shardstack.azure.arm import (
    GUID_PATTERN,
    LOCATION,
    RESOURCE_GROUP_NAME,
    SUBNET_ID,
    SUBNET_ID_EXAMPLE,
    VNET_ID,
    VNET_ID_EXAMPLE,
    ZONES,
)
from shardstack.azure.tags import AZURE_TAGS
from shardstack.cidr import ipv4_network
from shardstack.errors import one_of
from shardstack.specs.kinds import Input, Kind, Shaped
from shardstack.specs.problem import Path, Problem
from shardstack.specs.spec import Values

GUID_EXAMPLE = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

PRINCIPAL_TYPES: tuple[str, ...] = ("User", "Group", "ServicePrincipal")
"""What a role assignment's principal is ('ServicePrincipal' also for managed identities). Azure refuses an
assignment whose type does not match the principal (UnmatchedPrincipalType), so the type must be right, and
the SDK would otherwise say 'User'."""

PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""RFC 1918 private and RFC 6598 shared address space: ranges that route nowhere outside the network."""
AKS_RESERVED_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
"""Ranges AKS refuses in a cluster's VNet, pod and service ranges."""


class Region(Kind):
    """An Azure region name such as 'eastus'; a display name such as 'East US' gets its region name as a hint."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return "an Azure region name such as 'eastus' or 'westeurope'"

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and LOCATION.fullmatch(value):
            return None
        hint = ""
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ]*", value):
            hint = f" ({value!r} looks like a display name; its region name is {value.replace(' ', '').lower()!r})"
        return f"is not {self.allowed}{hint}"


@dataclass(frozen=True)
class PrivateRange(Kind):
    """An IPv4 block of a VNet or an AKS cluster: no host bits, a size from ``prefixes[0]`` (largest) to
    ``prefixes[1]`` (smallest), private and clear of the ranges AKS reserves."""

    example: str
    """A valid range, shown in messages (the argument's default)."""
    prefixes: tuple[int, int]
    holds: str
    """What the range holds, to explain its size limits."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return f"a private IPv4 CIDR block from a /{self.prefixes[0]} to a /{self.prefixes[1]}, e.g. {self.example!r}"

    def reason(self, value: Any) -> str | None:
        block = ipv4_network(value)
        largest, smallest = self.prefixes
        if block is None:
            return f"is not an IPv4 CIDR block: use e.g. {self.example!r}"
        if block.with_prefixlen != value:
            return f"has host bits set; the block it lies in is {block.with_prefixlen!r}"
        if not largest <= block.prefixlen <= smallest:
            return f"is a /{block.prefixlen}; use a /{largest} to a /{smallest}: {self.holds}"
        if not any(block.subnet_of(private) for private in PRIVATE_RANGES):
            return (
                "is not a private range: use RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) "
                f"or RFC 6598 (100.64.0.0/10) space, e.g. {self.example!r}"
            )
        reserved = [str(r) for r in AKS_RESERVED_RANGES if block.overlaps(r)]
        if reserved:
            return f"overlaps {', '.join(reserved)}, which AKS reserves; use e.g. {self.example!r}"
        return None


def shown_range(values: Values, key: str) -> str:
    """Return ``key=<value>`` as given, or ``key=<default> (the default)``, for a message about two ranges."""
    shown = f"{key}={values[key]!r}"
    return shown if values.given(key) else f"{shown} (the default)"


def range_block(values: Values, key: str) -> ipaddress.IPv4Network | None:
    """The range ``key`` as a block, or None when it is an Output (known once it resolves)."""
    return ipv4_network(values[key]) if key in values else None


class Zones(Kind):
    """Availability zones of a region, as ARM names them ('1', '2', '3'), each once."""

    @property
    def annotation(self) -> str:
        return "Sequence[str]"

    @property
    def allowed(self) -> str:
        return "a list of availability zones like ['1', '2']"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            return [Problem(path, f"must be {self.allowed}", value)]
        if not value:
            reason = "must list at least one zone (leave it out to place the nodes without zone pinning)"
            return [Problem(path, reason, list(value))]
        problems: list[Problem] = []
        seen: set[str] = set()
        for i, zone in enumerate(value):
            if zone not in ZONES:
                hint = f" (write it as a string: {str(zone)!r})" if str(zone) in ZONES else ""
                reason = f"is not an Azure availability zone; use {one_of(ZONES)}{hint}"
                problems.append(Problem((*path, i), reason, zone))
            elif zone in seen:
                problems.append(Problem((*path, i), "is listed twice; give each zone once", zone))
            else:
                seen.add(zone)
        return problems


@dataclass(frozen=True)
class IdList(Kind):
    """A list of Azure IDs of one ``item`` kind, each once in any case (ARM and Entra IDs ignore case)."""

    item: Kind
    what: str
    """What the list holds, in the plural: 'Microsoft Entra object IDs'."""

    @property
    def annotation(self) -> str:
        return f"Sequence[{self.item.annotation}]"

    @property
    def allowed(self) -> str:
        return f"a list of {self.what}"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            found = self.item.problems(item, (*path, i))
            if found:
                problems += found
            elif isinstance(item, str) and item.lower() in seen:
                problems.append(Problem((*path, i), "is listed twice", item))
            elif isinstance(item, str):
                seen.add(item.lower())
        return problems


REGION = Region()
GROUP_NAME = Shaped(
    "a resource group name: 1 to 90 letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
    re.compile(RESOURCE_GROUP_NAME.pattern + r"(?<!\.)"),
    "is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
)
"""The name of a resource group a component creates."""
RESOURCE_GROUP = Input(GROUP_NAME)
"""The name of a resource group to place things in (another component's output, often)."""
SUBNET = Input(
    Shaped(
        f"a subnet resource ID, {SUBNET_ID_EXAMPLE}", SUBNET_ID, f"is not a subnet resource ID: use {SUBNET_ID_EXAMPLE}"
    )
)
VNET = Input(
    Shaped(
        f"a virtual network resource ID, {VNET_ID_EXAMPLE}",
        VNET_ID,
        f"is not a virtual network resource ID: use {VNET_ID_EXAMPLE}",
    )
)
AVAILABILITY_ZONES = Zones()
ENTRA_OBJECT_ID = Shaped(
    "a Microsoft Entra object ID",
    re.compile(GUID_PATTERN),
    f"is not a Microsoft Entra object ID: use the principal's object ID, a GUID such as {GUID_EXAMPLE!r} (not a "
    "name, email or client ID URI)",
)
PRINCIPAL_IDS = IdList(Input(ENTRA_OBJECT_ID), "Microsoft Entra object IDs")
SUBNET_IDS = IdList(SUBNET, "subnet resource IDs")
TAGS = AZURE_TAGS
