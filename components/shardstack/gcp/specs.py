"""The GCP components' arguments, declared once (see :mod:`shardstack.specs`): the GPU pool here, the other
components in their own spec modules, gathered in :data:`ARGS`.

``shardstack/gcp/args.py`` is generated from these specs (``scripts/generate_specs.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from shardstack.gcp.cluster_specs import CLUSTER, INSTALLATION_CLUSTER, SYSTEM_POOL
from shardstack.gcp.labels import GCP_LABELS
from shardstack.gcp.network_specs import EXISTING_NETWORK, INSTALLATION_NETWORK, NETWORK
from shardstack.gcp.storage_specs import INSTALLATION_REGISTRY, INSTALLATION_WEIGHT_STORE, REGISTRY, WEIGHT_STORE
from shardstack.gcp.vertex_endpoint_specs import VERTEX_ENDPOINT
from shardstack.specs.gpu_pool import gpu_model, gpu_pool_spec, named_pool_spec, resolved_gpus_per_node
from shardstack.specs.kinds import Choice, Input, ListOf, Text
from shardstack.specs.problem import Problem
from shardstack.specs.render import ArgsModule
from shardstack.specs.spec import Arg, Rule, Values

CLOUD = "gcp"

GPU_DRIVER_VERSIONS = ("DEFAULT", "LATEST")
"""GKE-managed NVIDIA driver versions: the GKE version's default driver, or the latest one it offers."""
DEFAULT_GPU_DRIVER_VERSION = "DEFAULT"

PLACEMENTS = ("COMPACT",)
ANY_RESERVATION = "ANY"

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

REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")  # us-central1, northamerica-northeast2 (as in the stack config)
ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_CLUSTER_ID = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/clusters/(?P<cluster>[^/]+)$")
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z0-9][-a-z0-9]{0,62}@[a-z0-9][-a-z0-9.]*\.gserviceaccount\.com$")
_RESOURCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_SHARED_RESERVATION = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/(?P<name>[^/]+)$")


def _location(value: str) -> str | None:
    if REGION.match(value):
        return None
    if zone := ZONE.match(value):
        return f"is a zone; give the cluster's region ({zone.group(1)!r}) and put the zone in node_locations"
    return "is not a GCP region like 'us-central1'"


def _cluster(value: str) -> str | None:
    if "/" in value:
        if not _CLUSTER_ID.match(value):
            return (
                "is neither a cluster name nor a cluster id like "
                "'projects/my-project/locations/us-central1/clusters/shardstack'"
            )
        return None
    if not _CLUSTER_NAME.match(value):
        return (
            "is not a GKE cluster name: a lowercase letter, then at most 39 lowercase letters, digits and '-', "
            "not ending in '-'"
        )
    return None


def _service_account(value: str) -> str | None:
    if _SERVICE_ACCOUNT_EMAIL.match(value):
        return None
    return "is not a service account email like 'gke-nodes@my-project.iam.gserviceaccount.com'"


def _zone(value: str) -> str | None:
    return None if ZONE.match(value) else "is not a zone like 'us-central1-a'"


def _reservation_name(value: str) -> str | None:
    if value == ANY_RESERVATION:
        return None
    if value.lower() == "any":
        return (
            "is written 'ANY' for any matching reservation (a reservation that is really named 'any' is "
            "'projects/<project>/reservations/any')"
        )
    shared = _SHARED_RESERVATION.match(value)
    if not _RESOURCE_NAME.match(shared.group("name") if shared else value):
        return (
            "is neither 'ANY' nor a reservation name (a lowercase letter, then at most 62 lowercase letters, "
            "digits and '-') or 'projects/<project>/reservations/<name>'"
        )
    return None


def _cluster_in_location(values: Values) -> Iterator[Problem]:
    cluster, region = values["cluster"], values["location"]
    match = _CLUSTER_ID.match(cluster) if isinstance(cluster, str) else None
    if match is not None and match.group("location") != region:
        yield Problem(
            ("cluster",),
            f"is in {match.group('location')!r}, but location={region!r}; give the cluster's own region as location",
            cluster,
        )


def _zones_in_location(values: Values) -> Iterator[Problem]:
    if not values.given("node_locations"):
        return
    region = values["location"]
    for i, zone in enumerate(values["node_locations"]):
        if ZONE.match(zone).group(1) != region:  # type: ignore[union-attr]  # the zone passed its own check
            yield Problem(("node_locations", i), f"is not a zone of location={region!r}; use e.g. '{region}-a'", zone)


def _compact_placement(values: Values) -> Iterator[Problem]:
    if not values.given("placement"):
        return
    zones: Sequence[str] | None = values.get("node_locations")
    if zones is None or len(zones) != 1:
        yield Problem(
            ("placement",),
            "needs exactly one zone in node_locations (GKE places a compact pool in a "
            f"single zone); got node_locations={zones!r}",
            "COMPACT",
        )
    if values["max_nodes"] > MAX_COMPACT_PLACEMENT_NODES:
        yield Problem(
            ("placement",),
            f"takes at most {MAX_COMPACT_PLACEMENT_NODES} nodes; got max_nodes={values['max_nodes']}",
            "COMPACT",
        )
    instance_type = (
        values["instance_type"]
        if values.given("instance_type")
        else gpu_model(values).offer(CLOUD, resolved_gpus_per_node(values, CLOUD)).instance_type
    )
    if instance_type.split("-")[0] not in COMPACT_PLACEMENT_MACHINE_SERIES:
        series = ", ".join(s.upper() for s in COMPACT_PLACEMENT_MACHINE_SERIES)
        yield Problem(
            ("placement",),
            f"is not available for machine type {instance_type!r}; compact placement "
            f"takes {series} machine types (GPUs A100, H100, H200 or L4): choose another "
            "gpu or drop placement",
            "COMPACT",
        )


