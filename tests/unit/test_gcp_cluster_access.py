"""GCP Cluster under recording mocks: the Kubernetes API endpoint, private by default and open to the
authorized networks only."""

from __future__ import annotations

from gcp_cluster_helpers import gke, render


def test_nodes_and_kubernetes_api_are_private_by_default() -> None:
    inputs = gke(render())
    assert inputs["privateClusterConfig"] == {
        "enablePrivateNodes": True,
        "enablePrivateEndpoint": True,
        "masterIpv4CidrBlock": "172.16.0.0/28",
    }
    # Authorized networks stay enforced; with none listed only the nodes' subnetwork reaches the API.
    assert inputs["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False}


def test_a_private_endpoint_admits_the_listed_internal_networks() -> None:
    inputs = gke(render(authorized_networks=["10.8.0.0/24"], master_ipv4_cidr="172.16.32.0/28"))
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert inputs["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.32.0/28"
    assert [b["cidrBlock"] for b in inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["10.8.0.0/24"]


def test_public_endpoint_is_open_to_the_authorized_networks_only() -> None:
    networks = ["203.0.113.0/24", "198.51.100.7/32"]
    inputs = gke(render(private_endpoint=False, authorized_networks=networks))
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert inputs["privateClusterConfig"]["enablePrivateNodes"] is True  # nodes stay private
    authorized = inputs["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in authorized["cidrBlocks"]] == networks
    assert all(b["displayName"] for b in authorized["cidrBlocks"])
    # Not even Google Cloud's own public IPs (other customers' VMs) get in.
    assert authorized["gcpPublicCidrsAccessEnabled"] is False
