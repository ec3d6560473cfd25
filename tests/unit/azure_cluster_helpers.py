"""What the Azure Cluster tests share: its arguments, rendering it under recording mocks, its refusals,
and reading the AKS cluster, its system pool and its role assignments from what it planned."""

from __future__ import annotations

import re
from typing import Any

from component_calls import ComponentCalls

from shardstack.azure.cluster import Cluster
from shardstack.testing import Graph, Resource

CLUSTER_COMPONENT = "shardstack:azure:Cluster"
AKS = "azure-native:containerservice:ManagedCluster"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SLEEP = "time:index/sleep:Sleep"
K8S_PROVIDER = "pulumi:providers:kubernetes"

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # what the mocks answer
DEPLOYER = "33333333-3333-3333-3333-333333333333"  # the mocks' getClientConfig objectId
NETWORK_SUBSCRIPTION = "22222222-2222-2222-2222-222222222222"
SUBNET = (
    f"/subscriptions/{NETWORK_SUBSCRIPTION}/resourceGroups/llm-network/providers/Microsoft.Network/"
    "virtualNetworks/llm-vnet/subnets/nodes"
)
ADMIN_GROUP = "55555555-5555-5555-5555-555555555555"
ADMIN = "44444444-4444-4444-4444-444444444444"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
ROLE_DEFINITION = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-f-]{36})/providers/Microsoft\.Authorization/roleDefinitions/"
    r"(?P<role>[0-9a-f-]{36})$"
)
CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-f-]{36})/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)$"
)


CALLS = ComponentCalls(Cluster, {"resource_group_name": "llm-rg", "location": "eastus", "node_subnet_id": SUBNET})
cluster_args, render, failure, problems = CALLS.args, CALLS.render, CALLS.failure, CALLS.problems


def aks(graph: Graph) -> dict[str, Any]:
    return graph.one(AKS).inputs


def system_pool(graph: Graph) -> dict[str, Any]:
    (pool,) = aks(graph)["agentPoolProfiles"]
    return pool


def depends_on(resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies


def role_of(assignment: Resource) -> tuple[str, str]:
    """Return (subscription, role GUID) of a role assignment's role definition ID, which must be fully formed."""
    match = ROLE_DEFINITION.match(assignment.inputs["roleDefinitionId"])
    assert match, assignment.inputs["roleDefinitionId"]
    return match["subscription"], match["role"]
