"""GpuNodePool: an autoscaling EKS managed node group of identical GPU nodes.

Usage::

    from shardstack.aws.gpu_node_pool import GpuNodePool

    pool = GpuNodePool("l4", {
        "gpu": "l4", "max_nodes": 4, "spot": True,
        "cluster_name": cluster.name, "node_role_arn": node_role.arn, "subnet_ids": network.private_subnet_ids,
    })
    pool.instance_type      # 'g6.xlarge' (plain: known before anything is created)
    pool.hourly_usd_max     # 4 x its on-demand list price

The GPU, node count, spot, disk, labels and taints arguments are the ones every cloud's GPU pool takes
(``shardstack.gpu_pool``). The nodes run an EKS-optimized NVIDIA AMI (drivers and the container toolkit
included), are labelled ``shardstack.dev/gpu: "true"`` and tainted ``nvidia.com/gpu=present:NoSchedule``,
and carry the cluster autoscaler's node-template tags so that the pool can scale up from zero nodes.

Pods on these nodes cannot reach the node's IAM role: the instance metadata service answers only the
node itself (IMDSv2, one network hop). Give pods AWS access with EKS Pod Identity.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from shardstack import gpu_pool
from shardstack.aws.args import GpuNodePoolArgs
from shardstack.aws.specs import (
    AMI_TYPES,
    CAPACITY_RESERVATION_TYPES,
    DEFAULT_AMI_TYPE,
    DEFAULT_CAPACITY_RESERVATION_TYPE,
    EFA_NETWORK_CARDS,
    GPU_NODE_POOL,
)
from shardstack.aws.tags import COMPONENT_TAG
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPool, Taint, node_labels, node_taints
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:aws:GpuNodePool"
CLOUD = "aws"

__all__ = [
    "AMI_TYPES",
    "CAPACITY_RESERVATION_TYPES",
    "DEFAULT_AMI_TYPE",
    "DEFAULT_CAPACITY_RESERVATION_TYPE",
    "EFA_NETWORK_CARDS",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "validate_gpu_node_pool_args",
]

EKS_TAINT_EFFECTS: Mapping[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
"""Kubernetes taint effects as the EKS API spells them."""

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
NODE_TEMPLATE_TAG_PREFIX = AUTOSCALER_TAG_PREFIX + "node-template/"

ROOT_DEVICE = "/dev/xvda"
BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb"
"""Bottlerocket keeps its read-only OS on /dev/xvda and images, logs and pod storage on /dev/xvdb."""

MAX_NODE_GROUP_NAME_PREFIX = 36
"""EKS node group names are at most 63 characters; the provider appends 26 to a prefix, plus '-'."""

AWS_ARG_NAMES: tuple[str, ...] = tuple(k for k in GPU_NODE_POOL.names if k not in GPU_POOL_ARG_NAMES)
"""The arguments GpuNodePool adds to the cloud-neutral ones."""


def validate_gpu_node_pool_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuNodePool arguments (and its name, when given), one line each."""
    problems = as_arguments(GPU_NODE_POOL.check(args))
    if name is not None and (problem := gpu_pool.pool_name_problem(name)):
        problems.append(problem)
    return problems


def _neutral(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in GPU_POOL_ARG_NAMES}


def autoscaler_node_template_tags(pool: GpuPool, labels: Mapping[str, str], taints: Sequence[Taint]) -> dict[str, str]:
    """Return the cluster autoscaler's node-template tags for the pool's Auto Scaling group.

    With no node running, the autoscaler learns from these tags which labels, taints and GPUs a new
    node would have; without them it cannot tell that a pending GPU pod would fit, and a pool at zero
    nodes never scales up.
    """
    tags = {f"{NODE_TEMPLATE_TAG_PREFIX}label/{key}": value for key, value in labels.items()}
    tags.update({f"{NODE_TEMPLATE_TAG_PREFIX}taint/{t['key']}": f"{t.get('value', '')}:{t['effect']}" for t in taints})
    tags[f"{NODE_TEMPLATE_TAG_PREFIX}resources/nvidia.com/gpu"] = str(pool.gpus_per_node)
    return tags


class GpuNodePool(pulumi.ComponentResource):
    """Creates an EKS managed node group of GPU nodes, its launch template and its autoscaler tags."""

    node_group_name: pulumi.Output[str]
    """Name of the EKS managed node group."""
    node_group_arn: pulumi.Output[str]
    """ARN of the EKS managed node group."""
    instance_type: str
    """EC2 instance type of the nodes, from the GPU catalogue (e.g. 'g6.xlarge')."""
    gpus_per_node: int
    """GPUs on each node."""
    hourly_usd_min: float
    """US dollars per hour at min_nodes, at the catalogue's on-demand list price (us-east-1)."""
    hourly_usd_max: float
    """US dollars per hour at max_nodes, at the catalogue's on-demand list price (us-east-1). An upper
    bound for spot pools; reserved capacity is billed at the reservation's price instead."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_gpu_node_pool_args(args, name=name)
        if problems:
            raise ArgumentError(f"GpuNodePool {name!r}", problems)
        pool = gpu_pool.resolve_gpu_pool(_neutral(args), CLOUD, what=f"GpuNodePool {name!r}")
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        ami_type = args.get("ami_type", DEFAULT_AMI_TYPE)
        efa = args.get("efa", False)
        reservation = args.get("capacity_reservation_id")
        reservation_type = args.get("capacity_reservation_type", DEFAULT_CAPACITY_RESERVATION_TYPE)
        tags = {**dict(args.get("tags", {})), COMPONENT_TAG: name}
        labels = node_labels(pool, name)
        taints = node_taints(pool)

        placement_group = None
        if efa:
            # EFA's latency and bandwidth hold between instances in one cluster placement group.
            placement_group = aws.ec2.PlacementGroup(f"{name}-placement", strategy="cluster", tags=tags, opts=child)

        launch_template = self._launch_template(
            name,
            pool,
            tags,
            ami_type=ami_type,
            efa=efa,
            placement_group=placement_group,
            reservation=reservation,
            reservation_type=reservation_type,
        )
        ca_tags = autoscaler_node_template_tags(pool, labels, taints)
        node_group = self._node_group(
            name,
            args,
            pool,
            tags,
            launch_template=launch_template,
            ami_type=ami_type,
            capacity_type=_capacity_type(pool, reservation, reservation_type),
            labels=labels,
            taints=taints,
            ca_tags=ca_tags,
        )
        self._autoscaling_group_tags(name, node_group, ca_tags)

        self.node_group_name = node_group.node_group_name
        self.node_group_arn = node_group.arn
        self.instance_type = pool.instance_type
        self.gpus_per_node = pool.gpus_per_node
        self.hourly_usd_min = pool.hourly_usd_min
        self.hourly_usd_max = pool.hourly_usd_max
        self.register_outputs(
            {
                "node_group_name": self.node_group_name,
                "node_group_arn": self.node_group_arn,
                "instance_type": self.instance_type,
                "gpus_per_node": self.gpus_per_node,
                "hourly_usd_min": self.hourly_usd_min,
                "hourly_usd_max": self.hourly_usd_max,
            }
        )

    def _launch_template(
        self,
        name: str,
        pool: GpuPool,
        tags: Mapping[str, str],
        *,
        ami_type: str,
        efa: bool,
        placement_group: aws.ec2.PlacementGroup | None,
        reservation: Any,
        reservation_type: str,
    ) -> aws.ec2.LaunchTemplate:
        """Create the nodes' launch template: disks, IMDSv2 with one hop, EFA, placement and reserved capacity."""
        return aws.ec2.LaunchTemplate(
            f"{name}-launch-template",
            description=f"Shardstack GPU pool {name}: {pool.gpus_per_node} x {pool.gpu} on {pool.instance_type}",
            block_device_mappings=_block_devices(ami_type, pool.disk_size_gib),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                # IMDSv2 only, with a hop limit of 1: the token response dies before it reaches a pod's own
                # network namespace, so no pod can read the node role's credentials. Pods get theirs from
                # EKS Pod Identity, whose agent runs on the host network.
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            network_interfaces=_efa_interfaces(pool.instance_type) if efa else None,
            placement=(
                aws.ec2.LaunchTemplatePlacementArgs(group_name=placement_group.name)
                if placement_group is not None
                else None
            ),
            capacity_reservation_specification=(
                aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                    capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                        capacity_reservation_id=reservation
                    )
                )
                if reservation is not None
                else None
            ),
            # EKS rejects a Capacity Block node group whose launch template lacks this market type.
            instance_market_options=(
                aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
                if reservation is not None and reservation_type == "capacity-block"
                else None
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            # The node group runs latest_version; making it the default too leaves no stale default behind.
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _node_group(
        self,
        name: str,
        args: GpuNodePoolArgs,
        pool: GpuPool,
        tags: Mapping[str, str],
        *,
        launch_template: aws.ec2.LaunchTemplate,
        ami_type: str,
        capacity_type: str,
        labels: Mapping[str, str],
        taints: Sequence[Taint],
        ca_tags: Mapping[str, str],
    ) -> aws.eks.NodeGroup:
        """Create the EKS managed node group, tagged for the cluster autoscaler's auto-discovery."""
        cluster_name = pulumi.Output.from_input(args["cluster_name"])
        node_group_tags = cluster_name.apply(
            lambda cluster: {
                **tags,
                f"{AUTOSCALER_TAG_PREFIX}enabled": "true",
                f"{AUTOSCALER_TAG_PREFIX}{cluster}": "owned",
                **ca_tags,
            }
        )
        return aws.eks.NodeGroup(
            f"{name}-node-group",
            cluster_name=cluster_name,
            node_group_name_prefix=f"{name[:MAX_NODE_GROUP_NAME_PREFIX].rstrip('-')}-",
            node_role_arn=args["node_role_arn"],
            subnet_ids=args["subnet_ids"],
            instance_types=[pool.instance_type],
            ami_type=ami_type,
            capacity_type=capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=pool.min_nodes
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id,
                version=cast(pulumi.Output[str], launch_template.latest_version.apply(_version_text)),
            ),
            labels=labels,
            taints=[
                aws.eks.NodeGroupTaintArgs(
                    key=t["key"], value=t.get("value") or None, effect=EKS_TAINT_EFFECTS[t["effect"]]
                )
                for t in taints
            ],
            # One node at a time: a GPU node holds shards of a running model, and spare GPUs are rare.
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            # The tags document the pool on the node group; EKS does not copy node group tags to the
            # Auto Scaling group, where the autoscaler reads them (see the Tag resources below).
            tags=node_group_tags,
            # The cluster autoscaler owns the node count once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )

    def _autoscaling_group_tags(self, name: str, node_group: aws.eks.NodeGroup, ca_tags: Mapping[str, str]) -> None:
        """Put the node-template tags on the node group's Auto Scaling group, where the autoscaler reads them."""
        # EKS tags the Auto Scaling group for the autoscaler's auto-discovery itself (the "enabled" and
        # "<cluster>: owned" tags) but copies no other node group tag to it, so the node-template tags
        # are put on the group one by one. They describe future nodes and are not propagated to them.
        asg_name = node_group.resources.apply(_autoscaling_group_name)
        for key, value in ca_tags.items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key.removeprefix(NODE_TEMPLATE_TAG_PREFIX)}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=pulumi.ResourceOptions(parent=self),
            )


