"""The `gcp-dev` and `gcp-prod` stacks planned from their real stack files: what `pulumi up` would create."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shardstack import catalog
from shardstack.cli import main
from shardstack.plan import plan_stack
from shardstack.testing import Graph, Resource

REPO = Path(__file__).resolve().parents[2]

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GPU_NODE_POOL = "shardstack:gcp:GpuNodePool"
WEIGHT_STORE = "shardstack:gcp:WeightStore"
BUCKET = "gcp:storage/bucket:Bucket"
NAT = "gcp:compute/routerNat:RouterNat"
GPU = "nvidia.com/gpu"

# Every kind of IAM grant pulumi_gcp has that this program could use; the scan below must see them all.
IAM_TYPES = ("iammember", "iambinding", "iampolicy")
NODE_ROLES = {
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
}


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def dev() -> Graph:
    return plan_stack("gcp-dev", REPO).graph


@pytest.fixture(scope="module")
def prod() -> Graph:
    return plan_stack("gcp-prod", REPO).graph


def gpu_pools(graph: Graph) -> dict[str, Resource]:
    """The GKE node pool of each GPU pool, by pool name."""
    found = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (node_pool,) = [r for r in graph.children(pool) if r.type == NODE_POOL]
        found[pool.name] = node_pool
    return found


def gpus_per_node(node_pool: Resource) -> int:
    (accelerator,) = node_pool.inputs["nodeConfig"]["guestAccelerators"]
    return int(accelerator["count"])


def containers(graph: Graph) -> list[dict[str, Any]]:
    return [c for s in graph.of_type(STATEFULSET) for c in s.inputs["spec"]["template"]["spec"]["containers"]]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def catalogue_offer(gpu: str, machine_type: str) -> catalog.InstanceOffer:
    (offer,) = [o for o in catalog.GPUS[gpu].offers if o.cloud == "gcp" and o.instance_type == machine_type]
    return offer


def gpus_requested(graph: Graph) -> int:
    return sum(
        s.inputs["spec"]["replicas"] * int(c["resources"]["limits"].get(GPU, 0))
        for s in graph.of_type(STATEFULSET)
        for c in s.inputs["spec"]["template"]["spec"]["containers"]
    )


def iam_grants(graph: Graph) -> list[Resource]:
    return [r for r in graph if r.type.startswith("gcp:") and r.type.rsplit(":", 1)[1].lower().endswith(IAM_TYPES)]


# -- gcp-dev --------------------------------------------------------------------------------------------


def test_dev_l4_pool_is_spot_scales_from_zero_on_a_catalogue_g2_in_the_zones_with_l4s(dev: Graph) -> None:
    pool = gpu_pools(dev)["l4"].inputs
    config = pool["nodeConfig"]
    assert config["spot"] is True
    assert pool["autoscaling"]["totalMinNodeCount"] == 0
    assert pool["autoscaling"]["totalMaxNodeCount"] == 2
    assert pool["autoscaling"]["locationPolicy"] == "ANY"  # spot: wherever capacity is
    assert pool["initialNodeCount"] == 0
    assert config["machineType"].startswith("g2-")
    assert catalogue_offer("l4", config["machineType"]).gpu_count == 1
    assert pool["nodeLocations"] == stack_file("gcp-dev")["shardstack:gpu_pools"][0]["zones"]
    assert config["labels"]["shardstack.dev/pool"] == "l4"


def test_dev_api_endpoint_is_public_only_to_the_stack_files_networks(dev: Graph) -> None:
    cluster = dev.one(GKE_CLUSTER).inputs
    networks = stack_file("gcp-dev")["shardstack:cluster"]["authorized_networks"]
    assert networks == ["203.0.113.0/24"]
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    authorized = cluster["masterAuthorizedNetworksConfig"]
    assert [block["cidrBlock"] for block in authorized["cidrBlocks"]] == networks
    assert authorized["gcpPublicCidrsAccessEnabled"] is False


def test_dev_runs_two_ranks_with_one_gpu_each(dev: Graph) -> None:
    (statefulset,) = dev.of_type(STATEFULSET)
    (container,) = containers(dev)
    assert statefulset.inputs["spec"]["replicas"] == 2
    assert env(container)["SHARDSTACK_WORLD_SIZE"] == "2"
    assert container["resources"]["requests"][GPU] == container["resources"]["limits"][GPU] == "1"


def test_dev_ranks_can_get_gpu_nodes_from_gkes_autoscaler(dev: Graph) -> None:
    # GKE's built-in cluster autoscaler grows a pool with autoscaling set; no Deployment of our own.
    capacity = sum(p.inputs["autoscaling"]["totalMaxNodeCount"] * gpus_per_node(p) for p in gpu_pools(dev).values())
    assert capacity >= gpus_requested(dev) == 2
    assert dev.of_type("kubernetes:apps/v1:Deployment") == []


def test_dev_exports_what_a_user_needs_next(dev: Graph) -> None:
    assert {"endpoint", "bucket_uri", "model_uri", "registry_url", "cluster_name", "kubeconfig"} <= set(dev.outputs)
    assert dev.outputs["cluster_name"] == "gcp-dev"
    assert dev.outputs["endpoint"] == "http://gcp-dev-api.shardstack.svc.cluster.local:8000"


def test_dev_gpu_cost_is_zero_at_min_and_the_on_demand_price_of_two_nodes_at_max(dev: Graph) -> None:
    price = catalogue_offer("l4", gpu_pools(dev)["l4"].inputs["nodeConfig"]["machineType"]).usd_per_hour
    cost = dev.outputs["gpu_usd_per_hour"]
    assert cost["at_min_nodes"] == 0
    assert cost["at_max_nodes"] == pytest.approx(2 * price, abs=0.005)


def test_the_provider_labels_every_resource_with_the_stack(dev: Graph) -> None:
    provider = dev.one("pulumi:providers:gcp")
    assert provider.inputs["region"] == "us-central1"
    # Provider inputs are recorded as Pulumi sends them: JSON-encoded.
    assert json.loads(provider.inputs["defaultLabels"]) == {"shardstack-stack": "gcp-dev"}


# -- gcp-prod -------------------------------------------------------------------------------------------


def test_prod_api_endpoint_is_private_only(prod: Graph) -> None:
    cluster = prod.one(GKE_CLUSTER).inputs
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == []


def test_prod_h100_pool_is_on_demand_a3_with_eight_gpus_per_node_placed_compactly(prod: Graph) -> None:
    pool = gpu_pools(prod)["h100"].inputs
    config = pool["nodeConfig"]
    assert not config.get("spot")
    assert config["machineType"] == "a3-highgpu-8g"
    assert gpus_per_node(gpu_pools(prod)["h100"]) == catalogue_offer("h100-80gb", "a3-highgpu-8g").gpu_count == 8
    assert pool["placementPolicy"]["type"] == "COMPACT"
    assert pool["nodeLocations"] == ["us-central1-a"]
    assert pool["autoscaling"]["totalMinNodeCount"] == 1
    assert pool["autoscaling"]["totalMaxNodeCount"] == 2


def test_prod_serves_two_replica_groups_of_two_ranks_on_the_nodes_always_there(prod: Graph) -> None:
    statefulsets = prod.of_type(STATEFULSET)
    assert [s.inputs["spec"]["replicas"] for s in statefulsets] == [2, 2]
    assert all(env(c)["SHARDSTACK_WORLD_SIZE"] == "2" for c in containers(prod))
    at_min = sum(p.inputs["autoscaling"]["totalMinNodeCount"] * gpus_per_node(p) for p in gpu_pools(prod).values())
    assert at_min >= gpus_requested(prod) == 4


def test_prod_weight_bucket_is_protected_kept_private_and_versioned(prod: Graph) -> None:
    bucket = prod.one(BUCKET)
    assert bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["forceDestroy"] is False
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["versioning"] == {"enabled": True}


def test_prod_gpu_cost_is_the_catalogue_price_times_the_nodes(prod: Graph) -> None:
    price = catalogue_offer("h100-80gb", "a3-highgpu-8g").usd_per_hour
    assert prod.outputs["gpu_usd_per_hour"] == {
        "at_min_nodes": pytest.approx(1 * price, abs=0.005),
        "at_max_nodes": pytest.approx(2 * price, abs=0.005),
    }


# -- both -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_every_iam_grant_is_scoped_and_least_privilege(stack: str, dev: Graph, prod: Graph) -> None:
    graph = dev if stack == "gcp-dev" else prod
    node_account = graph.one("gcp:serviceaccount/account:Account").outputs["member"]
    grants: dict[str, list[tuple[str, str]]] = {}
    for grant in iam_grants(graph):
        grants.setdefault(grant.type, []).append((grant.inputs["role"], grant.inputs["member"]))

    # The weights: read-only, on this bucket only, for exactly the inference service account.
    (bucket_grant,) = graph.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert bucket_grant.inputs["bucket"] == graph.one(BUCKET).outputs["name"]
    assert bucket_grant.inputs["role"] == "roles/storage.objectViewer"
    assert bucket_grant.inputs["member"].endswith("/subject/ns/shardstack/sa/" + stack)
    # The registry: pull only, on this repository only, for the nodes.
    assert grants["gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"] == [
        ("roles/artifactregistry.reader", node_account)
    ]
    # The project: only the nodes' logging and monitoring roles; nothing that reads data or grants roles.
    project_grants = grants["gcp:projects/iAMMember:IAMMember"]
    assert {member for _, member in project_grants} == {node_account}
    assert {role for role, _ in project_grants} == NODE_ROLES
    assert set(grants) == {
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "gcp:projects/iAMMember:IAMMember",
    }


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_the_cluster_uses_workload_identity_and_its_nodes_hide_their_credentials(
    stack: str, dev: Graph, prod: Graph
) -> None:
    graph = dev if stack == "gcp-dev" else prod
    cluster = graph.one(GKE_CLUSTER).inputs
    assert cluster["workloadIdentityConfig"]["workloadPool"].endswith(".svc.id.goog")
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"  # Dataplane V2: NetworkPolicy is enforced
    for pool in graph.of_type(NODE_POOL):
        assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}, pool.name
    # Private nodes reach the internet through Cloud NAT.
    assert len(graph.of_type(NAT)) == 1


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_every_kubernetes_object_goes_to_the_new_cluster(stack: str, dev: Graph, prod: Graph) -> None:
    graph = dev if stack == "gcp-dev" else prod
    provider = graph.one("pulumi:providers:kubernetes")
    assert provider.parent == graph.one("shardstack:gcp:Cluster").urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.provider and r.provider.startswith(provider.urn) for r in objects)
    # GKE runs the device plugin: ours would be a second one.
    assert graph.of_type("kubernetes:apps/v1:DaemonSet") == []


@pytest.mark.parametrize(("stack", "gpu", "nodes"), [("gcp-dev", "l4", (0, 2)), ("gcp-prod", "h100-80gb", (1, 2))])
def test_plan_cli_prints_the_gpu_cost_per_hour(stack: str, gpu: str, nodes: tuple[int, int], capsys) -> None:
    assert main(["plan", stack, "--project-dir", str(REPO)]) == 0

    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  gpu_usd_per_hour:")
    cost = yaml.safe_load("\n".join(line.strip() for line in lines[start + 1 : start + 3]))
    price = catalog.GPUS[gpu].offer("gcp", 8 if gpu == "h100-80gb" else 1).usd_per_hour
    assert cost == {
        "at_min_nodes": pytest.approx(nodes[0] * price, abs=0.005),
        "at_max_nodes": pytest.approx(nodes[1] * price, abs=0.005),
    }
