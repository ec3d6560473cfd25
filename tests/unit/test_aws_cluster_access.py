"""AWS Cluster under recording mocks: the Kubernetes API endpoint, and access through EKS access entries
only."""

from __future__ import annotations

from aws_cluster_helpers import (
    ACCESS_ENTRY,
    ACCESS_POLICY,
    ADMIN,
    BREAK_GLASS,
    SG,
    SG_INGRESS,
    VPC_ID,
    depends_on,
    eks,
    render,
)

# -- endpoint ---------------------------------------------------------------------------------------


def test_kubernetes_api_is_private_by_default() -> None:
    vpc = eks(render())["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


def test_public_endpoint_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    vpc = eks(render(private_endpoint=False, authorized_networks=networks))["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["endpointPrivateAccess"] is True  # nodes keep talking to the API inside the VPC
    assert vpc["publicAccessCidrs"] == networks


def test_private_endpoint_is_reachable_on_443_from_the_vpc() -> None:
    graph = render()
    group = graph.one(SG)
    assert group.inputs["vpcId"] == VPC_ID
    rule = graph.one(SG_INGRESS).inputs
    assert rule["securityGroupId"] == group.id
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert eks(graph)["vpcConfig"]["securityGroupIds"] == [group.id]


# -- access entries ---------------------------------------------------------------------------------


def test_access_is_through_access_entries_only_with_the_deployer_as_admin() -> None:
    access = eks(render())["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}


def test_admin_role_arns_get_cluster_admin_access_entries() -> None:
    graph = render(admin_role_arns=[ADMIN, BREAK_GLASS])
    entries = {r.inputs["principalArn"]: r.inputs for r in graph.of_type(ACCESS_ENTRY)}
    assert set(entries) == {ADMIN, BREAK_GLASS}
    assert all(e["type"] == "STANDARD" and e["clusterName"] == "llm" for e in entries.values())
    associations = {r.inputs["principalArn"]: r for r in graph.of_type(ACCESS_POLICY)}
    assert set(associations) == {ADMIN, BREAK_GLASS}
    for association in associations.values():
        assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert association.inputs["clusterName"] == "llm"
    # The policy can only be associated once the principal has an entry.
    entry = graph.one(ACCESS_ENTRY, "llm-admin-platform-admin")
    assert depends_on(graph, graph.one(ACCESS_POLICY, "llm-admin-platform-admin"), entry)


def test_no_access_entries_without_admin_role_arns() -> None:
    graph = render()
    assert graph.of_type(ACCESS_ENTRY) == [] and graph.of_type(ACCESS_POLICY) == []
