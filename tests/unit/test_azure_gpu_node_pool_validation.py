"""GpuNodePool (Azure)'s argument checks (every problem at once) and its multi-language schema."""

from __future__ import annotations

from azure_gpu_node_pool_helpers import BASE, H100_X8, failure
from component_schema import component_schema

from shardstack.azure.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, validate_gpu_node_pool_args
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import GpuPoolArgs
from shardstack.testing import run_refused

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
    assert problem.startswith("disk_size_gib=30 must be a whole number from 50 to 65536")


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
