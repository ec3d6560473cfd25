"""Azure Cluster under recording mocks: the control plane's user-assigned identity and its role on the
node subnet, and the OIDC issuer and Workload Identity through which pods get Azure access."""

from __future__ import annotations

from azure_cluster_helpers import (
    AKS,
    IDENTITY,
    NETWORK_CONTRIBUTOR,
    NETWORK_SUBSCRIPTION,
    ROLE_ASSIGNMENT,
    SUBNET,
    aks,
    depends_on,
    render,
    role_of,
)

# -- control plane identity -------------------------------------------------------------------------


def test_control_plane_runs_as_a_user_assigned_identity_created_in_the_clusters_group() -> None:
    graph = render()
    identity = graph.one(IDENTITY)
    assert (identity.inputs["resourceGroupName"], identity.inputs["location"]) == ("llm-rg", "eastus")
    assert aks(graph)["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    # The kubelet identity is AKS's own (created in the node resource group), not given here.
    assert "identityProfile" not in aks(graph)


def test_control_plane_identity_is_network_contributor_on_the_node_subnet_only_before_the_cluster() -> None:
    graph = render()
    (network_role,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-control-plane-network"]
    inputs = network_role.inputs
    assert inputs["scope"] == SUBNET  # the subnet, not its VNet, group or subscription
    assert inputs["principalId"] == graph.one(IDENTITY).outputs["principalId"]
    assert inputs["principalType"] == "ServicePrincipal"
    # The role definition lives in the subnet's subscription, which may differ from the cluster's.
    assert role_of(network_role) == (NETWORK_SUBSCRIPTION, NETWORK_CONTRIBUTOR)
    assert depends_on(graph.one(AKS), network_role)


# -- workload identity ------------------------------------------------------------------------------


def test_oidc_issuer_and_workload_identity_are_enabled() -> None:
    inputs = aks(render())
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
