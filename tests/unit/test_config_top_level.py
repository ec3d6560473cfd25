"""Stack config: cloud, region, zones, pool placement, cloud-only keys and the Kubernetes version."""

from __future__ import annotations

from typing import Any

from config_cases import AWS, LOCAL, aws_pool, config, problem_at, stack

# --- Top level: cloud, region, zones, kubernetes_version --------------------------------------------


def test_fails_when_cloud_missing() -> None:
    line = problem_at({}, "shardstack:cloud")
    assert "required" in line and "'local', 'aws', 'gcp', 'azure'" in line


def test_fails_when_cloud_unknown() -> None:
    line = problem_at(stack(AWS, cloud="awss"), "shardstack:cloud")
    assert "'awss'" in line and "'azure'" in line and "did you mean 'aws'?" in line


def test_fails_when_region_missing_for_cloud() -> None:
    line = problem_at(stack(AWS, region=None), "shardstack:region")
    assert "required for cloud 'aws'" in line and "'us-east-1'" in line


def test_fails_when_region_given_for_local() -> None:
    line = problem_at(stack(LOCAL, region="us-east-1"), "shardstack:region")
    assert "'us-east-1'" in line and "local" in line


def test_fails_when_region_is_not_a_region_of_the_cloud() -> None:
    line = problem_at(stack(AWS, cloud="gcp", region="us-east-1", gpu_pools=[{"gpu": "l4"}]), "shardstack:region")
    assert "'us-east-1'" in line and "GCP" in line and "'us-central1'" in line


def test_fails_when_azure_region_is_a_display_name() -> None:
    line = problem_at(stack(AWS, cloud="azure", region="East US", gpu_pools=[{"gpu": "a10"}]), "shardstack:region")
    assert "'East US'" in line and "did you mean 'eastus'?" in line


def test_fails_when_zones_repeat() -> None:
    line = problem_at(stack(AWS, zones=["us-east-1a", "us-east-1a"]), "shardstack:zones[1]")
    assert "'us-east-1a'" in line and "listed twice" in line


def test_fails_when_zones_empty() -> None:
    line = problem_at(stack(AWS, zones=[]), "shardstack:zones")
    assert "[]" in line and "at least 1" in line


def test_fails_when_zones_not_a_list() -> None:
    line = problem_at(stack(AWS, zones="us-east-1a"), "shardstack:zones")
    assert "'us-east-1a'" in line and "must be a list" in line


def test_fails_when_zone_not_in_region() -> None:
    line = problem_at(stack(AWS, zones=["us-east-1a", "us-west-2a"]), "shardstack:zones[1]")
    assert "'us-west-2a'" in line and "'us-east-1'" in line


def test_fails_when_azure_zone_not_a_number() -> None:
    values = stack(AWS, cloud="azure", region="eastus", zones=["eastus-1"], gpu_pools=[{"gpu": "a10"}])
    line = problem_at(values, "shardstack:zones[0]")
    assert "'eastus-1'" in line and "'1', '2' or '3'" in line


def test_fails_when_zones_given_for_local() -> None:
    line = problem_at(stack(LOCAL, zones=["a"]), "shardstack:zones")
    assert "['a']" in line and "local" in line


GCP: dict[str, Any] = {
    "cloud": "gcp",
    "region": "us-central1",
    "gpu_pools": [{"name": "h100", "gpu": "h100-80gb", "gpus_per_node": 8}],
}


def gcp_pool(**changes: Any) -> dict[str, Any]:
    """Return the GCP stack with its one GPU pool changed."""
    return stack(GCP, gpu_pools=[{**GCP["gpu_pools"][0], **changes}])


def test_pool_zones_and_compact_placement_parse_on_gcp() -> None:
    cfg = config.load(gcp_pool(zones=["us-central1-a"], compact_placement=True), stack="t")
    assert cfg.gpu_pools[0].zones == ["us-central1-a"]
    assert cfg.gpu_pools[0].compact_placement is True
    # The stack's single zone serves a pool without zones of its own.
    assert config.load(stack(gcp_pool(compact_placement=True), zones=["us-central1-c"]), stack="t")


def test_pool_placement_defaults() -> None:
    pool = config.load(GCP, stack="t").gpu_pools[0]
    assert pool.zones is None and pool.compact_placement is False


def test_fails_when_pool_zone_not_in_region() -> None:
    line = problem_at(gcp_pool(zones=["us-central1-a", "us-east1-b"]), "shardstack:gpu_pools[0].zones[1]")
    assert "'us-east1-b'" in line and "'us-central1'" in line


