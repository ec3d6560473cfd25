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
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_azure_native as azure_native

from shardstack import catalog, gpu_pool
from shardstack.azure.arm import resource_group_name_problem, subnet_id_problem, zones_problems
from shardstack.azure.tags import component_tags, tag_problems
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPool, Taint, node_labels, node_taints
from shardstack.k8s.tolerations import Toleration

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
MAX_OS_DISK_SIZE_GIB = 2048
"""Largest AKS OS disk."""
MAX_POOL_NODES = 1000
"""Most nodes in one AKS node pool."""
MAX_PODS = 110
"""Pods per node: the kubelet's default, room for 56 MIG slices (MIG1g on 8 GPUs) plus the system and GPU
DaemonSets. Lower than Azure CNI Overlay's default of 250 because AKS (Kubernetes 1.29+) reserves 20 MB
of node memory per allowed pod."""

GPU_DRIVERS = ("Install", "None")
"""'Install': AKS installs the NVIDIA driver on each node; 'None': something else does (the NVIDIA GPU
Operator)."""
DEFAULT_GPU_DRIVER = "Install"

GPU_INSTANCE_PROFILES: Mapping[str, int] = {"MIG1g": 7, "MIG2g": 3, "MIG3g": 2, "MIG4g": 1, "MIG7g": 1}
"""AKS's Multi-Instance GPU profiles, with the GPU instances each makes of one GPU."""
MIG_GPUS = ("a100-40gb", "a100-80gb", "h100-80gb", "h100-nvl-94gb")
"""Catalogue GPUs that AKS partitions with ``gpuInstanceProfile`` (A100 and H100 boards)."""

SPOT_LABEL_KEY = "kubernetes.azure.com/scalesetpriority"
SPOT_LABEL_VALUE = "spot"
SPOT_TAINT = Taint(key=SPOT_LABEL_KEY, value=SPOT_LABEL_VALUE, effect="NoSchedule")
"""The taint AKS puts on every Spot node; workloads that may run there tolerate it."""
SPOT_EVICTION_POLICY = "Delete"
"""Evicted Spot VMs are deleted, not deallocated: a deallocated VM keeps counting against the GPU quota."""
DEFAULT_SPOT_MAX_PRICE = -1.0
"""-1: pay the current Spot price, up to the on-demand price; the node is evicted only for capacity."""
SPOT_MAX_PRICE_DECIMALS = 5

AKS_RESERVED_DOMAIN = "kubernetes.azure.com"
"""Label and taint domain AKS keeps for itself (the Spot label and taint, agent pool and mode labels)."""

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
# AKS cluster names: 1 to 63 letters, digits, '-' and '_', starting and ending with a letter or digit.
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$")


