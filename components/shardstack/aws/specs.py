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

from shardstack.aws.tags import Tags
from shardstack.kubernetes_versions import SUPPORTED_KUBERNETES_VERSIONS
from shardstack.specs.gpu_pool import POOL_NAME, gpu_model, gpu_pool_spec, named_pool_spec, resolved_gpus_per_node
from shardstack.specs.kinds import Choice, Flag, Input, Kind, ListOf, Text, Whole
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
    (GPU_NODE_POOL, NAMED_GPU_POOL, REGISTRY, WEIGHT_STORE, CLUSTER_AUTOSCALER, INSTALLATION_AUTOSCALER),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
