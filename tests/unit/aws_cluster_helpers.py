"""What the AWS Cluster tests share: its arguments, rendering it under recording mocks, its refusals, and
reading the EKS cluster, its roles, policies and system nodes from what it planned."""

from __future__ import annotations

import json
from typing import Any

from component_calls import ComponentCalls

from shardstack.aws.cluster import Cluster
from shardstack.testing import Graph, Resource

CLUSTER_COMPONENT = "shardstack:aws:Cluster"
EKS = "aws:eks/cluster:Cluster"
KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
K8S_PROVIDER = "pulumi:providers:kubernetes"

VPC_ID = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
BREAK_GLASS = "arn:aws:iam::123456789012:role/ops/break-glass"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


CALLS = ComponentCalls(Cluster, {"vpc_id": VPC_ID, "subnet_ids": SUBNETS})
cluster_args, render, failure, problems = CALLS.args, CALLS.render, CALLS.failure, CALLS.problems


def eks(graph: Graph) -> dict[str, Any]:
    return graph.one(EKS).inputs


def role(graph: Graph, suffix: str) -> Resource:
    return graph.one(ROLE, f"llm-{suffix}")


def managed_policies(graph: Graph, attached_to: Resource) -> set[str]:
    """Names of the AWS managed policies attached to a role, read from the recorded attachments."""
    arns = [a.inputs["policyArn"] for a in graph.of_type(ATTACHMENT) if a.inputs["role"] == attached_to.id]
    assert all(arn.startswith("arn:aws:iam::aws:policy/") for arn in arns), arns
    return {arn.rsplit("/", 1)[1] for arn in arns}


def statements(policy_json: str) -> list[dict[str, Any]]:
    return json.loads(policy_json)["Statement"]


def launch_template(graph: Graph) -> dict[str, Any]:
    return graph.one(LAUNCH_TEMPLATE).inputs


def node_group(graph: Graph) -> Resource:
    return graph.one(NODE_GROUP)


def depends_on(graph: Graph, resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies
