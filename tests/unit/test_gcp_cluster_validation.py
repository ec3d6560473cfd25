"""GCP Cluster's argument checks (every problem at once, nothing registered) and its multi-language
schema."""

from __future__ import annotations

import pytest
from component_schema import component_schema
from gcp_cluster_helpers import cluster_args, failure, problems

from shardstack.gcp.cluster import validate_cluster_args

# -- validation -------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = cluster_args(
        private_endpoint=False,
        authorized_networks=["203.0.113.0/24"],
        release_channel="EXTENDED",
        master_ipv4_cidr="10.100.0.16/28",
        system_pool={"instance_type": "n1-standard-4"},
        labels={"team": "ml"},
    )
    assert validate_cluster_args(args, name="llm") == []


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    found = problems(
        private_endpoint=False,
        kubernetes_version="1.29",
        release_channel="regular",
        master_ipv4_cidr="172.16.0.0/24",
        system_pool={"instance_type": "a2-highgpu-1g", "min_nodes": 3, "max_nodes": 2},
        deletion_protection="yes",
        labels={"Team": "ml"},
        regoin="us-east1",
    )
    assert found[0] == "unknown argument 'regoin' (did you mean 'region'?)"
    assert "kubernetes_version='1.29' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'" in found
    assert any(p.startswith("release_channel='regular' must be one of 'RAPID', 'REGULAR'") for p in found)
    assert any("(did you mean 'REGULAR'?)" in p for p in found)
    assert any(p.startswith("master_ipv4_cidr='172.16.0.0/24' is a /24; GKE gives the control plane") for p in found)
    assert any(p.startswith("authorized_networks is empty, but private_endpoint is False") for p in found)
    assert any(p.startswith("system_pool.instance_type='a2-highgpu-1g' has GPUs") for p in found)
    assert "system_pool.max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes" in found
    assert "deletion_protection='yes' must be true or false" in found
    assert any(p.startswith("labels['Team'] is not a GCP label key") for p in found)
    assert len(found) == 9, found


def test_the_whole_internet_is_refused_even_with_a_private_endpoint() -> None:
    (public,) = problems(private_endpoint=False, authorized_networks=["0.0.0.0/0"])
    assert public.startswith("authorized_networks[0]='0.0.0.0/0' would open the Kubernetes API to the whole internet")
    (private,) = problems(authorized_networks=["0.0.0.0/0"])
    assert private == public


def test_authorized_networks_must_be_distinct_cidr_blocks_without_host_bits() -> None:
    found = problems(
        private_endpoint=False, authorized_networks=["203.0.113.7/24", "office", "198.51.100.0/24", "198.51.100.0/24"]
    )
    assert found == [
        "authorized_networks[0]='203.0.113.7/24' has host bits set; the network it is in is '203.0.113.0/24'",
        "authorized_networks[1]='office' is not a CIDR block like '203.0.113.0/24'",
        "authorized_networks[3]='198.51.100.0/24' is listed twice; give each item once",
    ]
    (not_a_list,) = problems(authorized_networks="203.0.113.0/24")
    assert not_a_list == (
        "authorized_networks='203.0.113.0/24' must be a list, each item a CIDR block like '203.0.113.0/24'"
    )


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("172.16.0.0/27", "master_ipv4_cidr='172.16.0.0/27' is a /27; GKE gives the control plane exactly a /28"),
        (
            "172.16.0.1/28",
            "master_ipv4_cidr='172.16.0.1/28' has host bits set; the network it is in is '172.16.0.0/28'",
        ),
        ("fd00::/28", "master_ipv4_cidr='fd00::/28' is not an IPv4 CIDR block like '172.16.0.0/28'"),
    ],
)
def test_master_ipv4_cidr_must_be_an_ipv4_slash_28(cidr: str, expected: str) -> None:
    (problem,) = problems(master_ipv4_cidr=cidr)
    assert problem.startswith(expected)


def test_required_arguments_are_named() -> None:
    found = failure({}).problems
    assert found == [
        "region is required: a GCP region like 'us-central1'",
        "network is required: the VPC network's name or self-link",
        "subnetwork is required: the name or self-link of the subnetwork in the cluster's region",
        "pods_range_name is required: the name of the subnetwork's secondary range that pod IPs come from",
        "services_range_name is required: the name of the subnetwork's secondary range that Service IPs come from",
    ]