def _spot_reservation(values: Values) -> Iterator[Problem]:
    if values.given("reservation") and values["spot"] is True:
        # Compute Engine: "You can't consume a reservation to create ... Spot VMs or preemptible
        # instances" (https://cloud.google.com/compute/docs/instances/reservations-consume).
        yield Problem(
            ("spot",),
            f"and reservation={values['reservation']!r} conflict: Spot VMs never consume "
            "reservations; drop one of them",
            True,
        )


GPU_NODE_POOL = gpu_pool_spec(CLOUD).extend(
    "GpuNodePoolArgs",
    "Arguments of GpuNodePool: the cloud-neutral GPU pool arguments plus the GKE wiring.",
    (
        Arg(
            "cluster",
            Input(Text("the GKE cluster's name or id", _cluster)),
            "The GKE cluster the nodes join: its "
            "name, or its id 'projects/<project>/locations/<region>/clusters/<name>'.",
            required=True,
        ),
        Arg(
            "location",
            Text("a GCP region like 'us-central1'", _location),
            "Region of the cluster, e.g. 'us-central1'. Zones go in ``node_locations``.",
            required=True,
        ),
        Arg(
            "node_service_account",
            Input(Text("a service account email", _service_account)),
            "Email of the nodes' "
            "IAM service account (the kubelet's and the node agents', not the pods': pods cannot reach it), e.g. "
            "'gke-nodes@my-project.iam.gserviceaccount.com'.",
            required=True,
        ),
        Arg(
            "node_locations",
            ListOf(Text("a zone like 'us-central1-a'", _zone), min_items=1, unique=True),
            "Zones of "
            "``location`` the nodes are placed in, e.g. ['us-central1-a', 'us-central1-c']: give the zones that have "
            "the GPU (not every zone has every GPU), the reservation's zone with ``reservation``, and exactly one zone "
            "with ``placement``.",
            default_doc="the cluster's zones",
        ),
        Arg(
            "placement",
            Choice(PLACEMENTS),
            "'COMPACT': place the nodes close together in one zone (a compact "
            "placement policy) for fast shard-to-shard traffic between nodes. Needs exactly one zone in "
            f"``node_locations``, at most {MAX_COMPACT_PLACEMENT_NODES} nodes, and an A2, A3 or G2 machine type "
            "(A100, H100, H200, L4; not T4).",
        ),
        Arg(
            "reservation",
            Text("'ANY' or a reservation's name", _reservation_name),
            "Compute Engine reservation "
            "the nodes consume: 'ANY' (any matching reservation, else on-demand), a reservation's name in the "
            "cluster's project, or 'projects/<project>/reservations/<name>' for one shared from another project. A "
            "named reservation is zonal: give its zone in ``node_locations``. Not with ``spot``.",
            default_doc="none (GKE's default applies)",
        ),
        Arg(
            "gpu_driver_version",
            Choice(GPU_DRIVER_VERSIONS),
            "NVIDIA driver GKE installs: 'DEFAULT' (the default "
            "driver of the node's GKE version) or 'LATEST' (the latest driver that GKE version offers).",
            default=DEFAULT_GPU_DRIVER_VERSION,
        ),
        Arg(
            "resource_labels",
            GCP_LABELS,
            "GCP labels on the nodes' VMs and disks, e.g. for billing reports. Keys: a lowercase letter, then up to "
            "62 lowercase letters, digits, '_' or '-', not starting with 'goog'; values: up to 63 of those.",
            default_doc="none (``shardstack-component`` is always set)",
        ),
    ),
    rules=(
        Rule(("cluster", "location"), _cluster_in_location),
        Rule(("node_locations", "location"), _zones_in_location),
        Rule(("placement", "node_locations", "max_nodes", "gpu", "gpus_per_node", "instance_type"), _compact_placement),
        Rule(("reservation", "spot"), _spot_reservation),
    ),
)
"""GpuNodePool's arguments."""

WIRED_POOL_ARGS = ("cluster", "location", "node_service_account")
"""What GcpInstallation sets on each of its pools itself."""

NAMED_GPU_POOL = named_pool_spec(
    GPU_NODE_POOL,
    WIRED_POOL_ARGS,
    "A GPU pool (see "
    ":class:`~shardstack.gcp.gpu_node_pool.GpuNodePool`) without the cluster, its "
    "location and the node service account, plus its name.",
)
"""A GcpInstallation's GPU pool."""

ARGS = ArgsModule(
    "shardstack.gcp.args",
    "GCP component arguments.",
    __name__,
    (
        GPU_NODE_POOL,
        NAMED_GPU_POOL,
        SYSTEM_POOL,
        CLUSTER,
        INSTALLATION_CLUSTER,
        EXISTING_NETWORK,
        NETWORK,
        INSTALLATION_NETWORK,
        WEIGHT_STORE,
        INSTALLATION_WEIGHT_STORE,
        REGISTRY,
        INSTALLATION_REGISTRY,
        VERTEX_ENDPOINT,
    ),
)
"""The TypedDicts generated from these specs (``scripts/generate_specs.py``)."""
