"""GpuNodePool (Azure) under recording mocks: the AKS node pool, its GPUs, Spot, MIG, zones and validation."""

from __future__ import annotations

import math
import re
from typing import Any

import pulumi
import pytest
from component_schema import component_schema

from shardstack import catalog
from shardstack.azure.gpu_node_pool import (
    CREATE_ONLY_PROPERTIES,
    GPU_INSTANCE_PROFILES,
    MAX_PODS,
    GpuNodePool,
    GpuNodePoolArgs,
    agent_pool_name,
    validate_gpu_node_pool_args,
)
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import GpuPoolArgs
from shardstack.testing import MOCK_AZURE_SUBSCRIPTION, UNKNOWN, Graph, run_program, run_refused

COMPONENT = "shardstack:azure:GpuNodePool"
AGENT_POOL = "azure-native:containerservice:AgentPool"

SUBNET = (
    f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/shardstack-rg/providers/Microsoft.Network/"
    "virtualNetworks/shardstack-vnet/subnets/nodes"
)
BASE: dict[str, Any] = {
    "gpu": "t4",
    "cluster_name": "shardstack",
    "resource_group_name": "shardstack-rg",
    "node_subnet_id": SUBNET,
}
A100: dict[str, Any] = {"gpu": "a100-80gb"}
H100_X8: dict[str, Any] = {"gpu": "h100-80gb", "gpus_per_node": 8}

