"""GpuNodePool (GCP) under recording mocks: the GKE node pool, its GPUs, placement, reservations and validation."""

from __future__ import annotations

from typing import Any

import pulumi
from component_schema import component_schema

from shardstack import catalog
from shardstack.errors import ArgumentError
from shardstack.gcp.gpu_node_pool import (
    MAX_COMPACT_PLACEMENT_NODES,
    GpuNodePool,
    GpuNodePoolArgs,
    validate_gpu_node_pool_args,
)
from shardstack.gpu_pool import GpuPoolArgs
from shardstack.testing import Graph, run_program, run_refused

COMPONENT = "shardstack:gcp:GpuNodePool"
NODE_POOL = "gcp:container/nodePool:NodePool"

ACCOUNT = "gke-nodes@shardstack-test.iam.gserviceaccount.com"
BASE: dict[str, Any] = {
    "gpu": "l4",
    "cluster": "shardstack",
    "location": "us-central1",
    "node_service_account": ACCOUNT,
}
H100_X8: dict[str, Any] = {"gpu": "h100-80gb", "gpus_per_node": 8}
ZONE = "us-central1-a"


def render(name: str = "l4", preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: GpuNodePool(name, args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "l4", **overrides: Any) -> ArgumentError:
    return run_refused(lambda: GpuNodePool(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def node_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(NODE_POOL).inputs


def node_config(graph: Graph) -> dict[str, Any]:
    return node_pool(graph)["nodeConfig"]


# -- structure ------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_its_node_pool() -> None:
    graph = render()
    component = graph.one(COMPONENT)
    assert [r.name for r in graph.children(component)] == ["l4-node-pool"]
    assert graph.count_by_type() == {NODE_POOL: 1}
    pool = node_pool(graph)
    assert (pool["cluster"], pool["location"]) == ("shardstack", "us-central1")
    # A unique name per pool lets a replacement come up before the old pool goes.
    assert pool["namePrefix"] == "l4-" and "name" not in pool


def test_l4_spot_pool_scales_from_zero_on_a_g2_machine_with_gke_managed_drivers() -> None:
    graph = render(spot=True, max_nodes=3, node_locations=["us-central1-a", "us-central1-b"])
    pool = node_pool(graph)
    config = pool["nodeConfig"]
    assert config["machineType"] == catalog.gpu("l4").offer("gcp", 1).instance_type == "g2-standard-4"
    assert config["spot"] is True
    assert pool["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 3, "locationPolicy": "ANY"}
    assert pool["initialNodeCount"] == 0
    assert pool["nodeLocations"] == ["us-central1-a", "us-central1-b"]
    assert config["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
    ]
    # GKE-managed drivers are built for Container-Optimized OS.
    assert config["imageType"] == "COS_CONTAINERD"
    assert "placementPolicy" not in pool and "reservationAffinity" not in config


def test_h100_on_demand_pool_has_eight_gpus_on_an_a3_machine_in_compact_placement() -> None:
    graph = render(
        "h100",
        **H100_X8,
        min_nodes=2,
        max_nodes=4,
        placement="COMPACT",
        node_locations=[ZONE],
        gpu_driver_version="LATEST",
    )
    pool = node_pool(graph)
    config = pool["nodeConfig"]
    assert config["machineType"] == "a3-highgpu-8g"
    assert config["guestAccelerators"] == [
        {"type": "nvidia-h100-80gb", "count": 8, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}
    ]
    assert config["spot"] is False
    assert pool["placementPolicy"] == {"type": "COMPACT"}
    assert pool["nodeLocations"] == [ZONE]
    assert pool["autoscaling"] == {"totalMinNodeCount": 2, "totalMaxNodeCount": 4, "locationPolicy": "BALANCED"}
    # One zone: the initial count (per zone) is the whole minimum.
    assert pool["initialNodeCount"] == 2
    assert config["labels"]["shardstack.dev/gpu-type"] == "h100-80gb"


def test_initial_node_count_is_the_minimum_spread_over_the_zones() -> None:
    zones = ["us-central1-a", "us-central1-b"]
    assert node_pool(render(min_nodes=3, max_nodes=4, node_locations=zones))["initialNodeCount"] == 2
    assert node_pool(render(min_nodes=1, max_nodes=1))["initialNodeCount"] == 1


def test_node_count_is_left_to_the_autoscaler() -> None:
    ignored: dict[str, list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        ignored[args.type_] = list(args.opts.ignore_changes or [])

    run_program(lambda: GpuNodePool("l4", BASE, opts=pulumi.ResourceOptions(transformations=[record])))  # type: ignore[arg-type]
    assert ignored[NODE_POOL] == ["initialNodeCount"]


def test_instance_type_override_picks_another_catalogue_machine_type() -> None:
    assert node_config(render(instance_type="g2-standard-8"))["machineType"] == "g2-standard-8"


def test_nodes_upgrade_one_at_a_time_without_a_surge_gpu_node() -> None:
    pool = node_pool(render())
    assert pool["upgradeSettings"] == {"strategy": "SURGE", "maxSurge": 0, "maxUnavailable": 1}
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


# -- reservations ---------------------------------------------------------------------------------


def test_a_named_reservation_is_targeted_by_its_name() -> None:
    graph = render("h100", **H100_X8, reservation="h100-block", node_locations=[ZONE])
    assert node_config(graph)["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["h100-block"],
    }
    # ANY prefers unused reservations when the autoscaler picks a zone.
    assert node_pool(graph)["autoscaling"]["locationPolicy"] == "ANY"


def test_a_reservation_shared_from_another_project_is_given_by_its_path() -> None:
    shared = "projects/ml-capacity/reservations/h100-block"
    affinity = node_config(render("h100", **H100_X8, reservation=shared))["reservationAffinity"]
    assert affinity["values"] == [shared]


def test_any_reservation_consumes_whichever_matches() -> None:
    affinity = node_config(render(reservation="ANY"))["reservationAffinity"]
    assert affinity == {"consumeReservationType": "ANY_RESERVATION"}


# -- nodes ----------------------------------------------------------------------------------------


def test_nodes_are_labelled_and_tainted_for_gpu_workloads_only() -> None:
    config = node_config(
        render(labels={"team": "ml"}, taints=[{"key": "dedicated", "value": "llm", "effect": "NoExecute"}])
    )
    assert config["labels"] == {
        "shardstack.dev/gpu": "true",
        "shardstack.dev/pool": "l4",
        "shardstack.dev/gpu-type": "l4",
        "team": "ml",
    }
    assert config["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
        {"key": "dedicated", "value": "llm", "effect": "NO_EXECUTE"},
    ]


def test_pods_get_workload_identity_not_the_node_service_account() -> None:
    config = node_config(render())
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}
    assert config["serviceAccount"] == ACCOUNT
    # What the nodes may do is decided by the service account's IAM roles alone.
    assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]


def test_nodes_boot_verified_on_shielded_vms_with_gvnic() -> None:
    config = node_config(render())
    assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert config["gvnic"] == {"enabled": True}


def test_boot_disk_is_pd_balanced_of_the_requested_size() -> None:
    config = node_config(render(disk_size_gib=500))
    assert (config["diskSizeGb"], config["diskType"]) == (500, "pd-balanced")


def test_a3_ultra_boots_from_hyperdisk() -> None:
    config = node_config(render("h200", gpu="h200-141gb"))
    assert (config["machineType"], config["diskType"]) == ("a3-ultragpu-8g", "hyperdisk-balanced")


def test_vms_carry_the_component_and_caller_gcp_labels() -> None:
    config = node_config(render(resource_labels={"team": "ml", "cost-center": "c_42"}))
    assert config["resourceLabels"] == {"team": "ml", "cost-center": "c_42", "shardstack-component": "l4"}


def test_a_name_starting_with_a_digit_gets_a_node_pool_prefix_starting_with_a_letter() -> None:
    assert node_pool(render("4xl4"))["namePrefix"] == "gpu-4xl4-"
    assert node_pool(render("a" * 40))["namePrefix"] == "a" * 30 + "-"


# -- outputs and inputs ---------------------------------------------------------------------------


def test_outputs_give_the_shape_and_the_hourly_price() -> None:
    pools: list[GpuNodePool] = []

    def program() -> None:
        pool = GpuNodePool("l4", {**BASE, "min_nodes": 1, "max_nodes": 4})  # type: ignore[typeddict-item]
        pools.append(pool)
        pulumi.export("node_pool_name", pool.node_pool_name)

    graph = run_program(program)
    (pool,) = pools
    price = catalog.gpu("l4").offer("gcp", 1).usd_per_hour
    assert (pool.machine_type, pool.gpus_per_node) == ("g2-standard-4", 1)
    assert (pool.hourly_usd_min, pool.hourly_usd_max) == (price, round(4 * price, 6))
    assert graph.outputs["node_pool_name"] == graph.one(NODE_POOL).outputs["name"]


def test_cluster_and_service_account_may_be_outputs() -> None:
    def program() -> None:
        args = {
            **BASE,
            "cluster": pulumi.Output.from_input("projects/p/locations/us-central1/clusters/prod"),
            "node_service_account": pulumi.Output.from_input(ACCOUNT),
        }
        GpuNodePool("l4", args)  # type: ignore[arg-type]

    pool = node_pool(run_program(program))
    assert pool["cluster"] == "projects/p/locations/us-central1/clusters/prod"
    assert pool["nodeConfig"]["serviceAccount"] == ACCOUNT


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        **BASE,
        **H100_X8,
        "cluster": "projects/p/locations/us-central1/clusters/shardstack",
        "placement": "COMPACT",
        "node_locations": [ZONE],
        "reservation": "h100-block",
        "resource_labels": {"team": "ml"},
    }
    assert validate_gpu_node_pool_args(args, name="h100") == []


def test_gpu_not_on_gcp_is_refused_with_the_closest_gcp_gpu() -> None:
    (problem,) = failure(gpu="l40s").problems
    assert problem.startswith("gpu='l40s' is not offered on gcp in the catalogue (it is on: aws)")
    assert problem.endswith("(did you mean 'l4'?)")


def test_unknown_argument_suggests_a_gcp_one() -> None:
    (problem,) = failure(node_location=[ZONE]).problems
    assert problem == "unknown argument 'node_location' (did you mean 'node_locations'?)"
    (problem,) = failure(reservaton="ANY").problems
    assert problem == "unknown argument 'reservaton' (did you mean 'reservation'?)"


def test_cluster_location_and_service_account_are_required() -> None:
    error = run_refused(lambda: GpuNodePool("l4", {"gpu": "l4"}), ArgumentError)  # type: ignore[typeddict-item]
    assert [p.split(":")[0] for p in error.problems] == [
        "cluster is required",
        "location is required",
        "node_service_account is required",
    ]


def test_location_is_a_region_not_a_zone() -> None:
    (problem,) = failure(location="us-central1-a").problems
    assert problem == (
        "location='us-central1-a' is a zone; give the cluster's region ('us-central1') and put the zone in "
        "node_locations"
    )
    (problem,) = failure(location="US Central").problems
    assert problem.startswith("location='US Central' is not a GCP region")


def test_cluster_id_must_be_in_the_pool_location() -> None:
    (problem,) = failure(cluster="projects/p/locations/europe-west4/clusters/c").problems
    assert problem.endswith("but location='us-central1'; give the cluster's own region as location")
    (problem,) = failure(cluster="Shard_Stack").problems
    assert problem.startswith("cluster='Shard_Stack' is not a GKE cluster name")


def test_node_locations_must_be_distinct_zones_of_the_region() -> None:
    problems = failure(node_locations=["us-central1-a", "europe-west4-b", "us-central1-a", "a"]).problems
    assert problems == [
        "node_locations[3]='a' is not a zone like 'us-central1-a'",
        "node_locations[2]='us-central1-a' is listed twice; give each item once",
    ]
    # Zones are matched against the region once every zone is a zone.
    problems = failure(node_locations=["us-central1-a", "europe-west4-b"]).problems
    assert problems == [
        "node_locations[1]='europe-west4-b' is not a zone of location='us-central1'; use e.g. 'us-central1-a'",
    ]
    assert failure(node_locations=[]).problems == [
        "node_locations=[] must be a list of at least 1 item, each item a zone like 'us-central1-a'"
    ]


def test_placement_must_be_compact() -> None:
    (problem,) = failure(placement="compact", node_locations=[ZONE]).problems
    assert problem == "placement='compact' must be one of 'COMPACT' (did you mean 'COMPACT'?)"
    (problem,) = failure(placement="SPREAD").problems
    assert problem == "placement='SPREAD' must be one of 'COMPACT'"


def test_compact_placement_needs_exactly_one_zone() -> None:
    (problem,) = failure(placement="COMPACT").problems
    assert problem.startswith("placement='COMPACT' needs exactly one zone in node_locations")
    (problem,) = failure(placement="COMPACT", node_locations=["us-central1-a", "us-central1-b"]).problems
    assert problem.startswith("placement='COMPACT' needs exactly one zone in node_locations")


def test_compact_placement_is_refused_where_gke_does_not_offer_it() -> None:
    (problem,) = failure(gpu="t4", placement="COMPACT", node_locations=[ZONE]).problems
    assert problem.startswith("placement='COMPACT' is not available for machine type 'n1-standard-4'")
    (problem,) = failure(placement="COMPACT", node_locations=[ZONE], max_nodes=MAX_COMPACT_PLACEMENT_NODES + 1).problems
    assert problem == f"placement='COMPACT' takes at most 1500 nodes; got max_nodes={MAX_COMPACT_PLACEMENT_NODES + 1}"


def test_compact_placement_may_use_spot_capacity() -> None:
    pool = node_pool(render(spot=True, placement="COMPACT", node_locations=[ZONE]))
    assert (pool["placementPolicy"], pool["nodeConfig"]["spot"]) == ({"type": "COMPACT"}, True)


def test_spot_and_a_reservation_conflict() -> None:
    (problem,) = failure(spot=True, reservation="l4-block").problems
    assert problem == (
        "spot=True and reservation='l4-block' conflict: Spot VMs never consume reservations; drop one of them"
    )
    (problem,) = failure(spot=True, reservation="ANY").problems
    assert problem.startswith("spot=True and reservation='ANY' conflict")


def test_reservation_must_be_any_or_a_reservation_name() -> None:
    (problem,) = failure(reservation="any").problems
    assert problem.startswith("reservation='any' is written 'ANY' for any matching reservation")
    (problem,) = failure(reservation="H100 block").problems
    assert problem.startswith("reservation='H100 block' is neither 'ANY' nor a reservation name")


def test_service_account_must_be_an_email() -> None:
    (problem,) = failure(node_service_account="gke-nodes").problems
    assert problem.startswith("node_service_account='gke-nodes' is not a service account email")


def test_gpu_driver_version_must_be_one_gke_installs() -> None:
    (problem,) = failure(gpu_driver_version="latest").problems
    assert problem == "gpu_driver_version='latest' must be one of 'DEFAULT', 'LATEST' (did you mean 'LATEST'?)"


def test_resource_labels_must_be_gcp_labels() -> None:
    problems = failure(resource_labels={"Team": "ml", "goog-x": "y", "shardstack-component": "z", "ok": "Bad"}).problems
    assert problems == [
        "resource_labels['Team'] is not a GCP label key: use 1 to 63 lowercase letters, digits, '_' and '-', "
        "starting with a letter",
        "resource_labels['goog-x'] starts with 'goog', which Google reserves for its own labels",
        "resource_labels['shardstack-component'] is set by Shardstack itself; choose another key",
        "resource_labels['ok']='Bad' is not a GCP label value: use at most 63 lowercase letters, digits, '_' and '-'",
    ]


def test_pool_name_must_be_a_kubernetes_name() -> None:
    (problem,) = failure("L4_Pool").problems
    assert problem.startswith("name='L4_Pool' is not a valid Kubernetes name")


def test_every_problem_is_reported_at_once() -> None:
    problems = failure(
        gpu="a10", location="us-central1-a", placement="x", reservation="ANY", spot=True, resource_labels=[], extra=1
    ).problems
    assert len(problems) == 6, problems
    assert [p.split("=")[0].split(" ")[0] for p in problems] == [
        "unknown",
        "gpu",
        "location",
        "placement",
        "resource_labels",
        "spot",
    ]


# -- schema ---------------------------------------------------------------------------------------


def test_gcp_args_repeat_every_cloud_neutral_argument() -> None:
    neutral = GpuPoolArgs.__annotations__
    assert {k: GpuNodePoolArgs.__annotations__[k] for k in neutral} == neutral
    assert GpuPoolArgs.__required_keys__ <= GpuNodePoolArgs.__required_keys__


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("GpuNodePool", module="shardstack.gcp.gpu_node_pool")
    resource = schema["resources"]["shardstack:index:GpuNodePool"]
    assert sorted(resource["requiredInputs"]) == ["cluster", "gpu", "location", "nodeServiceAccount"]
    assert sorted(resource["properties"]) == [
        "gpusPerNode",
        "hourlyUsdMax",
        "hourlyUsdMin",
        "machineType",
        "nodePoolName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    # Inputs that come from other resources take outputs; the ones that shape the pool must be plain.
    assert "plain" not in resource["inputProperties"]["cluster"]
    assert "plain" not in resource["inputProperties"]["nodeServiceAccount"]
    for plain in ("gpu", "location", "placement", "reservation"):
        assert resource["inputProperties"][plain]["plain"] is True, plain
    assert schema["types"]["shardstack:index:Taint"]["required"] == ["effect", "key"]
