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
import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_gcp as gcp

from shardstack import catalog, gpu_pool
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.gcp.labels import COMPONENT_LABEL, label_problems
from shardstack.gpu_pool import GPU_POOL_ARG_NAMES, GpuPool, Taint, node_labels, node_taints

TYPE_TOKEN = "shardstack:gcp:GpuNodePool"
CLOUD = "gcp"

"""GCP label set on the pool's VMs to the name of the component that made them."""

GPU_DRIVER_VERSIONS = ("DEFAULT", "LATEST")
"""GKE-managed NVIDIA driver versions: the GKE version's default driver, or the latest one it offers."""
DEFAULT_GPU_DRIVER_VERSION = "DEFAULT"

PLACEMENTS = ("COMPACT",)
ANY_RESERVATION = "ANY"
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"
"""Reservation affinity key that targets one reservation by name (GKE's consuming-reservations guide)."""

# Compact placement, as GKE and Compute Engine document it:
# - "Compact placement is only available for node pools operating in a single zone" (GKE, "Define
#   compact placement for GKE nodes", Standard limitations; Google's cluster-toolkit gke-node-pool
#   module refuses anything else with that message).
# - Compute Engine compact placement policies without a max distance (the kind GKE creates) take
#   "A2, A3, C2, C3, C4, C2D, C3D, G2, H3, N2 and N2D" machines, "1500" VMs at most
#   (https://cloud.google.com/compute/docs/instances/placement-policies-overview; older revisions
#   said 150 VMs and no A3). Of the catalogue's GCP shapes, n1 (T4) is the one left out.
# - Neither page restricts Spot VMs, so spot and compact placement may be combined.
COMPACT_PLACEMENT_MACHINE_SERIES = ("a2", "a3", "g2")
MAX_COMPACT_PLACEMENT_NODES = 1500

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

"""Compute Engine allows 64 labels per resource; one of them is the component's own."""

_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")  # us-central1, northamerica-northeast2 (as in the stack config)
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_CLUSTER_ID = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/clusters/(?P<cluster>[^/]+)$")
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z0-9][-a-z0-9]{0,62}@[a-z0-9][-a-z0-9.]*\.gserviceaccount\.com$")
_RESOURCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_SHARED_RESERVATION = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/(?P<name>[^/]+)$")