GPU_TAINT = "nvidia.com/gpu=present:NoSchedule"
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
SPOT_LABEL = "kubernetes.azure.com/scalesetpriority"
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def render(name: str = "t4", preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: GpuNodePool(name, args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "t4", **overrides: Any) -> ArgumentError:
    return run_refused(lambda: GpuNodePool(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def agent_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(AGENT_POOL).inputs


def pools(program_args: dict[str, Any], name: str = "t4") -> tuple[GpuNodePool, Graph]:
    made: list[GpuNodePool] = []

    def program() -> None:
        pool = GpuNodePool(name, program_args)  # type: ignore[arg-type]
        made.append(pool)
        pulumi.export("node_pool_name", pool.node_pool_name)

    graph = run_program(program)
    return made[0], graph


def resource_options(**overrides: Any) -> pulumi.ResourceOptions:
    """Return the options the component gives its agent pool."""
    seen: dict[str, pulumi.ResourceOptions] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        seen[args.type_] = args.opts

    opts = pulumi.ResourceOptions(transformations=[record])
    run_program(lambda: GpuNodePool("t4", {**BASE, **overrides}, opts=opts))  # type: ignore[typeddict-item]
    return seen[AGENT_POOL]


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


# -- VM sizes and prices --------------------------------------------------------------------------


def test_vm_size_is_the_cheapest_catalogue_size_for_the_gpu() -> None:
    assert agent_pool(render())["vmSize"] == catalog.gpu("t4").offer("azure", 1).instance_type
    assert agent_pool(render())["vmSize"] == "Standard_NC4as_T4_v3"
    assert agent_pool(render("a100", **A100))["vmSize"] == "Standard_NC24ads_A100_v4"
    assert agent_pool(render("a100x4", **A100, gpus_per_node=4))["vmSize"] == "Standard_NC96ads_A100_v4"


def test_a_gpu_sold_only_in_eights_defaults_to_eight_per_node() -> None:
    pool, _ = pools({**BASE, "gpu": "h100-80gb"}, "h100")
    assert (pool.vm_size, pool.gpus_per_node) == ("Standard_ND96isr_H100_v5", 8)


def test_instance_type_picks_another_catalogue_size_with_the_same_gpus() -> None:
    assert agent_pool(render(instance_type="Standard_NC8as_T4_v3"))["vmSize"] == "Standard_NC8as_T4_v3"
    (problem,) = failure(instance_type="Standard_NC6s_v3").problems
    assert problem.startswith("instance_type='Standard_NC6s_v3' is not a catalogue shape with 1 x t4 on azure")


def test_outputs_give_the_size_and_the_hourly_price_from_the_catalogue() -> None:
    pool, graph = pools({**BASE, "min_nodes": 1, "max_nodes": 4})
    price = catalog.gpu("t4").offer("azure", 1).usd_per_hour
    assert (pool.vm_size, pool.gpus_per_node) == ("Standard_NC4as_T4_v3", 1)
    assert (pool.hourly_usd_min, pool.hourly_usd_max) == (price, round(4 * price, 6))
    assert graph.outputs["node_pool_name"] == graph.one(AGENT_POOL).outputs["name"] == "t4"


def test_a_pool_that_scales_to_zero_costs_nothing_at_its_minimum() -> None:
    pool, _ = pools({**BASE, **H100_X8, "max_nodes": 2}, "h100")
    assert pool.hourly_usd_min == 0
    assert pool.hourly_usd_max == round(2 * catalog.gpu("h100-80gb").offer("azure", 8).usd_per_hour, 6)


def test_spot_pools_are_priced_at_the_on_demand_upper_bound() -> None:
    regular, _ = pools({**BASE, "max_nodes": 3})
    spot, _ = pools({**BASE, "max_nodes": 3, "spot": True})
    assert spot.hourly_usd_max == regular.hourly_usd_max == round(3 * 0.526, 6)


def test_node_pool_name_is_known_only_after_apply() -> None:
    graph = render(preview=True)
    assert graph.one(AGENT_POOL).outputs["name"] == UNKNOWN
    assert agent_pool(graph)["agentPoolName"] == "t4"


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


# -- Spot -----------------------------------------------------------------------------------------


def test_regular_pool_uses_regular_vms_without_spot_settings() -> None:
    pool = agent_pool(render())
    assert pool["scaleSetPriority"] == "Regular"
    assert "scaleSetEvictionPolicy" not in pool and "spotMaxPrice" not in pool
    assert SPOT_LABEL not in pool["nodeLabels"] and SPOT_TAINT not in pool["nodeTaints"]


def test_spot_pool_pays_up_to_the_on_demand_price_and_deletes_evicted_vms() -> None:
    pool = agent_pool(render(spot=True, max_nodes=2))
    assert (pool["scaleSetPriority"], pool["scaleSetEvictionPolicy"], pool["spotMaxPrice"]) == ("Spot", "Delete", -1)
    # AKS refuses max surge on Spot pools.
    assert "upgradeSettings" not in pool


def test_spot_pool_declares_the_label_and_taint_aks_puts_on_spot_nodes() -> None:
    pool = agent_pool(render(spot=True))
    assert pool["nodeLabels"][SPOT_LABEL] == "spot"
    assert pool["nodeTaints"] == [GPU_TAINT, SPOT_TAINT]


def test_spot_max_price_caps_the_spot_price() -> None:
    assert agent_pool(render(spot=True, spot_max_price=0.25))["spotMaxPrice"] == 0.25
    assert agent_pool(render(spot=True, spot_max_price=2))["spotMaxPrice"] == 2


@pytest.mark.parametrize("price", [0, -2, -0.5, "1", True, math.nan, math.inf, None])
def test_spot_max_price_must_be_minus_one_or_a_positive_price(price: Any) -> None:
    (problem,) = failure(spot=True, spot_max_price=price).problems
    assert problem == (
        f"spot_max_price={price!r} must be -1 (pay up to the on-demand price) or a positive price in US dollars "
        "per hour and node, e.g. 2.5"
    )


def test_spot_max_price_has_at_most_five_decimal_places() -> None:
    (problem,) = failure(spot=True, spot_max_price=0.123456).problems
    assert problem == "spot_max_price=0.123456 has more than 5 decimal places, which Azure refuses"
    assert validate_gpu_node_pool_args({**BASE, "spot": True, "spot_max_price": 0.12345}) == []


def test_spot_max_price_needs_a_spot_pool() -> None:
    (problem,) = failure(spot_max_price=1.5).problems
    assert problem == "spot_max_price=1.5 applies to Spot pools only; set spot=True or drop spot_max_price"
    (problem,) = failure(spot=False, spot_max_price=-1).problems
    assert problem.startswith("spot_max_price=-1 applies to Spot pools only")


def test_required_tolerations_cover_every_taint_including_the_aks_spot_taint() -> None:
    taints = [{"key": "dedicated", "value": "llm", "effect": "NoExecute"}]
    regular, _ = pools({**BASE, "taints": taints})
    spot, _ = pools({**BASE, "taints": taints, "spot": True})
    gpu = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    caller = {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"}
    spot_toleration = {"key": SPOT_LABEL, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    assert regular.required_tolerations == [gpu, caller]
    assert spot.required_tolerations == [gpu, caller, spot_toleration]


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


# -- multi-instance GPU ---------------------------------------------------------------------------


def test_mig_profile_partitions_a100_and_h100_gpus() -> None:
    assert agent_pool(render("a100", **A100, gpu_instance_profile="MIG1g"))["gpuInstanceProfile"] == "MIG1g"
    pool = agent_pool(render("h100", **H100_X8, gpu_instance_profile="MIG7g"))
    assert (pool["vmSize"], pool["gpuInstanceProfile"]) == ("Standard_ND96isr_H100_v5", "MIG7g")
    assert agent_pool(render("nvl", gpu="h100-nvl-94gb", gpu_instance_profile="MIG2g"))["gpuInstanceProfile"] == "MIG2g"


def test_mig_profile_is_refused_on_gpus_without_mig() -> None:
    (problem,) = failure(gpu_instance_profile="MIG1g").problems
    assert problem == (
        "gpu_instance_profile='MIG1g' needs a GPU with Multi-Instance GPU support ('a100-40gb', 'a100-80gb', "
        "'h100-80gb', 'h100-nvl-94gb'); gpu='t4' has none. Drop gpu_instance_profile or choose one of those GPUs"
    )
    (problem,) = failure(gpu="a10", gpu_instance_profile="MIG3g").problems
    assert "gpu='a10' has none" in problem


def test_mig_profile_must_be_one_aks_knows() -> None:
    (problem,) = failure(**A100, gpu_instance_profile="mig1g").problems
    assert problem == (
        "gpu_instance_profile='mig1g' must be one of 'MIG1g', 'MIG2g', 'MIG3g', 'MIG4g', 'MIG7g' "
        "(did you mean 'MIG1g'?)"
    )
    (problem,) = failure(**A100, gpu_instance_profile="1g.10gb").problems
    assert problem.startswith("gpu_instance_profile='1g.10gb' must be one of 'MIG1g'")


# -- AKS names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "aks_name"),
    [("t4", "t4"), ("a100-spot", "a100spot"), ("4xt4", "gpu4xt4"), ("h100-nvl-east", "h100nvleast")],
)
def test_aks_pool_name_is_the_component_name_without_dashes(name: str, aks_name: str) -> None:
    assert agent_pool_name(name) == aks_name
    assert agent_pool(render(name))["agentPoolName"] == aks_name


def test_long_names_are_shortened_with_a_hash_that_keeps_them_apart() -> None:
    east, west = agent_pool_name("inference-east"), agent_pool_name("inference-west")
    assert east != west
    assert east.startswith("inferenc") and west.startswith("inferenc")
    assert len(east) == len(west) == 12
    # Stable across runs: the name is the pool's identity in the cluster.
    assert agent_pool_name("inference-east") == east


@pytest.mark.parametrize("name", ["a", "a" * 63, "0", "9" * 63, "a-b", "gpu-pool-1", "1-2-3-4-5-6-7-8-9"])
def test_every_kubernetes_name_gives_a_valid_aks_pool_name(name: str) -> None:
    assert AKS_POOL_NAME.match(agent_pool_name(name)), agent_pool_name(name)


def test_pool_name_must_be_a_kubernetes_name() -> None:
    (problem,) = failure("T4_Pool").problems
    assert problem.startswith("name='T4_Pool' is not a valid Kubernetes name")


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


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        **BASE,
        **H100_X8,
        "min_nodes": 1,
        "max_nodes": 2,
        "spot": True,
        "spot_max_price": 40.5,
        "disk_size_gib": 1024,
        "zones": ["1", "2", "3"],
        "gpu_instance_profile": "MIG3g",
        "gpu_driver": "Install",
        "labels": {"team": "ml"},
        "taints": [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}],
        "tags": {"team": "ml"},
    }
    assert validate_gpu_node_pool_args(args, name="h100-spot") == []


def test_gpu_not_on_azure_is_refused_with_the_azure_gpus() -> None:
    (problem,) = failure(gpu="l4").problems
    assert problem.startswith("gpu='l4' is not offered on azure in the catalogue (it is on: aws, gcp)")
    assert "'t4'" in problem and "'a100-80gb'" in problem


def test_unknown_argument_suggests_an_azure_one() -> None:
    (problem,) = failure(zone=["1"]).problems
    assert problem == "unknown argument 'zone' (did you mean 'zones'?)"
    (problem,) = failure(spot_price=1.0).problems
    assert problem == "unknown argument 'spot_price' (did you mean 'spot_max_price'?)"


def test_cluster_group_and_subnet_are_required() -> None:
    error = run_refused(lambda: GpuNodePool("t4", {"gpu": "t4"}), ArgumentError)  # type: ignore[typeddict-item]
    assert [p.split(":")[0] for p in error.problems] == [
        "cluster_name is required",
        "resource_group_name is required",
        "node_subnet_id is required",
    ]


def test_cluster_group_and_subnet_must_be_azure_names() -> None:
    problems = failure(
        cluster_name="-aks", resource_group_name="rg.", node_subnet_id="/subscriptions/x/subnets/nodes"
    ).problems
    assert problems == [
        "cluster_name='-aks' is not an AKS cluster name: 1 to 63 letters, digits, '-' and '_', starting and ending "
        "with a letter or digit",
        "resource_group_name='rg.' is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', '(' "
        "and ')', not ending with '.'",
        "node_subnet_id='/subscriptions/x/subnets/nodes' is not a subnet resource ID: use '/subscriptions/"
        "<subscription id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]


def test_zones_must_be_distinct_azure_zones() -> None:
    problems = failure(zones=["1", "4", 2, "1"]).problems
    assert problems == [
        "zones[1]='4' is not an Azure availability zone; use one of '1', '2', '3'",
        "zones[2]=2 is not an Azure availability zone; use one of '1', '2', '3' (write it as a string: '2')",
        "zones[3]='1' is listed twice; give each zone once",
    ]
    assert failure(zones=[]).problems == [
        "zones=[] must list at least one zone (leave it out to place the nodes without zone pinning)"
    ]
    (problem,) = failure(zones="1").problems
    assert problem == "zones='1' must be a list of availability zones like ['1', '2']"


def test_aks_limits_on_pool_size_and_disk() -> None:
    (problem,) = failure(max_nodes=1001).problems
    assert problem == "max_nodes=1001 is more than an AKS node pool holds (1000)"
    (problem,) = failure(disk_size_gib=4096).problems
    assert problem == "disk_size_gib=4096 is more than an AKS OS disk takes (2048 GiB)"
    (problem,) = failure(disk_size_gib=30).problems
    assert problem.startswith("disk_size_gib=30 must be a whole number ≥ 50")


def test_labels_and_taints_may_not_use_the_aks_domain() -> None:
    problems = failure(
        labels={"kubernetes.azure.com/mode": "user"},
        taints=[{"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}],
    ).problems
    assert problems == [
        "labels['kubernetes.azure.com/mode'] is in the domain AKS reserves ('kubernetes.azure.com'); choose "
        "another key",
        "taints[0].key='kubernetes.azure.com/scalesetpriority' is in the domain AKS reserves "
        "('kubernetes.azure.com'; AKS sets the Spot taint itself when spot=True); choose another key",
    ]


def test_taints_need_a_value_on_aks() -> None:
    (problem,) = failure(taints=[{"key": "dedicated", "effect": "NoSchedule"}]).problems
    assert problem == (
        "taints[0] has no value: AKS node taints are 'key=value:Effect' with a value; give one, e.g. "
        "{'key': 'dedicated', 'value': 'true', 'effect': 'NoSchedule'}"
    )


def test_gpu_driver_must_be_install_or_none() -> None:
    (problem,) = failure(gpu_driver="install").problems
    assert problem == "gpu_driver='install' must be one of 'Install', 'None' (did you mean 'Install'?)"


def test_tags_are_checked_with_the_azure_tag_rules() -> None:
    (problem,) = failure(tags={"shardstack-component": "x"}).problems
    assert problem == "tags['shardstack-component'] is set by Shardstack itself; choose another key"


def test_every_problem_is_reported_at_once() -> None:
    problems = failure(
        "Bad_Name",
        gpu="l4",
        cluster_name=None,
        zones=["9"],
        spot_max_price=0,
        gpu_instance_profile="MIG9g",
        gpu_driver="x",
        tags=[],
        extra=1,
    ).problems
    assert len(problems) == 9, problems
    assert [p.split("=")[0].split(" ")[0] for p in problems] == [
        "unknown",
        "gpu",
        "cluster_name",
        "zones[0]",
        "spot_max_price",
        "gpu_instance_profile",
        "gpu_driver",
        "tags",
        "name",
    ]


# -- schema ---------------------------------------------------------------------------------------


def test_azure_args_repeat_every_cloud_neutral_argument() -> None:
    neutral = GpuPoolArgs.__annotations__
    assert {k: GpuNodePoolArgs.__annotations__[k] for k in neutral} == neutral
    assert GpuPoolArgs.__required_keys__ <= GpuNodePoolArgs.__required_keys__


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("GpuNodePool", module="shardstack.azure.gpu_node_pool")
    resource = schema["resources"]["shardstack:index:GpuNodePool"]
    assert sorted(resource["requiredInputs"]) == ["clusterName", "gpu", "nodeSubnetId", "resourceGroupName"]
    assert sorted(resource["properties"]) == [
        "gpusPerNode",
        "hourlyUsdMax",
        "hourlyUsdMin",
        "nodePoolName",
        "requiredTolerations",
        "vmSize",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    # Inputs that come from other resources take outputs; the ones that shape the pool must be plain.
    for wired in ("clusterName", "resourceGroupName", "nodeSubnetId"):
        assert "plain" not in resource["inputProperties"][wired], wired
    for plain in ("gpu", "zones", "spotMaxPrice", "gpuInstanceProfile", "gpuDriver"):
        assert resource["inputProperties"][plain]["plain"] is True, plain
    assert resource["inputProperties"]["spotMaxPrice"]["type"] == "number"
    assert schema["types"]["shardstack:index:Taint"]["required"] == ["effect", "key"]
    assert resource["properties"]["requiredTolerations"]["items"]["$ref"] == "#/types/shardstack:index:Toleration"
