"""Network's arguments (and those of an ``existing`` VPC), and how a VPC's range is carved into zones' subnets."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shardstack.aws.specs.kinds import EKS_CLUSTER_NAME, SUBNET_ID, VPC_ID
from shardstack.aws.tags import COMPONENT_TAG, aws_tags
from shardstack.cidr import ipv4_network
from shardstack.specs.kinds import Choice, Flag, ListOf, Record, Shaped, Text, Whole
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

DEFAULT_CIDR_BLOCK = "10.0.0.0/16"
MIN_VPC_PREFIX = 16
"""The largest VPC AWS allows."""
MAX_VPC_PREFIX = 24
"""Smaller VPCs leave too few addresses: the VPC CNI gives every pod an address of its subnet."""
DEFAULT_ZONE_COUNT = 3
MIN_ZONES = 2
"""EKS refuses a cluster whose subnets are not in at least two availability zones."""

NAT_ONE_PER_ZONE = "one_per_zone"
NAT_SINGLE = "single"
NAT_GATEWAY_MODES = (NAT_ONE_PER_ZONE, NAT_SINGLE)
DEFAULT_NAT_GATEWAYS = NAT_ONE_PER_ZONE

CREATION_ARGS = ("cidr_block", "availability_zones", "zone_count", "nat_gateways", "vpc_endpoints", "flow_logs")
"""Arguments that shape a VPC this component creates, meaningless with ``existing``."""
NETWORK_RESERVED_TAG_KEYS = ("Name", COMPONENT_TAG)
"""Set by the Network on each resource."""

# An availability zone name such as 'us-east-1a', 'us-gov-west-1b' or the Local Zone 'us-west-2-lax-1a'.
_ZONE_NAME = re.compile(r"^[a-z]{2}(-[a-z0-9]+)*-\d+[a-z]$")


def _subnets_in_one_role(values: Values) -> Iterator[Problem]:
    private = {s for s in values["private_subnet_ids"] if isinstance(s, str)}
    shared = [s for s in values["public_subnet_ids"] if isinstance(s, str) and s in private]
    if shared:
        yield Problem(
            ("public_subnet_ids",),
            f"lists {', '.join(map(repr, shared))}, also in private_subnet_ids: a subnet is private or public",
            list(values["public_subnet_ids"]),
        )


EXISTING_NETWORK = Spec(
    "ExistingNetwork",
    "A VPC and subnets created elsewhere, used as they are.",
    (
        Arg("vpc_id", VPC_ID, "ID of the VPC, e.g. 'vpc-0123456789abcdef0'.", required=True),
        Arg(
            "private_subnet_ids",
            ListOf(SUBNET_ID, min_items=MIN_ZONES, unique=True),
            "IDs of the private subnets for nodes and pods: at least 2, in different availability zones, with a "
            "route to the internet (NAT) or VPC endpoints, and tagged for EKS (``kubernetes.io/role/internal-elb: "
            "1``).",
            required=True,
        ),
        Arg(
            "public_subnet_ids",
            ListOf(SUBNET_ID, min_items=1, unique=True),
            "IDs of the public subnets for internet-facing load balancers, at least 1, tagged "
            "``kubernetes.io/role/elb: 1``.",
            required=True,
        ),
    ),
    rules=(Rule(("private_subnet_ids", "public_subnet_ids"), _subnets_in_one_role),),
)
"""A Network's ``existing`` VPC."""


def _vpc_cidr_block(value: str) -> str | None:
    vpc = ipv4_network(value)
    if vpc is None:
        return "is not an IPv4 CIDR block: use e.g. '10.0.0.0/16'"
    if vpc.with_prefixlen != value:
        return f"has host bits set; the block it lies in is {vpc.with_prefixlen!r}"
    if not MIN_VPC_PREFIX <= vpc.prefixlen <= MAX_VPC_PREFIX:
        return (
            f"is a /{vpc.prefixlen}; use a /{MIN_VPC_PREFIX} (65,536 addresses, the most AWS allows) to a "
            f"/{MAX_VPC_PREFIX} (256): pods take their addresses from the VPC"
        )
    if vpc.is_loopback or vpc.is_link_local or vpc.is_multicast or vpc.is_reserved or vpc.is_unspecified:
        return (
            "is a reserved range AWS refuses for a VPC: use a private range such as '10.0.0.0/16', "
            "'172.16.0.0/16' or '192.168.0.0/16'"
        )
    return None


def _existing_alone(key: str) -> Rule:
    def check(values: Values) -> Iterator[Problem]:
        if values.present("existing") and values.given(key):
            yield Problem(
                (key,),
                "cannot be combined with existing: existing uses a VPC as it is, so it would be ignored; "
                "drop one of them",
                values[key],
            )

    return Rule((key,), check, present=("existing",))


def _zones_given_once(values: Values) -> Iterator[Problem]:
    if values.given("availability_zones") and values.given("zone_count"):
        yield Problem(
            ("zone_count",),
            f"and availability_zones={list(values['availability_zones'])!r} cannot be combined: give the zone "
            "names, or how many of the region's zones to use",
            values["zone_count"],
        )


def max_zones(vpc_prefix: int) -> int:
    """Return how many zones' private and public subnets fit in a VPC with this prefix length."""
    private_prefix, public_prefix = subnet_prefixes(vpc_prefix)
    return 2 ** (32 - vpc_prefix) // (2 ** (32 - private_prefix) + 2 ** (32 - public_prefix))


