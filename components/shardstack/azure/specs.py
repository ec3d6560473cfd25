"""The Azure components' arguments, declared once (see :mod:`shardstack.specs`).

``shardstack/azure/args.py`` is generated from these specs (``scripts/generate_specs.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from shardstack import catalog
from shardstack.azure.cluster_specs import CLUSTER, SYSTEM_POOL
from shardstack.azure.kinds import AVAILABILITY_ZONES, PRINCIPAL_IDS, REGION, RESOURCE_GROUP, SUBNET, TAGS
from shardstack.azure.ml_endpoint_specs import ML_ONLINE_ENDPOINT
from shardstack.azure.network_specs import EXISTING_NETWORK, NETWORK
from shardstack.azure.weight_store_specs import WEIGHT_STORE
from shardstack.specs.gpu_pool import gpu_pool_spec, named_pool_spec
from shardstack.specs.kinds import Choice, Input, Kind, Text, Whole
from shardstack.specs.problem import Key, Path, Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Spec, Values

CLOUD = "azure"

MAX_POOL_NODES = 1000
"""Most nodes in one AKS node pool."""
MAX_OS_DISK_SIZE_GIB = 2048
"""Largest AKS OS disk."""

GPU_DRIVERS = ("Install", "None")
"""'Install': AKS installs the NVIDIA driver on each node; 'None': something else does (the NVIDIA GPU
Operator)."""
DEFAULT_GPU_DRIVER = "Install"

GPU_INSTANCE_PROFILES: Mapping[str, int] = {"MIG1g": 7, "MIG2g": 3, "MIG3g": 2, "MIG4g": 1, "MIG7g": 1}
"""AKS's Multi-Instance GPU profiles, with the GPU instances each makes of one GPU."""
MIG_GPUS = ("a100-40gb", "a100-80gb", "h100-80gb", "h100-nvl-94gb")
"""Catalogue GPUs that AKS partitions with ``gpuInstanceProfile`` (A100 and H100 boards)."""

DEFAULT_SPOT_MAX_PRICE = -1.0
"""-1: pay the current Spot price, up to the on-demand price; the node is evicted only for capacity."""
SPOT_MAX_PRICE_DECIMALS = 5

AKS_RESERVED_DOMAIN = "kubernetes.azure.com"
"""Label and taint domain AKS keeps for itself (the Spot label and taint, agent pool and mode labels)."""

# AKS cluster names: 1 to 63 letters, digits, '-' and '_', starting and ending with a letter or digit.
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$")


def _in_aks_domain(key: Any) -> bool:
    domain = str(key).rpartition("/")[0]
    return domain == AKS_RESERVED_DOMAIN or domain.endswith("." + AKS_RESERVED_DOMAIN)


class _SpotMaxPrice(Kind):
    """-1, or a positive price with at most 5 decimal places."""

    @property
    def annotation(self) -> str:
        return "float"

    @property
    def allowed(self) -> str:
        return "-1 (pay up to the on-demand price) or a positive price in US dollars per hour and node, e.g. 2.5"

    def reason(self, value: Any) -> str | None:
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not number or not (value == -1 or value > 0):
            return f"must be {self.allowed}"
        if value != -1 and round(value, SPOT_MAX_PRICE_DECIMALS) != value:
            return f"has more than {SPOT_MAX_PRICE_DECIMALS} decimal places, which Azure refuses"
        return None


def _aks_limits(values: Values) -> Iterator[Problem]:
    if values["max_nodes"] > MAX_POOL_NODES:
        yield Problem(("max_nodes",), f"is more than an AKS node pool holds ({MAX_POOL_NODES})", values["max_nodes"])
    if values["disk_size_gib"] > MAX_OS_DISK_SIZE_GIB:
        yield Problem(
            ("disk_size_gib",),
            f"is more than an AKS OS disk takes ({MAX_OS_DISK_SIZE_GIB} GiB)",
            values["disk_size_gib"],
        )


def _aks_labels(values: Values) -> Iterator[Problem]:
    for key in values.get("labels", {}):
        if _in_aks_domain(key):
            yield Problem(
                ("labels", Key(key)), f"is in the domain AKS reserves ({AKS_RESERVED_DOMAIN!r}); choose another key"
            )


