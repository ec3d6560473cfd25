"""AwsInstallation under recording mocks: how the parts are wired together, validation, drift and the schema."""

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
from shardstack.aws.cluster import ClusterArgs
from shardstack.aws.gpu_node_pool import GpuNodePoolArgs
from shardstack.aws.installation import (
    AwsInstallation,
    InstallationCluster,
    InstallationNetwork,
    NamedGpuPool,
    validate_aws_installation_args,
)
from shardstack.aws.network import NetworkArgs
from shardstack.errors import ArgumentError
from shardstack.testing import SECRET, Graph, Resource

INSTALLATION = "shardstack:aws:AwsInstallation"
CLUSTER = "shardstack:aws:Cluster"
GPU_NODE_POOL = "shardstack:aws:GpuNodePool"
WEIGHT_STORE = "shardstack:aws:WeightStore"
SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def weights_association(graph: Graph) -> Resource:
    """The Pod Identity association of the weight store's read grant (the autoscaler has its own)."""
    (association,) = [r for r in graph.of_type(ASSOCIATION) if "weights-read" in r.name]
    return association


ROLE = "aws:iam/role:Role"
KMS_KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
REPOSITORY = "aws:ecr/repository:Repository"
K8S_PROVIDER = "pulumi:providers:kubernetes"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET_OBJECT = "kubernetes:core/v1:Secret"

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
API_KEY = "plain-text-api-key"
TAGS = {"team": "ml-platform"}
POOLS: list[dict[str, Any]] = [
    {"name": "l4", "gpu": "l4", "spot": True, "max_nodes": 2},
    {"name": "h100", "gpu": "h100-80gb", "gpus_per_node": 8, "min_nodes": 1, "max_nodes": 2},
]
BASE: dict[str, Any] = {
    "gpu_pools": POOLS,
    "inference": {"image": IMAGE, "shards": 2},
    "model_path": "llama-3.1-8b/",
}
EKS_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def render(name: str = "llm", **overrides: Any) -> Graph:
    return render_installation(AwsInstallation, name, {**BASE, **overrides})


def failure(name: str = "llm", **overrides: Any) -> ArgumentError:
    return refused_installation(AwsInstallation, name, {**BASE, **overrides})


def problems(name: str = "llm", **overrides: Any) -> list[str]:
    return validate_aws_installation_args({**BASE, **overrides}, name)


@pytest.fixture(scope="module")
def graph() -> Graph:
    """Two GPU pools, installation-level tags and an API key."""
    return render(tags=TAGS, api_key=API_KEY)


@pytest.fixture(scope="module")
def custom() -> Graph:
    """An explicit model URI, another namespace, and no registry."""
    return render(
        inference={"image": IMAGE, "shards": 2, "model_uri": "s3://elsewhere/llama/", "namespace": "serving"},
        create_registry=False,
    )


def private_subnet_ids(graph: Graph, name: str = "llm") -> list[str | None]:
    subnets = [s for s in graph.of_type(SUBNET) if s.name.startswith(f"{name}-private-")]
    subnets.sort(key=lambda s: int(s.name.rsplit("-", 1)[1]))
    assert len(subnets) == 3
    return [s.id for s in subnets]


def gpu_node_groups(graph: Graph) -> dict[str, Resource]:
    """The node group of each GPU pool, by pool (component) name."""
    groups = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (group,) = [r for r in graph.children(pool) if r.type == NODE_GROUP]
        groups[pool.name] = group
    return groups


def catalogue_price(gpu: str, gpus_per_node: int) -> float:
    """The cheapest AWS on-demand price the catalogue lists for this GPU and node size."""
    return min(o.usd_per_hour for o in catalog.GPUS[gpu].offers if o.cloud == "aws" and o.gpu_count == gpus_per_node)