class GpuNodePoolArgs(TypedDict, total=False):
    """Arguments of GpuNodePool: the cloud-neutral GPU pool arguments plus the GKE wiring."""

    # The cloud-neutral arguments are spelled out again rather than inherited from GpuPoolArgs:
    # ComponentProvider reads each field's docstring from this class's own source.
    gpu: Required[str]
    """GPU model: a key of the GPU catalogue (``shardstack.catalog.GPUS``), e.g. 'l4' or 'h100-80gb'
    (case-insensitive). It must be offered on GCP."""
    gpus_per_node: int
    """GPUs per node: one of the counts the catalogue offers for this GPU on GCP. Default: 1, or the
    smallest count offered when GCP has no 1-GPU machine type for it (8 for 'h100-80gb')."""
    min_nodes: int
    """Fewest nodes in the whole pool (all zones together), ≥ 0; 0 lets the pool scale to zero when no
    GPU workload is pending. Default: 0."""
    max_nodes: int
    """Most nodes in the whole pool (all zones together), ≥ 1 and ≥ min_nodes; GKE's cluster autoscaler
    adds nodes up to this. Default: 1."""
    spot: bool
    """Use Spot VMs: much cheaper, but Compute Engine may reclaim a node with 30 seconds' notice.
    Default: False (on-demand)."""
    disk_size_gib: int
    """Boot disk per node for images and the weights' local copy, GiB, at least 50; pd-balanced
    (hyperdisk-balanced on A3 Ultra), encrypted. Default: 200."""
    labels: Mapping[str, str]
    """Extra Kubernetes labels on every node. Keys may not use the prefixes Shardstack sets itself
    (app.kubernetes.io/, shardstack.dev/, leaderworkerset.sigs.k8s.io/) nor the kubernetes.io and k8s.io
    domains. Default: none (the pool always sets shardstack.dev/gpu, shardstack.dev/pool and
    shardstack.dev/gpu-type). For GCP labels on the VMs, see ``resource_labels``."""
    taints: Sequence[Taint]
    """Taints on every node in addition to the GPU taint ``nvidia.com/gpu=present:NoSchedule``, which
    is always set. Each key at most once. Default: none."""
    instance_type: str
    """Compute Engine machine type, to pick another catalogue shape with the same GPUs than the cheapest
    one (e.g. 'g2-standard-8' for more vCPUs). It must be one of the catalogue's GCP offers for this GPU
    and gpus_per_node. Default: the cheapest such offer."""
    cluster: Required[pulumi.Input[str]]
    """The GKE cluster the nodes join: its name, or its id 'projects/<project>/locations/<region>/clusters/<name>'."""
    location: Required[str]
    """Region of the cluster, e.g. 'us-central1'. Zones go in ``node_locations``."""
    node_service_account: Required[pulumi.Input[str]]
    """Email of the nodes' IAM service account (the kubelet's and the node agents', not the pods':
    pods cannot reach it), e.g. 'gke-nodes@my-project.iam.gserviceaccount.com'."""
    node_locations: Sequence[str]
    """Zones of ``location`` the nodes are placed in, e.g. ['us-central1-a', 'us-central1-c']: give the
    zones that have the GPU (not every zone has every GPU), the reservation's zone with ``reservation``,
    and exactly one zone with ``placement``. Default: the cluster's zones."""
    placement: str
    """'COMPACT': place the nodes close together in one zone (a compact placement policy) for fast
    shard-to-shard traffic between nodes. Needs exactly one zone in ``node_locations``, at most 1500
    nodes, and an A2, A3 or G2 machine type (A100, H100, H200, L4; not T4). Default: none."""
    reservation: str
    """Compute Engine reservation the nodes consume: 'ANY' (any matching reservation, else on-demand),
    a reservation's name in the cluster's project, or 'projects/<project>/reservations/<name>' for one
    shared from another project. A named reservation is zonal: give its zone in ``node_locations``.
    Not with ``spot``. Default: none (GKE's default applies)."""
    gpu_driver_version: str
    """NVIDIA driver GKE installs: 'DEFAULT' (the default driver of the node's GKE version) or 'LATEST'
    (the latest driver that GKE version offers). Default: 'DEFAULT'."""
    resource_labels: Mapping[str, str]
    """GCP labels on the nodes' VMs and disks, e.g. for billing reports. Keys: a lowercase letter, then
    up to 62 lowercase letters, digits, '_' or '-', not starting with 'goog'; values: up to 63 of those.
    Default: none (``shardstack-component`` is always set)."""


GCP_ARG_NAMES: tuple[str, ...] = tuple(k for k in GpuNodePoolArgs.__annotations__ if k not in GPU_POOL_ARG_NAMES)
"""The arguments GpuNodePool adds to the cloud-neutral ones."""


