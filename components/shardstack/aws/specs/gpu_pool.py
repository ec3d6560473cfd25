"""GpuNodePool's arguments: the cloud-neutral GPU pool plus the EKS wiring, and an installation's pool."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from shardstack.aws.specs.kinds import EKS_CLUSTER_NAME, SUBNET_ID
from shardstack.aws.tags import aws_tags
from shardstack.specs.gpu_pool import gpu_model, gpu_pool_spec, named_pool_spec, resolved_gpus_per_node
from shardstack.specs.kinds import Choice, Flag, Input, ListOf, Shaped
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Values

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

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_CAPACITY_RESERVATION_ID = re.compile(r"^cr-[0-9a-f]{17}$")


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
            Input(EKS_CLUSTER_NAME),
            "Name of the EKS cluster the nodes join.",
            required=True,
        ),
        Arg(
            "node_role_arn",
            Input(
                Shaped(
                    "an IAM role ARN like 'arn:aws:iam::123456789012:role/nodes'",
                    _ROLE_ARN,
                    "is not an IAM role ARN like 'arn:aws:iam::123456789012:role/nodes'",
                )
            ),
            "ARN of the IAM role of the nodes (the kubelet's, not the pods': pods cannot reach it).",
            required=True,
        ),
        Arg(
            "subnet_ids",
            Input(ListOf(SUBNET_ID, min_items=1)),
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
                Shaped(
                    "a capacity reservation ID like 'cr-0123456789abcdef0'",
                    _CAPACITY_RESERVATION_ID,
                    "is not a capacity reservation ID like 'cr-0123456789abcdef0'",
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
            aws_tags(),
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