def _aks_taints(values: Values) -> Iterator[Problem]:
    for i, taint in enumerate(values.get("taints", ())):
        if _in_aks_domain(taint["key"]):
            reason = (
                f"is in the domain AKS reserves ({AKS_RESERVED_DOMAIN!r}; AKS sets the Spot taint itself when "
                "spot=True); choose another key"
            )
            yield Problem(("taints", i, "key"), reason, taint["key"])
        if not taint.get("value"):
            # AKS takes node taints as 'key=value:Effect' strings; the Azure CLI refuses an empty value.
            yield Problem(
                ("taints", i),
                "has no value: AKS node taints are 'key=value:Effect' with a value; give "
                f"one, e.g. {{'key': {taint['key']!r}, 'value': 'true', 'effect': "
                f"{taint['effect']!r}}}",
            )


def _spot_price_needs_spot(values: Values) -> Iterator[Problem]:
    if values.given("spot_max_price") and values["spot"] is not True:
        yield Problem(
            ("spot_max_price",),
            "applies to Spot pools only; set spot=True or drop spot_max_price",
            values["spot_max_price"],
        )


def _mig_gpu(values: Values) -> Iterator[Problem]:
    gpu = str(values["gpu"]).strip().lower()
    if values.given("gpu_instance_profile") and catalog.GPUS[gpu].offers_on(CLOUD) and gpu not in MIG_GPUS:
        yield Problem(
            ("gpu_instance_profile",),
            "needs a GPU with Multi-Instance GPU support ("
            f"{', '.join(repr(g) for g in MIG_GPUS)}); gpu={values['gpu']!r} has none. Drop "
            "gpu_instance_profile or choose one of those GPUs",
            values["gpu_instance_profile"],
        )


GPU_NODE_POOL = gpu_pool_spec(CLOUD).extend(
    "GpuNodePoolArgs",
    "Arguments of GpuNodePool: the cloud-neutral GPU pool arguments plus the AKS wiring.",
    (
        Arg(
            "cluster_name",
            Input(
                Text(
                    "an AKS cluster name: 1 to 63 letters, digits, '-' and '_', starting and "
                    "ending with a letter or digit",
                    lambda v: (
                        None
                        if _CLUSTER_NAME.match(v)
                        else "is not an AKS cluster name: 1 to 63 letters, digits, '-' and '_', starting "
                        "and ending with a letter or digit"
                    ),
                )
            ),
            "Name of the AKS cluster the nodes join.",
            required=True,
        ),
        Arg(
            "resource_group_name",
            RESOURCE_GROUP,
            "Resource group of the AKS cluster (not its node resource group).",
            required=True,
        ),
        Arg(
            "node_subnet_id",
            SUBNET,
            "ARM ID of the subnet the nodes are placed in, in "
            "the cluster's virtual network: '/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/"
            "virtualNetworks/<vnet>/subnets/<subnet>'.",
            required=True,
        ),
        Arg(
            "zones",
            AVAILABILITY_ZONES,
            "Availability zones of the cluster's region the nodes are placed in, e.g. ['1', '2']: give the zones "
            "that have the VM size (not every zone has every GPU size).",
            default_doc="none (Azure places the nodes without zone pinning)",
        ),
        Arg(
            "spot_max_price",
            _SpotMaxPrice(),
            "Most US dollars per hour and node to pay for a Spot VM, with at most "
            f"{SPOT_MAX_PRICE_DECIMALS} decimal places; Azure evicts the node when the Spot price rises above it. -1 "
            "pays up to the on-demand price, so that nodes are evicted only when Azure needs the capacity back. Only "
            "with ``spot``.",
            default=DEFAULT_SPOT_MAX_PRICE,
            default_doc="-1",
        ),
        Arg(
            "gpu_instance_profile",
            Choice(tuple(GPU_INSTANCE_PROFILES)),
            "Multi-Instance GPU profile that splits "
            "each GPU into isolated instances: "
            + ", ".join(f"'{p}' ({n} per GPU)" for p, n in GPU_INSTANCE_PROFILES.items())
            + f". A100 and H100 GPUs only ({', '.join(repr(g) for g in MIG_GPUS)}); the device plugin must run with a "
            "MIG strategy.",
            default_doc="none (whole GPUs)",
        ),
        Arg(
            "gpu_driver",
            Choice(GPU_DRIVERS),
            "'Install': AKS installs the NVIDIA driver on every node; 'None': it "
            "does not, for the NVIDIA GPU Operator to install its own.",
            default=DEFAULT_GPU_DRIVER,
        ),
        Arg(
            "tags",
            TAGS,
            "Azure tags for the node pool and its VM scale set.",
            default_doc="none (``shardstack-component`` is always set)",
        ),
    ),
    rules=(
        Rule(("max_nodes", "disk_size_gib"), _aks_limits),
        Rule(("labels",), _aks_labels),
        Rule(("taints",), _aks_taints),
        Rule(("spot_max_price", "spot"), _spot_price_needs_spot),
        Rule(("gpu", "gpu_instance_profile"), _mig_gpu),
    ),
)
"""GpuNodePool's arguments."""