class GpuNodePoolArgs(TypedDict, total=False):
    """Arguments of GpuNodePool: the cloud-neutral GPU pool arguments plus the AKS wiring."""

    # The cloud-neutral arguments are spelled out again rather than inherited from GpuPoolArgs:
    # ComponentProvider reads each field's docstring from this class's own source.
    gpu: Required[str]
    """GPU model: a key of the GPU catalogue (``shardstack.catalog.GPUS``), e.g. 't4' or 'a100-80gb'
    (case-insensitive). It must be offered on Azure."""
    gpus_per_node: int
    """GPUs per node: one of the counts the catalogue offers for this GPU on Azure. Default: 1, or the
    smallest count offered when Azure has no 1-GPU size for it (8 for 'h100-80gb')."""
    min_nodes: int
    """Fewest nodes, ≥ 0; 0 lets the pool scale to zero when no GPU workload is pending. Default: 0."""
    max_nodes: int
    """Most nodes, ≥ 1 and ≥ min_nodes, at most 1000; AKS's cluster autoscaler adds nodes up to this.
    Default: 1."""
    spot: bool
    """Use Azure Spot VMs: much cheaper, but Azure may evict a node with 30 seconds' notice. Spot nodes
    carry AKS's Spot taint, which workloads must tolerate (see ``required_tolerations``). Default: False
    (regular VMs)."""
    disk_size_gib: int
    """OS disk per node for images and the weights' local copy, GiB, from 50 to 2048; a managed disk,
    encrypted at rest. Default: 200."""
    labels: Mapping[str, str]
    """Extra Kubernetes labels on every node. Keys may not use the prefixes Shardstack sets itself
    (app.kubernetes.io/, shardstack.dev/, leaderworkerset.sigs.k8s.io/) nor the kubernetes.io, k8s.io and
    kubernetes.azure.com domains. Default: none (the pool always sets shardstack.dev/gpu, shardstack.dev/pool
    and shardstack.dev/gpu-type). For Azure tags on the VMs, see ``tags``."""
    taints: Sequence[Taint]
    """Taints on every node in addition to the GPU taint ``nvidia.com/gpu=present:NoSchedule``, which
    is always set. Each key at most once. Default: none."""
    instance_type: str
    """Azure VM size, to pick another catalogue size with the same GPUs than the cheapest one (e.g.
    'Standard_NC8as_T4_v3' for more vCPUs). It must be one of the catalogue's Azure offers for this GPU
    and gpus_per_node. Default: the cheapest such offer."""
    cluster_name: Required[pulumi.Input[str]]
    """Name of the AKS cluster the nodes join."""
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the AKS cluster (not its node resource group)."""
    node_subnet_id: Required[pulumi.Input[str]]
    """ARM ID of the subnet the nodes are placed in, in the cluster's virtual network:
    '/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'."""
    zones: Sequence[str]
    """Availability zones of the cluster's region the nodes are placed in, e.g. ['1', '2']: give the zones
    that have the VM size (not every zone has every GPU size). Default: none (Azure places the nodes
    without zone pinning)."""
    spot_max_price: float
    """Most US dollars per hour and node to pay for a Spot VM, with at most 5 decimal places; Azure evicts
    the node when the Spot price rises above it. -1 pays up to the on-demand price, so that nodes are
    evicted only when Azure needs the capacity back. Only with ``spot``. Default: -1."""
    gpu_instance_profile: str
    """Multi-Instance GPU profile that splits each GPU into isolated instances: 'MIG1g' (7 per GPU),
    'MIG2g' (3), 'MIG3g' (2), 'MIG4g' (1) or 'MIG7g' (1). A100 and H100 GPUs only ('a100-40gb',
    'a100-80gb', 'h100-80gb', 'h100-nvl-94gb'); the device plugin must run with a MIG strategy.
    Default: none (whole GPUs)."""
    gpu_driver: str
    """'Install': AKS installs the NVIDIA driver on every node; 'None': it does not, for the NVIDIA GPU
    Operator to install its own. Default: 'Install'."""
    tags: Mapping[str, str]
    """Azure tags for the node pool and its VM scale set. Default: none (``shardstack-component`` is
    always set)."""


AZURE_ARG_NAMES: tuple[str, ...] = tuple(k for k in GpuNodePoolArgs.__annotations__ if k not in GPU_POOL_ARG_NAMES)
"""The arguments GpuNodePool adds to the cloud-neutral ones."""


def validate_gpu_node_pool_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuNodePool arguments, one line each."""
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    problems = gpu_pool.validate_gpu_pool_args(args, CLOUD, known_args=GpuNodePoolArgs.__annotations__)
    if name is not None:
        problem = gpu_pool.pool_name_problem(name)
        if problem:
            problems.append(problem)
    for arg in ("cluster_name", "resource_group_name", "node_subnet_id"):
        if args.get(arg) is None:
            problems.append(f"{arg} is required")
    problems += _name_problems(
        "cluster_name",
        args.get("cluster_name"),
        _CLUSTER_NAME,
        "an AKS cluster name: 1 to 63 letters, digits, '-' and '_', starting and ending with a letter or digit",
    )
    # None is reported as missing above.
    group, subnet = args.get("resource_group_name"), args.get("node_subnet_id")
    if group is not None and (problem := resource_group_name_problem(group)):
        problems.append(problem)
    if subnet is not None and (problem := subnet_id_problem("node_subnet_id", subnet)):
        problems.append(problem)
    problems += _aks_limit_problems(args)
    problems += _aks_label_and_taint_problems(args)
    problems += zones_problems(args.get("zones"))
    problems += _spot_max_price_problems(args)
    problems += _gpu_instance_profile_problems(args)
    if "gpu_driver" in args and args["gpu_driver"] not in GPU_DRIVERS:
        driver = args["gpu_driver"]
        problems.append(f"gpu_driver={driver!r} must be {one_of(GPU_DRIVERS)}{_case_hint(driver, GPU_DRIVERS)}")
    problems += tag_problems(args.get("tags"))
    return problems


def _neutral(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in GPU_POOL_ARG_NAMES}


def _case_hint(value: Any, allowed: Sequence[str]) -> str:
    """Return ``" (did you mean 'X'?)"`` when ``value`` is an allowed value in another case, or close to one."""
    if not isinstance(value, str):
        return ""
    by_lower = {a.lower(): a for a in allowed}
    if value.lower() in by_lower:
        return f" (did you mean {by_lower[value.lower()]!r}?)"
    return did_you_mean(value, allowed)


def _name_problems(arg: str, value: Any, pattern: re.Pattern[str], what: str) -> list[str]:
    if value is None or isinstance(value, pulumi.Output):
        return []
    if not isinstance(value, str) or not pattern.match(value):
        return [f"{arg}={value!r} is not {what}"]
    return []