# Subnet carving (see shardstack.aws.network.carve_subnets): each private subnet is 1/8 of the VPC, each public
# one 1/64.
PRIVATE_SUBNET_EXTRA_BITS = 3
PUBLIC_SUBNET_EXTRA_BITS = 6
SMALLEST_SUBNET_PREFIX = 28
"""AWS refuses subnets smaller than a /28."""


def subnet_prefixes(vpc_prefix: int) -> tuple[int, int]:
    """Return the prefix lengths of a zone's (private, public) subnets in a VPC with this prefix length."""
    return (
        vpc_prefix + PRIVATE_SUBNET_EXTRA_BITS,
        min(vpc_prefix + PUBLIC_SUBNET_EXTRA_BITS, SMALLEST_SUBNET_PREFIX),
    )


def _zones_fit(values: Values) -> Iterator[Problem]:
    if values.given("existing"):
        return
    cidr = values["cidr_block"]
    vpc = ipv4_network(cidr)
    zones = len(values["availability_zones"]) if values.given("availability_zones") else values["zone_count"]
    if vpc is not None and zones > max_zones(vpc.prefixlen):
        private_prefix, public_prefix = subnet_prefixes(vpc.prefixlen)
        yield Problem(
            ("cidr_block",),
            f"cannot hold {zones} zones: a /{vpc.prefixlen} holds at most {max_zones(vpc.prefixlen)} zones' subnets "
            f"(a private /{private_prefix} and a public /{public_prefix} each); use a larger block or fewer zones",
            cidr,
        )


NETWORK = Spec(
    "NetworkArgs",
    "Arguments of Network.",
    (
        Arg(
            "cluster_name",
            EKS_CLUSTER_NAME,
            "Name of the EKS cluster that will use this network; the subnets get the "
            "``kubernetes.io/cluster/<cluster_name>: shared`` tag that EKS and its load balancer controller look "
            "for.",
            required=True,
        ),
        Arg(
            "cidr_block",
            Text("an IPv4 CIDR block from a /16 to a /24, e.g. '10.0.0.0/16'", _vpc_cidr_block),
            "IPv4 range of the VPC, a /16 to a /24. Private subnets get 1/8 of it each, public ones 1/64 (at least a "
            "/28).",
            default=DEFAULT_CIDR_BLOCK,
            default_doc="'10.0.0.0/16' (private /19s of 8,190 addresses, public /22s)",
        ),
        Arg(
            "availability_zones",
            ListOf(
                Shaped(
                    "an availability zone name such as 'us-east-1a'",
                    _ZONE_NAME,
                    "is not an availability zone name such as 'us-east-1a' (zone IDs such as 'use1-az1' are "
                    "not accepted)",
                ),
                min_items=MIN_ZONES,
                unique=True,
            ),
            "Availability zone names, e.g. ['us-east-1a', 'us-east-1b']; at least 2, one private and one public "
            "subnet each.",
            default_doc="the first ``zone_count`` available zones of the region",
        ),
        Arg(
            "zone_count",
            Whole(MIN_ZONES, why=f"EKS needs subnets in at least {MIN_ZONES} availability zones"),
            "How many of the region's available zones to use when ``availability_zones`` is not given, at least 2.",
            default=DEFAULT_ZONE_COUNT,
        ),
        Arg(
            "nat_gateways",
            Choice(NAT_GATEWAY_MODES),
            "'one_per_zone' (each zone keeps its internet egress when another zone fails) or 'single' (one NAT "
            "gateway for all zones: cheaper, but egress stops when its zone fails).",
            default=DEFAULT_NAT_GATEWAYS,
        ),
        Arg(
            "vpc_endpoints",
            Flag(),
            "Create VPC endpoints: an S3 gateway endpoint (free; model weights and image layers) and interface "
            "endpoints for ECR, STS and EKS Pod Identity in the private subnets (billed per hour and zone), so that "
            "this traffic does not pay NAT processing.",
            default=True,
        ),
        Arg(
            "flow_logs",
            Flag(),
            "Record the VPC's traffic metadata in a CloudWatch log group kept 365 days.",
            default=False,
        ),
        Arg(
            "existing",
            Record(EXISTING_NETWORK),
            "Use a VPC and subnets created elsewhere: nothing is created and the outputs are these ids. Cannot be "
            "combined with cidr_block, availability_zones, zone_count, nat_gateways, vpc_endpoints or flow_logs.",
            default_doc="a new VPC is created",
        ),
        Arg(
            "tags",
            aws_tags(NETWORK_RESERVED_TAG_KEYS),
            "Tags added to every resource the component creates.",
            default_doc="none besides ``shardstack:component: <name>`` and a ``Name`` per resource",
        ),
    ),
    rules=(
        *(_existing_alone(key) for key in CREATION_ARGS),
        Rule(("availability_zones", "zone_count"), _zones_given_once),
        Rule(("cidr_block", "availability_zones", "zone_count"), _zones_fit),
    ),
)
"""Network's arguments."""

WIRED_NETWORK_ARGS = ("cluster_name",)
"""What AwsInstallation sets on its network itself: the cluster's name, for the subnets' tags."""

INSTALLATION_NETWORK = NETWORK.without(
    WIRED_NETWORK_ARGS,
    name="InstallationNetwork",
    doc="Network arguments (see :class:`~shardstack.aws.network.Network`) without ``cluster_name``.",
)
"""An AwsInstallation's network."""
