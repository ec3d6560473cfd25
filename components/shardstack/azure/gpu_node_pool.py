"""GpuNodePool: an autoscaling AKS user node pool of identical GPU nodes.

Usage::

    from shardstack.azure.gpu_node_pool import GpuNodePool

    pool = GpuNodePool("a100", {
        "gpu": "a100-80gb", "max_nodes": 4, "spot": True, "zones": ["1", "2"],
        "cluster_name": cluster.cluster_name, "resource_group_name": network.resource_group_name,
        "node_subnet_id": network.node_subnet_id,
    })
    pool.vm_size                # 'Standard_NC24ads_A100_v4' (plain: known before anything is created)
    pool.hourly_usd_max         # 4 x its on-demand list price
    pool.required_tolerations   # the taints a pod must tolerate here, the AKS Spot taint included

The GPU, node count, spot, disk, labels and taints arguments are the ones every cloud's GPU pool takes
(``shardstack.gpu_pool``). The nodes run AKS's Ubuntu GPU node image, on which AKS installs the NVIDIA
driver itself (``gpuProfile.driver: Install``). AKS does **not** run the NVIDIA device plugin, which
advertises ``nvidia.com/gpu`` to the scheduler: install it with ``shardstack.k8s.GpuEnablement``
(``device_plugin=True``, its default). The nodes are labelled ``shardstack.dev/gpu: "true"`` and tainted
``nvidia.com/gpu=present:NoSchedule``; AKS's cluster autoscaler reads both from the pool, so the pool
scales up from zero nodes.

Spot pools: AKS labels and taints every Spot node ``kubernetes.azure.com/scalesetpriority=spot`` (taint
effect NoSchedule) and insists on it. The pool declares both, so that the plan shows them and a refresh
finds no drift, and lists the taint in ``required_tolerations``: a GPU workload (and the GPU add-ons'
DaemonSets) must tolerate it, or nothing runs on a Spot node.

AKS node pool names are 1 to 12 lowercase letters and digits, starting with a letter (Linux pools), and
name the pool within its cluster only. The AKS name is derived from the component name (see
:func:`agent_pool_name`); the component name itself goes into the ``shardstack.dev/pool`` label.

The nodes have no public IP addresses and no SSH server: reach a node with ``kubectl debug node/...``.
Their OS disks are Azure managed disks, encrypted at rest by the platform. Pods on these nodes can reach
the Azure Instance Metadata Service and, through it, the cluster's kubelet identity, unless the cluster
restricts IMDS access or a NetworkPolicy blocks 169.254.169.254: keep that identity down to AcrPull and give
pods their own Azure access with Workload Identity.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_azure_native as azure_native

from shardstack import gpu_pool
from shardstack.azure.args import GpuNodePoolArgs
from shardstack.azure.specs import (
    AKS_RESERVED_DOMAIN,
    DEFAULT_GPU_DRIVER,
    DEFAULT_SPOT_MAX_PRICE,
    GPU_DRIVERS,
    GPU_INSTANCE_PROFILES,
    GPU_NODE_POOL,
    MAX_OS_DISK_SIZE_GIB,
    MAX_POOL_NODES,
    MIG_GPUS,
    SPOT_MAX_PRICE_DECIMALS,
)
from shardstack.azure.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPool, Taint, node_labels, node_taints
from shardstack.k8s.tolerations import Toleration
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:azure:GpuNodePool"
CLOUD = "azure"

MAX_AGENT_POOL_NAME_LENGTH = 12
"""AKS Linux node pool names: 1 to 12 lowercase letters and digits, starting with a letter."""
AGENT_POOL_NAME_HASH_LENGTH = 4
"""Hex digits of the component name's hash that end a shortened AKS pool name."""
DIGIT_START_PREFIX = "gpu"
"""Put before an AKS pool name that would start with a digit (component names may; AKS names may not)."""

OS_SKU = "Ubuntu"
"""AKS's Ubuntu GPU node image, the one every GPU VM size AKS supports is built and tested on (the NVIDIA
driver images are cached on it). Azure Linux GPU pools get no automatic security patches (AKS's GPU
guide), which an always-on GPU pool needs."""
OS_DISK_TYPE = "Managed"
"""A managed OS disk of exactly ``disk_size_gib``, not AKS's Ephemeral default where it fits: an Ephemeral
OS disk lives in the VM's cache or temporary disk and must fit there, that room differs from one GPU size
to the next (Standard_NC4as_T4_v3 has 180 GiB of temporary disk, less than the 200 GiB default), a misfit
fails only when the pool is created, and the disk type cannot be changed afterwards. A managed disk takes
any size from 50 to 2048 GiB on every size in the catalogue."""
MAX_PODS = 110
"""Pods per node: the kubelet's default, room for 56 MIG slices (MIG1g on 8 GPUs) plus the system and GPU
DaemonSets. Lower than Azure CNI Overlay's default of 250 because AKS (Kubernetes 1.29+) reserves 20 MB
of node memory per allowed pod."""

