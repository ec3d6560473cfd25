"""Azure Cluster under recording mocks: Kubernetes access (Entra ID with Azure RBAC, the admins' and
the deployer's role assignments) and the API server endpoint."""

from __future__ import annotations

import uuid

from azure_cluster_helpers import (
    ADMIN,
    ADMIN_GROUP,
    AKS,
    CLUSTER_ADMIN,
    CLUSTER_ID,
    DEPLOYER,
    ROLE_ASSIGNMENT,
    SUBNET,
    SUBSCRIPTION,
    aks,
    render,
    role_of,
)

from shardstack.azure.roles import role_assignment_name

# -- Kubernetes access ------------------------------------------------------------------------------


def test_entra_id_with_azure_rbac_and_no_local_accounts() -> None:
    inputs = aks(render(admin_group_object_ids=[ADMIN_GROUP]))
    assert inputs["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": [ADMIN_GROUP]}
    assert inputs["disableLocalAccounts"] is True
    assert inputs["enableRBAC"] is True
    assert aks(render())["aadProfile"]["adminGroupObjectIDs"] == []


def test_deployer_gets_cluster_admin_on_this_cluster_only() -> None:
    graph = render()
    cluster = graph.one(AKS)
    (deployer,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-admin-deployer"]
    scope = CLUSTER_ID.match(deployer.inputs["scope"])
    assert scope, deployer.inputs["scope"]
    assert (scope["subscription"], scope["group"], scope["name"]) == (SUBSCRIPTION, "llm-rg", "llm")
    assert deployer.inputs["scope"] == cluster.id
    assert role_of(deployer) == (SUBSCRIPTION, CLUSTER_ADMIN)
    assert deployer.inputs["principalId"] == DEPLOYER
    assert deployer.inputs["principalType"] == "User"
    ci = [
        a
        for a in render(deployer_principal_type="ServicePrincipal").of_type(ROLE_ASSIGNMENT)
        if a.name == "llm-admin-deployer"
    ]
    assert ci[0].inputs["principalType"] == "ServicePrincipal"


def test_grant_deployer_admin_false_leaves_kubernetes_access_to_others() -> None:
    graph = render(grant_deployer_admin=False)
    assert [a.name for a in graph.of_type(ROLE_ASSIGNMENT)] == ["llm-control-plane-network"]


def test_admin_principals_get_cluster_admin_at_cluster_scope_under_their_own_names() -> None:
    other = "66666666-6666-6666-6666-666666666666"
    graph = render(admin_principal_ids=[ADMIN, other], admin_principal_type="Group", grant_deployer_admin=False)
    cluster = graph.one(AKS)
    admins = {a.name: a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name.startswith("llm-admin-")}
    assert set(admins) == {f"llm-admin-{ADMIN}", f"llm-admin-{other}"}
    for principal in (ADMIN, other):
        inputs = admins[f"llm-admin-{principal}"].inputs
        assert (inputs["principalId"], inputs["principalType"]) == (principal, "Group")
        assert inputs["scope"] == cluster.id
        assert role_of(admins[f"llm-admin-{principal}"]) == (SUBSCRIPTION, CLUSTER_ADMIN)


def test_role_assignment_names_are_guids_fixed_by_scope_principal_and_role() -> None:
    graph = render(admin_principal_ids=[ADMIN])
    for assignment in graph.of_type(ROLE_ASSIGNMENT):
        inputs = assignment.inputs
        name = inputs["roleAssignmentName"]
        assert str(uuid.UUID(name)) == name
        assert name == role_assignment_name(inputs["scope"], inputs["principalId"], inputs["roleDefinitionId"])
    again = {
        a.name: a.inputs["roleAssignmentName"] for a in render(admin_principal_ids=[ADMIN]).of_type(ROLE_ASSIGNMENT)
    }
    assert again == {a.name: a.inputs["roleAssignmentName"] for a in graph.of_type(ROLE_ASSIGNMENT)}
    assert len(set(again.values())) == 3
    # ARM ids are case-insensitive: so is the name.
    assert role_assignment_name(SUBNET.upper(), ADMIN, "X") == role_assignment_name(SUBNET, ADMIN.upper(), "x")


# -- API server endpoint ----------------------------------------------------------------------------


def test_api_server_is_private_by_default() -> None:
    assert aks(render())["apiServerAccessProfile"] == {
        "enablePrivateCluster": True,
        "privateDNSZone": "system",
        "enablePrivateClusterPublicFQDN": True,
    }


def test_public_api_server_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    assert aks(render(private_endpoint=False, authorized_networks=networks))["apiServerAccessProfile"] == {
        "enablePrivateCluster": False,
        "authorizedIPRanges": networks,
    }
