"""Azure Cluster under recording mocks: the kubeconfig (a kubelogin token, no stored credential), the
Kubernetes provider and its wait for the admin grants, the outputs, and the wiring to Network."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from azure_cluster_helpers import (
    ADMIN,
    AKS,
    AKS_SERVER_ID,
    K8S_PROVIDER,
    NETWORK_CONTRIBUTOR,
    ROLE_ASSIGNMENT,
    SLEEP,
    SUBSCRIPTION,
    aks,
    cluster_args,
    depends_on,
    render,
    role_of,
    system_pool,
)

from shardstack.azure.cluster import Cluster
from shardstack.azure.kubeconfig import _api_server
from shardstack.azure.network import Network
from shardstack.testing import SECRET, UNKNOWN, Graph, run_program

OUTPUTS = (
    "cluster_name",
    "cluster_id",
    "resource_group_name",
    "node_resource_group",
    "oidc_issuer_url",
    "kubelet_identity_object_id",
    "kubeconfig",
)


def kubeconfig_of(**args: Any) -> tuple[Graph, dict[str, Any]]:
    plaintext: list[str] = []

    def program() -> None:
        cluster = Cluster("llm", cluster_args(**args))  # type: ignore[arg-type]
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(plaintext.append)

    graph = run_program(program)
    (kubeconfig,) = plaintext
    return graph, json.loads(kubeconfig)


def test_kubeconfig_is_a_secret_whose_user_gets_a_token_from_kubelogin_azurecli() -> None:
    graph, config = kubeconfig_of()
    assert graph.outputs["kubeconfig"] == SECRET
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    (cluster,) = config["clusters"]
    # The FQDN (public DNS that resolves to the private endpoint), port 443.
    assert cluster["cluster"]["server"] == f"https://{graph.one(AKS).outputs['fqdn']}:443"
    ca = cluster["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca) == b"mock-ca-llm"  # from listManagedClusterUserCredentials
    (user,) = config["users"]
    assert user["name"] == "clusterUser_llm-rg_llm"
    assert user["user"] == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubelogin",
            "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID],
            "installHint": user["user"]["exec"]["installHint"],
            "provideClusterInfo": False,
            "interactiveMode": "Never",
        }
    }
    assert "kubelogin" in user["user"]["exec"]["installHint"]
    assert config["contexts"] == [{"name": "llm", "context": {"cluster": "llm", "user": "clusterUser_llm-rg_llm"}}]
    assert config["current-context"] == "llm"


def test_api_server_url_prefers_the_fqdn_and_falls_back_to_the_private_one() -> None:
    assert _api_server("llm-1.hcp.eastus.azmk8s.io", "llm-1.x.privatelink.eastus.azmk8s.io") == (
        "https://llm-1.hcp.eastus.azmk8s.io:443"
    )
    assert _api_server(None, "llm-1.x.privatelink.eastus.azmk8s.io") == (
        "https://llm-1.x.privatelink.eastus.azmk8s.io:443"
    )
    with pytest.raises(ValueError, match="neither an FQDN nor a private FQDN"):
        _api_server(None, None)


def test_provider_is_a_kubernetes_provider_ready_after_the_cluster_and_its_admin_grants() -> None:
    providers: list[Any] = []
    graph = run_program(
        lambda: providers.append(Cluster("llm", cluster_args(admin_principal_ids=[ADMIN])).provider)  # type: ignore[arg-type]
    )
    assert isinstance(providers[0], k8s.Provider)
    provider = graph.one(K8S_PROVIDER)
    assert depends_on(provider, graph.one(AKS))
    admins = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name.startswith("llm-admin-")]
    assert len(admins) == 2
    assert all(depends_on(provider, a) for a in admins)
    # ... and only after they have had Microsoft's documented propagation time, taken again when one changes.
    sleep = graph.one(SLEEP)
    assert depends_on(provider, sleep) and all(depends_on(sleep, a) for a in admins)
    assert sleep.inputs["createDuration"] == "5m"
    assert sorted(sleep.inputs["triggers"]["assignments"].split(",")) == sorted(a.id for a in admins if a.id)


def test_without_admin_grants_there_is_nothing_to_wait_for() -> None:
    graph = run_program(lambda: Cluster("llm", cluster_args(grant_deployer_admin=False)))  # type: ignore[arg-type]
    assert graph.of_type(SLEEP) == []


def test_outputs() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program)
    aks_outputs = graph.one(AKS).outputs
    assert graph.outputs == {
        "cluster_name": "llm",
        "cluster_id": graph.one(AKS).id,
        "resource_group_name": "llm-rg",
        "node_resource_group": "MC_llm-rg_llm_eastus",
        "oidc_issuer_url": aks_outputs["oidcIssuerProfile"]["issuerURL"],
        "kubelet_identity_object_id": aks_outputs["identityProfile"]["kubeletidentity"]["objectId"],
        "kubeconfig": SECRET,
    }
    assert graph.outputs["oidc_issuer_url"].startswith("https://eastus.oic.prod-aks.azure.com/")
    assert uuid.UUID(graph.outputs["kubelet_identity_object_id"])


def test_plans_in_preview_with_what_azure_computes_still_unknown() -> None:
    def program() -> None:
        cluster = Cluster("llm", cluster_args())  # type: ignore[arg-type]
        for key in ("kubeconfig", "kubelet_identity_object_id", "cluster_id", "node_resource_group"):
            pulumi.export(key, getattr(cluster, key))

    graph = run_program(program, preview=True)
    assert set(graph.outputs.values()) == {UNKNOWN}
    assert graph.one(K8S_PROVIDER).inputs["kubeconfig"] == SECRET
    assert graph.count_by_type() == render().count_by_type()


def test_wires_to_the_network_components_outputs() -> None:
    def program() -> None:
        network = Network("net", {"location": "eastus", "resource_group_name": "shardstack-prod"})
        Cluster(
            "llm",
            {
                "resource_group_name": network.resource_group_name,
                "location": "eastus",
                "node_subnet_id": network.node_subnet_id,
            },
        )

    graph = run_program(program)
    subnet_id = graph.one("azure-native:network:Subnet").id
    assert system_pool(graph)["vnetSubnetID"] == subnet_id
    assert aks(graph)["resourceGroupName"] == "shardstack-prod"
    (network_role,) = [a for a in graph.of_type(ROLE_ASSIGNMENT) if a.name == "llm-control-plane-network"]
    assert network_role.inputs["scope"] == subnet_id
    assert role_of(network_role) == (SUBSCRIPTION, NETWORK_CONTRIBUTOR)
