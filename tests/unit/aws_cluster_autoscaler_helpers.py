"""What the AWS ClusterAutoscaler tests share: base arguments, rendering it under recording mocks, its
refusals, and reading its pod and container from what it planned."""

from __future__ import annotations

from typing import Any

from shardstack.aws.cluster_autoscaler import ClusterAutoscaler
from shardstack.errors import ArgumentError
from shardstack.testing import Graph, run_program, run_refused

COMPONENT = "shardstack:aws:ClusterAutoscaler"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SA = "kubernetes:core/v1:ServiceAccount"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
K8S_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

BASE: dict[str, Any] = {"cluster_name": "llm", "kubernetes_version": "1.33"}


def render(preview: bool = False, **overrides: Any) -> Graph:
    args = {**BASE, **overrides}
    return run_program(lambda: ClusterAutoscaler("autoscaler", args), preview=preview)  # type: ignore[arg-type]


def failure(name: str = "autoscaler", **args: Any) -> ArgumentError:
    return run_refused(lambda: ClusterAutoscaler(name, args), ArgumentError)  # type: ignore[arg-type]


def pod(graph: Graph) -> dict[str, Any]:
    return graph.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]


def container(graph: Graph) -> dict[str, Any]:
    (c,) = pod(graph)["containers"]
    return c