# -- wiring -------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_every_part_is_its_child(graph: Graph) -> None:
    installation = graph.one(INSTALLATION)
    assert installation.name == "llm"
    parts = {(r.type, r.name) for r in graph.children(installation)}
    assert parts >= {
        ("shardstack:aws:Network", "llm"),
        (CLUSTER, "llm"),
        (GPU_NODE_POOL, "l4"),
        (GPU_NODE_POOL, "h100"),
        (WEIGHT_STORE, "llm-weights"),
        ("shardstack:aws:Registry", "llm-registry"),
        ("shardstack:k8s:GpuEnablement", "llm-gpu"),
        (SHARDED_INFERENCE, "llm"),
    }
    # Everything else hangs below one of them.
    assert graph.roots() == [installation]


def test_the_cluster_runs_in_the_networks_vpc_and_private_subnets(graph: Graph) -> None:
    private = private_subnet_ids(graph)
    vpc = graph.one(VPC)
    eks = graph.one(EKS_CLUSTER).inputs

    assert eks["vpcConfig"]["subnetIds"] == private
    assert graph.one(SECURITY_GROUP, "llm-api-access").inputs["vpcId"] == vpc.id
    assert graph.one(NODE_GROUP, "llm-system").inputs["subnetIds"] == private


def test_every_gpu_node_group_joins_the_cluster_with_its_node_role_in_the_private_subnets(graph: Graph) -> None:
    groups = gpu_node_groups(graph)
    eks = graph.one(EKS_CLUSTER)
    node_role = graph.one(ROLE, "llm-node-role")

    assert set(groups) == {"l4", "h100"}
    for pool, group in groups.items():
        assert group.inputs["clusterName"] == eks.outputs["name"] == "llm"
        assert group.inputs["nodeRoleArn"] == node_role.outputs["arn"]
        assert group.inputs["subnetIds"] == private_subnet_ids(graph)
        assert group.inputs["labels"]["shardstack.dev/pool"] == pool


def test_every_kubernetes_object_goes_through_the_clusters_provider(graph: Graph) -> None:
    provider = graph.one(K8S_PROVIDER)
    assert provider.parent == graph.one(CLUSTER).urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert {r.type for r in objects} >= {STATEFULSET, "kubernetes:apps/v1:DaemonSet", SECRET_OBJECT}
    assert all(r.provider and r.provider.startswith(provider.urn) for r in objects), [
        r.name for r in objects if not (r.provider and r.provider.startswith(provider.urn))
    ]


