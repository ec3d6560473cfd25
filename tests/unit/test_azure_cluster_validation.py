"""Azure Cluster's argument checks (every problem at once, nothing registered) and its multi-language
schema."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from azure_cluster_helpers import (
    ADMIN,
    ADMIN_GROUP,
    ROLE_ASSIGNMENT,
    SUBNET,
    cluster_args,
    failure,
    problems,
    system_pool,
)
from component_schema import component_schema

from shardstack.azure.cluster import Cluster, validate_cluster_args
from shardstack.testing import run_program

# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(
        private_endpoint=False,
        authorized_networks=["203.0.113.0/24"],
        auto_upgrade_channel="stable",
        pod_cidr="100.64.0.0/16",
        service_cidr="192.168.0.0/20",
        dns_service_ip="192.168.0.10",
        system_pool={"instance_type": "Standard_E8as_v5", "min_nodes": 3, "max_nodes": 6, "disk_size_gib": 30},
        zones=["1", "3"],
        admin_group_object_ids=[ADMIN_GROUP],
        admin_principal_ids=[ADMIN],
        admin_principal_type="ServicePrincipal",
        deployer_principal_type="ServicePrincipal",
        sku_tier="Premium",
        protect=False,
        tags={"team": "ml"},
    )
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        private_endpoint=False,
        kubernetes_version="1.29",
        auto_upgrade_channel="Patch",
        pod_cidr="10.0.0.0/14",
        system_pool={"instance_type": "Standard_NC24ads_A100_v4", "min_nodes": 3, "max_nodes": 2},
        zones=[1],
        sku_tier="standard",
        grant_deployer_admin="yes",
        tags={"shardstack-component": "x"},
        locaton="eastus",
    )
    assert found == [
        "unknown argument 'locaton' (did you mean 'location'?)",
        "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'",
        "auto_upgrade_channel='Patch' must be one of 'patch', 'stable', 'rapid', 'none' (did you mean 'patch'?)",
        "system_pool.instance_type='Standard_NC24ads_A100_v4' has GPUs; the system pool runs cluster services "
        "on CPU nodes: use a size like 'Standard_D4s_v5' and a GPU node pool for GPUs",
        "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes",
        "zones[0]=1 is not an Azure availability zone; use one of '1', '2', '3' (write it as a string: '1')",
        "grant_deployer_admin='yes' must be true or false",
        "sku_tier='standard' must be one of 'Free', 'Standard', 'Premium' (did you mean 'Standard'?)",
        "tags['shardstack-component'] is set by Shardstack itself; choose another key",
        "authorized_networks is empty, but private_endpoint is False: list the CIDR blocks that may reach the "
        "Kubernetes API, e.g. ['203.0.113.0/24'], or keep private_endpoint True",
        "pod_cidr='10.0.0.0/14' overlaps service_cidr='10.0.0.0/16' (the default): pod and Service addresses "
        "must be disjoint; move one of them",
    ]


def test_required_arguments_are_named() -> None:
    assert failure({}).problems == [
        "resource_group_name is required: a resource group name: 1 to 90 letters, digits, '_', '-', '.', '(' and "
        "')', not ending with '.'",
        "location is required: an Azure region name such as 'eastus' or 'westeurope'",
        "node_subnet_id is required: a subnet resource ID, '/subscriptions/<subscription id>/resourceGroups/<group>/"
        "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]


def test_location_group_and_subnet_must_have_azure_shapes() -> None:
    found = problems(location="East US", resource_group_name="rg/1", node_subnet_id="nodes")
    assert found == [
        "resource_group_name='rg/1' is not a resource group name: use 1 to 90 letters, digits, '_', '-', '.', "
        "'(' and ')', not ending with '.'",
        "location='East US' is not an Azure region name such as 'eastus' or 'westeurope' ('East US' looks like a "
        "display name; its region name is 'eastus')",
        "node_subnet_id='nodes' is not a subnet resource ID: use '/subscriptions/<subscription id>/resourceGroups/"
        "<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>'",
    ]


def test_authorized_networks_only_apply_to_a_public_api_server() -> None:
    (problem,) = problems(authorized_networks=["10.8.0.0/24"])
    assert problem.startswith(
        "authorized_networks=['10.8.0.0/24'] cannot be combined with a private API server: AKS applies authorized "
        "IP ranges to a public API server only"
    )


def test_the_whole_internet_and_too_many_networks_are_refused() -> None:
    (internet,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert internet.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")
    many = [f"203.0.{i // 256}.{i % 256}/32" for i in range(201)]
    (too_many,) = problems(private_endpoint=False, authorized_networks=many)
    assert too_many == "authorized_networks lists 201 blocks; AKS accepts at most 200"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"pod_cidr": "10.244.0.0"}, "pod_cidr='10.244.0.0' is not an IPv4 CIDR block: use e.g. '10.244.0.0/14'"),
        (
            {"pod_cidr": "10.244.0.1/16"},
            "pod_cidr='10.244.0.1/16' has host bits set; the block it lies in is '10.244.0.0/16'",
        ),
        (
            {"pod_cidr": "10.244.0.0/23"},
            "pod_cidr='10.244.0.0/23' is a /23; use a /8 to a /22: every node takes a /24 of it",
        ),
        ({"service_cidr": "10.0.0.0/12"}, "service_cidr='10.0.0.0/12' is a /12; use a /13 to a /24"),
        ({"pod_cidr": "52.0.0.0/16"}, "pod_cidr='52.0.0.0/16' is not a private range"),
        (
            {"pod_cidr": "172.16.0.0/12"},
            "pod_cidr='172.16.0.0/12' overlaps 172.30.0.0/16, 172.31.0.0/16, which AKS reserves",
        ),
        (
            {"dns_service_ip": "10.1.0.10"},
            "dns_service_ip='10.1.0.10' is not inside service_cidr='10.0.0.0/16' (the default)",
        ),
        (
            {"dns_service_ip": "10.0.0.1"},
            "dns_service_ip='10.0.0.1' is the network, first or broadcast address of "
            "service_cidr='10.0.0.0/16' (the default); the first one is the kubernetes Service's: use e.g. '10.0.0.10'",
        ),
        ({"dns_service_ip": "10.0.0.0/32"}, "dns_service_ip='10.0.0.0/32' is not an IPv4 address like '10.0.0.10'"),
        (
            {"service_cidr": "172.19.0.0/20", "dns_service_ip": "10.0.0.10"},
            "dns_service_ip='10.0.0.10' is not inside service_cidr='172.19.0.0/20'",
        ),
    ],
)
def test_pod_and_service_ranges_and_the_dns_ip_are_checked(args: dict[str, Any], expected: str) -> None:
    (problem,) = problems(**args)
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("Standard_ND96asr_v4", "has GPUs"),
        ("Standard_D4ps_v5", "is an Arm size; cluster services need x86_64 nodes"),
        ("Standard_B4ms", "is burstable (B-series), which AKS refuses for system pools"),
        ("Standard_D2s_v5", "has 2 vCPUs; AKS wants at least 4 on a system pool"),
        ("Standard_M64-2ms", "has 2 vCPUs"),
        ("D4s_v5", "is not an Azure VM size like 'Standard_D4s_v5'"),
    ],
)
def test_system_pool_vm_size_must_suit_cluster_services(instance_type: str, expected: str) -> None:
    (problem,) = problems(system_pool={"instance_type": instance_type})
    assert problem.startswith(f"system_pool.instance_type={instance_type!r} {expected}"), problem


def test_system_pool_fields_and_disk_are_checked() -> None:
    (unknown,) = problems(system_pool={"disk_size": 80})
    assert unknown == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    (small,) = problems(system_pool={"disk_size_gib": 25})
    assert small == (
        "system_pool.disk_size_gib=25 must be a whole number from 30 to 2048 (what AKS accepts for an OS disk)"
    )
    (tiny,) = problems(system_pool={"disk_size_gib": 10})
    assert tiny == (
        "system_pool.disk_size_gib=10 must be a whole number from 30 to 2048 (what AKS accepts for an OS disk)"
    )
    (huge,) = problems(system_pool={"disk_size_gib": 4096})
    assert huge.startswith("system_pool.disk_size_gib=4096 must be a whole number from 30 to 2048")
    (nodes,) = problems(system_pool={"min_nodes": 0})
    assert nodes == (
        "system_pool.min_nodes=0 must be a whole number from 1 to 5000 (CoreDNS and the controllers need somewhere "
        "to run)"
    )


def test_zones_must_be_distinct_zone_names() -> None:
    assert problems(zones=["1", "1", "4"]) == [
        "zones[1]='1' is listed twice; give each zone once",
        "zones[2]='4' is not an Azure availability zone; use one of '1', '2', '3'",
    ]
    (empty,) = problems(zones=[])
    assert empty == "zones=[] must list at least one zone (leave it out to place the nodes without zone pinning)"


def test_principals_must_be_distinct_entra_object_ids_of_a_known_type() -> None:
    found = problems(
        admin_group_object_ids=["admins"],
        admin_principal_ids=[ADMIN, ADMIN.upper()],
        admin_principal_type="user",
        deployer_principal_type="Group",
    )
    assert found == [
        "admin_group_object_ids[0]='admins' is not a Microsoft Entra object ID: use the principal's object ID, a "
        "GUID such as '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b' (not a name, email or client ID URI)",
        f"admin_principal_ids[1]={ADMIN.upper()!r} is listed twice",
        "admin_principal_type='user' must be one of 'User', 'Group', 'ServicePrincipal' (did you mean 'User'?)",
        "deployer_principal_type='Group' must be one of 'User', 'ServicePrincipal'",
    ]
    (not_a_list,) = problems(admin_principal_ids=ADMIN)
    assert not_a_list == f"admin_principal_ids={ADMIN!r} must be a list of Microsoft Entra object IDs"


def test_name_must_be_a_valid_aks_name_and_dns_prefix() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="llm_prod")
    assert problem.startswith("name='llm_prod' cannot name an AKS cluster (it is also its DNS prefix)")
    (too_long,) = validate_cluster_args(cluster_args(), name="a" * 55)
    assert too_long.startswith(f"name={'a' * 55!r} cannot name an AKS cluster")


def test_inputs_from_other_components_may_be_outputs() -> None:
    def program() -> None:
        Cluster(
            "llm",
            {
                "resource_group_name": pulumi.Output.from_input("llm-rg"),
                "location": "eastus",
                "node_subnet_id": pulumi.Output.from_input(SUBNET),
                "admin_principal_ids": [pulumi.Output.from_input(ADMIN)],
            },
        )

    graph = run_program(program)
    assert system_pool(graph)["vnetSubnetID"] == SUBNET
    # A principal known only as an Output is named by its position.
    assert any(a.name == "llm-admin-0" for a in graph.of_type(ROLE_ASSIGNMENT))


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.azure.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["location", "nodeSubnetId", "resourceGroupName"]
    assert sorted(resource["properties"]) == [
        "clusterId",
        "clusterName",
        "kubeconfig",
        "kubeletIdentityObjectId",
        "nodeResourceGroup",
        "oidcIssuerUrl",
        "resourceGroupName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool_type,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool_type["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
