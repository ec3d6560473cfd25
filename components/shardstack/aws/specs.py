"""The AWS components' arguments, declared once (see :mod:`shardstack.specs`), and the parts of an
AwsInstallation (each a component's spec without what the installation wires).

``shardstack/aws/args.py`` is generated from these specs (``scripts/generate_specs.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.aws.tags import COMPONENT_TAG, Tags
from shardstack.cidr import ipv4_network
from shardstack.kubernetes_versions import SUPPORTED_KUBERNETES_VERSIONS
from shardstack.specs.gpu_pool import POOL_NAME, gpu_model, gpu_pool_spec, named_pool_spec, resolved_gpus_per_node
from shardstack.specs.kinds import Choice, Flag, Input, Kind, ListOf, Record, Text, Whole
from shardstack.specs.problem import Path, Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Spec, Values

CLOUD = "aws"

AMI_TYPES = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA")
"""EKS-optimized accelerated AMIs for x86 GPU instances; both ship the NVIDIA driver and toolkit."""
DEFAULT_AMI_TYPE = "AL2023_x86_64_NVIDIA"

CAPACITY_RESERVATION_TYPES = ("capacity-block", "on-demand")
"""'capacity-block': an EC2 Capacity Block for ML; 'on-demand': a targeted On-Demand Capacity Reservation."""
DEFAULT_CAPACITY_RESERVATION_TYPE = "capacity-block"

EFA_NETWORK_CARDS: Mapping[str, int] = {
    "p4d.24xlarge": 4,
    "p4de.24xlarge": 4,
    "p5.48xlarge": 32,
    "p5e.48xlarge": 32,
    "p5en.48xlarge": 16,
}
"""Instance types this pool attaches EFA interfaces to, with their network cards (one EFA per card).

