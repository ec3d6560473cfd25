"""AWS Cluster under recording mocks: the kubeconfig (an `aws eks get-token` token), the Kubernetes
provider and the outputs."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from aws_cluster_helpers import ADDON, ADMIN, EKS, K8S_PROVIDER, cluster_args, depends_on, node_group, role

from shardstack.aws.cluster import Cluster
from shardstack.testing import SECRET, UNKNOWN, run_program

OUTPUTS = (
    "cluster_name",
    "endpoint",
    "certificate_authority",
    "kubeconfig",
    "node_role_arn",
    "node_role_name",
    "cluster_security_group_id",
    "oidc_issuer",
)


def test_kubeconfig_is_a_secret_that_gets_a_token_for_this_cluster() -> None:
    plaintext: list[str] = []

    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(plaintext.append)

    graph = run_program(program)
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    (kubeconfig,) = plaintext
    config = json.loads(kubeconfig)
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == graph.one(EKS).outputs["endpoint"]
    assert cluster["cluster"]["certificate-authority-data"] == graph.one(EKS).outputs["certificateAuthority"]["data"]
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "eks", "get-token", "--cluster-name", "llm", "--region", "us-east-1", "--output", "json",
    ]  # fmt: skip
    assert config["current-context"] == "llm"


def test_provider_is_a_kubernetes_provider_ready_after_nodes_and_add_ons() -> None:
    providers: list[Any] = []
    graph = run_program(lambda: providers.append(Cluster("llm", cluster_args()).provider))  # type: ignore[arg-type]
    assert isinstance(providers[0], k8s.Provider)
    provider = graph.one(K8S_PROVIDER)
    assert depends_on(graph, provider, node_group(graph))
    assert all(depends_on(graph, provider, addon) for addon in graph.of_type(ADDON))


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    node_role = role(graph, "node-role")
    outputs = graph.outputs
    assert outputs["cluster_name"] == "llm"
    assert outputs["endpoint"] == graph.one(EKS).outputs["endpoint"]
    assert outputs["endpoint"].startswith("https://")
    assert outputs["certificate_authority"] == graph.one(EKS).outputs["certificateAuthority"]["data"]
    assert outputs["kubeconfig"] == SECRET
    assert outputs["node_role_arn"] == node_role.outputs["arn"]
    assert outputs["node_role_name"] == node_role.id
    assert outputs["oidc_issuer"] == "https://oidc.eks.us-east-1.amazonaws.com/id/MOCK"
    assert set(outputs) == set(OUTPUTS)


def test_plans_in_preview_with_what_the_cloud_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args(admin_role_arns=[ADMIN]))  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("endpoint", cluster.endpoint)

    graph = run_program(program, preview=True)
    assert graph.outputs == {"kubeconfig": UNKNOWN, "endpoint": UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert len(graph.of_type(ADDON)) == 4
