"""GcpInstallation under recording mocks: how the parts are wired together, validation, drift and the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from component_schema import component_schema
from installation_parts import (
    assert_part_matches_component,
    child_of,
    env,
    pod_spec,
    refused_installation,
    render_installation,
    skips_await,
    tolerates,
)

from shardstack import catalog
from shardstack.errors import ArgumentError
from shardstack.gcp.cluster import ClusterArgs
from shardstack.gcp.gpu_node_pool import GpuNodePoolArgs
from shardstack.gcp.installation import (
    GcpInstallation,
    InstallationCluster,
    InstallationNetwork,
    InstallationRegistry,
    InstallationWeightStore,
    NamedGpuPool,
    validate_gcp_installation_args,
)
from shardstack.gcp.network import NetworkArgs
from shardstack.gcp.registry import RegistryArgs
from shardstack.gcp.weight_store import WeightStoreArgs
from shardstack.testing import SECRET, Graph, Resource

INSTALLATION = "shardstack:gcp:GcpInstallation"
CLUSTER = "shardstack:gcp:Cluster"
GPU_NODE_POOL = "shardstack:gcp:GpuNodePool"
WEIGHT_STORE = "shardstack:gcp:WeightStore"
SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
NODE_ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
K8S_PROVIDER = "pulumi:providers:kubernetes"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET_OBJECT = "kubernetes:core/v1:Secret"

IMAGE = "us-central1-docker.pkg.dev/acme/shardstack/runtime:0.1.0"
API_KEY = "plain-text-api-key"
LABELS = {"team": "ml-platform"}
POOLS: list[dict[str, Any]] = [
    {"name": "l4", "gpu": "l4", "spot": True, "max_nodes": 2},
    {
        "name": "h100",
        "gpu": "h100-80gb",
        "gpus_per_node": 8,
        "min_nodes": 1,
        "max_nodes": 2,
        "node_locations": ["us-central1-a"],
        "placement": "COMPACT",
    },
]
BASE: dict[str, Any] = {
    "region": "us-central1",
    "gpu_pools": POOLS,
    "inference": {"image": IMAGE, "shards": 2},
    "model_path": "llama-3.1-8b/",
}
GKE_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def render(name: str = "llm", **overrides: Any) -> Graph:
    return render_installation(GcpInstallation, name, {**BASE, **overrides})


def failure(name: str = "llm", **overrides: Any) -> ArgumentError:
    return refused_installation(GcpInstallation, name, {**BASE, **overrides})


def problems(name: str = "llm", **overrides: Any) -> list[str]:
    return validate_gcp_installation_args({**BASE, **overrides}, name)


@pytest.fixture(scope="module")
def graph() -> Graph:
    """Two GPU pools, installation-level labels and an API key."""
    return render(labels=LABELS, api_key=API_KEY)


@pytest.fixture(scope="module")
def custom() -> Graph:
    """An explicit model URI, another namespace, no registry, the DCGM exporter, buckets elsewhere."""
    return render(
        inference={"image": IMAGE, "shards": 2, "model_uri": "gs://elsewhere/llama/", "namespace": "serving"},
        create_registry=False,
        gpu_enablement={"dcgm_exporter": True},
        weight_store={"location": "US"},
    )


def gpu_node_pools(graph: Graph) -> dict[str, Resource]:
    """The GKE node pool of each GPU pool, by pool (component) name."""
    found = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (node_pool,) = [r for r in graph.children(pool) if r.type == NODE_POOL]
        found[pool.name] = node_pool
    return found


def catalogue_price(gpu: str, gpus_per_node: int) -> float:
    """The cheapest GCP on-demand price the catalogue lists for this GPU and node size."""
    return min(o.usd_per_hour for o in catalog.GPUS[gpu].offers if o.cloud == "gcp" and o.gpu_count == gpus_per_node)


# -- wiring -------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_every_part_is_its_child(graph: Graph) -> None:
    installation = graph.one(INSTALLATION)
    assert installation.name == "llm"
    parts = {(r.type, r.name) for r in graph.children(installation)}
    assert parts >= {
        ("shardstack:gcp:Network", "llm"),
        (CLUSTER, "llm"),
        (GPU_NODE_POOL, "l4"),
        (GPU_NODE_POOL, "h100"),
        (WEIGHT_STORE, "llm-weights"),
        ("shardstack:gcp:Registry", "llm-registry"),
        (SHARDED_INFERENCE, "llm"),
    }
    assert graph.roots() == [installation]


def test_gke_installs_the_device_plugin_and_autoscales_so_shardstack_deploys_neither(graph: Graph) -> None:
    assert graph.of_type("shardstack:k8s:GpuEnablement") == []
    assert graph.of_type(DAEMONSET) == []
    assert graph.of_type("kubernetes:apps/v1:Deployment") == []
    for pool, node_pool in gpu_node_pools(graph).items():
        (accelerator,) = node_pool.inputs["nodeConfig"]["guestAccelerators"]
        assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "DEFAULT", pool
        assert node_pool.inputs["autoscaling"]["totalMaxNodeCount"] == 2, pool


def test_the_dcgm_exporter_can_be_added_without_a_second_device_plugin(custom: Graph) -> None:
    (enablement,) = custom.of_type("shardstack:k8s:GpuEnablement")
    (daemonset,) = custom.of_type(DAEMONSET)
    assert daemonset.parent == enablement.urn
    assert "dcgm" in daemonset.inputs["metadata"]["name"]


def test_the_cluster_runs_in_the_networks_subnetwork_and_secondary_ranges(graph: Graph) -> None:
    gke = graph.one(GKE_CLUSTER).inputs
    subnetwork = graph.one(SUBNETWORK)
    ranges = {r["rangeName"] for r in subnetwork.inputs["secondaryIpRanges"]}

    assert gke["network"] == graph.one(NETWORK).outputs["selfLink"]
    assert gke["subnetwork"] == subnetwork.outputs["selfLink"]
    policy = gke["ipAllocationPolicy"]
    assert {policy["clusterSecondaryRangeName"], policy["servicesSecondaryRangeName"]} == ranges
    assert gke["location"] == subnetwork.inputs["region"] == "us-central1"


def test_every_gpu_node_pool_joins_the_cluster_with_the_node_service_account(graph: Graph) -> None:
    pools = gpu_node_pools(graph)
    account = graph.one(NODE_ACCOUNT).outputs["email"]

    assert set(pools) == {"l4", "h100"}
    for pool, node_pool in pools.items():
        assert node_pool.inputs["cluster"] == graph.one(GKE_CLUSTER).outputs["name"] == "llm"
        assert node_pool.inputs["location"] == "us-central1"
        assert node_pool.inputs["nodeConfig"]["serviceAccount"] == account
        assert node_pool.inputs["nodeConfig"]["labels"]["shardstack.dev/pool"] == pool
    # Pool-specific arguments reach their own pool only.
    assert pools["h100"].inputs["nodeLocations"] == ["us-central1-a"]
    assert pools["h100"].inputs["placementPolicy"]["type"] == "COMPACT"
    assert "placementPolicy" not in pools["l4"].inputs


def test_every_kubernetes_object_goes_through_the_clusters_provider(graph: Graph) -> None:
    provider = graph.one(K8S_PROVIDER)
    assert provider.parent == graph.one(CLUSTER).urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert {r.type for r in objects} >= {STATEFULSET, SECRET_OBJECT}
    assert all(r.provider and r.provider.startswith(provider.urn) for r in objects), [
        r.name for r in objects if not (r.provider and r.provider.startswith(provider.urn))
    ]


def test_workload_identity_lets_exactly_the_inference_service_account_read_this_bucket(graph: Graph) -> None:
    (member,) = graph.of_type(BUCKET_MEMBER)
    account = child_of(graph, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    pool = graph.one(GKE_CLUSTER).inputs["workloadIdentityConfig"]["workloadPool"]

    assert member.inputs["bucket"] == graph.one(BUCKET).outputs["name"]
    assert member.inputs["role"] == "roles/storage.objectViewer"
    assert member.inputs["member"].endswith(
        f"/workloadIdentityPools/{pool}/subject/ns/{account['namespace']}/sa/{account['name']}"
    )
    assert account["namespace"] == "shardstack"
    assert pod_spec(graph)["serviceAccountName"] == account["name"]
    # The federation principal needs no annotation on the service account.
    assert not (account.get("annotations") or {})
    # The ranks start only once they can read; the binding only once the cluster's identity pool exists.
    assert member.urn in graph.one(SHARDED_INFERENCE).dependencies
    assert graph.one(GKE_CLUSTER).urn in member.dependencies


def test_workload_identity_follows_the_inference_namespace(custom: Graph) -> None:
    (member,) = custom.of_type(BUCKET_MEMBER)
    account = child_of(custom, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    assert account["namespace"] == "serving"
    assert member.inputs["member"].endswith(f"/subject/ns/serving/sa/{account['name']}")


def test_the_ranks_read_the_checkpoint_from_the_weight_bucket(graph: Graph) -> None:
    bucket = graph.one(BUCKET)
    assert bucket.inputs["location"] == "US-CENTRAL1"  # next to the cluster: no cross-region egress
    assert graph.outputs["bucket_uri"] == f"gs://{bucket.outputs['name']}/"
    assert env(graph)["SHARDSTACK_MODEL_URI"] == f"gs://{bucket.outputs['name']}/llama-3.1-8b/"
    assert graph.outputs["model_uri"] == env(graph)["SHARDSTACK_MODEL_URI"]


def test_an_explicit_model_uri_and_bucket_location_win(custom: Graph) -> None:
    assert env(custom)["SHARDSTACK_MODEL_URI"] == "gs://elsewhere/llama/" == custom.outputs["model_uri"]
    assert custom.one(BUCKET).inputs["location"] == "US"


def test_pulumi_up_waits_for_the_ranks_only_when_the_weights_are_already_there(graph: Graph, custom: Graph) -> None:
    assert skips_await(graph)
    assert not skips_await(custom)


def test_the_ranks_run_on_the_gpu_pools_nodes(graph: Graph) -> None:
    spec = pod_spec(graph)
    assert spec["nodeSelector"] == {"shardstack.dev/gpu": "true"}
    for pool, node_pool in gpu_node_pools(graph).items():
        config = node_pool.inputs["nodeConfig"]
        assert spec["nodeSelector"].items() <= config["labels"].items(), pool
        for taint in config["taints"]:
            effect = GKE_TAINT_EFFECTS[taint["effect"]]
            if effect != "PreferNoSchedule":
                assert tolerates(spec["tolerations"], taint["key"], taint.get("value"), effect), (pool, taint)


def test_the_ranks_tolerate_the_taints_callers_put_on_pools() -> None:
    dedicated = {"key": "dedicated", "value": "llm", "effect": "NoExecute"}
    graph = render(gpu_pools=[{**POOLS[0], "taints": [dedicated]}, POOLS[1]])
    assert tolerates(pod_spec(graph)["tolerations"], "dedicated", "llm", "NoExecute")
    assert tolerates(pod_spec(graph)["tolerations"], "nvidia.com/gpu", "present", "NoSchedule")


def test_an_api_key_is_stored_in_a_secret_the_ranks_read(graph: Graph) -> None:
    (secret,) = [r for r in graph.of_type(SECRET_OBJECT) if r.parent == graph.one(INSTALLATION).urn]
    meta = secret.inputs["metadata"]
    reference = env(graph)["SHARDSTACK_API_KEY"]["secretKeyRef"]

    assert meta["namespace"] == child_of(graph, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]["namespace"]
    assert reference["name"] == meta["name"]
    assert secret.inputs["stringData"] == {reference["key"]: SECRET}
    assert API_KEY not in json.dumps([r.inputs for r in graph])


def test_no_api_key_means_no_secret_and_no_key_variable(custom: Graph) -> None:
    assert custom.of_type(SECRET_OBJECT) == []
    assert "SHARDSTACK_API_KEY" not in env(custom)


def test_the_nodes_service_account_may_pull_from_the_registry_and_nothing_more(graph: Graph) -> None:
    repository = graph.one(REPOSITORY)
    (reader,) = graph.of_type(REPOSITORY_MEMBER)
    assert reader.inputs["member"] == f"serviceAccount:{graph.one(NODE_ACCOUNT).outputs['email']}"
    assert reader.inputs["role"] == "roles/artifactregistry.reader"
    assert reader.inputs["repository"] == repository.inputs["repositoryId"]
    assert repository.inputs["location"] == "us-central1"
    assert graph.outputs["registry_url"] == f"us-central1-docker.pkg.dev/{repository.outputs['project']}/shardstack"


def test_create_registry_false_creates_no_repository(custom: Graph) -> None:
    assert custom.of_type(REPOSITORY) == []
    assert custom.of_type(REPOSITORY_MEMBER) == []
    assert custom.outputs["registry_url"] == ""


def test_installation_labels_reach_the_resources_of_every_part(graph: Graph) -> None:
    labelled = {
        "cluster": graph.one(GKE_CLUSTER).inputs["resourceLabels"],
        "bucket": graph.one(BUCKET).inputs["labels"],
        "repository": graph.one(REPOSITORY).inputs["labels"],
        **{f"{pool} VMs": p.inputs["nodeConfig"]["resourceLabels"] for pool, p in gpu_node_pools(graph).items()},
    }
    assert {part: labels.get("team") for part, labels in labelled.items()} == dict.fromkeys(labelled, "ml-platform")
    # Each part keeps its own component label beside them, and GCP labels never become Kubernetes node labels.
    assert graph.one(BUCKET).inputs["labels"]["shardstack-component"] == "llm-weights"
    assert "team" not in gpu_node_pools(graph)["l4"].inputs["nodeConfig"]["labels"]


def test_gpu_cost_is_the_catalogue_price_of_every_pool_at_its_min_and_max_size(graph: Graph) -> None:
    prices = {p["name"]: catalogue_price(p["gpu"], p.get("gpus_per_node", 1)) for p in POOLS}
    at_min = sum(p.get("min_nodes", 0) * prices[p["name"]] for p in POOLS)
    at_max = sum(p["max_nodes"] * prices[p["name"]] for p in POOLS)

    assert at_min == pytest.approx(88.25) and at_max == pytest.approx(177.91366)  # 2 x 0.70683 + 2 x 88.25
    assert graph.outputs["gpu_usd_per_hour_min"] == pytest.approx(at_min, abs=0.005)
    assert graph.outputs["gpu_usd_per_hour_max"] == pytest.approx(at_max, abs=0.005)


def test_outputs_name_the_cluster_and_keep_the_kubeconfig_secret(graph: Graph) -> None:
    assert graph.outputs["cluster_name"] == "llm"
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.outputs["endpoint"] == "http://llm-api.shardstack.svc.cluster.local:8000"


# -- validation ---------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert problems(labels=LABELS, api_key=API_KEY) == []


def test_the_region_is_required() -> None:
    (problem,) = validate_gcp_installation_args({k: v for k, v in BASE.items() if k != "region"}, "llm")
    assert problem == "region is required: a GCP region like 'us-central1'"


def test_a_zone_given_as_the_region_is_refused_once() -> None:
    (problem,) = validate_gcp_installation_args({**BASE, "region": "us-central1-a"}, "llm")
    assert problem.startswith("region='us-central1-a' is a zone; the cluster is regional")


def test_arguments_the_installation_wires_itself_are_refused() -> None:
    found = problems(
        network={"region": "europe-west4"},
        cluster={"subnetwork": "other"},
        gpu_pools=[{**POOLS[0], "node_service_account": "me@acme.iam.gserviceaccount.com"}],
        inference={"image": IMAGE, "shards": 2, "service_account_annotations": {"a": "b"}},
    )
    for wired in (
        "network.region",
        "cluster.subnetwork",
        "gpu_pools[0].node_service_account",
        "inference.service_account_annotations",
    ):
        assert f"{wired} is set by the installation itself; remove it" in found, found
    assert len(found) == 4, found


def test_our_device_plugin_is_refused_because_gke_runs_its_own() -> None:
    (problem,) = problems(gpu_enablement={"device_plugin": True})
    assert problem.startswith("gpu_enablement.device_plugin is True, but GKE installs the NVIDIA device plugin")
    (empty,) = problems(gpu_enablement={"dcgm_exporter": False})
    assert empty.startswith("gpu_enablement: device_plugin=False and dcgm_exporter=False leave nothing to create")


def test_at_least_one_gpu_pool_is_required_and_names_are_unique() -> None:
    (empty,) = problems(gpu_pools=[])
    assert empty.startswith("gpu_pools must list at least one GPU pool")
    (duplicate,) = problems(gpu_pools=[POOLS[0], {**POOLS[1], "name": "l4"}])
    assert duplicate == "gpu_pools[1]: name 'l4' is already the name of gpu_pools[0]; pool names must be unique"


def test_problems_of_a_part_are_prefixed_with_the_part() -> None:
    found = problems(
        network={"subnet_cidr": "10.0.0.0/8"},
        cluster={"kubernetes_version": "1.29"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}, {**POOLS[1], "placement": "COMPACT", "node_locations": []}],
        weight_store={"soft_delete_days": 3},
        registry={"keep_images": 0},
        inference={"image": IMAGE, "shards": 0},
    )
    for part in ("network", "cluster", "gpu_pools[0]", "gpu_pools[1]", "weight_store", "registry", "inference"):
        assert any(p.startswith(f"{part}: ") for p in found), (part, found)
    assert "cluster: kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        network={"region": "europe-west4"},
        cluster={"kubernetes_version": "1.29"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}, {**POOLS[1], "name": "l4"}],
        labels={"Team": "x"},
        api_key=API_KEY,
        inference={"image": IMAGE, "shards": 2, "api_key_secret": {"name": "k", "key": "k"}},
    )
    expected = (
        "network.region is set by",
        "cluster: kubernetes_version=",
        "gpu_pools[0]: gpu='l5'",
        "gpu_pools[1]: name 'l4' is already",
        "labels['Team'] is not a GCP label key",
        "api_key and inference.api_key_secret",
    )
    for start in expected:
        assert any(p.startswith(start) for p in error.problems), (start, error.problems)


# -- drift: the installation's part arguments are the components' arguments minus the wiring ---------


@pytest.mark.parametrize(
    ("part", "component", "wired", "added", "defaulted"),
    [
        (InstallationNetwork, NetworkArgs, {"region"}, set(), set()),
        (
            InstallationCluster,
            ClusterArgs,
            {"region", "network", "subnetwork", "pods_range_name", "services_range_name", "managed_prometheus"},
            set(),
            set(),
        ),
        (NamedGpuPool, GpuNodePoolArgs, {"cluster", "location", "node_service_account"}, {"name"}, set()),
        (InstallationWeightStore, WeightStoreArgs, set(), set(), {"location"}),
        (InstallationRegistry, RegistryArgs, set(), set(), {"location"}),
    ],
    ids=["network", "cluster", "gpu_pool", "weight_store", "registry"],
)
def test_part_arguments_are_the_components_arguments_minus_the_wiring(
    part: Any, component: Any, wired: set[str], added: set[str], defaulted: set[str]
) -> None:
    assert_part_matches_component(part, component, wired, added, defaulted)


# -- schema ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return component_schema("GcpInstallation", module="shardstack.gcp")


def test_component_schema_is_inferred(schema: dict[str, Any]) -> None:
    resource = schema["resources"]["shardstack:index:GcpInstallation"]
    assert resource["isComponent"] is True
    assert set(resource["requiredInputs"]) == {"region", "gpuPools", "inference"}
    assert {
        "region",
        "network",
        "cluster",
        "gpuPools",
        "weightStore",
        "registry",
        "createRegistry",
        "gpuEnablement",
        "inference",
        "modelPath",
        "apiKey",
        "groupAutoscaling",
        "monitoring",
        "labels",
    } == set(resource["inputProperties"])
    assert {
        "endpoint",
        "bucketUri",
        "modelUri",
        "registryUrl",
        "kubeconfig",
        "clusterName",
        "gpuUsdPerHourMin",
        "gpuUsdPerHourMax",
    } == set(resource["properties"])
    pool = schema["types"]["shardstack:index:NamedGpuPool"]
    assert not {"cluster", "location", "nodeServiceAccount"} & set(pool["properties"])
    assert set(pool["required"]) == {"gpu", "name"}
    assert "required" not in schema["types"]["shardstack:index:InstallationWeightStore"]
    assert [key for key, value in pool["properties"].items() if not value.get("description")] == []
    assert [key for key, value in resource["properties"].items() if not value.get("description")] == []
