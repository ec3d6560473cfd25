"""The IAM roles of an EKS cluster: the control plane's (with its use of the secrets key) and the nodes'.

Both are children of the Cluster component that asks for them, named after it (``<name>-cluster-role``,
``<name>-node-role``), with the AWS managed policies each needs attached and nothing more: pods get their
AWS access through EKS Pod Identity, never through the node role.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

__all__ = [
    "CLUSTER_ROLE_POLICIES",
    "NODE_ROLE_POLICIES",
    "SECRETS_KEY_ACTIONS",
    "ClusterRole",
    "cluster_role",
    "node_role",
]

CLUSTER_ROLE_POLICIES: tuple[str, ...] = ("AmazonEKSClusterPolicy",)
NODE_ROLE_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",  # join the cluster; also lets the Pod Identity agent hand out credentials
    "AmazonEC2ContainerRegistryReadOnly",  # pull images from ECR
    "AmazonEKS_CNI_Policy",  # the VPC CNI assigns pod IPs from the node's ENIs
)
SECRETS_KEY_ACTIONS: tuple[str, ...] = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
"""What the control plane does with the secrets key (the set terraform-aws-eks grants the cluster role)."""


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _secrets_key_policy(key_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(SECRETS_KEY_ACTIONS), "Resource": key_arn}],
        }
    )


def _managed_policy(partition: pulumi.Input[str], policy: str) -> pulumi.Output[str]:
    """Return the ARN of the AWS managed IAM policy ``policy`` in the deployment's partition."""
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy)


@dataclass(frozen=True)
class ClusterRole:
    """The control plane's IAM role and what must exist before EKS may use it."""

    role: aws.iam.Role
    attachments: list[aws.iam.RolePolicyAttachment]
    secrets_key_access: aws.iam.RolePolicy


def cluster_role(
    name: str,
    tags: Mapping[str, str],
    partition: pulumi.Output[str],
    secrets_key: aws.kms.Key,
    parent: pulumi.Resource,
) -> ClusterRole:
    """Create the control plane's IAM role, its managed policies and its use of the secrets key."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-cluster-role",
        description=f"EKS control plane of cluster {name}",
        assume_role_policy=_assume_role_policy("eks.amazonaws.com"),
        tags=tags,
        opts=child,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-cluster-{policy}", role=role.id, policy_arn=_managed_policy(partition, policy), opts=child
        )
        for policy in CLUSTER_ROLE_POLICIES
    ]
    secrets_key_access = aws.iam.RolePolicy(
        f"{name}-cluster-secrets-key",
        role=role.id,
        policy=secrets_key.arn.apply(_secrets_key_policy),
        opts=child,
    )
    return ClusterRole(role=role, attachments=attachments, secrets_key_access=secrets_key_access)


def node_role(
    name: str, tags: Mapping[str, str], partition: pulumi.Output[str], parent: pulumi.Resource
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """Create the nodes' IAM role and attach its managed policies; return both."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-node-role",
        description=f"Nodes of EKS cluster {name}; pods get AWS access through Pod Identity instead",
        assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
        tags=tags,
        opts=child,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-node-{policy}", role=role.id, policy_arn=_managed_policy(partition, policy), opts=child
        )
        for policy in NODE_ROLE_POLICIES
    ]
    return role, attachments