def validate_gpu_node_pool_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuNodePool arguments, one line each."""
    if not isinstance(args, Mapping):
        return [f"arguments must be a mapping of argument names to values; got {args!r}"]
    problems = gpu_pool.validate_gpu_pool_args(args, CLOUD, known_args=GpuNodePoolArgs.__annotations__)
    # The machine type is known only when the cloud-neutral arguments are valid.
    machine_type = None if problems else gpu_pool.resolve_gpu_pool(_neutral(args), CLOUD).instance_type
    if name is not None:
        problem = gpu_pool.pool_name_problem(name)
        if problem:
            problems.append(problem)
    for arg in ("cluster", "location", "node_service_account"):
        if args.get(arg) is None:
            problems.append(f"{arg} is required")
    location_problems = _location_problems(args.get("location"))
    problems += location_problems
    # Zones and cluster ids are checked against the region only when it is a region.
    region = args.get("location") if not location_problems else None
    problems += _cluster_problems(args.get("cluster"), region)
    account = args.get("node_service_account")
    if isinstance(account, str) and not _SERVICE_ACCOUNT_EMAIL.match(account):
        problems.append(
            f"node_service_account={account!r} is not a service account email like "
            "'gke-nodes@my-project.iam.gserviceaccount.com'"
        )
    elif account is not None and not isinstance(account, str | pulumi.Output):
        problems.append(f"node_service_account must be a service account email; got {account!r}")
    problems += _node_location_problems(args.get("node_locations"), region)
    problems += _placement_problems(args, machine_type)
    problems += _reservation_problems(args)
    driver = args.get("gpu_driver_version", DEFAULT_GPU_DRIVER_VERSION)
    if driver not in GPU_DRIVER_VERSIONS:
        problems.append(
            f"gpu_driver_version={driver!r} must be {one_of(GPU_DRIVER_VERSIONS)}"
            f"{did_you_mean(str(driver).upper(), GPU_DRIVER_VERSIONS)}"
        )
    problems += label_problems(args.get("resource_labels"), "resource_labels")
    return problems


def _neutral(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in GPU_POOL_ARG_NAMES}


def _location_problems(location: Any) -> list[str]:
    if location is None or (isinstance(location, str) and _REGION.match(location)):
        return []
    if isinstance(location, str) and (zone := _ZONE.match(location)):
        return [
            f"location={location!r} is a zone; give the cluster's region ({zone.group(1)!r}) and put the "
            "zone in node_locations"
        ]
    return [f"location={location!r} is not a GCP region like 'us-central1'"]


def _cluster_problems(cluster: Any, region: str | None) -> list[str]:
    if cluster is None or isinstance(cluster, pulumi.Output):
        return []
    if not isinstance(cluster, str):
        return [f"cluster must be the GKE cluster's name or id; got {cluster!r}"]
    if "/" in cluster:
        match = _CLUSTER_ID.match(cluster)
        if not match:
            return [
                f"cluster={cluster!r} is neither a cluster name nor a cluster id like "
                "'projects/my-project/locations/us-central1/clusters/shardstack'"
            ]
        if region is not None and match.group("location") != region:
            return [
                f"cluster={cluster!r} is in {match.group('location')!r}, but location={region!r}; "
                "give the cluster's own region as location"
            ]
        return []
    if not _CLUSTER_NAME.match(cluster):
        return [
            f"cluster={cluster!r} is not a GKE cluster name: a lowercase letter, then at most 39 lowercase "
            "letters, digits and '-', not ending in '-'"
        ]
    return []


def _node_location_problems(zones: Any, region: str | None) -> list[str]:
    if zones is None:
        return []
    if isinstance(zones, str) or not isinstance(zones, Sequence):
        return [f"node_locations must be a list of zones like ['us-central1-a']; got {zones!r}"]
    if not zones:
        return ["node_locations=[] must list at least one zone (leave it out to use the cluster's zones)"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        match = _ZONE.match(zone) if isinstance(zone, str) else None
        if match is None:
            problems.append(f"node_locations[{i}]={zone!r} is not a zone like 'us-central1-a'")
        elif region is not None and match.group(1) != region:
            problems.append(f"node_locations[{i}]={zone!r} is not a zone of location={region!r}; use e.g. '{region}-a'")
        elif zone in seen:
            problems.append(f"node_locations[{i}]={zone!r} is listed twice; give each zone once")
        else:
            seen.add(zone)
    return problems


def _placement_problems(args: Mapping[str, Any], machine_type: str | None) -> list[str]:
    if "placement" not in args:
        return []
    placement = args["placement"]
    if placement not in PLACEMENTS:
        hint = " (did you mean 'COMPACT'?)" if isinstance(placement, str) and placement.upper() == "COMPACT" else ""
        return [f"placement={placement!r} must be {one_of(PLACEMENTS)} or left out{hint}"]
    problems: list[str] = []
    zones = args.get("node_locations")
    if not (isinstance(zones, Sequence) and not isinstance(zones, str) and len(zones) == 1):
        problems.append(
            f"placement='COMPACT' needs exactly one zone in node_locations (GKE places a compact pool in a "
            f"single zone); got node_locations={zones!r}"
        )
    max_nodes = args.get("max_nodes", gpu_pool.DEFAULT_MAX_NODES)
    if isinstance(max_nodes, int) and max_nodes > MAX_COMPACT_PLACEMENT_NODES:
        problems.append(
            f"placement='COMPACT' takes at most {MAX_COMPACT_PLACEMENT_NODES} nodes; got max_nodes={max_nodes}"
        )
    if machine_type is not None and machine_type.split("-")[0] not in COMPACT_PLACEMENT_MACHINE_SERIES:
        series = ", ".join(s.upper() for s in COMPACT_PLACEMENT_MACHINE_SERIES)
        problems.append(
            f"placement='COMPACT' is not available for machine type {machine_type!r}; compact placement "
            f"takes {series} machine types (GPUs A100, H100, H200 or L4): choose another gpu or drop placement"
        )
    return problems


def _reservation_problems(args: Mapping[str, Any]) -> list[str]:
    if "reservation" not in args:
        return []
    reservation = args["reservation"]
    if not isinstance(reservation, str):
        return [f"reservation must be 'ANY' or a reservation's name; got {reservation!r}"]
    problems: list[str] = []
    if reservation != ANY_RESERVATION:
        if reservation.lower() == "any":
            problems.append(
                f"reservation={reservation!r}: write 'ANY' for any matching reservation (a reservation "
                "that is really named 'any' is 'projects/<project>/reservations/any')"
            )
        else:
            shared = _SHARED_RESERVATION.match(reservation)
            reservation_name = shared.group("name") if shared else reservation
            if not _RESOURCE_NAME.match(reservation_name):
                problems.append(
                    f"reservation={reservation!r} is neither 'ANY' nor a reservation name (a lowercase letter, "
                    "then at most 62 lowercase letters, digits and '-') or "
                    "'projects/<project>/reservations/<name>'"
                )
    if args.get("spot") is True:
        # Compute Engine: "You can't consume a reservation to create ... Spot VMs or preemptible
        # instances" (https://cloud.google.com/compute/docs/instances/reservations-consume).
        problems.append(
            f"spot=True and reservation={reservation!r} conflict: Spot VMs never consume reservations; drop one of them"
        )
    return problems


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

        node_locations = list(args["node_locations"]) if "node_locations" in args else None
        reservation = args.get("reservation")
        resource_labels = {**dict(args.get("resource_labels", {})), COMPONENT_LABEL: name}

        node_pool = gcp.container.NodePool(
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
                location_policy="ANY" if pool.spot or reservation is not None else "BALANCED",
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
            node_config=gcp.container.NodePoolNodeConfigArgs(
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
                resource_labels=resource_labels,
                service_account=args["node_service_account"],
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                # Pods get the GKE metadata server: Workload Identity credentials for their own
                # Kubernetes service account, never the node service account's token.
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata={"disable-legacy-endpoints": "true"},
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                # gVNIC: the network interface A3 and G2 machines need for their full bandwidth.
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
                reservation_affinity=_reservation_affinity(reservation),
            ),
            # initial_node_count only seeds the pool (changing it recreates the pool); the autoscaler
            # owns the node count from then on.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )

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


def _reservation_affinity(reservation: str | None) -> gcp.container.NodePoolNodeConfigReservationAffinityArgs | None:
    if reservation is None:
        return None
    if reservation == ANY_RESERVATION:
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="ANY_RESERVATION")
    return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
        consume_reservation_type="SPECIFIC_RESERVATION", key=RESERVATION_NAME_KEY, values=[reservation]
    )