SPOT_LABEL_KEY = "kubernetes.azure.com/scalesetpriority"
SPOT_LABEL_VALUE = "spot"
SPOT_TAINT = Taint(key=SPOT_LABEL_KEY, value=SPOT_LABEL_VALUE, effect="NoSchedule")
"""The taint AKS puts on every Spot node; workloads that may run there tolerate it."""
SPOT_EVICTION_POLICY = "Delete"
"""Evicted Spot VMs are deleted, not deallocated: a deallocated VM keeps counting against the GPU quota."""

MAX_SURGE = "0"
MAX_UNAVAILABLE = "1"
"""Regular pools upgrade one node at a time in place, with no surge node: a surge node is one more GPU VM
that quota and regional capacity often do not allow. Spot pools take no upgrade settings (AKS refuses
max surge on Spot pools)."""

CREATE_ONLY_PROPERTIES = (
    "vmSize",
    "gpuInstanceProfile",
    "scaleSetPriority",
    "scaleSetEvictionPolicy",
    "spotMaxPrice",
    "osDiskType",
    "osDiskSizeGB",
    "availabilityZones",
    "vnetSubnetID",
    "maxPods",
    "enableNodePublicIP",
)
"""Agent pool properties AKS sets at creation only: a change replaces the pool."""

_AGENT_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


__all__ = [
    "AKS_RESERVED_DOMAIN",
    "DEFAULT_GPU_DRIVER",
    "DEFAULT_SPOT_MAX_PRICE",
    "GPU_DRIVERS",
    "GPU_INSTANCE_PROFILES",
    "MAX_OS_DISK_SIZE_GIB",
    "MAX_POOL_NODES",
    "MIG_GPUS",
    "SPOT_MAX_PRICE_DECIMALS",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "validate_gpu_node_pool_args",
]

AZURE_ARG_NAMES: tuple[str, ...] = tuple(k for k in GPU_NODE_POOL.names if k not in GPU_POOL_ARG_NAMES)
"""The arguments GpuNodePool adds to the cloud-neutral ones."""


def validate_gpu_node_pool_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuNodePool arguments (and its name, when given), one line each."""
    problems = as_arguments(GPU_NODE_POOL.check(args))
    if name is not None and (problem := gpu_pool.pool_name_problem(name)):
        problems.append(problem)
    return problems


def _neutral(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in GPU_POOL_ARG_NAMES}


def agent_pool_name(name: str) -> str:
    """Return the AKS node pool name for a GpuNodePool called ``name`` (a Kubernetes name).

    The name without its '-', with 'gpu' in front if it would start with a digit, when that fits AKS's
    12 characters ('a100-spot' → 'a100spot', '4xt4' → 'gpu4xt4'). Longer names keep their first 8
    characters and end in 4 hex digits of a hash of the whole name, so that names sharing a long start
    still differ ('inference-east' → 'inferenc' + 4 hex digits). Names that differ only in '-' give the
    same AKS name, which AKS refuses twice in one cluster.
    """
    base = name.replace("-", "").lower()
    if not base[:1].isalpha():
        base = DIGIT_START_PREFIX + base
    if len(base) > MAX_AGENT_POOL_NAME_LENGTH:
        digest = hashlib.sha256(name.encode()).hexdigest()[:AGENT_POOL_NAME_HASH_LENGTH]
        base = base[: MAX_AGENT_POOL_NAME_LENGTH - AGENT_POOL_NAME_HASH_LENGTH] + digest
    if not _AGENT_POOL_NAME.match(base):
        # Every Kubernetes name maps to a valid AKS name; a miss is a bug here, not bad input.
        raise ValueError(f"derived AKS node pool name {base!r} from {name!r} breaks AKS's naming rule")
    return base


def aks_node_taint(taint: Taint) -> str:
    """Return a taint as the AKS API takes it: 'key=value:Effect'."""
    return f"{taint['key']}={taint.get('value', '')}:{taint['effect']}"


def pool_taints(pool: GpuPool) -> list[Taint]:
    """Return every taint of the pool's nodes: the GPU taint, the caller's, and AKS's Spot taint on Spot pools."""
    return [*node_taints(pool), *([SPOT_TAINT] if pool.spot else [])]


def pool_labels(pool: GpuPool, name: str) -> dict[str, str]:
    """Return the pool's node labels: Shardstack's, the caller's, and AKS's Spot label on Spot pools."""
    return {**node_labels(pool, name), **({SPOT_LABEL_KEY: SPOT_LABEL_VALUE} if pool.spot else {})}


def required_tolerations(pool: GpuPool) -> list[Toleration]:
    """Return the tolerations a pod needs to run on the pool's nodes, one per taint of :func:`pool_taints`."""
    return [
        Toleration(key=t["key"], operator="Equal", value=t.get("value", ""), effect=t["effect"])
        for t in pool_taints(pool)
    ]