def test_region_must_be_a_region_not_a_zone() -> None:
    (zone,) = problems(region="us-central1-a")
    assert zone.startswith("region='us-central1-a' is a zone; the cluster is regional")
    assert zone.endswith("use the region 'us-central1'")
    (other,) = problems(region="US Central")
    assert other == "region='US Central' is not a GCP region like 'us-central1'"


def test_secondary_ranges_must_be_distinct_range_names() -> None:
    (same,) = problems(pods_range_name="ranges", services_range_name="ranges")
    assert same.startswith("pods_range_name and services_range_name are both 'ranges'")
    (bad,) = problems(pods_range_name="Pods_Range")
    assert bad.startswith("pods_range_name='Pods_Range' is not a secondary range name")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "1.33.2",
            "kubernetes_version='1.33.2' must be one of '1.30', '1.31', '1.32', '1.33', '1.34' (give the minor "
            "version only: GKE picks",
        ),
        ("1.35", "kubernetes_version='1.35' must be one of '1.30', '1.31', '1.32', '1.33', '1.34'"),
    ],
)
def test_kubernetes_version_must_be_a_supported_minor_version(version: str, expected: str) -> None:
    (problem,) = problems(kubernetes_version=version)
    assert problem.startswith(expected)


def test_system_pool_is_checked_field_by_field() -> None:
    (unknown,) = problems(system_pool={"disk_size": 80})
    assert unknown == "system_pool has unknown argument 'disk_size' (did you mean 'disk_size_gib'?)"
    (arm,) = problems(system_pool={"instance_type": "t2a-standard-4"})
    assert arm.startswith("system_pool.instance_type='t2a-standard-4' is an Arm type")
    (gpu,) = problems(system_pool={"instance_type": "g2-standard-8"})
    assert gpu.startswith("system_pool.instance_type='g2-standard-8' has GPUs")
    (typo,) = problems(system_pool={"instance_type": "e2.standard.4"})
    assert typo.startswith("system_pool.instance_type='e2.standard.4' is not a Compute Engine machine type")
    (disk,) = problems(system_pool={"disk_size_gib": 10})
    assert disk.startswith("system_pool.disk_size_gib=10 must be a whole number from 20 to 65536")
    (nodes,) = problems(system_pool={"min_nodes": 0})
    assert nodes.startswith("system_pool.min_nodes=0 must be a whole number from 1 to 5000")


def test_labels_must_follow_gcp_rules_and_leave_the_component_label_alone() -> None:
    found = problems(labels={"shardstack-component": "x", "goog-owner": "me", "team": "ML Platform"})
    assert found == [
        "labels['shardstack-component'] is set by Shardstack itself; choose another key",
        "labels['goog-owner'] starts with 'goog', which Google reserves for its own labels",
        "labels['team']='ML Platform' is not a GCP label value: use at most 63 lowercase letters, digits, '_' and '-'",
    ]


def test_name_must_be_a_valid_gke_cluster_name() -> None:
    (problem,) = validate_cluster_args(cluster_args(), name="LLM_prod")
    assert problem.startswith("name='LLM_prod' cannot name a GKE cluster")
    (too_long,) = validate_cluster_args(cluster_args(), name="a" * 41)
    assert too_long.startswith(f"name={'a' * 41!r} cannot name a GKE cluster: use at most 40")


# -- schema -----------------------------------------------------------------------------------------


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("Cluster", module="shardstack.gcp.cluster")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == [
        "network",
        "podsRangeName",
        "region",
        "servicesRangeName",
        "subnetwork",
    ]
    assert sorted(resource["properties"]) == [
        "certificateAuthority",
        "clusterName",
        "endpoint",
        "kubeconfig",
        "location",
        "nodeServiceAccountEmail",
        "workloadPool",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
    (system_pool_type,) = [t for name, t in schema["types"].items() if name.endswith(":SystemPool")]
    assert sorted(system_pool_type["properties"]) == ["diskSizeGib", "instanceType", "maxNodes", "minNodes"]