def test_pod_identity_lets_exactly_the_inference_service_account_read_the_weights(graph: Graph) -> None:
    association = weights_association(graph)
    account = child_of(graph, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    (role,) = [r for r in graph.of_type(ROLE) if r.parent == graph.one(WEIGHT_STORE).urn]

    assert association.inputs["namespace"] == account["namespace"] == "shardstack"
    assert association.inputs["serviceAccount"] == account["name"]
    assert pod_spec(graph)["serviceAccountName"] == account["name"]
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == graph.one(EKS_CLUSTER).outputs["name"]
    # The ranks start only once their role can be assumed.
    assert association.urn in graph.one(SHARDED_INFERENCE).dependencies


def test_pod_identity_follows_the_inference_namespace(custom: Graph) -> None:
    association = weights_association(custom)
    account = child_of(custom, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    assert association.inputs["namespace"] == account["namespace"] == "serving"
    assert association.inputs["serviceAccount"] == account["name"]


def test_the_ranks_read_the_checkpoint_from_the_weight_bucket(graph: Graph) -> None:
    bucket = graph.one(BUCKET).outputs["bucket"]
    assert graph.outputs["bucket_uri"] == f"s3://{bucket}/"
    assert env(graph)["SHARDSTACK_MODEL_URI"] == f"s3://{bucket}/llama-3.1-8b/" == graph.outputs["model_uri"]


def test_an_explicit_model_uri_wins_over_the_weight_store(custom: Graph) -> None:
    assert env(custom)["SHARDSTACK_MODEL_URI"] == "s3://elsewhere/llama/" == custom.outputs["model_uri"]


def test_pulumi_up_waits_for_the_ranks_only_when_the_weights_are_already_there(graph: Graph, custom: Graph) -> None:
    # A new bucket is empty until the weights are pushed after `pulumi up`.
    assert skips_await(graph)
    assert not skips_await(custom)


def test_the_ranks_run_on_the_gpu_pools_nodes(graph: Graph) -> None:
    spec = pod_spec(graph)
    assert spec["nodeSelector"] == {"shardstack.dev/gpu": "true"}
    assert tolerates(spec["tolerations"], "nvidia.com/gpu", "present", "NoSchedule")
    for pool, group in gpu_node_groups(graph).items():
        labels = group.inputs["labels"]
        assert spec["nodeSelector"].items() <= labels.items(), pool
        for taint in group.inputs["taints"]:
            effect = EKS_TAINT_EFFECTS[taint["effect"]]
            if effect != "PreferNoSchedule":
                assert tolerates(spec["tolerations"], taint["key"], taint.get("value"), effect), (pool, taint)


def test_the_ranks_and_the_device_plugin_tolerate_the_taints_callers_put_on_pools() -> None:
    dedicated = {"key": "dedicated", "value": "llm", "effect": "NoSchedule"}
    graph = render(gpu_pools=[{**POOLS[0], "taints": [dedicated]}, POOLS[1]])
    (daemonset,) = [d for d in graph.of_type("kubernetes:apps/v1:DaemonSet") if "device-plugin" in d.name]
    for spec in (pod_spec(graph), daemonset.inputs["spec"]["template"]["spec"]):
        assert tolerates(spec["tolerations"], "dedicated", "llm", "NoSchedule"), spec["tolerations"]
        assert tolerates(spec["tolerations"], "nvidia.com/gpu", "present", "NoSchedule")


def test_an_api_key_is_stored_in_a_secret_the_ranks_read(graph: Graph) -> None:
    (secret,) = [r for r in graph.of_type(SECRET_OBJECT) if r.parent == graph.one(INSTALLATION).urn]
    meta = secret.inputs["metadata"]
    reference = env(graph)["SHARDSTACK_API_KEY"]["secretKeyRef"]

    assert meta["namespace"] == child_of(graph, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]["namespace"]
    assert reference["name"] == meta["name"]
    assert secret.inputs["stringData"] == {reference["key"]: SECRET}
    # Given as plain text, it is still recorded only as a secret.
    assert API_KEY not in json.dumps([r.inputs for r in graph])


def test_no_api_key_means_no_secret_and_no_key_variable(custom: Graph) -> None:
    assert custom.of_type(SECRET_OBJECT) == []
    assert "SHARDSTACK_API_KEY" not in env(custom)


def test_the_registry_is_created_by_default_and_its_url_exported(graph: Graph) -> None:
    repository = graph.one(REPOSITORY)
    assert graph.outputs["registry_url"] == repository.outputs["repositoryUrl"]
    assert graph.outputs["registry_url"].endswith(".amazonaws.com/shardstack/runtime")


def test_create_registry_false_creates_no_repository(custom: Graph) -> None:
    assert custom.of_type(REPOSITORY) == []
    assert custom.of_type("shardstack:aws:Registry") == []
    assert custom.outputs["registry_url"] == ""


def test_installation_tags_reach_the_resources_of_every_part(graph: Graph) -> None:
    tagged = [
        graph.one(VPC),
        graph.one(EKS_CLUSTER),
        graph.one(NODE_GROUP, "llm-system"),
        *gpu_node_groups(graph).values(),
        *graph.of_type(LAUNCH_TEMPLATE),
        graph.one(BUCKET),
        *graph.of_type(KMS_KEY),
        graph.one(REPOSITORY),
        *graph.of_type(ROLE),
        *graph.of_type(ASSOCIATION),
    ]
    untagged = [r.name for r in tagged if r.inputs["tags"].get("team") != "ml-platform"]
    assert untagged == []
    # Each part keeps its own component tag beside them.
    assert graph.one(BUCKET).inputs["tags"]["shardstack:component"] == "llm-weights"
    assert gpu_node_groups(graph)["l4"].inputs["tags"]["shardstack:component"] == "l4"


def test_gpu_cost_is_the_catalogue_price_of_every_pool_at_its_min_and_max_size(graph: Graph) -> None:
    prices = {p["name"]: catalogue_price(p["gpu"], p.get("gpus_per_node", 1)) for p in POOLS}
    at_min = sum(p.get("min_nodes", 0) * prices[p["name"]] for p in POOLS)
    at_max = sum(p["max_nodes"] * prices[p["name"]] for p in POOLS)

    assert at_min == pytest.approx(55.04) and at_max == pytest.approx(111.6896)  # 2 x 0.8048 + 2 x 55.04
    # Reported to the cent.
    assert graph.outputs["gpu_usd_per_hour_min"] == pytest.approx(at_min, abs=0.005)
    assert graph.outputs["gpu_usd_per_hour_max"] == pytest.approx(at_max, abs=0.005)


def test_outputs_name_the_cluster_and_keep_the_kubeconfig_secret(graph: Graph) -> None:
    assert graph.outputs["cluster_name"] == "llm"
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.outputs["endpoint"] == "http://llm-api.shardstack.svc.cluster.local:8000"


# -- validation ---------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert problems(tags=TAGS, api_key=API_KEY) == []


def test_arguments_the_installation_wires_itself_are_refused() -> None:
    found = problems(
        network={"cluster_name": "other"},
        cluster={"vpc_id": "vpc-0123456789abcdef0"},
        gpu_pools=[{**POOLS[0], "node_role_arn": "arn:aws:iam::123456789012:role/nodes"}],
        inference={"image": IMAGE, "shards": 2, "service_account_annotations": {"a": "b"}},
    )
    for wired in (
        "network.cluster_name",
        "cluster.vpc_id",
        "gpu_pools[0].node_role_arn",
        "inference.service_account_annotations",
    ):
        assert f"{wired} is set by the installation itself; remove it" in found, found
    assert len(found) == 4, found


def test_at_least_one_gpu_pool_is_required() -> None:
    (empty,) = problems(gpu_pools=[])
    assert empty.startswith("gpu_pools must list at least one GPU pool")
    (missing,) = validate_aws_installation_args({k: v for k, v in BASE.items() if k != "gpu_pools"}, "llm")
    assert missing.startswith("gpu_pools must list at least one GPU pool")


def test_pool_names_must_be_unique() -> None:
    (problem,) = problems(gpu_pools=[POOLS[0], {**POOLS[1], "name": "l4"}])
    assert problem == "gpu_pools[1]: name 'l4' is already the name of gpu_pools[0]; pool names must be unique"


def test_an_api_key_and_an_api_key_secret_exclude_each_other() -> None:
    (problem,) = problems(
        api_key=API_KEY, inference={"image": IMAGE, "shards": 2, "api_key_secret": {"name": "k", "key": "k"}}
    )
    assert problem.startswith("api_key and inference.api_key_secret are both given")


def test_the_checkpoint_location_is_required() -> None:
    (problem,) = validate_aws_installation_args({k: v for k, v in BASE.items() if k != "model_path"}, "llm")
    assert problem.startswith("inference.model_uri or model_path is required")


def test_problems_of_a_part_are_prefixed_with_the_part() -> None:
    found = problems(
        network={"nat_gateways": "sinlge"},
        cluster={"kubernetes_version": "1.29"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}],
        weight_store={"noncurrent_version_days": 0},
        inference={"image": IMAGE, "shards": 0},
    )
    for part in ("network", "cluster", "gpu_pools[0]", "weight_store", "inference"):
        assert any(p.startswith(f"{part}: ") for p in found), (part, found)
    assert "cluster: kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found
    assert any(p.startswith("gpu_pools[0]: gpu='l5' is not in the GPU catalogue") for p in found)


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        network={"cluster_name": "other"},
        cluster={"kubernetes_version": "1.29"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}, {**POOLS[1], "name": "l4"}],
        api_key=API_KEY,
        inference={"image": IMAGE, "shards": 2, "api_key_secret": {"name": "k", "key": "k"}},
    )
    expected = (
        "network.cluster_name is set by",
        "cluster: kubernetes_version=",
        "gpu_pools[0]: gpu='l5'",
        "gpu_pools[1]: name 'l4' is already",
        "api_key and inference.api_key_secret",
    )
    for start in expected:
        assert any(p.startswith(start) for p in error.problems), (start, error.problems)


