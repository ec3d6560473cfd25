"""The arguments of the Azure WeightStore, declared once (see :mod:`shardstack.specs`): the storage account, its
container, firewall, writers and retention. Generated into ``shardstack/azure/args.py`` with the other Azure specs
(:data:`shardstack.azure.specs.ARGS`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shardstack.azure.kinds import PRINCIPAL_IDS, PRINCIPAL_TYPES, REGION, RESOURCE_GROUP, SUBNET_IDS, TAGS, Shaped
from shardstack.cidr import internet_coverage
from shardstack.limits import RETENTION_DAYS
from shardstack.specs.kinds import Choice, Flag, Kind, Whole
from shardstack.specs.problem import Path, Problem
from shardstack.specs.spec import Arg, Spec

SKUS = ("Standard_LRS", "Standard_ZRS")
"""Locally redundant (three copies in one datacenter) or zone-redundant (across the region's availability
zones). Geo-redundant SKUs are left out: a lost region's weights are re-uploaded, not failed over."""
DEFAULT_SKU = "Standard_LRS"
"""The weights are a copy of a checkpoint kept elsewhere: the cheapest durable SKU is enough."""
DEFAULT_CONTAINER_NAME = "weights"
DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""
DEFAULT_SOFT_DELETE_DAYS = 7
"""Deleted blobs and containers can be restored for a week."""
MAX_SOFT_DELETE_DAYS = 365
"""The longest retention Azure accepts for blob and container soft delete."""
DEFAULT_WRITER_PRINCIPAL_TYPE = "User"
"""The person who uploads the weights from their workstation (listed in allowed_ip_ranges)."""

MIN_ACCOUNT_NAME_LENGTH = 3
MAX_ACCOUNT_NAME_LENGTH = 24
CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")

NON_PUBLIC_BLOCKS = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        *("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),  # RFC 1918, which Azure refuses in IP rules
        *("100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3"),  # never a caller's address
    )
)
"""Addresses no caller on the internet has. Documentation ranges such as 203.0.113.0/24 are allowed: they are
placeholders in examples and stack files, and a rule for them matches nobody."""


class AccountName(Kind):
    """A storage account name: 3 to 24 lowercase letters and digits (each rule it breaks is a problem)."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        least, most = MIN_ACCOUNT_NAME_LENGTH, MAX_ACCOUNT_NAME_LENGTH
        return f"a storage account name: {least} to {most} lowercase letters and digits"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        if not MIN_ACCOUNT_NAME_LENGTH <= len(value) <= MAX_ACCOUNT_NAME_LENGTH:
            reason = f"has {len(value)} characters; a storage account name has 3 to 24"
            problems.append(Problem(path, reason, value))
        if bad := sorted({c for c in value if not (c.isascii() and (c.islower() or c.isdigit()))}):
            reason = (
                f"contains {', '.join(repr(c) for c in bad)}; a storage account name may contain only lowercase "
                "letters and digits"
            )
            problems.append(Problem(path, reason, value))
        return problems


def ip_rule(value: str) -> str:
    """Return an allowed IP range as the storage firewall takes it: a /32 block as its plain address."""
    return value.removesuffix("/32")


def ip_range_reason(value: Any) -> str | None:
    """Why ``value`` cannot be an IP rule of the storage firewall, or None."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "is not an IPv4 address or CIDR block like '203.0.113.7' or '203.0.113.0/24'"
    if not isinstance(network, ipaddress.IPv4Network):
        return "is an IPv6 range; the storage firewall takes IPv4 addresses and blocks only"
    if "/" in value and network.with_prefixlen != value:
        return f"has host bits set; the network it is in is {network.with_prefixlen!r}"
    if coverage := internet_coverage([value]):
        return (
            f"would open the storage account to the whole internet ({coverage}); list the addresses that upload "
            "weights instead"
        )
    if network.prefixlen == 31:
        return (
            "is a /31 block: the storage firewall does not take /31 blocks; list its two addresses instead "
            f"({', '.join(repr(str(a)) for a in network)})"
        )
    if any(network.overlaps(block) for block in NON_PUBLIC_BLOCKS):
        return (
            "is not a public IPv4 range; the storage firewall only matches public addresses (allow private callers "
            "through allowed_subnet_ids)"
        )
    return None


class FirewallIpRanges(Kind):
    """Public IPv4 addresses or CIDR blocks for the storage firewall, each once."""

    @property
    def annotation(self) -> str:
        return "Sequence[str]"

    @property
    def allowed(self) -> str:
        return "a list of IPv4 addresses or CIDR blocks"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            reason = ip_range_reason(item)
            if reason is not None:
                problems.append(Problem((*path, i), reason, item))
            elif ip_rule(item) in seen:
                reason = f"repeats {ip_rule(item)!r}; give each address or block once"
                problems.append(Problem((*path, i), reason, item))
            else:
                seen.add(ip_rule(item))
        if not problems and (coverage := internet_coverage(value)):
            reason = (
                f"together would open the storage account to the whole internet ({coverage}); list the addresses "
                "that upload weights instead"
            )
            problems.append(Problem(path, reason, list(value)))
        return problems


