"""The arguments of the GCP Network, declared once (see :mod:`shardstack.specs`): a VPC it creates, or one
created elsewhere (``existing``).

Generated into ``shardstack/gcp/args.py`` through :data:`shardstack.gcp.specs.ARGS`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from shardstack.cidr import sized_ipv4_block
from shardstack.gcp.labels import GCP_LABELS
from shardstack.specs.kinds import Flag, Input, Record, Text, Worded
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Spec, Values

DEFAULT_SUBNET_CIDR = "10.0.0.0/20"
"""4,094 node addresses."""
DEFAULT_PODS_CIDR = "10.16.0.0/14"
"""GKE gives each node a /24 of the pod range (110 pods per node): a /14 serves 1,024 nodes."""
DEFAULT_SERVICES_CIDR = "10.20.0.0/20"
"""4,096 Service cluster IPs."""

CIDR_ARGS: Mapping[str, tuple[str, int, int, str]] = {
    "subnet_cidr": (DEFAULT_SUBNET_CIDR, 16, 24, "every node takes one address of it"),
    "pods_cidr": (DEFAULT_PODS_CIDR, 9, 21, "GKE gives every node a /24 of it for its pods"),
    "services_cidr": (DEFAULT_SERVICES_CIDR, 16, 24, "every Kubernetes Service takes one address of it"),
}
"""Each range argument: (default, largest prefix, smallest prefix, what the range holds)."""
CREATION_ARGS = ("subnet_cidr", "pods_cidr", "services_cidr", "nat", "flow_logs")
"""Arguments that shape a network this component creates, meaningless with ``existing``."""
THIS_NETWORK_ZERO = ipaddress.IPv4Network("0.0.0.0/8")
"""'This network' (RFC 1122): GCP refuses subnetwork ranges in it."""

# A region such as 'us-central1' or 'northamerica-northeast2' (the same shape the stack config checks).
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")
# RFC 1035 labels, as GCP names networks, subnetworks and secondary ranges.
GCP_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_LINK_PREFIX = r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta)/)?"
NETWORK_LINK = re.compile(_LINK_PREFIX + r"projects/(?P<project>[^/]+)/global/networks/(?P<name>[^/]+)$")
SUBNETWORK_LINK = re.compile(
    _LINK_PREFIX + r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)$"
)

_REGION_NAME = "a GCP region name such as 'us-central1' or 'europe-west4'"


def _region(value: str) -> str | None:
    if REGION.fullmatch(value):
        return None
    zone = ZONE.fullmatch(value)
    hint = f" ({value!r} is a zone; its region is {zone['region']!r})" if zone else ""
    return f"is not {_REGION_NAME}{hint}"


def _network(value: str) -> str | None:
    link = NETWORK_LINK.fullmatch(value)
    if GCP_NAME.fullmatch(link["name"] if link else value):
        return None
    return "is neither a network name nor a self-link such as 'projects/my-project/global/networks/my-vpc'"


def _subnetwork(value: str) -> str | None:
    link = SUBNETWORK_LINK.fullmatch(value)
    if GCP_NAME.fullmatch(link["name"] if link else value):
        return None
    return (
        "is neither a subnetwork name nor a self-link such as "
        "'projects/my-project/regions/us-central1/subnetworks/my-subnet'"
    )


def _range_name(value: str) -> str | None:
    if GCP_NAME.fullmatch(value):
        return None
    return "is not a secondary range name: 1 to 63 lowercase letters, digits and '-', starting with a letter"


EXISTING_NETWORK = Spec(
    "ExistingNetwork",
    "A VPC network and subnetwork created elsewhere (e.g. a Shared VPC), used as they are.",
    (
        Arg(
            "network",
            Input(Text("the VPC network's name or self-link", _network)),
            "The VPC network: its name (in the provider's project) or its self-link, e.g. "
            "'projects/host-project/global/networks/shared-vpc' (required for a Shared VPC).",
            required=True,
        ),
        Arg(
            "subnetwork",
            Input(Text("the name or self-link of the subnetwork for the nodes", _subnetwork)),
            "The subnetwork for the nodes, in ``region``: its name or its self-link, e.g. "
            "'projects/host-project/regions/us-central1/subnetworks/gke'.",
            required=True,
        ),
        Arg(
            "pods_range_name",
            Input(Text("the name of the subnetwork's secondary range for pods", _range_name)),
            "Name of the subnetwork's secondary range for pods, e.g. 'gke-pods'.",
            required=True,
        ),
        Arg(
            "services_range_name",
            Input(Text("the name of the subnetwork's secondary range for Services", _range_name)),
            "Name of the subnetwork's secondary range for Services, e.g. 'gke-services'.",
            required=True,
        ),
    ),
)
"""A network that Network uses as it is (its cross-field rules are Network's, which reads it whole)."""


def _range_lines(name: str, value: Any) -> list[str]:
    # sized_ipv4_block words the lines of every cloud's network ranges.
    default, largest, smallest, holds = CIDR_ARGS[name]
    block = sized_ipv4_block(name, value, default, (largest, smallest), holds)
    if isinstance(block, str):
        return [block]
    reserved = block.is_loopback or block.is_link_local or block.is_multicast or block.is_reserved
    if reserved or block.overlaps(THIS_NETWORK_ZERO):
        return [
            f"{name}={value!r} lies in a reserved range GCP refuses for a subnetwork: use a private range such as "
            f"{default!r}"
        ]
    return []


IPV4_RANGE = Worded("str", "a private IPv4 CIDR block", _range_lines)


def _creation_arg(key: str) -> Rule:
    def check(values: Values) -> Iterator[Problem]:
        if values.present("existing") and values.given(key):
            yield Problem(
                ("existing",),
                f"and {key} cannot be combined: existing uses a network as it is, so {key}={values[key]!r} would "
                "be ignored; drop one of them",
            )

    return Rule((key,), check, present=("existing",))


def _disjoint(first: str, second: str) -> Rule:
    def check(values: Values) -> Iterator[Problem]:
        # A network used as it is has none of the defaults: only the ranges given are compared.
        if values.given("existing") and not (values.given(first) and values.given(second)):
            return
        if ipaddress.IPv4Network(values[first]).overlaps(ipaddress.IPv4Network(values[second])):
            yield Problem(
                (),
                f"{_shown(values, first)} and {_shown(values, second)} overlap: the node, pod and service ranges "
                "of a subnetwork must be disjoint; move one of them",
            )

    return Rule(("existing", first, second), check)


def _shown(values: Values, key: str) -> str:
    return f"{key}={values[key]!r}" + ("" if values.given(key) else " (the default)")


def _subnetwork_in_region(values: Values) -> Iterator[Problem]:
    if not values.given("existing"):
        return
    subnetwork, region = values["existing"]["subnetwork"], values["region"]
    link = SUBNETWORK_LINK.fullmatch(subnetwork) if isinstance(subnetwork, str) else None
    if link and link["region"] != region:
        yield Problem(
            ("existing", "subnetwork"),
            f"is in region {link['region']!r}, not in region={region!r}: the cluster's nodes must be in its "
            "region's subnetwork",
            subnetwork,
        )


def _same_project(values: Values) -> Iterator[Problem]:
    if not values.given("existing"):
        return
    network, subnetwork = values["existing"]["network"], values["existing"]["subnetwork"]
    network_link = NETWORK_LINK.fullmatch(network) if isinstance(network, str) else None
    subnetwork_link = SUBNETWORK_LINK.fullmatch(subnetwork) if isinstance(subnetwork, str) else None
    if network_link and subnetwork_link and subnetwork_link["project"] != network_link["project"]:
        yield Problem(
            ("existing", "subnetwork"),
            f"is in project {subnetwork_link['project']!r} but network in project {network_link['project']!r}: "
            "a subnetwork belongs to its network's project",
        )


def _separate_ranges(values: Values) -> Iterator[Problem]:
    if not values.given("existing"):
        return
    pods, services = values["existing"]["pods_range_name"], values["existing"]["services_range_name"]
    if isinstance(pods, str) and pods == services:
        yield Problem(
            ("existing", "services_range_name"),
            "is also pods_range_name: pods and Services need separate secondary ranges",
            services,
        )


NETWORK = Spec(
    "NetworkArgs",
    "Arguments of Network.",
    (
        Arg(
            "region",
            Text(_REGION_NAME, _region),
            "GCP region of the subnetwork, router and NAT (and of the cluster that uses them), e.g. 'us-central1'.",
            required=True,
        ),
        Arg(
            "subnet_cidr",
            IPV4_RANGE,
            "IPv4 range of the subnetwork, for the nodes: a /16 to a /24 (the default holds 4,094 nodes).",
            default=DEFAULT_SUBNET_CIDR,
        ),
        Arg(
            "pods_cidr",
            IPV4_RANGE,
            "IPv4 range of the secondary range 'pods': a /9 to a /21. GKE gives every node a /24 of it (110 pods "
            "per node; the default serves 1,024 nodes).",
            default=DEFAULT_PODS_CIDR,
        ),
        Arg(
            "services_cidr",
            IPV4_RANGE,
            "IPv4 range of the secondary range 'services', for Service cluster IPs: a /16 to a /24 (the default "
            "holds 4,096 Services).",
            default=DEFAULT_SERVICES_CIDR,
        ),
        Arg(
            "nat",
            Flag(),
            "Create a Cloud Router and Cloud NAT so that the nodes, which have no public IPs, reach the internet "
            "(image registries outside Google, package mirrors). Google APIs are reached through Private Google "
            "Access either way.",
            default=True,
        ),
        Arg(
            "flow_logs",
            Flag(),
            "Record the subnetwork's flows (every flow, 5-second aggregation, all metadata) in Cloud Logging.",
            default=False,
        ),
        Arg(
            "existing",
            Record(EXISTING_NETWORK),
            "Use a network and subnetwork created elsewhere: nothing is created and the outputs are these names. "
            "Cannot be combined with subnet_cidr, pods_cidr, services_cidr, nat or flow_logs.",
            default_doc="a new network is created",
        ),
        Arg(
            "labels",
            GCP_LABELS,
            "GCP labels for the resources this component creates that take labels; keys and values use lowercase "
            "letters, digits, '_' and '-' (at most 63 characters). VPC networks, subnetworks, routers, NATs and "
            "firewall rules take no labels, so today they are only checked; their descriptions name the component "
            "instead.",
            default_doc="none",
        ),
    ),
    rules=(
        *(_creation_arg(key) for key in CREATION_ARGS),
        *(_disjoint(first, second) for i, first in enumerate(CIDR_ARGS) for second in list(CIDR_ARGS)[i + 1 :]),
        Rule(("existing", "region"), _subnetwork_in_region),
        Rule(("existing",), _same_project),
        Rule(("existing",), _separate_ranges),
    ),
)
"""Network's arguments."""

WIRED_NETWORK_ARGS = ("region",)
"""What GcpInstallation sets on its network itself."""

INSTALLATION_NETWORK = NETWORK.without(
    WIRED_NETWORK_ARGS,
    name="InstallationNetwork",
    doc="Network arguments (see :class:`~shardstack.gcp.network.Network`) without ``region``.",
)
"""A GcpInstallation's network."""
