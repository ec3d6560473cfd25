"""The `azure-dev` and `azure-prod` stacks planned from their real stack files: what `pulumi up` would create."""

from __future__ import annotations

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
AKS = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
GPU_NODE_POOL = "shardstack:azure:GpuNodePool"
ACCOUNT = "azure-native:storage:StorageAccount"
CONTAINER = "azure-native:storage:BlobContainer"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
GPU = "nvidia.com/gpu"

# Built-in role definition GUIDs, as Azure publishes them.
ROLES = {
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b": "Azure Kubernetes Service RBAC Cluster Admin",
}


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture(scope="module")
def dev() -> Graph:
    return plan_stack("azure-dev", REPO).graph


@pytest.fixture(scope="module")
def prod() -> Graph:
    return plan_stack("azure-prod", REPO).graph


@pytest.fixture(scope="module")
def applied() -> dict[str, Graph]:
    """Both stacks as `pulumi up` runs them: role definition IDs, built from the scopes' IDs, are known."""
    return {stack: plan_stack(stack, REPO, preview=False).graph for stack in ("azure-dev", "azure-prod")}


def gpu_pools(graph: Graph) -> dict[str, Resource]:
    found = {}
    for pool in graph.of_type(GPU_NODE_POOL):
        (agent_pool,) = [r for r in graph.children(pool) if r.type == AGENT_POOL]
        found[pool.name] = agent_pool
    return found


def offer(vm_size: str) -> catalog.InstanceOffer:
    (found,) = [o for m in catalog.GPUS.values() for o in m.offers if o.cloud == "azure" and o.instance_type == vm_size]
    return found


def containers(graph: Graph) -> list[dict[str, Any]]:
    return [c for s in graph.of_type(STATEFULSET) for c in s.inputs["spec"]["template"]["spec"]["containers"]]


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def gpus_requested(graph: Graph) -> int:
    return sum(
        s.inputs["spec"]["replicas"] * int(c["resources"]["limits"].get(GPU, 0))
        for s in graph.of_type(STATEFULSET)
        for c in s.inputs["spec"]["template"]["spec"]["containers"]
    )


# -- azure-dev ------------------------------------------------------------------------------------------


def test_dev_t4_pool_is_spot_and_scales_from_zero_on_a_catalogue_size(dev: Graph) -> None:
    pool = gpu_pools(dev)["t4"].inputs
    assert pool["scaleSetPriority"] == "Spot"
    assert pool["scaleSetEvictionPolicy"] == "Delete"
    assert pool["spotMaxPrice"] == -1
    assert pool["enableAutoScaling"] is True
    assert (pool["minCount"], pool["count"], pool["maxCount"]) == (0, 0, 2)
    assert offer(pool["vmSize"]).gpu_count == 1
    assert pool["vmSize"].startswith("Standard_NC") and pool["vmSize"].endswith("_T4_v3")


def test_dev_api_server_is_public_only_to_the_stack_files_networks(dev: Graph) -> None:
    access = dev.one(AKS).inputs["apiServerAccessProfile"]
    networks = stack_file("azure-dev")["shardstack:cluster"]["authorized_networks"]
    assert not access.get("enablePrivateCluster")
    assert access["authorizedIPRanges"] == networks == ["203.0.113.0/24"]


def test_dev_storage_firewall_admits_the_subnet_and_the_stack_files_networks(dev: Graph) -> None:
    rules = dev.one(ACCOUNT).inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert [r["iPAddressOrRange"] for r in rules["ipRules"]] == stack_file("azure-dev")["shardstack:weight_store"][
        "allowed_networks"
    ]
    assert len(rules["virtualNetworkRules"]) == 1


def test_dev_runs_two_ranks_with_one_gpu_each_that_tolerate_spot_nodes(dev: Graph) -> None:
    (statefulset,) = dev.of_type(STATEFULSET)
    (container,) = containers(dev)
    assert statefulset.inputs["spec"]["replicas"] == 2
    assert env(container)["SHARDSTACK_WORLD_SIZE"] == "2"
    assert container["resources"]["limits"][GPU] == "1"
    tolerations = statefulset.inputs["spec"]["template"]["spec"]["tolerations"]
    assert {
        "key": "kubernetes.azure.com/scalesetpriority",
        "operator": "Equal",
        "value": "spot",
        "effect": "NoSchedule",
    } in tolerations
    capacity = sum(p.inputs["maxCount"] * offer(p.inputs["vmSize"]).gpu_count for p in gpu_pools(dev).values())
    assert capacity >= gpus_requested(dev) == 2


def test_dev_exports_what_a_user_needs_next(dev: Graph) -> None:
    assert {
        "endpoint",
        "bucket_uri",
        "model_uri",
        "registry_url",
        "cluster_name",
        "resource_group_name",
        "kubeconfig",
    } <= set(dev.outputs)
    assert dev.one(AKS).inputs["resourceName"] == "azure-dev"


def test_dev_gpu_cost_is_zero_at_min_and_the_on_demand_price_of_two_nodes_at_max(dev: Graph) -> None:
    price = offer(gpu_pools(dev)["t4"].inputs["vmSize"]).usd_per_hour
    assert dev.outputs["gpu_usd_per_hour"]["at_min_nodes"] == 0
    assert dev.outputs["gpu_usd_per_hour"]["at_max_nodes"] == pytest.approx(2 * price, abs=0.005)


# -- azure-prod -----------------------------------------------------------------------------------------