SOFT_DELETE_DAYS = Whole(0, MAX_SOFT_DELETE_DAYS, why="0 turns soft delete off")


WEIGHT_STORE = Spec(
    "WeightStoreArgs",
    "Arguments of WeightStore.",
    (
        Arg(
            "resource_group_name",
            RESOURCE_GROUP,
            "Resource group of the storage account (and of the identities ``grant_read`` creates), e.g. the "
            "Network's ``resource_group_name``.",
            required=True,
        ),
        Arg(
            "location",
            REGION,
            "Azure region of the storage account, e.g. 'eastus': best the cluster's, so that shards load without "
            "cross-region traffic and the node subnet's service endpoint applies.",
            required=True,
        ),
        Arg(
            "account_name",
            AccountName(),
            "Globally unique storage account name: 3 to 24 lowercase letters and digits. It also names the blob "
            "endpoint (``<account>.blob.core.windows.net``).",
            default_doc="the component name's lowercase letters and digits (at most 16) followed by 8 random ones",
        ),
        Arg(
            "sku",
            Choice(SKUS),
            "Redundancy of the storage account: 'Standard_LRS' (three copies in one datacenter) or 'Standard_ZRS' "
            "(across the region's availability zones).",
            default=DEFAULT_SKU,
        ),
        Arg(
            "container_name",
            Shaped(
                "a blob container name",
                CONTAINER_NAME,
                "is not a blob container name: use 3 to 63 lowercase letters, digits and '-', starting and ending "
                "with a letter or digit, without '--'",
            ),
            "Name of the blob container: 3 to 63 lowercase letters, digits and single '-' between them.",
            default=DEFAULT_CONTAINER_NAME,
        ),
        Arg(
            "allowed_subnet_ids",
            SUBNET_IDS,
            "Subnets whose traffic the storage firewall lets through (e.g. the Network's ``node_subnet_id``); each "
            "needs the ``Microsoft.Storage`` service endpoint.",
            default_doc="none",
        ),
        Arg(
            "allowed_ip_ranges",
            FirewallIpRanges(),
            "Public IPv4 addresses ('203.0.113.7') or CIDR blocks ('203.0.113.0/24', at most /30) the storage "
            "firewall lets through, e.g. the machine that uploads the weights. Private ranges are not allowed, and "
            "callers in the account's own region never match: list their subnet instead.",
            default_doc="none",
        ),
        Arg(
            "writer_principal_ids",
            PRINCIPAL_IDS,
            'Microsoft Entra object IDs given "Storage Blob Data Contributor" on the container, to upload the '
            "weights, all of the type ``writer_principal_type``.",
            default_doc="none",
        ),
        Arg(
            "writer_principal_type",
            Choice(PRINCIPAL_TYPES),
            "What every one of ``writer_principal_ids`` is: 'User', 'Group' or 'ServicePrincipal' (also managed "
            "identities and the service principals CI signs in as); Azure refuses a role assignment whose type does "
            "not match.",
            default=DEFAULT_WRITER_PRINCIPAL_TYPE,
        ),
        Arg(
            "noncurrent_version_days",
            RETENTION_DAYS,
            "Days an overwritten or deleted blob version is kept before a lifecycle rule deletes it; at least 1.",
            default=DEFAULT_NONCURRENT_VERSION_DAYS,
        ),
        Arg(
            "soft_delete_days",
            SOFT_DELETE_DAYS,
            "Days a deleted blob (or version) stays restorable: 1 to 365, or 0 to turn blob soft delete off.",
            default=DEFAULT_SOFT_DELETE_DAYS,
        ),
        Arg(
            "container_soft_delete_days",
            SOFT_DELETE_DAYS,
            "Days a deleted container stays restorable: 1 to 365, or 0 to turn container soft delete off.",
            default=DEFAULT_SOFT_DELETE_DAYS,
        ),
        Arg(
            "infrastructure_encryption",
            Flag(),
            "Encrypt the data a second time, at the infrastructure level, with another key and algorithm. Set only "
            "when the account is created: changing it later needs a new account.",
            default=False,
        ),
        Arg(
            "protect",
            Flag(),
            "Protect the storage account and the container from deletion and keep them, with their settings, when "
            "the stack is destroyed; False lets ``pulumi destroy`` delete them.",
            default=True,
        ),
        Arg(
            "tags",
            TAGS,
            "Tags added to the storage account and the identities, next to ``shardstack-component: <name>``.",
            default_doc="none",
        ),
    ),
)
"""WeightStore's arguments."""