def test_installation_tags_are_checked_before_anything_is_registered() -> None:
    error = failure(tags={"aws:owner": "me", "shardstack:component": "x"})
    assert any(p.startswith("tags") and "'aws:owner'" in p for p in error.problems), error.problems
    assert any("'shardstack:component'" in p for p in error.problems), error.problems


def test_a_name_too_long_for_the_weight_bucket_is_refused_before_anything_is_registered() -> None:
    name = "a" * 41  # an EKS cluster and ShardedInference name, but '<name>-weights-bucket-<random>' > 63
    error = failure(name)
    assert any("bucket" in p for p in error.problems), error.problems


def test_create_registry_must_be_true_or_false() -> None:
    found = problems(create_registry="false")
    assert any(p.startswith("create_registry") for p in found), found


# -- drift: the installation's part arguments are the components' arguments minus the wiring ---------


@pytest.mark.parametrize(
    ("part", "component", "wired", "added"),
    [
        (InstallationNetwork, NetworkArgs, {"cluster_name"}, set()),
        (InstallationCluster, ClusterArgs, {"vpc_id", "subnet_ids"}, set()),
        (NamedGpuPool, GpuNodePoolArgs, {"cluster_name", "node_role_arn", "subnet_ids"}, {"name"}),
    ],
    ids=["network", "cluster", "gpu_pool"],
)
def test_part_arguments_are_the_components_arguments_minus_the_wiring(
    part: Any, component: Any, wired: set[str], added: set[str]
) -> None:
    assert_part_matches_component(part, component, wired, added)