From the EC2 User Guide's EFA and network-card tables (accelerated computing). Smaller EFA-capable
shapes (some g5/g6/g6e sizes) are left out: with one network card, EFA adds little for inference.
"""

_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_CAPACITY_RESERVATION_ID = re.compile(r"^cr-[0-9a-f]{17}$")


def _shaped(pattern: re.Pattern[str], reason: str) -> Any:
    return lambda value: None if pattern.match(value) else reason


def _efa_instance_type(values: Values) -> Iterator[Problem]:
    if values["efa"] is not True:
        return
    instance_type = (
        values["instance_type"]
        if values.given("instance_type")
        else gpu_model(values).offer(CLOUD, resolved_gpus_per_node(values, CLOUD)).instance_type
    )
    if instance_type not in EFA_NETWORK_CARDS:
        yield Problem(
            ("efa",),
            f"needs an instance type with EFA; {instance_type!r} has none here. EFA types: "
            f"{', '.join(repr(t) for t in EFA_NETWORK_CARDS)} (choose gpu/gpus_per_node "
            "accordingly, e.g. h100-80gb x 8), or drop efa",
            True,
        )


def _reservation(values: Values) -> Iterator[Problem]:
    reservation = values.get("capacity_reservation_id")
    shown = repr(reservation) if isinstance(reservation, str) else "<output>"
    if reservation is None:
        if values.given("capacity_reservation_type"):
            yield Problem(
                ("capacity_reservation_type",),
                "is given without capacity_reservation_id; give the reservation's ID or drop capacity_reservation_type",
                values["capacity_reservation_type"],
            )
        return
    if values["spot"] is True:
        yield Problem(
            ("spot",),
            f"and capacity_reservation_id={shown} conflict: reserved capacity is never Spot; drop one of them",
            True,
        )
    if values["efa"] is True:
        yield Problem(
            ("efa",),
            f"and capacity_reservation_id={shown} conflict: efa places the nodes in a new "
            "cluster placement group, and a targeted reservation launches only into the placement "
            "group it was created in. Drop efa (Capacity Blocks already place their instances "
            "close together on a low-latency network) or drop capacity_reservation_id",
            True,
        )


GPU_NODE_POOL = gpu_pool_spec(CLOUD).extend(
    "GpuNodePoolArgs",
    "Arguments of GpuNodePool: the cloud-neutral GPU pool arguments plus the EKS wiring.",
    (
        Arg(
            "cluster_name",
            Input(Text("the EKS cluster's name")),
            "Name of the EKS cluster the nodes join.",
            required=True,
        ),
        Arg(
            "node_role_arn",
            Input(
                Text(
                    "an IAM role ARN like 'arn:aws:iam::123456789012:role/nodes'",
                    _shaped(_ROLE_ARN, "is not an IAM role ARN like 'arn:aws:iam::123456789012:role/nodes'"),
                )
            ),
            "ARN of the IAM role of the nodes (the kubelet's, not the pods': pods cannot reach it).",
            required=True,
        ),
        Arg(
            "subnet_ids",
            Input(
                ListOf(
                    Input(
                        Text(
                            "a subnet ID like 'subnet-0123456789abcdef0'",
                            _shaped(_SUBNET_ID, "is not a subnet ID like 'subnet-0123456789abcdef0'"),
                        )
                    ),
                    min_items=1,
                )
            ),
            "Private subnets the nodes are placed in. With ``efa`` or ``capacity_reservation_id``, give only subnets "
            "of one Availability Zone (the placement group's, or the reservation's).",
            required=True,
        ),
        Arg(
            "ami_type",
            Choice(AMI_TYPES),
            "EKS AMI type, with the NVIDIA driver and container toolkit.",
            default=DEFAULT_AMI_TYPE,
        ),
        Arg(
            "efa",
            Flag(),
            "Attach Elastic Fabric Adapters (one per network card) and place the nodes in a cluster "
            "placement group, for fast shard-to-shard traffic between nodes. Only for EFA instance types ("
            f"{', '.join(EFA_NETWORK_CARDS)}); not with ``capacity_reservation_id``.",
            default=False,
        ),
        Arg(
            "capacity_reservation_id",
            Input(
                Text(
                    "a capacity reservation ID like 'cr-0123456789abcdef0'",
                    _shaped(_CAPACITY_RESERVATION_ID, "is not a capacity reservation ID like 'cr-0123456789abcdef0'"),
                )
            ),
            "ID of an EC2 capacity reservation ('cr-...') the nodes launch into, of the type "
            "``capacity_reservation_type`` says. Its instance type and Availability Zone must match the pool's. Not "
            "with ``spot`` or ``efa``.",
        ),
        Arg(
            "capacity_reservation_type",
            Choice(CAPACITY_RESERVATION_TYPES),
            "What ``capacity_reservation_id`` is: "
            "'capacity-block' (an EC2 Capacity Block for ML; the node group's capacity type becomes CAPACITY_BLOCK) or "
            "'on-demand' (a targeted On-Demand Capacity Reservation).",
            default=DEFAULT_CAPACITY_RESERVATION_TYPE,
        ),
        Arg(
            "tags",
            Tags(),
            "AWS tags for every resource the pool creates, and its instances and volumes.",
            default_doc="none (``shardstack:component`` is always set)",
        ),
    ),
    rules=(
        Rule(("gpu", "gpus_per_node", "instance_type", "efa"), _efa_instance_type),
        Rule(("capacity_reservation_id", "capacity_reservation_type", "spot", "efa"), _reservation),
    ),
)
"""GpuNodePool's arguments."""

WIRED_POOL_ARGS = ("cluster_name", "node_role_arn", "subnet_ids")
"""What AwsInstallation sets on each of its pools itself."""

NAMED_GPU_POOL = named_pool_spec(
    GPU_NODE_POOL,
    WIRED_POOL_ARGS,
    "A GPU pool (see "
    ":class:`~shardstack.aws.gpu_node_pool.GpuNodePool`) without the cluster, node role "
    "and subnets, plus its name.",
)
"""An AwsInstallation's GPU pool."""

# --- Registry ------------------------------------------------------------------------------------------

DEFAULT_REPOSITORY_NAME = "shardstack/runtime"
DEFAULT_KEEP_IMAGES = 30
"""Enough to roll back through weeks of releases; older images only cost storage and scan noise."""

_REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/.+|user/.+)$")


def _repository_name(value: str) -> str | None:
    if 2 <= len(value) <= 256 and _REPOSITORY_NAME.match(value):
        return None
    return (
        "is not an ECR repository name: use 2 to 256 lowercase letters and digits, with single '.', '_' or '-' "
        "between them, in parts separated by '/' (e.g. 'shardstack/runtime')"
    )


KMS_KEY = Input(
    Text(
        "a KMS key ARN like 'arn:aws:kms:<region>:<account>:key/<key id>'",
        _shaped(
            _KMS_KEY_ARN,
            "is not a KMS key ARN: use 'arn:aws:kms:<region>:<account>:key/<key id>' "
            "(an alias cannot be granted in IAM policies)",
        ),
    )
)
"""A KMS key, by ARN (IAM policies grant keys by ARN, never by alias)."""

REGISTRY = Spec(
    "RegistryArgs",
    "Arguments of Registry.",
    (
        Arg(
            "repository_name",
            Text("an ECR repository name like 'shardstack/runtime'", _repository_name),
            "Repository name: 2 to 256 lowercase letters, digits and '.', '_', '-' between them, in '/'-separated "
            "parts.",
            default=DEFAULT_REPOSITORY_NAME,
        ),
        Arg(
            "kms_key_arn",
            KMS_KEY,
            "ARN of a KMS key to encrypt the images with.",
            default_doc="KMS encryption with the AWS managed key for ECR (aws/ecr)",
        ),
        Arg(
            "keep_images",
            Whole(1),
            "Tagged images to keep; older ones expire, newest first kept. At least 1.",
            default=DEFAULT_KEEP_IMAGES,
        ),
        Arg(
            "pull_principal_arns",
            ListOf(
                Input(
                    Text(
                        "an IAM principal ARN like 'arn:aws:iam::123456789012:role/nodes'",
                        _shaped(
                            _IAM_PRINCIPAL_ARN,
                            "is not an IAM principal ARN: use a role, user or account root ARN such as "
                            "'arn:aws:iam::123456789012:role/nodes'",
                        ),
                    )
                )
            ),
            "IAM principals (role, user or account root ARNs) allowed to pull, through a repository policy.",
            default_doc="none and no repository policy; the cluster's nodes pull through their own role",
        ),
        Arg(
            "tags",
            Tags(),
            "Tags added to the repository, next to ``shardstack:component: <name>``.",
        ),
    ),
)
"""Registry's arguments."""

# --- WeightStore ---------------------------------------------------------------------------------------

DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""

BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9.-]*$")
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class BucketName(Kind):
    """An S3 general purpose bucket name: each naming rule it breaks is a problem of its own."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return "an S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.'"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, f"must be {self.allowed}", value)]
        reasons: list[str] = []
        if not 3 <= len(value) <= 63:
            reasons.append(f"has {len(value)} characters; a bucket name has 3 to 63")
        if not BUCKET_NAME_CHARS.match(value):
            bad = sorted({c for c in value if not BUCKET_NAME_CHARS.match(c)})
            reasons.append(
                f"contains {', '.join(repr(c) for c in bad)}; a bucket name may contain only lowercase letters, "
                "digits, '-' and '.'"
            )
        if value and not (value[0].isalnum() and value[-1].isalnum()):
            reasons.append("must start and end with a lowercase letter or digit")
        if ".." in value:
            reasons.append("contains two adjacent periods, which bucket names may not")
        if _is_ipv4_address(value):
            reasons.append("is formatted as an IP address, which bucket names may not be")
        reasons += [f"starts with {p!r}, a prefix S3 reserves" for p in RESERVED_BUCKET_PREFIXES if value.startswith(p)]
        reasons += [f"ends with {s!r}, a suffix S3 reserves" for s in RESERVED_BUCKET_SUFFIXES if value.endswith(s)]
        return [Problem(path, reason, value) for reason in reasons]


def _is_ipv4_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


WEIGHT_STORE = Spec(
    "WeightStoreArgs",
    "Arguments of WeightStore.",
    (
        Arg(
            "bucket_name",
            BucketName(),
            "Globally unique S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.', starting and ending "
            "with a letter or digit.",
            default_doc="Pulumi names it ``<component name>-bucket-<random suffix>``",
        ),
        Arg(
            "kms_key_arn",
            KMS_KEY,
            "ARN of an existing KMS key to encrypt the objects with; its key policy must let IAM policies in this "
            "account grant ``kms:Decrypt`` (the default key policy does).",
            default_doc="a customer managed key with yearly rotation and an alias is created for this bucket",
        ),
        Arg(
            "noncurrent_version_days",
            Whole(1),
            "Days an overwritten or deleted object version is kept before S3 expires it; at least 1.",
            default=DEFAULT_NONCURRENT_VERSION_DAYS,
        ),
        Arg(
            "protect",
            Flag(),
            "Protect the bucket and its KMS key from deletion and keep them, with their settings, when the stack is "
            "destroyed. False lets ``pulumi destroy`` delete them (the bucket only when empty, unless "
            "``force_destroy``).",
            default=True,
        ),
        Arg("force_destroy", Flag(), "Let deleting the bucket delete every object in it first.", default=False),
        Arg("tags", Tags(), "Tags added to every taggable resource, next to ``shardstack:component: <name>``."),
    ),
)
"""WeightStore's arguments."""

