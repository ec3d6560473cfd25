"""AWS ClusterAutoscaler under recording mocks: its IAM role and policy, scoped to this cluster's Auto
Scaling groups, and the Pod Identity association that hands it to the service account."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from aws_cluster_autoscaler_helpers import ASSOCIATION, ROLE, ROLE_POLICY, SA, container, render

from shardstack.aws.cluster_autoscaler import ClusterAutoscaler
from shardstack.testing import Graph, run_program

DESCRIBE_ACTIONS = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
}
SCALE_ACTIONS = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}


def statements(policy_json: str) -> list[dict[str, Any]]:
    policy = json.loads(policy_json)
    assert policy["Version"] == "2012-10-17"
    return policy["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def permissions(graph: Graph) -> list[dict[str, Any]]:
    return statements(graph.one(ROLE_POLICY).inputs["policy"])


def test_describe_actions_are_granted_on_every_resource_as_aws_requires() -> None:
    (describe,) = [s for s in permissions(render()) if set(as_list(s["Action"])) & DESCRIBE_ACTIONS]
    assert describe["Effect"] == "Allow"
    assert set(as_list(describe["Action"])) == DESCRIBE_ACTIONS
    assert as_list(describe["Resource"]) == ["*"]
    assert "Condition" not in describe


def test_scaling_is_allowed_only_on_this_clusters_auto_scaling_groups() -> None:
    (scale,) = [s for s in permissions(render()) if set(as_list(s["Action"])) & SCALE_ACTIONS]
    assert scale["Effect"] == "Allow"
    assert set(as_list(scale["Action"])) == SCALE_ACTIONS
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/llm": "owned"}}


def test_policy_grants_nothing_else() -> None:
    granted = [(a, s.get("Condition")) for s in permissions(render()) for a in as_list(s["Action"])]
    assert all(s["Effect"] == "Allow" for s in permissions(render()))
    assert {a for a, _ in granted} == DESCRIBE_ACTIONS | SCALE_ACTIONS
    assert len(granted) == len(DESCRIBE_ACTIONS | SCALE_ACTIONS)
    assert not any("*" in a for a, _ in granted)
    # Nothing that changes a resource is granted without the cluster's tag condition.
    assert all(condition is not None for action, condition in granted if action in SCALE_ACTIONS)


def test_tag_condition_follows_a_cluster_name_known_only_after_apply() -> None:
    def program() -> None:
        ClusterAutoscaler(
            "autoscaler",
            {"cluster_name": pulumi.Output.from_input("prod-eu"), "kubernetes_version": "1.33"},
        )

    graph = run_program(program)
    (scale,) = [s for s in permissions(graph) if "Condition" in s]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/prod-eu": "owned"}}
    assert "k8s.io/cluster-autoscaler/prod-eu" in container(graph)["command"][3]


def test_role_is_assumable_only_by_pod_identity_for_the_autoscaler_service_account() -> None:
    role = render(namespace="autoscaling").one(ROLE).inputs
    (trust,) = statements(role["assumeRolePolicy"])
    assert trust["Effect"] == "Allow"
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(as_list(trust["Action"])) == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": "llm",
            "aws:RequestTag/kubernetes-namespace": "autoscaling",
            "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler",
        }
    }
    assert len(role["namePrefix"]) <= 38


def test_policy_belongs_to_the_role() -> None:
    graph = render()
    assert graph.one(ROLE_POLICY).inputs["role"] == graph.one(ROLE).id


def test_pod_identity_association_binds_the_role_to_the_service_account() -> None:
    graph = render(namespace="autoscaling")
    association = graph.one(ASSOCIATION)
    sa = graph.one(SA).inputs["metadata"]
    assert association.inputs["clusterName"] == "llm"
    assert association.inputs["namespace"] == sa["namespace"] == "autoscaling"
    assert association.inputs["serviceAccount"] == sa["name"] == "cluster-autoscaler"
    assert association.inputs["roleArn"] == graph.one(ROLE).outputs["arn"]
    assert association.inputs["disableSessionTags"] is False
    # Not before the role may do its job.
    assert graph.one(ROLE_POLICY).urn in association.dependencies


def test_aws_resources_are_tagged() -> None:
    graph = render(tags={"team": "ml"})
    for kind in (ROLE, ASSOCIATION):
        assert graph.one(kind).inputs["tags"] == {"team": "ml", "shardstack:component": "autoscaler"}