def _aks_limit_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    max_nodes = args.get("max_nodes")
    if isinstance(max_nodes, int) and not isinstance(max_nodes, bool) and max_nodes > MAX_POOL_NODES:
        problems.append(f"max_nodes={max_nodes!r} is more than an AKS node pool holds ({MAX_POOL_NODES})")
    disk = args.get("disk_size_gib")
    if isinstance(disk, int) and not isinstance(disk, bool) and disk > MAX_OS_DISK_SIZE_GIB:
        problems.append(f"disk_size_gib={disk!r} is more than an AKS OS disk takes ({MAX_OS_DISK_SIZE_GIB} GiB)")
    return problems


def _in_aks_domain(key: Any) -> bool:
    domain = str(key).rpartition("/")[0]
    return domain == AKS_RESERVED_DOMAIN or domain.endswith("." + AKS_RESERVED_DOMAIN)


def _aks_label_and_taint_problems(args: Mapping[str, Any]) -> list[str]:
    """AKS-only rules on the caller's labels and taints (the cloud-neutral ones are checked in gpu_pool)."""
    problems: list[str] = []
    labels = args.get("labels")
    if isinstance(labels, Mapping):
        problems += [
            f"labels key {key!r} is in the domain AKS reserves ({AKS_RESERVED_DOMAIN!r}); choose another key"
            for key in labels
            if _in_aks_domain(key)
        ]
    taints = args.get("taints")
    if isinstance(taints, Sequence) and not isinstance(taints, str):
        for i, taint in enumerate(taints):
            if not isinstance(taint, Mapping):
                continue  # reported by gpu_pool
            if _in_aks_domain(taint.get("key", "")):
                problems.append(
                    f"taints[{i}]['key']={taint['key']!r} is in the domain AKS reserves ({AKS_RESERVED_DOMAIN!r}; "
                    "AKS sets the Spot taint itself when spot=True); choose another key"
                )
            if "key" in taint and "effect" in taint and not taint.get("value"):
                # AKS takes node taints as 'key=value:Effect' strings; the Azure CLI refuses an empty value.
                problems.append(
                    f"taints[{i}] has no value: AKS node taints are 'key=value:Effect' with a value; "
                    f"give one, e.g. {{'key': {taint['key']!r}, 'value': 'true', 'effect': {taint['effect']!r}}}"
                )
    return problems


def _spot_max_price_problems(args: Mapping[str, Any]) -> list[str]:
    if "spot_max_price" not in args:
        return []
    price = args["spot_max_price"]
    number = isinstance(price, int | float) and not isinstance(price, bool) and math.isfinite(price)
    if not number or not (price == -1 or price > 0):
        return [
            f"spot_max_price={price!r} must be -1 (pay up to the on-demand price) or a positive price in US "
            "dollars per hour and node, e.g. 2.5"
        ]
    problems: list[str] = []
    if price != -1 and round(price, SPOT_MAX_PRICE_DECIMALS) != price:
        problems.append(
            f"spot_max_price={price!r} has more than {SPOT_MAX_PRICE_DECIMALS} decimal places, which Azure refuses"
        )
    if args.get("spot") is not True:
        problems.append(f"spot_max_price={price!r} applies to Spot pools only; set spot=True or drop spot_max_price")
    return problems


def _catalogue_gpu(args: Mapping[str, Any]) -> str | None:
    """Return the catalogue key of ``args['gpu']`` when it is an Azure GPU, else None (gpu_pool reports it)."""
    gpu = args.get("gpu")
    if not isinstance(gpu, str):
        return None
    key = gpu.strip().lower()
    model = catalog.GPUS.get(key)
    return key if model is not None and model.offers_on(CLOUD) else None


def _gpu_instance_profile_problems(args: Mapping[str, Any]) -> list[str]:
    if "gpu_instance_profile" not in args:
        return []
    profile = args["gpu_instance_profile"]
    if profile not in GPU_INSTANCE_PROFILES:
        return [
            f"gpu_instance_profile={profile!r} must be {one_of(GPU_INSTANCE_PROFILES)}"
            f"{_case_hint(profile, tuple(GPU_INSTANCE_PROFILES))}"
        ]
    gpu = _catalogue_gpu(args)
    if gpu is not None and gpu not in MIG_GPUS:
        return [
            f"gpu_instance_profile={profile!r} needs a GPU with Multi-Instance GPU support "
            f"({', '.join(repr(g) for g in MIG_GPUS)}); gpu={args['gpu']!r} has none. Drop gpu_instance_profile "
            "or choose one of those GPUs"
        ]
    return []


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
            gpu_profile=azure_native.containerservice.GPUProfileArgs(
                driver=args.get("gpu_driver", DEFAULT_GPU_DRIVER)
            ),
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