WIRED_POOL_ARGS = ("cluster_name", "resource_group_name", "node_subnet_id")
"""What AzureInstallation sets on each of its pools itself."""

NAMED_GPU_POOL = named_pool_spec(
    GPU_NODE_POOL,
    WIRED_POOL_ARGS,
    "A GPU pool (see "
    ":class:`~shardstack.azure.gpu_node_pool.GpuNodePool`) without the cluster, its "
    "resource group and subnet, plus its name.",
)
"""An AzureInstallation's GPU pool."""


# --- Registry -----------------------------------------------------------------------------------------------

REGISTRY_SKUS = ("Standard", "Premium")
DEFAULT_REGISTRY_SKU = "Premium"
"""Highest pull concurrency and bandwidth, and the untagged-manifest retention policy (see the Registry doc)."""
RETENTION_SKUS = ("Premium",)
"""The SKUs that support the retention policy for untagged manifests."""
DEFAULT_UNTAGGED_RETENTION_DAYS = 7
"""Untagged manifests are superseded builds nobody references by tag any more."""
MAX_UNTAGGED_RETENTION_DAYS = 365
MIN_REGISTRY_NAME_LENGTH = 5
MAX_REGISTRY_NAME_LENGTH = 50


class RegistrySku(Choice):
    """A registry SKU; 'Basic' gets the reason it is not offered."""

    def reason(self, value: Any) -> str | None:
        reason = super().reason(value)
        if reason is not None and value == "Basic":
            return f"{reason} ('Basic' has too little pull throughput for GPU nodes)"
        return reason