def _capacity_type(pool: GpuPool, reservation: Any, reservation_type: str) -> str:
    if pool.spot:
        return "SPOT"
    if reservation is not None and reservation_type == "capacity-block":
        return "CAPACITY_BLOCK"
    # A targeted On-Demand Capacity Reservation is consumed by ordinary on-demand launches.
    return "ON_DEMAND"


def _block_devices(ami_type: str, disk_size_gib: int) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs]:
    """Return the nodes' EBS volumes: gp3, encrypted, deleted with the instance."""

    def volume(device: str, size: int | None) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
        return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=device,
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_type="gp3", volume_size=size, encrypted="true", delete_on_termination="true"
            ),
        )

    if ami_type.startswith("BOTTLEROCKET"):
        # The OS volume keeps the AMI's size; the disk the user sized is the data volume.
        return [volume(ROOT_DEVICE, None), volume(BOTTLEROCKET_DATA_DEVICE, disk_size_gib)]
    return [volume(ROOT_DEVICE, disk_size_gib)]


def _efa_interfaces(instance_type: str) -> list[aws.ec2.LaunchTemplateNetworkInterfaceArgs]:
    """Return one EFA per network card: the primary one with its ENA (node and pod IPs), the others EFA-only.

    No security groups are named, so EKS applies the cluster security group, which lets its members
    exchange all traffic, as EFA requires.
    """
    return [
        aws.ec2.LaunchTemplateNetworkInterfaceArgs(
            network_card_index=card,
            device_index=0 if card == 0 else 1,
            interface_type="efa" if card == 0 else "efa-only",
            associate_public_ip_address="false",
            delete_on_termination="true",
        )
        for card in range(EFA_NETWORK_CARDS[instance_type])
    ]


def _version_text(version: int | None) -> str | None:
    """Return the launch template version as the EKS API takes it, as text.

    EC2 always reports a created template's latest version; offline plans run under mocks that may
    not model it, and the version then stays empty.
    """
    return None if version is None else str(version)


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str | None:
    """Return the name of the node group's Auto Scaling group.

    EKS reports exactly one once the node group exists. Offline plans run under mocks that may not
    model it; the name then stays empty rather than failing the whole plan.
    """
    for resource in resources or []:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    return None
