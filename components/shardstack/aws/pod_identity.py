"""An IAM role that the pods of one Kubernetes service account assume through EKS Pod Identity.

Usage::

    access = pod_identity_role("llm-reader", cluster_name=cluster.cluster_name, namespace="shardstack",
                               service_account="llm", policy=policy_json, role_name_prefix="llm-reader-",
                               description="Reads the weights", tags=tags, opts=child)
    access.role.arn, access.resources     # [role, policy, association]

The role trusts only the Pod Identity service, and only for sessions tagged with this cluster, namespace
and service account (Pod Identity always sends those tags), so no other association in the account can use
it. The association is created after the role's policy, so a pod never gets the role without its rights.
"""

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
MAX_ROLE_NAME_PREFIX = 38
"""IAM role names hold 64 characters; a name_prefix gets 26 random characters appended."""


def trust_policy(cluster_name: str, namespace: str, service_account: str) -> str:
    """The role's trust policy: EKS Pod Identity only, for this cluster's ``namespace/service_account``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowEksPodIdentity",
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                    # Pod Identity assumes the role and passes session tags naming the pod's cluster,
                    # namespace and service account; it needs both actions.
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    # Without these, any Pod Identity association in the account could use the role.
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-name": cluster_name,
                            "aws:RequestTag/kubernetes-namespace": namespace,
                            "aws:RequestTag/kubernetes-service-account": service_account,
                        }
                    },
                }
            ],
        }
    )


def role_name_prefix(*parts: str) -> str:
    """A readable IAM role name prefix from ``parts``, short enough for the random suffix."""
    readable = re.sub(r"[^A-Za-z0-9_+=,.@-]", "-", "-".join(parts))
    return readable[: MAX_ROLE_NAME_PREFIX - 1].rstrip("-") + "-"


@dataclass(frozen=True)
class PodIdentityRole:
    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    association: aws.eks.PodIdentityAssociation

    @property
    def resources(self) -> list[pulumi.Resource]:
        """What a workload using the role should depend on."""
        return [self.role, self.policy, self.association]


def pod_identity_role(
    name: str,
    *,
    cluster_name: pulumi.Input[str],
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    role_name_prefix: str,
    description: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> PodIdentityRole:
    """Create the role (``<name>-role``), its inline ``policy`` and the Pod Identity association."""
    cluster = pulumi.Output.from_input(cluster_name)
    role = aws.iam.Role(
        f"{name}-role",
        name_prefix=role_name_prefix,
        description=description,
        assume_role_policy=cluster.apply(lambda c: trust_policy(c, namespace, service_account)),
        tags=tags,
        opts=opts,
    )
    role_policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy, opts=opts)
    association = aws.eks.PodIdentityAssociation(
        f"{name}-pod-identity",
        cluster_name=cluster,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.arn,
        # The role's trust policy matches on the session tags; they must stay on.
        disable_session_tags=False,
        tags=tags,
        # The association must not hand out the role before its policy is in place.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role_policy])),
    )
    return PodIdentityRole(role, role_policy, association)