class GpuNodePool(pulumi.ComponentResource):
    """Creates an AKS user node pool of GPU nodes with AKS-installed NVIDIA drivers."""

    node_pool_name: pulumi.Output[str]
    """Name of the AKS node pool (1 to 12 lowercase letters and digits, see ``agent_pool_name``)."""
    vm_size: str
    """Azure VM size of the nodes, from the GPU catalogue (e.g. 'Standard_NC24ads_A100_v4')."""
    gpus_per_node: int
    """GPUs on each node (whole GPUs, also with a Multi-Instance GPU profile)."""
    hourly_usd_min: float
    """US dollars per hour at min_nodes, at the catalogue's on-demand list price (eastus)."""
    hourly_usd_max: float
    """US dollars per hour at max_nodes, at the catalogue's on-demand list price (eastus). An upper bound
    for Spot pools with the default spot_max_price."""
    required_tolerations: list[Toleration]
    """Tolerations a pod needs to run on these nodes: one per taint (the GPU taint, the caller's taints and,
    on Spot pools, AKS's ``kubernetes.azure.com/scalesetpriority=spot:NoSchedule``)."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_gpu_node_pool_args(args, name=name)
        if problems:
            raise ArgumentError(f"GpuNodePool {name!r}", problems)
        pool = gpu_pool.resolve_gpu_pool(_neutral(args), CLOUD, what=f"GpuNodePool {name!r}")
        super().__init__(TYPE_TOKEN, name, {}, opts)

        zones = list(args["zones"]) if "zones" in args else None
        spot_max_price = float(args.get("spot_max_price", DEFAULT_SPOT_MAX_PRICE))

        agent_pool = azure_native.containerservice.AgentPool(
            f"{name}-node-pool",
            resource_group_name=args["resource_group_name"],
            resource_name_=args["cluster_name"],
            agent_pool_name=agent_pool_name(name),
            mode="User",
            type="VirtualMachineScaleSets",
            os_type="Linux",
            os_sku=OS_SKU,
            vm_size=pool.instance_type,
            # AKS installs the NVIDIA driver itself (the API's default, written out); the device plugin is
            # GpuEnablement's job.
            gpu_profile=azure_native.containerservice.GPUProfileArgs(driver=args.get("gpu_driver", DEFAULT_GPU_DRIVER)),
            gpu_instance_profile=args.get("gpu_instance_profile"),
            enable_auto_scaling=True,
            # The autoscaler owns the count from creation on (see ignore_changes below).
            count=pool.min_nodes,
            min_count=pool.min_nodes,
            max_count=pool.max_nodes,
            availability_zones=zones,
            vnet_subnet_id=args["node_subnet_id"],
            enable_node_public_ip=False,
            max_pods=MAX_PODS,
            os_disk_type=OS_DISK_TYPE,
            os_disk_size_gb=pool.disk_size_gib,
            scale_set_priority="Spot" if pool.spot else "Regular",
            scale_set_eviction_policy=SPOT_EVICTION_POLICY if pool.spot else None,
            spot_max_price=spot_max_price if pool.spot else None,
            node_labels=pool_labels(pool, name),
            node_taints=[aks_node_taint(t) for t in pool_taints(pool)],
            upgrade_settings=(
                None
                if pool.spot
                else azure_native.containerservice.AgentPoolUpgradeSettingsArgs(
                    max_surge=MAX_SURGE, max_unavailable=MAX_UNAVAILABLE
                )
            ),
            # No SSH server on GPU nodes: one less way in; `kubectl debug node/...` reaches them instead.
            security_profile=azure_native.containerservice.AgentPoolSecurityProfileArgs(ssh_access="Disabled"),
            tags=component_tags(name, args.get("tags")),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The cluster autoscaler owns the node count once the pool exists.
                ignore_changes=["count"],
                # AKS refuses to change these on an existing pool; and the AKS name is fixed, so the old
                # pool must go before its replacement can take the name.
                replace_on_changes=list(CREATE_ONLY_PROPERTIES),
                delete_before_replace=True,
            ),
        )

        self.node_pool_name = agent_pool.name
        self.vm_size = pool.instance_type
        self.gpus_per_node = pool.gpus_per_node
        self.hourly_usd_min = pool.hourly_usd_min
        self.hourly_usd_max = pool.hourly_usd_max
        self.required_tolerations = required_tolerations(pool)
        self.register_outputs(
            {
                "node_pool_name": self.node_pool_name,
                "vm_size": self.vm_size,
                "gpus_per_node": self.gpus_per_node,
                "hourly_usd_min": self.hourly_usd_min,
                "hourly_usd_max": self.hourly_usd_max,
                "required_tolerations": self.required_tolerations,
            }
        )