class RegistryName(Kind):
    """A container registry name: 5 to 50 letters and digits (each rule it breaks is a problem)."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return f"a registry name: {MIN_REGISTRY_NAME_LENGTH} to {MAX_REGISTRY_NAME_LENGTH} letters and digits"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        if not MIN_REGISTRY_NAME_LENGTH <= len(value) <= MAX_REGISTRY_NAME_LENGTH:
            reason = f"has {len(value)} characters; a registry name has 5 to 50"
            problems.append(Problem(path, reason, value))
        if bad := sorted({c for c in value if not (c.isascii() and c.isalnum())}):
            reason = f"contains {', '.join(repr(c) for c in bad)}; a registry name may contain only letters and digits"
            problems.append(Problem(path, reason, value))
        return problems


def _retention_needs_premium(values: Values) -> Iterator[Problem]:
    if values.given("untagged_retention_days") and values["sku"] not in RETENTION_SKUS:
        yield Problem(
            ("untagged_retention_days",),
            "needs sku 'Premium': the retention policy for untagged manifests is a Premium feature "
            f"(sku is {values['sku']!r})",
            values["untagged_retention_days"],
        )


REGISTRY = Spec(
    "RegistryArgs",
    "Arguments of Registry.",
    (
        Arg(
            "resource_group_name",
            RESOURCE_GROUP,
            "Resource group of the registry, e.g. the Network's ``resource_group_name``.",
            required=True,
        ),
        Arg(
            "location",
            REGION,
            "Azure region of the registry, e.g. 'eastus': best the cluster's, so that pulls stay in-region.",
            required=True,
        ),
        Arg(
            "registry_name",
            RegistryName(),
            "Globally unique registry name: 5 to 50 letters and digits; the registry URL is "
            "``<lowercased name>.azurecr.io``.",
            default_doc="the component name's lowercase letters and digits (at most 42) followed by 8 random ones",
        ),
        Arg(
            "sku",
            RegistrySku(REGISTRY_SKUS),
            "Service tier: 'Premium' (most pull throughput, untagged-manifest retention, private endpoints) or "
            "'Standard' (cheaper, none of those).",
            default=DEFAULT_REGISTRY_SKU,
        ),
        Arg(
            "untagged_retention_days",
            Whole(0, MAX_UNTAGGED_RETENTION_DAYS),
            "Days an untagged manifest is kept before the retention policy deletes it, 0 to 365 (0 deletes it as "
            "soon as it is untagged). Premium only.",
            default=DEFAULT_UNTAGGED_RETENTION_DAYS,
            default_doc=f"{DEFAULT_UNTAGGED_RETENTION_DAYS} on Premium; on Standard untagged manifests are kept",
        ),
        Arg(
            "reader_principal_ids",
            PRINCIPAL_IDS,
            "Object IDs of the service principals or managed identities that may pull (e.g. the Cluster's "
            "``kubelet_identity_object_id``), each given AcrPull on this registry.",
            default_doc="none",
        ),
        Arg("tags", TAGS, "Tags added to the registry, next to ``shardstack-component: <name>``.", default_doc="none"),
    ),
    rules=(Rule(("sku", "untagged_retention_days"), _retention_needs_premium),),
)
"""Registry's arguments."""

# --- AzureInstallation's parts ----------------------------------------------------------------------------------
# Each part's arguments without what the installation wires itself, so that checking them needs no stand-ins.

WIRED_NETWORK_ARGS = ("location",)
WIRED_CLUSTER_ARGS = ("resource_group_name", "location", "node_subnet_id", "managed_prometheus")
WIRED_STORE_ARGS = ("resource_group_name",)
WIRED_REGISTRY_ARGS = ("resource_group_name",)

INSTALLATION_NETWORK = NETWORK.without(
    WIRED_NETWORK_ARGS,
    name="InstallationNetwork",
    doc="Network arguments (see :class:`~shardstack.azure.network.Network`) without ``location``.",
)
INSTALLATION_CLUSTER = CLUSTER.without(
    WIRED_CLUSTER_ARGS,
    name="InstallationCluster",
    doc="Cluster arguments (see :class:`~shardstack.azure.cluster.Cluster`) without its resource group, location "
    "and subnet.",
)
INSTALLATION_WEIGHT_STORE = WEIGHT_STORE.without(
    WIRED_STORE_ARGS,
    name="InstallationWeightStore",
    doc="WeightStore arguments (see :class:`~shardstack.azure.weight_store.WeightStore`) without the resource "
    "group; the location defaults to the installation's.",
).with_arg(
    "location",
    required=False,
    doc="Azure region of the storage account.",
    default_doc="the installation's ``location``",
)
INSTALLATION_REGISTRY = REGISTRY.without(
    WIRED_REGISTRY_ARGS,
    name="InstallationRegistry",
    doc="Registry arguments (see :class:`~shardstack.azure.registry.Registry`) without the resource group; the "
    "location defaults to the installation's.",
).with_arg(
    "location",
    required=False,
    doc="Azure region of the registry.",
    default_doc="the installation's ``location``",
)

ARGS = ArgsModule(
    "shardstack.azure.args",
    "Azure component arguments.",
    __name__,
    (
        GPU_NODE_POOL,
        NAMED_GPU_POOL,
        REGISTRY,
        EXISTING_NETWORK,
        NETWORK,
        SYSTEM_POOL,
        CLUSTER,
        WEIGHT_STORE,
        INSTALLATION_NETWORK,
        INSTALLATION_CLUSTER,
        INSTALLATION_WEIGHT_STORE,
        INSTALLATION_REGISTRY,
        ML_ONLINE_ENDPOINT,
    ),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