def test_prod_is_a_private_cluster(prod: Graph) -> None:
    access = prod.one(AKS).inputs["apiServerAccessProfile"]
    assert access["enablePrivateCluster"] is True
    assert not access.get("authorizedIPRanges")


def test_prod_h100_pool_is_regular_nd_h100_v5_with_eight_gpus_per_node(prod: Graph) -> None:
    pool = gpu_pools(prod)["h100"].inputs
    assert pool.get("scaleSetPriority", "Regular") == "Regular"
    assert pool["vmSize"] == "Standard_ND96isr_H100_v5"
    assert offer(pool["vmSize"]).gpu_count == 8
    assert (pool["minCount"], pool["maxCount"]) == (1, 2)


def test_prod_serves_two_replica_groups_of_two_ranks_on_the_nodes_always_there(prod: Graph) -> None:
    assert [s.inputs["spec"]["replicas"] for s in prod.of_type(STATEFULSET)] == [2, 2]
    at_min = sum(p.inputs["minCount"] * offer(p.inputs["vmSize"]).gpu_count for p in gpu_pools(prod).values())
    assert at_min >= gpus_requested(prod) == 4


def test_prod_deployer_is_granted_as_the_service_principal_ci_runs_as(prod: Graph) -> None:
    assert stack_file("azure-prod")["shardstack:cluster"]["deployer_principal_type"] == "ServicePrincipal"
    deployer = [a for a in prod.of_type(ROLE_ASSIGNMENT) if a.name.endswith(("admin-deployer", "writer-0"))]
    assert len(deployer) == 2
    assert {a.inputs["principalType"] for a in deployer} == {"ServicePrincipal"}


def test_prod_weights_are_protected_and_reached_only_from_the_cluster(prod: Graph) -> None:
    account = prod.one(ACCOUNT)
    assert account.protect and account.retain_on_delete
    assert prod.one(CONTAINER).protect
    rules = account.inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny" and rules["ipRules"] == []
    assert account.inputs["allowSharedKeyAccess"] is False
    assert account.inputs["allowBlobPublicAccess"] is False


# -- both -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_every_role_assignment_is_scoped_and_least_privilege(stack: str, applied: dict[str, Graph]) -> None:
    graph = applied[stack]
    container = graph.one(CONTAINER).id
    granted = []
    for assignment in graph.of_type(ROLE_ASSIGNMENT):
        role = assignment.inputs["roleDefinitionId"].rsplit("/", 1)[1]
        granted.append((ROLES[role], assignment.inputs["scope"]))  # KeyError: a role nobody reviewed
    by_role = {role: scope for role, scope in granted}
    assert len(by_role) == len(granted) == 5  # each role once
    # The ranks read, and the deployer writes, this container only: never the account or wider.
    assert by_role["Storage Blob Data Reader"] == container
    assert by_role["Storage Blob Data Contributor"] == container
    registry = graph.one("azure-native:containerregistry:Registry").outputs["name"]
    assert by_role["AcrPull"].endswith(f"/registries/{registry}")
    assert by_role["Network Contributor"].endswith("/subnets/nodes")
    assert by_role["Azure Kubernetes Service RBAC Cluster Admin"] == graph.one(AKS).id
    # No assignment at a resource group or subscription.
    assert all("/providers/" in scope for _, scope in granted)


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_the_cluster_uses_entra_id_workload_identity_and_enforces_network_policy(
    stack: str, dev: Graph, prod: Graph
) -> None:
    aks = (dev if stack == "azure-dev" else prod).one(AKS).inputs
    assert aks["disableLocalAccounts"] is True
    assert aks["aadProfile"]["managed"] is True and aks["aadProfile"]["enableAzureRBAC"] is True
    assert aks["oidcIssuerProfile"]["enabled"] is True
    assert aks["securityProfile"]["workloadIdentity"]["enabled"] is True
    assert aks["networkProfile"]["networkPolicy"] == "cilium"


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_every_kubernetes_object_goes_to_the_new_cluster_with_our_device_plugin(
    stack: str, dev: Graph, prod: Graph
) -> None:
    graph = dev if stack == "azure-dev" else prod
    provider = graph.one("pulumi:providers:kubernetes")
    assert provider.parent == graph.one("shardstack:azure:Cluster").urn
    objects = [r for r in graph if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.provider and r.provider.startswith(provider.urn) for r in objects)
    # AKS does not run the NVIDIA device plugin itself.
    assert any("device-plugin" in d.name for d in graph.of_type("kubernetes:apps/v1:DaemonSet"))


@pytest.mark.parametrize(("stack", "gpu", "nodes"), [("azure-dev", "t4", (0, 2)), ("azure-prod", "h100-80gb", (1, 2))])
def test_plan_cli_prints_the_gpu_cost_per_hour(stack: str, gpu: str, nodes: tuple[int, int], capsys) -> None:
    assert main(["plan", stack, "--project-dir", str(REPO)]) == 0

    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  gpu_usd_per_hour:")
    cost = yaml.safe_load("\n".join(line.strip() for line in lines[start + 1 : start + 3]))
    price = catalog.GPUS[gpu].offer("azure", 8 if gpu == "h100-80gb" else 1).usd_per_hour
    assert cost == {
        "at_min_nodes": pytest.approx(nodes[0] * price, abs=0.005),
        "at_max_nodes": pytest.approx(nodes[1] * price, abs=0.005),
    }
