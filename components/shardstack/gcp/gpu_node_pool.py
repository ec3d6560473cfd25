"""GpuNodePool: an autoscaling GKE node pool of identical GPU nodes.

Usage::

    from shardstack.gcp.gpu_node_pool import GpuNodePool

    pool = GpuNodePool("l4", {
        "gpu": "l4", "max_nodes": 4, "spot": True,
        "cluster": cluster.cluster_name, "location": "us-central1",
        "node_service_account": nodes.email, "node_locations": ["us-central1-a", "us-central1-b"],
    })
    pool.machine_type       # 'g2-standard-4' (plain: known before anything is created)
    pool.hourly_usd_max     # 4 x its on-demand list price

The GPU, node count, spot, disk, labels and taints arguments are the ones every cloud's GPU pool takes
(``shardstack.gpu_pool``). GKE installs the NVIDIA driver itself (GKE-managed drivers on
Container-Optimized OS) and runs the device plugin, so nothing else is needed on the nodes. The nodes
are labelled ``shardstack.dev/gpu: "true"`` and tainted ``nvidia.com/gpu=present:NoSchedule``; GKE's
own cluster autoscaler reads both from the pool, so the pool scales up from zero nodes.

Pods on these nodes cannot read the node service account's token: the GKE metadata server answers
them instead of the Compute Engine one. Give pods Google Cloud access with Workload Identity.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_gcp as gcp

from shardstack import catalog, gpu_pool
from shardstack.errors import ArgumentError
from shardstack.gcp.args import GpuNodePoolArgs
from shardstack.gcp.labels import COMPONENT_LABEL
from shardstack.gcp.specs import (
    ANY_RESERVATION,
    COMPACT_PLACEMENT_MACHINE_SERIES,
    DEFAULT_GPU_DRIVER_VERSION,
    GPU_DRIVER_VERSIONS,
    GPU_NODE_POOL,
    MAX_COMPACT_PLACEMENT_NODES,
    PLACEMENTS,
)
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPool, node_labels, node_taints
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:gcp:GpuNodePool"
CLOUD = "gcp"

__all__ = [
    "ANY_RESERVATION",
    "COMPACT_PLACEMENT_MACHINE_SERIES",
    "DEFAULT_GPU_DRIVER_VERSION",
    "GPU_DRIVER_VERSIONS",
    "MAX_COMPACT_PLACEMENT_NODES",
    "PLACEMENTS",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "validate_gpu_node_pool_args",
]

RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"
"""Reservation affinity key that targets one reservation by name (GKE's consuming-reservations guide)."""

HYPERDISK_ONLY_MACHINE_PREFIXES = ("a3-ultragpu-",)
"""Machine types that boot only from Hyperdisk (A3 Ultra: Vertex AI's DiskSpec documents
'hyperdisk-balanced' as the only default for A3U, where every other type gets a Persistent Disk)."""
DEFAULT_DISK_TYPE = "pd-balanced"
HYPERDISK_DISK_TYPE = "hyperdisk-balanced"

GKE_TAINT_EFFECTS: Mapping[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
"""Kubernetes taint effects as the GKE API spells them."""

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The one OAuth scope Google recommends for nodes: what the node service account may do is then
decided by its IAM roles alone, not by a second, coarser list of scopes."""

MAX_NODE_POOL_NAME_PREFIX = 31
"""GKE node pool names are at most 40 characters; the provider accepts a prefix of at most 31 and
appends a unique suffix (a timestamp and counter up to 14, 9 random characters above)."""

GCP_ARG_NAMES: tuple[str, ...] = tuple(k for k in GPU_NODE_POOL.names if k not in GPU_POOL_ARG_NAMES)
"""The arguments GpuNodePool adds to the cloud-neutral ones."""


def validate_gpu_node_pool_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuNodePool arguments (and its name, when given), one line each."""
    problems = as_arguments(GPU_NODE_POOL.check(args))
    if name is not None and (problem := gpu_pool.pool_name_problem(name)):
        problems.append(problem)
    return problems


def _neutral(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in GPU_POOL_ARG_NAMES}


def disk_type(machine_type: str) -> str:
    """Return the boot disk type for a machine type: pd-balanced, or hyperdisk-balanced where PD is refused."""
    if machine_type.startswith(HYPERDISK_ONLY_MACHINE_PREFIXES):
        return HYPERDISK_DISK_TYPE
    return DEFAULT_DISK_TYPE


def accelerator_type(pool: GpuPool) -> str:
    """Return the Compute Engine accelerator type of the pool's GPU (``nvidia-l4``), from the catalogue."""
    accelerator = catalog.GPUS[pool.gpu].gcp_accelerator
    if accelerator is None:
        # validate_gpu_pool_args refuses GPUs GCP does not rent, and the catalogue names an accelerator
        # for every GPU it offers on GCP (tests/unit/test_catalog.py): a broken catalogue, not bad input.
        raise ValueError(f"the GPU catalogue has GCP offers for {pool.gpu!r} but no GCP accelerator type")
    return accelerator


def initial_node_count(pool: GpuPool, node_locations: Sequence[str] | None) -> int:
    """Return GKE's initial node count, which is per zone: min_nodes spread over the pool's zones.

    Without node_locations the zones are the cluster's, unknown here: the pool then starts with
    min_nodes in each of them, and the autoscaler removes the surplus once it has been idle a while.
    """
    zones = len(node_locations) if node_locations else 1
    return math.ceil(pool.min_nodes / zones)


def _node_pool_name_prefix(name: str) -> str:
    # GKE node pool names start with a letter; the component name (a DNS label) may start with a digit.
    base = name if name[0].isalpha() else f"gpu-{name}"
    return f"{base[: MAX_NODE_POOL_NAME_PREFIX - 1].rstrip('-')}-"


class GpuNodePool(pulumi.ComponentResource):
    """Creates a GKE node pool of GPU nodes with GKE-managed NVIDIA drivers."""

    node_pool_name: pulumi.Output[str]
    """Name of the GKE node pool."""
    machine_type: str
    """Compute Engine machine type of the nodes, from the GPU catalogue (e.g. 'g2-standard-4')."""
    gpus_per_node: int
    """GPUs on each node."""
    hourly_usd_min: float
    """US dollars per hour at min_nodes, at the catalogue's on-demand list price (us-central1)."""
    hourly_usd_max: float
    """US dollars per hour at max_nodes, at the catalogue's on-demand list price (us-central1). An upper
    bound for Spot pools; reserved capacity is billed at the reservation's price instead."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_gpu_node_pool_args(args, name=name)
        if problems:
            raise ArgumentError(f"GpuNodePool {name!r}", problems)
        pool = gpu_pool.resolve_gpu_pool(_neutral(args), CLOUD, what=f"GpuNodePool {name!r}")
        super().__init__(TYPE_TOKEN, name, {}, opts)

        node_pool = self._node_pool(name, args, pool)

        self.node_pool_name = node_pool.name
        self.machine_type = pool.instance_type
        self.gpus_per_node = pool.gpus_per_node
        self.hourly_usd_min = pool.hourly_usd_min
        self.hourly_usd_max = pool.hourly_usd_max
        self.register_outputs(
            {
                "node_pool_name": self.node_pool_name,
                "machine_type": self.machine_type,
                "gpus_per_node": self.gpus_per_node,
                "hourly_usd_min": self.hourly_usd_min,
                "hourly_usd_max": self.hourly_usd_max,
            }
        )

    def _node_pool(self, name: str, args: GpuNodePoolArgs, pool: GpuPool) -> gcp.container.NodePool:
        """Create the GKE node pool: autoscaled over its whole node count, upgraded one node at a time."""
        node_locations = list(args["node_locations"]) if "node_locations" in args else None
        return gcp.container.NodePool(
            f"{name}-node-pool",
            cluster=args["cluster"],
            location=args["location"],
            node_locations=node_locations,
            # A unique name per pool, so that a replacement is created before the old pool is deleted.
            name_prefix=_node_pool_name_prefix(name),
            initial_node_count=initial_node_count(pool, node_locations),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                # Total limits: min_nodes and max_nodes count the whole pool, as on the other clouds,
                # not each zone.
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                # ANY looks for capacity in whichever zone has it and uses unused reservations first,
                # which lowers Spot preemptions; BALANCED spreads on-demand nodes over the zones.
                location_policy="ANY" if pool.spot or args.get("reservation") is not None else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # One node at a time and no surge node: a surge node needs a spare GPU machine (and the
            # quota for it), which is often not to be had, and does not fit a compact placement.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=0, max_unavailable=1
            ),
            placement_policy=(
                gcp.container.NodePoolPlacementPolicyArgs(type=args["placement"]) if "placement" in args else None
            ),
            node_config=_node_config(name, args, pool),
            # initial_node_count only seeds the pool (changing it recreates the pool); the autoscaler
            # owns the node count from then on.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )


def _node_config(name: str, args: GpuNodePoolArgs, pool: GpuPool) -> gcp.container.NodePoolNodeConfigArgs:
    """Return the nodes' configuration: GPUs with GKE-managed drivers, the GPU label and taint, shielded COS nodes."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=pool.instance_type,
        guest_accelerators=[
            gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=accelerator_type(pool),
                count=pool.gpus_per_node,
                # GKE installs and upgrades the NVIDIA driver with the node image.
                gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    gpu_driver_version=args.get("gpu_driver_version", DEFAULT_GPU_DRIVER_VERSION)
                ),
            )
        ],
        # GKE-managed drivers are built for Container-Optimized OS, which also boots verified.
        image_type="COS_CONTAINERD",
        spot=pool.spot,
        disk_size_gb=pool.disk_size_gib,
        disk_type=disk_type(pool.instance_type),
        labels=node_labels(pool, name),
        # The GPU taint is set here although GKE adds it to GPU pools itself: GKE does so only in
        # clusters that also have non-GPU pools, and written out it is part of the pool's
        # template for the autoscaler and of the plan a reviewer reads. Google's own
        # cluster-toolkit gke-node-pool module sets it the same way.
        taints=[
            gcp.container.NodePoolNodeConfigTaintArgs(
                key=t["key"], value=t.get("value", ""), effect=GKE_TAINT_EFFECTS[t["effect"]]
            )
            for t in node_taints(pool)
        ],
        resource_labels={**dict(args.get("resource_labels", {})), COMPONENT_LABEL: name},
        service_account=args["node_service_account"],
        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
        # Pods get the GKE metadata server: Workload Identity credentials for their own
        # Kubernetes service account, never the node service account's token.
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        metadata={"disable-legacy-endpoints": "true"},
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        # gVNIC: the network interface A3 and G2 machines need for their full bandwidth.
        gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
        reservation_affinity=_reservation_affinity(args.get("reservation")),
    )


def _reservation_affinity(reservation: str | None) -> gcp.container.NodePoolNodeConfigReservationAffinityArgs | None:
    if reservation is None:
        return None
    if reservation == ANY_RESERVATION:
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="ANY_RESERVATION")
    return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
        consume_reservation_type="SPECIFIC_RESERVATION", key=RESERVATION_NAME_KEY, values=[reservation]
    )
