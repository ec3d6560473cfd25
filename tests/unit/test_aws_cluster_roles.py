"""AWS Cluster under recording mocks: the IAM roles of the control plane (and its use of the secrets
key) and of the nodes."""

from __future__ import annotations

from aws_cluster_helpers import KEY, ROLE_POLICY, eks, managed_policies, node_group, render, role, statements

# -- roles ------------------------------------------------------------------------------------------


def test_cluster_role_is_assumed_by_eks_and_has_only_the_cluster_policy() -> None:
    graph = render()
    cluster_role = role(graph, "cluster-role")
    (trust,) = statements(cluster_role.inputs["assumeRolePolicy"])
    assert trust == {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert managed_policies(graph, cluster_role) == {"AmazonEKSClusterPolicy"}
    assert eks(graph)["roleArn"] == cluster_role.outputs["arn"]


def test_node_role_is_assumed_by_ec2_and_has_exactly_the_three_node_policies() -> None:
    graph = render()
    node_role = role(graph, "node-role")
    (trust,) = statements(node_role.inputs["assumeRolePolicy"])
    assert trust == {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert managed_policies(graph, node_role) == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKS_CNI_Policy",
    }
    # Pods get AWS access through Pod Identity: the node role has no inline policy either.
    assert all(p.inputs["role"] != node_role.id for p in graph.of_type(ROLE_POLICY))
    assert node_group(graph).inputs["nodeRoleArn"] == node_role.outputs["arn"]


# -- the control plane's use of the secrets key -----------------------------------------------------


def test_cluster_role_may_use_the_secrets_key_and_nothing_else() -> None:
    graph = render()
    policy = graph.one(ROLE_POLICY).inputs
    assert policy["role"] == role(graph, "cluster-role").id
    (statement,) = statements(policy["policy"])
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants"]
    assert statement["Resource"] == graph.one(KEY).outputs["arn"]
