"""GpuNodePool (Azure) under recording mocks: the AKS agent pool, its autoscaling and upgrades, its
nodes, and inputs from other resources."""

from __future__ import annotations

import pulumi
from azure_gpu_node_pool_helpers import (
    AGENT_POOL,
    BASE,
    COMPONENT,
    GPU_TAINT,
    SUBNET,
    agent_pool,
    render,
    resource_options,
)

from shardstack.azure.gpu_node_pool import CREATE_ONLY_PROPERTIES, GPU_INSTANCE_PROFILES, MAX_PODS, GpuNodePool
from shardstack.testing import MOCK_AZURE_SUBSCRIPTION, run_program

# -- structure ------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_its_agent_pool() -> None:
    graph = render()
    component = graph.one(COMPONENT)
    assert [r.name for r in graph.children(component)] == ["t4-node-pool"]
    assert graph.count_by_type() == {AGENT_POOL: 1}


def test_pool_is_a_linux_user_pool_of_the_cluster_in_the_node_subnet() -> None:
    pool = agent_pool(render())
    assert (pool["resourceGroupName"], pool["resourceName"]) == ("shardstack-rg", "shardstack")
    assert pool["agentPoolName"] == "t4"
    assert (pool["mode"], pool["type"], pool["osType"]) == ("User", "VirtualMachineScaleSets", "Linux")
    assert pool["vnetSubnetID"] == SUBNET


def test_nodes_run_ubuntu_with_the_driver_aks_installs() -> None:
    pool = agent_pool(render())
    assert pool["osSKU"] == "Ubuntu"
    assert pool["gpuProfile"] == {"driver": "Install"}
    assert "gpuInstanceProfile" not in pool


def test_gpu_driver_none_leaves_the_driver_to_the_gpu_operator() -> None:
    assert agent_pool(render(gpu_driver="None"))["gpuProfile"] == {"driver": "None"}


# -- autoscaling and upgrades ---------------------------------------------------------------------


def test_autoscaler_scales_between_min_and_max_nodes_from_zero() -> None:
    pool = agent_pool(render(max_nodes=3))
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"], pool["count"]) == (True, 0, 3, 0)
    pool = agent_pool(render(min_nodes=2, max_nodes=5))
    assert (pool["minCount"], pool["maxCount"], pool["count"]) == (2, 5, 2)


def test_node_count_is_left_to_the_autoscaler() -> None:
    assert resource_options().ignore_changes == ["count"]


def test_create_only_properties_replace_the_pool_deleting_the_old_one_first() -> None:
    opts = resource_options()
    # The AKS name is fixed: a replacement can only take it once the old pool is gone.
    assert opts.delete_before_replace is True
    assert opts.replace_on_changes == list(CREATE_ONLY_PROPERTIES)
    for prop in ("vmSize", "gpuInstanceProfile", "scaleSetPriority", "spotMaxPrice", "osDiskSizeGB", "vnetSubnetID"):
        assert prop in CREATE_ONLY_PROPERTIES, prop
    # Every name is one the provider records, or replace_on_changes would silently never fire.
    recorded = set(agent_pool(render(spot=True, zones=["1"], gpu="a100-80gb", gpu_instance_profile="MIG3g")))
    assert set(CREATE_ONLY_PROPERTIES) <= recorded


def test_regular_nodes_upgrade_one_at_a_time_without_a_surge_gpu_vm() -> None:
    assert agent_pool(render())["upgradeSettings"] == {"maxSurge": "0", "maxUnavailable": "1"}


# -- nodes ----------------------------------------------------------------------------------------


def test_nodes_are_labelled_and_tainted_for_gpu_workloads_only() -> None:
    pool = agent_pool(
        render(labels={"team": "ml"}, taints=[{"key": "dedicated", "value": "llm", "effect": "NoExecute"}])
    )
    assert pool["nodeLabels"] == {
        "shardstack.dev/gpu": "true",
        "shardstack.dev/pool": "t4",
        "shardstack.dev/gpu-type": "t4",
        "team": "ml",
    }
    # AKS takes taints as 'key=value:Effect' strings.
    assert pool["nodeTaints"] == [GPU_TAINT, "dedicated=llm:NoExecute"]


def test_nodes_have_no_public_ip_and_no_ssh() -> None:
    pool = agent_pool(render())
    assert pool["enableNodePublicIP"] is False
    assert pool["securityProfile"] == {"sshAccess": "Disabled"}


def test_os_disk_is_a_managed_disk_of_the_requested_size() -> None:
    pool = agent_pool(render(disk_size_gib=500))
    assert (pool["osDiskType"], pool["osDiskSizeGB"]) == ("Managed", 500)
    assert agent_pool(render())["osDiskSizeGB"] == 200


def test_pods_per_node_leave_room_for_mig_slices_and_daemonsets() -> None:
    assert agent_pool(render())["maxPods"] == MAX_PODS == 110
    # MIG1g on 8 GPUs: 56 GPU instances, each a rank pod, plus room for the system and GPU DaemonSets.
    rank_pods = 8 * GPU_INSTANCE_PROFILES["MIG1g"]
    assert rank_pods + 20 <= MAX_PODS


def test_zones_are_passed_through() -> None:
    assert agent_pool(render(zones=["1", "3"]))["availabilityZones"] == ["1", "3"]
    assert "availabilityZones" not in agent_pool(render())


def test_pool_carries_the_component_and_caller_tags() -> None:
    pool = agent_pool(render(tags={"team": "ml", "cost-center": "42"}))
    assert pool["tags"] == {"team": "ml", "cost-center": "42", "shardstack-component": "t4"}


# -- inputs from other resources ------------------------------------------------------------------


def test_cluster_group_and_subnet_may_be_outputs() -> None:
    def program() -> None:
        args = {
            **BASE,
            "cluster_name": pulumi.Output.from_input("prod-aks"),
            "resource_group_name": pulumi.Output.from_input("prod-rg"),
            "node_subnet_id": pulumi.Output.from_input(SUBNET),
        }
        GpuNodePool("t4", args)  # type: ignore[arg-type]

    graph = run_program(program)
    pool = agent_pool(graph)
    assert (pool["resourceName"], pool["resourceGroupName"], pool["vnetSubnetID"]) == ("prod-aks", "prod-rg", SUBNET)
    assert graph.one(AGENT_POOL).id == (
        f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/prod-rg/providers/Microsoft.ContainerService/"
        "managedClusters/prod-aks/agentPools/t4"
    )