# --- Shared by the cluster's components ----------------------------------------------------------------

_EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")

EKS_CLUSTER_NAME = Text(
    "an EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
    _shaped(
        _EKS_CLUSTER_NAME,
        "is not an EKS cluster name: use 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
    ),
)
"""The name of an EKS cluster, as EKS takes it."""


@dataclass(frozen=True)
class KubernetesVersion(Choice):
    """A supported Kubernetes minor version; a patch version is refused with a hint, as EKS picks the patch."""

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in self.values:
            return None
        if isinstance(value, str) and value.count(".") >= 2:
            return f"must be {self.allowed} (give the minor version only: EKS picks the patch release)"
        return f"must be {self.allowed}"


KUBERNETES_VERSION = KubernetesVersion(SUPPORTED_KUBERNETES_VERSIONS)
"""A Kubernetes minor version Shardstack supports on EKS."""


# --- Network ------------------------------------------------------------------------------------------

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
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")

VPC_ID = Input(
    Text(
        "a VPC ID like 'vpc-0123456789abcdef0'",
        _shaped(_VPC_ID, "is not a VPC ID such as 'vpc-0123456789abcdef0'"),
    )
)
SUBNET_ID = Input(
    Text(
        "a subnet ID like 'subnet-0123456789abcdef0'",
        _shaped(_SUBNET_ID, "is not a subnet ID such as 'subnet-0123456789abcdef0'"),
    )
)


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
        if values.given("existing") and values.given(key):
            yield Problem(
                (key,),
                "cannot be combined with existing: existing uses a VPC as it is, so it would be ignored; "
                "drop one of them",
                values[key],
            )

    return Rule(("existing", key), check)


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
                Text(
                    "an availability zone name such as 'us-east-1a'",
                    _shaped(
                        _ZONE_NAME,
                        "is not an availability zone name such as 'us-east-1a' (zone IDs such as 'use1-az1' are "
                        "not accepted)",
                    ),
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
            Tags(NETWORK_RESERVED_TAG_KEYS),
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


# --- ClusterAutoscaler ---------------------------------------------------------------------------------

DEFAULT_NAMESPACE = "kube-system"

EXPANDERS = ("least-waste", "priority", "random", "most-pods")
"""How the autoscaler picks among node groups that fit a pending pod."""
DEFAULT_EXPANDER = "least-waste"
AWS_UNSUPPORTED_EXPANDERS: Mapping[str, str] = {
    "price": (
        "it works only on GCE, GKE and Equinix Metal: the AWS cloud provider has no pricing model, and "
        "the autoscaler fails at its first scale-up with it"
    ),
}

DEFAULT_SCALE_DOWN_UNNEEDED_TIME = "10m"
"""The autoscaler's own default: a GPU node must be unneeded this long before it is removed."""

_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(?:ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Expander(Choice):
    """An expander the AWS cloud provider supports; one it does not is refused with the reason."""

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in AWS_UNSUPPORTED_EXPANDERS:
            return f"cannot be used on AWS: {AWS_UNSUPPORTED_EXPANDERS[value]}; use {self.allowed}"
        return super().reason(value)


def _duration(value: str) -> str | None:
    if not _DURATION.match(value):
        return "is not a duration: use a Go duration such as '10m', '90s' or '1h30m'"
    if all(float(amount) == 0 for amount in _DURATION_PART.findall(value)):
        return "must be longer than zero, or every node would be removed as soon as it is idle"
    return None


CLUSTER_AUTOSCALER = Spec(
    "ClusterAutoscalerArgs",
    "Arguments of ClusterAutoscaler.",
    (
        Arg(
            "cluster_name",
            Input(EKS_CLUSTER_NAME),
            "Name of the EKS cluster. The autoscaler manages the Auto Scaling groups tagged "
            "``k8s.io/cluster-autoscaler/<cluster_name>: owned`` (EKS tags every managed node group's group so) and "
            "may change the size of no other.",
            required=True,
        ),
        Arg(
            "kubernetes_version",
            KUBERNETES_VERSION,
            "The cluster's Kubernetes minor version; the autoscaler release of the same minor version is deployed "
            "(e.g. '1.33' gives v1.33.6).",
            required=True,
        ),
        Arg(
            "namespace",
            POOL_NAME.kind,
            "Existing namespace the autoscaler runs in and keeps its status ConfigMap and leader lease in.",
            default=DEFAULT_NAMESPACE,
        ),
        Arg(
            "expander",
            Expander(EXPANDERS),
            "How to choose among node groups that could take a pending pod: 'least-waste' (least idle CPU and "
            "memory after the scale-up), 'priority' (by the ConfigMap ``cluster-autoscaler-priority-expander`` you "
            "create in the namespace), 'random' or 'most-pods'.",
            default=DEFAULT_EXPANDER,
        ),
        Arg(
            "scale_down_unneeded_time",
            Text("a Go duration such as '10m' or '1h30m'", _duration),
            "How long a node must be unneeded before it is removed, as a Go duration such as '10m' or '1h30m'.",
            default=DEFAULT_SCALE_DOWN_UNNEEDED_TIME,
        ),
        Arg(
            "image",
            Text("an image reference such as 'registry/repo:tag'"),
            "Autoscaler image, e.g. a mirror in your own registry or a digest-pinned reference.",
            default_doc="registry.k8s.io/autoscaling/cluster-autoscaler at the release matching kubernetes_version",
        ),
        Arg(
            "tags",
            Tags(),
            "AWS tags for the IAM role and the Pod Identity association.",
            default_doc="none (``shardstack:component`` is always set)",
        ),
    ),
)
"""ClusterAutoscaler's arguments."""

WIRED_AUTOSCALER_ARGS = ("cluster_name", "kubernetes_version")
"""What AwsInstallation sets on its autoscaler itself: its cluster's name and version."""

INSTALLATION_AUTOSCALER = CLUSTER_AUTOSCALER.without(
    WIRED_AUTOSCALER_ARGS,
    name="InstallationAutoscaler",
    doc="ClusterAutoscaler arguments (see :class:`~shardstack.aws.cluster_autoscaler.ClusterAutoscaler`) without "
    "``cluster_name`` and ``kubernetes_version``.",
)
"""An AwsInstallation's cluster autoscaler."""

ARGS = ArgsModule(
    "shardstack.aws.args",
    "AWS component arguments.",
    __name__,
    (
        GPU_NODE_POOL,
        NAMED_GPU_POOL,
        REGISTRY,
        WEIGHT_STORE,
        EXISTING_NETWORK,
        NETWORK,
        INSTALLATION_NETWORK,
        CLUSTER_AUTOSCALER,
        INSTALLATION_AUTOSCALER,
    ),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