def test_fails_when_pool_zones_given_on_aws() -> None:
    line = problem_at(aws_pool(zones=["us-east-1a"]), "shardstack:gpu_pools[0].zones")
    assert "not used on aws" in line and "shardstack:zones" in line


def test_fails_when_compact_placement_is_not_on_gcp() -> None:
    line = problem_at(aws_pool(compact_placement=True), "shardstack:gpu_pools[0].compact_placement")
    assert "only supported on gcp" in line and "'aws'" in line


def test_fails_when_compact_placement_has_not_exactly_one_zone() -> None:
    line = problem_at(gcp_pool(compact_placement=True), "shardstack:gpu_pools[0].compact_placement")
    assert "exactly one zone" in line and "not set" in line and "'us-central1-a'" in line
    line = problem_at(
        gcp_pool(compact_placement=True, zones=["us-central1-a", "us-central1-b"]),
        "shardstack:gpu_pools[0].compact_placement",
    )
    assert "['us-central1-a', 'us-central1-b']" in line


def test_weight_store_networks_parse_on_azure_and_default_empty() -> None:
    azure = {"cloud": "azure", "region": "eastus", "gpu_pools": [{"gpu": "t4"}]}
    assert config.load(azure, stack="t").weight_store.allowed_networks == []
    cfg = config.load({**azure, "weight_store": {"allowed_networks": ["203.0.113.0/24"]}}, stack="t")
    assert cfg.weight_store.allowed_networks == ["203.0.113.0/24"]


def test_fails_when_weight_store_networks_are_given_for_a_bucket_cloud() -> None:
    line = problem_at(
        stack(AWS, weight_store={"allowed_networks": ["203.0.113.0/24"]}), "shardstack:weight_store.allowed_networks"
    )
    assert "only used with cloud 'azure'" in line and "credentials" in line
    line = problem_at(stack(LOCAL, weight_store={"allowed_networks": ["203.0.113.0/24"]}), "shardstack:weight_store")
    assert "local" in line


def test_azure_only_keys_are_refused_elsewhere_naming_the_key() -> None:
    line = problem_at(
        stack(AWS, weight_store={"allowed_subnet_ids": ["/subscriptions/x/subnets/ci"]}),
        "shardstack:weight_store.allowed_subnet_ids",
    )
    assert "only used with cloud 'azure'" in line
    line = problem_at(
        stack(AWS, cluster={"deployer_principal_type": "ServicePrincipal"}),
        "shardstack:cluster.deployer_principal_type",
    )
    assert "only used with cloud 'azure'" in line


def test_deployer_principal_type_is_user_or_service_principal() -> None:
    azure = {"cloud": "azure", "region": "eastus", "gpu_pools": [{"gpu": "t4"}]}
    assert config.load(azure, stack="t").cluster.deployer_principal_type == "User"
    line = problem_at(
        {**azure, "cluster": {"deployer_principal_type": "Group"}}, "shardstack:cluster.deployer_principal_type"
    )
    assert "'Group'" in line and "'ServicePrincipal'" in line


def test_fails_when_weight_store_network_is_the_whole_internet() -> None:
    values = {
        "cloud": "azure",
        "region": "eastus",
        "gpu_pools": [{"gpu": "t4"}],
        "weight_store": {"allowed_networks": ["0.0.0.0/0"]},
    }
    assert "0.0.0.0/0" in problem_at(values, "shardstack:weight_store.allowed_networks[0]")


def test_fails_when_kubernetes_version_unsupported() -> None:
    line = problem_at(stack(AWS, kubernetes_version="1.29"), "shardstack:kubernetes_version")
    assert "'1.29'" in line and "'1.30', '1.31', '1.32', '1.33', '1.34'" in line


def test_fails_when_kubernetes_version_has_a_patch() -> None:
    line = problem_at(stack(AWS, kubernetes_version="1.33.2"), "shardstack:kubernetes_version")
    assert "'1.33.2'" in line and "minor version only" in line


def test_fails_when_kubernetes_version_is_a_yaml_number() -> None:
    line = problem_at(stack(AWS, kubernetes_version=1.3), "shardstack:kubernetes_version")
    assert "1.3" in line and "quoted" in line


def test_fails_when_kubernetes_version_given_for_local() -> None:
    line = problem_at(stack(LOCAL, kubernetes_version="1.33"), "shardstack:kubernetes_version")
    assert "'1.33'" in line and "local" in line
