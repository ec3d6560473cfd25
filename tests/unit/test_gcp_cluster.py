"""GCP Cluster under recording mocks: the GKE cluster's shape, its labels and deletion protection, and
its system pool."""

from __future__ import annotations

import pytest
from gcp_cluster_helpers import (
    ACCOUNT,
    CLUSTER_COMPONENT,
    GKE,
    K8S_PROVIDER,
    NETWORK,
    NODE_POOL,
    PROJECT,
    PROJECT_MEMBER,
    SUBNETWORK,
    gke,
    render,
    system_pool,
)

from shardstack.errors import ArgumentError
from shardstack.gcp.cluster import known_project

# -- shape ------------------------------------------------------------------------------------------


def test_a_provider_without_a_project_is_refused_naming_how_to_set_one() -> None:
    assert known_project("acme-ml") == "acme-ml"
    for missing in ("", None):
        with pytest.raises(ArgumentError) as error:
            known_project(missing)
        (problem,) = error.value.problems
        assert "pulumi config set gcp:project" in problem and "GOOGLE_CLOUD_PROJECT" in problem


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one(CLUSTER_COMPONENT)
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_default_creates_a_cluster_one_pool_one_node_account_and_its_five_roles() -> None:
    assert render().count_by_type() == {
        ACCOUNT: 1,
        GKE: 1,
        NODE_POOL: 1,
        PROJECT_MEMBER: 5,
        K8S_PROVIDER: 1,
    }


def test_regional_vpc_native_cluster_named_after_the_component_at_the_requested_version() -> None:
    inputs = gke(render(kubernetes_version="1.31", release_channel="STABLE"))
    assert inputs["name"] == "llm"
    assert inputs["location"] == "us-central1"
    assert (inputs["network"], inputs["subnetwork"]) == (NETWORK, SUBNETWORK)
    assert inputs["networkingMode"] == "VPC_NATIVE"
    assert inputs["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert inputs["minMasterVersion"] == "1.31"
    assert inputs["releaseChannel"] == {"channel": "STABLE"}
    defaults = gke(render())
    assert defaults["minMasterVersion"] == "1.33"
    assert defaults["releaseChannel"] == {"channel": "REGULAR"}


def test_the_default_node_pool_is_removed_and_never_runs_as_the_compute_default_account() -> None:
    graph = render()
    inputs = gke(graph)
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["initialNodeCount"] == 1
    # While it lives, the default pool runs as the least-privilege node account.
    assert inputs["nodeConfig"]["serviceAccount"] == graph.one(ACCOUNT).outputs["email"]
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_every_labelled_resource_carries_the_component_and_user_labels() -> None:
    graph = render(labels={"team": "ml", "cost-center": "r_and_d"})
    expected = {"team": "ml", "cost-center": "r_and_d", "shardstack-component": "llm"}
    assert gke(graph)["resourceLabels"] == expected
    assert gke(graph)["nodeConfig"]["resourceLabels"] == expected
    assert system_pool(graph)["nodeConfig"]["resourceLabels"] == expected
    assert gke(render())["resourceLabels"] == {"shardstack-component": "llm"}


def test_deletion_protection_is_on_unless_turned_off() -> None:
    assert gke(render())["deletionProtection"] is True
    assert gke(render(deletion_protection=False))["deletionProtection"] is False


# -- system pool ------------------------------------------------------------------------------------


def test_system_pool_has_no_gpus_autoscales_per_zone_and_is_labelled_system() -> None:
    graph = render()
    pool = system_pool(graph)
    assert pool["name"] == "system"
    assert (pool["cluster"], pool["location"], pool["project"]) == ("llm", "us-central1", PROJECT)
    assert pool["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}
    assert pool["initialNodeCount"] == 1
    config = pool["nodeConfig"]
    assert config["machineType"] == "e2-standard-4"
    assert "guestAccelerators" not in config
    assert config["labels"] == {"shardstack.dev/pool": "system"}
    assert "taints" not in config
    assert (config["diskSizeGb"], config["diskType"]) == (50, "pd-balanced")
    assert config["imageType"] == "COS_CONTAINERD"
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_system_pool_settings_reach_the_node_pool() -> None:
    pool = system_pool(
        render(system_pool={"instance_type": "n2-standard-8", "min_nodes": 2, "max_nodes": 5, "disk_size_gib": 80})
    )
    assert pool["nodeConfig"]["machineType"] == "n2-standard-8"
    assert pool["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 5}
    assert pool["initialNodeCount"] == 2
    assert pool["nodeConfig"]["diskSizeGb"] == 80
