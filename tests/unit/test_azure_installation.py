"""AzureInstallation under recording mocks: how the parts are wired together, validation, drift and the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from component_schema import component_schema
from installation_parts import (
    assert_part_matches_component,
    child_of,
    env,
    pod_template,
    refused_installation,
    render_installation,
    skips_await,
    tolerates,
)

from shardstack import catalog
from shardstack.azure.cluster import ClusterArgs
from shardstack.azure.gpu_node_pool import GpuNodePoolArgs
from shardstack.azure.installation import (
    AzureInstallation,
    InstallationCluster,
    InstallationNetwork,
    InstallationRegistry,
    InstallationWeightStore,
    NamedGpuPool,
    validate_azure_installation_args,
)
from shardstack.azure.network import NetworkArgs
from shardstack.azure.registry import RegistryArgs
from shardstack.azure.weight_store import WeightStoreArgs
from shardstack.errors import ArgumentError
from shardstack.testing import SECRET, Graph, Resource

INSTALLATION = "shardstack:azure:AzureInstallation"
CLUSTER = "shardstack:azure:Cluster"
GPU_NODE_POOL = "shardstack:azure:GpuNodePool"
WEIGHT_STORE = "shardstack:azure:WeightStore"
SHARDED_INFERENCE = "shardstack:k8s:ShardedInference"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
AKS = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
REGISTRY = "azure-native:containerregistry:Registry"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
K8S_PROVIDER = "pulumi:providers:kubernetes"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET_OBJECT = "kubernetes:core/v1:Secret"

BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
SPOT_TAINT = ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
API_KEY = "plain-text-api-key"
TAGS = {"team": "ml-platform"}
POOLS: list[dict[str, Any]] = [
    {"name": "t4", "gpu": "t4", "spot": True, "max_nodes": 2},
    {
        "name": "h100",
        "gpu": "h100-80gb",
        "gpus_per_node": 8,
        "min_nodes": 1,
        "max_nodes": 2,
        "taints": [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}],
    },
]
BASE: dict[str, Any] = {
    "location": "eastus",
    "gpu_pools": POOLS,
    "inference": {"image": IMAGE, "shards": 2},
    "model_path": "llama-3.1-8b/",
}


def render(name: str = "llm", **overrides: Any) -> Graph:
    return render_installation(AzureInstallation, name, {**BASE, **overrides}, ("resource_group_name",))


def failure(name: str = "llm", **overrides: Any) -> ArgumentError:
    return refused_installation(AzureInstallation, name, {**BASE, **overrides})


def problems(name: str = "llm", **overrides: Any) -> list[str]:
    return validate_azure_installation_args({**BASE, **overrides}, name)


@pytest.fixture(scope="module")
def graph() -> Graph:
    """Two GPU pools (one Spot, one tainted), installation-level tags and an API key."""
    return render(tags=TAGS, api_key=API_KEY)


@pytest.fixture(scope="module")
def custom() -> Graph:
    """An explicit model URI, another namespace, no registry, named writers, a public API."""
    return render(
        inference={
            "image": IMAGE,
            "shards": 2,
            "model_uri": "az://w@acct.blob.core.windows.net/llama/",
            "namespace": "serving",
            "public": True,
            "allowed_cidrs": ["198.51.100.0/24"],
        },
        create_registry=False,
        weight_store={
            "writer_principal_ids": ["5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"],
            "writer_principal_type": "Group",
            "allowed_ip_ranges": ["198.51.100.7"],
        },
    )


def agent_pools(graph: Graph) -> dict[str, Resource]:
    """The AKS agent pool of each GPU pool, by pool (component) name."""
    found = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (agent_pool,) = [r for r in graph.children(pool) if r.type == AGENT_POOL]
        found[pool.name] = agent_pool
    return found


def role_assignments(graph: Graph, role: str) -> list[Resource]:
    return [r for r in graph.of_type(ROLE_ASSIGNMENT) if r.inputs["roleDefinitionId"].endswith(f"/{role}")]


def catalogue_price(gpu: str, gpus_per_node: int) -> float:
    """The cheapest Azure on-demand price the catalogue lists for this GPU and node size."""
    return min(o.usd_per_hour for o in catalog.GPUS[gpu].offers if o.cloud == "azure" and o.gpu_count == gpus_per_node)


def aks_taint(taint: str) -> tuple[str, str, str]:
    key_value, effect = taint.rsplit(":", 1)
    key, value = key_value.split("=", 1)
    return key, value, effect


# -- wiring -------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_every_part_is_its_child(graph: Graph) -> None:
    installation = graph.one(INSTALLATION)
    parts = {(r.type, r.name) for r in graph.children(installation)}
    assert parts >= {
        ("shardstack:azure:Network", "llm"),
        (CLUSTER, "llm"),
        (GPU_NODE_POOL, "t4"),
        (GPU_NODE_POOL, "h100"),
        (WEIGHT_STORE, "llm-weights"),
        ("shardstack:azure:Registry", "llm-registry"),
        ("shardstack:k8s:GpuEnablement", "llm-gpu"),
        (SHARDED_INFERENCE, "llm"),
    }
    assert graph.roots() == [installation]


def test_the_cluster_and_every_gpu_pool_run_in_the_networks_node_subnet(graph: Graph) -> None:
    subnet = graph.one(SUBNET).id
    aks = graph.one(AKS)
    (system,) = aks.inputs["agentPoolProfiles"]
    assert system["vnetSubnetID"] == subnet
    assert aks.inputs["resourceGroupName"] == graph.one("azure-native:resources:ResourceGroup").outputs["name"]
    for pool, agent_pool in agent_pools(graph).items():
        assert agent_pool.inputs["vnetSubnetID"] == subnet, pool
        assert agent_pool.inputs["resourceName"] == aks.outputs["name"] == "llm"
        assert agent_pool.inputs["resourceGroupName"] == aks.inputs["resourceGroupName"]
        assert agent_pool.inputs["nodeLabels"]["shardstack.dev/pool"] == pool


def test_every_kubernetes_object_goes_through_the_clusters_provider(graph: Graph) -> None:
    provider = graph.one(K8S_PROVIDER)
    assert provider.parent == graph.one(CLUSTER).urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert {r.type for r in objects} >= {STATEFULSET, DAEMONSET, SECRET_OBJECT}
    assert all(r.provider and r.provider.startswith(provider.urn) for r in objects)


def test_workload_identity_lets_exactly_the_inference_service_account_read_the_container(graph: Graph) -> None:
    account = child_of(graph, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    (federation,) = graph.of_type(FEDERATION)
    (reader,) = role_assignments(graph, BLOB_READER)
    container = graph.one(CONTAINER)
    (identity,) = [i for i in graph.of_type(IDENTITY) if i.parent == graph.one(WEIGHT_STORE).urn]

    assert federation.inputs["subject"] == f"system:serviceaccount:{account['namespace']}:{account['name']}"
    assert federation.inputs["issuer"] == graph.one(AKS).outputs["oidcIssuerProfile"]["issuerURL"]
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert reader.inputs["principalId"] == identity.outputs["principalId"]
    # Read-only, on this container and nothing wider.
    assert reader.inputs["scope"] == container.id
    assert reader.inputs["scope"].endswith("/blobServices/default/containers/weights")
    # The service account names the identity; the pods ask the webhook for its token.
    assert account["annotations"] == {"azure.workload.identity/client-id": identity.outputs["clientId"]}
    assert pod_template(graph)["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod_template(graph)["spec"]["serviceAccountName"] == account["name"]
    assert reader.urn in graph.one(SHARDED_INFERENCE).dependencies
    assert federation.urn in graph.one(SHARDED_INFERENCE).dependencies


def test_workload_identity_follows_the_inference_namespace(custom: Graph) -> None:
    (federation,) = custom.of_type(FEDERATION)
    account = child_of(custom, SERVICE_ACCOUNT, SHARDED_INFERENCE).inputs["metadata"]
    assert federation.inputs["subject"] == f"system:serviceaccount:serving:{account['name']}"


def test_the_storage_firewall_admits_the_clusters_subnet_and_the_pushers_addresses(graph: Graph, custom: Graph) -> None:
    rules = graph.one(ACCOUNT).inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert [r["virtualNetworkResourceId"] for r in rules["virtualNetworkRules"]] == [graph.one(SUBNET).id]
    assert rules["ipRules"] == []
    assert [r["iPAddressOrRange"] for r in custom.one(ACCOUNT).inputs["networkRuleSet"]["ipRules"]] == ["198.51.100.7"]


def test_the_deployer_may_push_the_weights_unless_writers_are_named(graph: Graph, custom: Graph) -> None:
    (writer,) = role_assignments(graph, BLOB_CONTRIBUTOR)
    (deployer_admin,) = [r for r in graph.of_type(ROLE_ASSIGNMENT) if r.name.endswith("admin-deployer")]
    assert writer.inputs["principalId"] == deployer_admin.inputs["principalId"]  # the client config's object id
    assert writer.inputs["principalType"] == "User"
    assert writer.inputs["scope"] == graph.one(CONTAINER).id

    (named,) = role_assignments(custom, BLOB_CONTRIBUTOR)
    assert named.inputs["principalId"] == "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert named.inputs["principalType"] == "Group"


def test_a_service_principal_deployer_is_granted_as_one() -> None:
    graph = render(cluster={"deployer_principal_type": "ServicePrincipal"})
    (writer,) = role_assignments(graph, BLOB_CONTRIBUTOR)
    assert writer.inputs["principalType"] == "ServicePrincipal"


def test_the_ranks_read_the_checkpoint_from_the_container(graph: Graph) -> None:
    account = graph.one(ACCOUNT).inputs["accountName"]
    prefix = f"az://weights@{account}.blob.core.windows.net/"
    assert graph.outputs["bucket_uri"] == prefix
    assert env(graph)["SHARDSTACK_MODEL_URI"] == f"{prefix}llama-3.1-8b/" == graph.outputs["model_uri"]


def test_an_explicit_model_uri_wins_and_pulumi_up_then_waits_for_the_ranks(graph: Graph, custom: Graph) -> None:
    assert env(custom)["SHARDSTACK_MODEL_URI"] == "az://w@acct.blob.core.windows.net/llama/"

    assert skips_await(graph)
    assert not skips_await(custom)


def test_the_ranks_and_the_device_plugin_run_on_every_pool_spot_and_tainted_ones_too(graph: Graph) -> None:
    # The device plugin, and the DCGM exporter the installation's Prometheus scrapes.
    specs = {"ranks": pod_template(graph)["spec"]} | {
        daemonset.name: daemonset.inputs["spec"]["template"]["spec"] for daemonset in graph.of_type(DAEMONSET)
    }
    assert len(specs) == 3
    for pool, agent_pool in agent_pools(graph).items():
        taints = [aks_taint(t) for t in agent_pool.inputs["nodeTaints"]]
        assert ("nvidia.com/gpu", "present", "NoSchedule") in taints
        for who, spec in specs.items():
            assert spec["nodeSelector"].items() <= agent_pool.inputs["nodeLabels"].items(), (who, pool)
            for key, value, effect in taints:
                assert tolerates(spec["tolerations"], key, value, effect), (who, pool, key)
    assert SPOT_TAINT in [aks_taint(t) for t in agent_pools(graph)["t4"].inputs["nodeTaints"]]


def test_an_api_key_is_stored_in_a_secret_the_ranks_read(graph: Graph) -> None:
    (secret,) = [r for r in graph.of_type(SECRET_OBJECT) if r.parent == graph.one(INSTALLATION).urn]
    reference = env(graph)["SHARDSTACK_API_KEY"]["secretKeyRef"]
    assert reference["name"] == secret.inputs["metadata"]["name"]
    assert secret.inputs["stringData"] == {reference["key"]: SECRET}
    assert API_KEY not in json.dumps([r.inputs for r in graph])


def test_the_kubelet_identity_may_pull_from_the_registry(graph: Graph) -> None:
    (pull,) = role_assignments(graph, ACR_PULL)
    kubelet = graph.one(AKS).outputs["identityProfile"]["kubeletidentity"]["objectId"]
    assert pull.inputs["principalId"] == kubelet
    assert pull.inputs["principalType"] == "ServicePrincipal"
    assert pull.inputs["scope"] == graph.one(REGISTRY).id
    assert graph.outputs["registry_url"] == graph.one(REGISTRY).outputs["loginServer"]


def test_create_registry_false_creates_no_registry(custom: Graph) -> None:
    assert custom.of_type(REGISTRY) == []
    assert role_assignments(custom, ACR_PULL) == []
    assert custom.outputs["registry_url"] == ""


def test_a_public_api_opens_the_subnets_nsg_to_the_allowed_cidrs_only(graph: Graph, custom: Graph) -> None:
    assert graph.of_type(SECURITY_RULE) == []
    (rule,) = custom.of_type(SECURITY_RULE)
    assert rule.inputs["networkSecurityGroupName"] == custom.one(NSG).outputs["name"]
    assert rule.inputs["direction"] == "Inbound" and rule.inputs["access"] == "Allow"
    assert rule.inputs["sourceAddressPrefixes"] == ["198.51.100.0/24"]
    assert rule.inputs["destinationPortRange"] == "8000"
    assert rule.inputs["protocol"] == "Tcp"


def test_installation_tags_reach_the_resources_of_every_part(graph: Graph) -> None:
    tagged = [
        graph.one("azure-native:resources:ResourceGroup"),
        graph.one(AKS),
        graph.one(ACCOUNT),
        graph.one(REGISTRY),
        *agent_pools(graph).values(),
    ]
    assert [r.name for r in tagged if r.inputs["tags"].get("team") != "ml-platform"] == []
    assert graph.one(ACCOUNT).inputs["tags"]["shardstack-component"] == "llm-weights"


def test_gpu_cost_is_the_catalogue_price_of_every_pool_at_its_min_and_max_size(graph: Graph) -> None:
    prices = {p["name"]: catalogue_price(p["gpu"], p.get("gpus_per_node", 1)) for p in POOLS}
    at_min = sum(p.get("min_nodes", 0) * prices[p["name"]] for p in POOLS)
    at_max = sum(p["max_nodes"] * prices[p["name"]] for p in POOLS)
    assert at_min == pytest.approx(98.32) and at_max == pytest.approx(197.692)  # 2 x 0.526 + 2 x 98.32
    assert graph.outputs["gpu_usd_per_hour_min"] == pytest.approx(at_min, abs=0.005)
    assert graph.outputs["gpu_usd_per_hour_max"] == pytest.approx(at_max, abs=0.005)


def test_outputs_name_the_cluster_and_its_group_and_keep_the_kubeconfig_secret(graph: Graph) -> None:
    assert graph.outputs["cluster_name"] == "llm"
    assert graph.outputs["resource_group_name"] == graph.one(AKS).inputs["resourceGroupName"]
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.outputs["endpoint"] == "http://llm-api.shardstack.svc.cluster.local:8000"


# -- validation ---------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert problems(tags=TAGS, api_key=API_KEY) == []


def test_the_location_is_required() -> None:
    (problem,) = validate_azure_installation_args({k: v for k, v in BASE.items() if k != "location"}, "llm")
    assert problem == "location is required: an Azure region name such as 'eastus' or 'westeurope'"


def test_arguments_the_installation_wires_itself_are_refused() -> None:
    found = problems(
        network={"location": "westeurope"},
        cluster={"node_subnet_id": "x"},
        gpu_pools=[{**POOLS[0], "cluster_name": "other"}],
        weight_store={"resource_group_name": "other"},
        registry={"resource_group_name": "other"},
        inference={"image": IMAGE, "shards": 2, "service_account_annotations": {"a": "b"}},
    )
    for wired in (
        "network.location",
        "cluster.node_subnet_id",
        "gpu_pools[0].cluster_name",
        "weight_store.resource_group_name",
        "registry.resource_group_name",
        "inference.service_account_annotations",
    ):
        assert f"{wired} is set by the installation itself; remove it" in found, found
    assert len(found) == 6, found


def test_pools_whose_aks_names_collide_are_refused() -> None:
    found = problems(gpu_pools=[{**POOLS[0], "name": "a-100"}, {**POOLS[1], "name": "a100"}])
    assert found == [
        "gpu_pools[1]: name 'a100' becomes the AKS node pool name 'a100', which is already "
        "gpu_pools[0]'s (AKS drops '-' and keeps 12 characters); rename the pool"
    ]
    (system,) = problems(gpu_pools=[{**POOLS[0], "name": "sys-tem"}])
    assert "already the system pool's" in system


def test_problems_of_a_part_are_prefixed_with_the_part() -> None:
    found = problems(
        network={"cidr_block": "8.8.0.0/16"},
        cluster={"kubernetes_version": "1.29"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}],
        weight_store={"sku": "Premium_LRS"},
        registry={"sku": "Basic"},
        gpu_enablement={"dcgm_exporter": "yes"},
        inference={"image": IMAGE, "shards": 0},
    )
    for part in ("network", "cluster", "gpu_pools[0]", "weight_store", "registry", "gpu_enablement", "inference"):
        assert any(p.startswith(f"{part}: ") for p in found), (part, found)


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    error = failure(
        network={"location": "westeurope"},
        gpu_pools=[{**POOLS[0], "gpu": "l5"}, {**POOLS[1], "name": "t4"}],
        tags={"microsoft-x": "y"},
        api_key=API_KEY,
        inference={"image": IMAGE, "shards": 2, "api_key_secret": {"name": "k", "key": "k"}},
    )
    expected = (
        "network.location is set by",
        "gpu_pools[0]: gpu='l5'",
        "gpu_pools[1]: name 't4' is already",
        "tags['microsoft-x']",
        "api_key and inference.api_key_secret",
    )
    for start in expected:
        assert any(p.startswith(start) for p in error.problems), (start, error.problems)


# -- drift: the installation's part arguments are the components' arguments minus the wiring ---------


@pytest.mark.parametrize(
    ("part", "component", "wired", "added", "defaulted"),
    [
        (InstallationNetwork, NetworkArgs, {"location"}, set(), set()),
        (
            InstallationCluster,
            ClusterArgs,
            {"resource_group_name", "location", "node_subnet_id", "managed_prometheus"},
            set(),
            set(),
        ),
        (NamedGpuPool, GpuNodePoolArgs, {"cluster_name", "resource_group_name", "node_subnet_id"}, {"name"}, set()),
        (InstallationWeightStore, WeightStoreArgs, {"resource_group_name"}, set(), {"location"}),
        (InstallationRegistry, RegistryArgs, {"resource_group_name"}, set(), {"location"}),
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
    return component_schema("AzureInstallation", module="shardstack.azure")


def test_component_schema_is_inferred(schema: dict[str, Any]) -> None:
    resource = schema["resources"]["shardstack:index:AzureInstallation"]
    assert resource["isComponent"] is True
    assert set(resource["requiredInputs"]) == {"location", "gpuPools", "inference"}
    assert {
        "location",
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
    } == set(resource["inputProperties"])
    assert {
        "endpoint",
        "bucketUri",
        "modelUri",
        "registryUrl",
        "kubeconfig",
        "clusterName",
        "resourceGroupName",
        "gpuUsdPerHourMin",
        "gpuUsdPerHourMax",
    } == set(resource["properties"])
    pool = schema["types"]["shardstack:index:NamedGpuPool"]
    assert set(pool["required"]) == {"gpu", "name"}
    assert "required" not in schema["types"]["shardstack:index:InstallationWeightStore"]
    assert [key for key, value in pool["properties"].items() if not value.get("description")] == []
    assert [key for key, value in resource["properties"].items() if not value.get("description")] == []