# -- schema ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return component_schema("AwsInstallation", module="shardstack.aws")


def test_component_schema_is_inferred(schema: dict[str, Any]) -> None:
    resource = schema["resources"]["shardstack:index:AwsInstallation"]
    assert resource["isComponent"] is True
    assert set(resource["requiredInputs"]) == {"gpuPools", "inference"}
    assert {
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
        "tags",
        "clusterAutoscaler",
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
    types = schema["types"]
    assert "clusterName" not in types["shardstack:index:InstallationNetwork"]["properties"]
    assert not {"vpcId", "subnetIds"} & set(types["shardstack:index:InstallationCluster"]["properties"])
    pool = types["shardstack:index:NamedGpuPool"]
    assert not {"clusterName", "nodeRoleArn", "subnetIds"} & set(pool["properties"])
    assert set(pool["required"]) == {"gpu", "name"}


def test_every_gpu_pool_field_is_described_in_the_schema(schema: dict[str, Any]) -> None:
    pool = schema["types"]["shardstack:index:NamedGpuPool"]["properties"]
    assert [key for key, value in pool.items() if not value.get("description")] == []


def test_every_output_is_described_in_the_schema(schema: dict[str, Any]) -> None:
    outputs = schema["resources"]["shardstack:index:AwsInstallation"]["properties"]
    assert [key for key, value in outputs.items() if not value.get("description")] == []


def test_the_autoscaler_grows_this_clusters_pools_with_a_release_of_its_kubernetes_version() -> None:
    graph = render(cluster={"kubernetes_version": "1.32"}, cluster_autoscaler={"expander": "most-pods"})
    (deployment,) = graph.of_type("kubernetes:apps/v1:Deployment")
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    command = container.get("command") or container.get("args")
    cluster = graph.one("aws:eks/cluster:Cluster").outputs["name"]
    assert (
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/"
        f"{cluster}" in command
    )
    assert "--expander=most-pods" in command
    assert container["image"].rsplit(":", 1)[1].startswith("v1.32.")
    # It runs on the system nodes and gets AWS access through its own Pod Identity association.
    assert deployment.inputs["spec"]["template"]["spec"]["nodeSelector"] == {"shardstack.dev/pool": "system"}
    (association,) = [r for r in graph.of_type(ASSOCIATION) if "autoscaler" in r.name]
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"


def test_autoscaler_arguments_are_checked_with_the_rest() -> None:
    error = failure(cluster_autoscaler={"expander": "price", "cluster_name": "other"})
    assert "cluster_autoscaler.cluster_name is set by the installation itself; remove it" in error.problems
    assert any(p.startswith("cluster_autoscaler: ") and "'price'" in p for p in error.problems), error.problems
