"""GCP Cluster under recording mocks: the kubeconfig (a gke-gcloud-auth-plugin token), the Kubernetes
provider, the outputs, and inputs given as outputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from gcp_cluster_helpers import (
    GKE,
    K8S_PROVIDER,
    NETWORK,
    NODE_POOL,
    PROJECT,
    PROJECT_MEMBER,
    SUBNETWORK,
    cluster_args,
    depends_on,
    gke,
)

from shardstack.gcp.cluster import Cluster
from shardstack.testing import SECRET, UNKNOWN, run_program

OUTPUTS = (
    "cluster_name",
    "location",
    "endpoint",
    "certificate_authority",
    "kubeconfig",
    "node_service_account_email",
    "workload_pool",
)


def test_kubeconfig_is_a_secret_that_gets_a_token_from_the_gke_auth_plugin() -> None:
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
    cluster_outputs = graph.one(GKE).outputs
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == f"https://{cluster_outputs['endpoint']}"
    ca = cluster["cluster"]["certificate-authority-data"]
    assert ca == cluster_outputs["masterAuth"]["clusterCaCertificate"]
    assert base64.b64decode(ca)  # kubectl wants the base64 text itself
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert "token" not in user["user"]  # no credential is stored in it
    assert config["current-context"] == f"gke_{PROJECT}_us-central1_llm"


def test_provider_is_a_kubernetes_provider_ready_after_the_system_nodes() -> None:
    providers: list[Any] = []
    graph = run_program(lambda: providers.append(Cluster("llm", cluster_args()).provider))  # type: ignore[arg-type]
    assert isinstance(providers[0], k8s.Provider)
    assert depends_on(graph.one(K8S_PROVIDER), graph.one(NODE_POOL))


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    outputs = graph.outputs
    assert set(outputs) == set(OUTPUTS)
    assert outputs["cluster_name"] == "llm"
    assert outputs["location"] == "us-central1"
    assert outputs["endpoint"] == graph.one(GKE).outputs["endpoint"]
    assert outputs["certificate_authority"] == graph.one(GKE).outputs["masterAuth"]["clusterCaCertificate"]
    assert outputs["kubeconfig"] == SECRET
    assert outputs["node_service_account_email"] == f"llm-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert outputs["workload_pool"] == f"{PROJECT}.svc.id.goog"


def test_plans_in_preview_with_what_the_cloud_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("endpoint", cluster.endpoint)

    graph = run_program(program, preview=True)
    assert graph.outputs == {"kubeconfig": UNKNOWN, "endpoint": UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert len(graph.of_type(PROJECT_MEMBER)) == 5


def test_network_and_ranges_may_be_outputs() -> None:
    def program() -> None:
        Cluster(
            "llm",
            {
                "region": pulumi.Output.from_input("us-central1"),
                "network": pulumi.Output.from_input(NETWORK),
                "subnetwork": pulumi.Output.from_input(SUBNETWORK),
                "pods_range_name": pulumi.Output.from_input("pods"),
                "services_range_name": pulumi.Output.from_input("services"),
            },
        )

    inputs = gke(run_program(program))
    assert inputs["subnetwork"] == SUBNETWORK
    assert inputs["ipAllocationPolicy"]["servicesSecondaryRangeName"] == "services"
