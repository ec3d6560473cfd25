"""Tests of infra/config.py: defaults, every validation rule, and how problems are reported."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.config import CONFIG
from pydantic import BaseModel, ValidationError

from shardstack import catalog
from shardstack.errors import ConfigError

_ROOT = Path(__file__).resolve().parents[2]
# infra/ is the Pulumi program's directory: Pulumi puts it on sys.path, so do the same here.
_INFRA = str(_ROOT / "infra")
if _INFRA not in sys.path:
    sys.path.insert(0, _INFRA)

import config  # noqa: E402

LOCAL: dict[str, Any] = {"cloud": "local"}
AWS: dict[str, Any] = {
    "cloud": "aws",
    "region": "us-east-1",
    "gpu_pools": [{"name": "l4", "gpu": "l4", "max_nodes": 2}],
}


def stack(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Return a deep copy of ``base`` with top-level keys replaced (``None`` removes a key)."""
    values = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def aws_pool(**changes: Any) -> dict[str, Any]:
    """Return the AWS stack with its one GPU pool changed."""
    return stack(AWS, gpu_pools=[{**AWS["gpu_pools"][0], **changes}])


def problems_of(values: Mapping[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(values, stack="test")
    return info.value.problems


def problem_at(values: Mapping[str, Any], key_path: str) -> str:
    """Return the one problem reported for ``key_path``; fail if there is none."""
    found = [p for p in problems_of(values) if p.startswith(f"{key_path}: ")]
    assert found, f"no problem reported for {key_path}; got {problems_of(values)}"
    return found[0]


# --- Valid configurations ---------------------------------------------------------------------------


def test_full_local_config_parses() -> None:
    cfg = config.load(
        {
            "cloud": "local",
            "model": {"uri": "file:///srv/shardstack/models/tiny", "dtype": "fp32", "shards": 2},
            "serving": {"replica_groups": 1, "namespace": "demo", "mode": "statefulset"},
            "local": {
                "kube_context": "kind-shardstack",
                "weights": {"store": "host-path", "host_path": "/srv/shardstack/models", "storage_gib": 5},
                "cpu_per_shard": "500m",
                "memory_per_shard": "1Gi",
            },
            "api_key": "local-key",
        },
        stack="local",
    )
    assert cfg.cloud == "local"
    assert cfg.model.shards == 2
    assert cfg.local.weights.host_path == "/srv/shardstack/models"
    assert cfg.local.cpu_per_shard == "500m"
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "local-key"


def test_full_aws_config_parses() -> None:
    cfg = config.load(
        {
            "cloud": "aws",
            "region": "us-east-1",
            "zones": ["us-east-1a", "us-east-1b"],
            "kubernetes_version": "1.33",
            "cluster": {"private_endpoint": False, "authorized_networks": ["203.0.113.0/24"]},
            "system_pool": {
                "instance_type": "m7i.large",
                "min_nodes": 1,
                "max_nodes": 3,
                "disk_size_gib": 50,
            },
            "gpu_pools": [
                {
                    "name": "l4",
                    "gpu": "l4",
                    "gpus_per_node": 4,
                    "min_nodes": 0,
                    "max_nodes": 2,
                    "spot": True,
                    "disk_size_gib": 200,
                    "labels": {"team": "ml", "example.com/tier": "batch"},
                },
                {"name": "h100", "gpu": "h100-80gb", "gpus_per_node": 8, "max_nodes": 1},
            ],
            "model": {
                "uri": "s3://models/llama-3-8b",
                "dtype": "bf16",
                "shards": "auto",
                "params": 8.0e9,
                "revision": "main",
            },
            "serving": {
                "replica_groups": 2,
                "public": True,
                "allowed_cidrs": ["198.51.100.0/24"],
                "api_key_secret": {"name": "inference-api", "key": "token"},
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/runtime:0.1.0",
                "namespace": "inference",
                "mode": "leaderworkerset",
            },
        },
        stack="aws-prod",
    )
    assert cfg.region == "us-east-1"
    assert cfg.zones == ["us-east-1a", "us-east-1b"]
    assert [p.name for p in cfg.gpu_pools] == ["l4", "h100"]
    assert cfg.gpu_pools[0].labels == {"team": "ml", "example.com/tier": "batch"}
    assert cfg.serving.api_key_secret is not None and cfg.serving.api_key_secret.key == "token"
    assert cfg.serving.mode == "leaderworkerset"


@pytest.mark.parametrize("path", sorted((_ROOT / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_stack_files_parse(path: Path) -> None:
    settings = yaml.safe_load(path.read_text())["config"]
    values = {k.removeprefix("shardstack:"): v for k, v in settings.items() if k.startswith("shardstack:")}
    # Secrets are encrypted in the file ({secure: ...}); a stand-in shows only that the key is valid.
    if isinstance(values.get("api_key"), dict):
        values["api_key"] = "stand-in"
    config.load(values, stack=path.name.removeprefix("Pulumi.").removesuffix(".yaml"))


def test_gcp_config_parses() -> None:
    cfg = config.load(
        {
            "cloud": "gcp",
            "region": "us-central1",
            "zones": ["us-central1-a"],
            "gpu_pools": [{"gpu": "l4"}],
            "model": {"uri": "gs://models/m", "params": 1.0e9},
        },
        stack="gcp-dev",
    )
    assert cfg.gpu_pools[0].gpu == "l4"


def test_azure_config_parses() -> None:
    cfg = config.load(
        {
            "cloud": "azure",
            "region": "eastus",
            "zones": ["1", "2"],
            "gpu_pools": [{"gpu": "a10"}],
            "model": {"uri": "az://models/m", "shards": 1},
        },
        stack="azure-dev",
    )
    assert cfg.gpu_pools[0].gpu == "a10"


def test_accepts_strings_from_pulumi_config_set() -> None:
    cfg = config.load(
        stack(
            AWS,
            gpu_pools=[{"gpu": "l4", "max_nodes": "3", "min_nodes": "1", "spot": "true"}],
            model={"uri": "s3://b/m", "params": "7.0e9", "shards": "2"},
            serving={"replica_groups": "1", "public": "false"},
        ),
        stack="test",
    )
    pool = cfg.gpu_pools[0]
    assert (pool.max_nodes, pool.min_nodes, pool.spot) == (3, 1, True)
    assert cfg.model.params == 7.0e9
    assert cfg.model.shards == 2
    assert cfg.serving.public is False


def test_gpu_key_is_case_insensitive() -> None:
    cfg = config.load(aws_pool(gpu=" L4 "), stack="test")
    assert cfg.gpu_pools[0].gpu == "l4"


def test_single_host_cidr_is_read_as_slash_32() -> None:
    cfg = config.load(stack(LOCAL, serving={"public": True, "allowed_cidrs": ["203.0.113.7"]}), stack="t")
    assert cfg.serving.allowed_cidrs == ["203.0.113.7/32"]


# --- Defaults ---------------------------------------------------------------------------------------


def test_private_endpoint_defaults_true() -> None:
    assert config.load(AWS, stack="t").cluster.private_endpoint is True


def test_authorized_networks_default_empty() -> None:
    assert config.load(AWS, stack="t").cluster.authorized_networks == []


def test_kubernetes_version_defaults_to_constant() -> None:
    cfg = config.load(AWS, stack="t")
    assert cfg.kubernetes_version == config.DEFAULT_KUBERNETES_VERSION
    assert config.DEFAULT_KUBERNETES_VERSION in config.SUPPORTED_KUBERNETES_VERSIONS


def test_zones_default_none() -> None:
    assert config.load(AWS, stack="t").zones is None


def test_system_pool_defaults() -> None:
    pool = config.load(AWS, stack="t").system_pool
    assert (pool.instance_type, pool.min_nodes, pool.max_nodes, pool.disk_size_gib) == (None, 1, 3, 50)


def test_gpu_pool_defaults() -> None:
    pool = config.load(stack(AWS, gpu_pools=[{"name": "p", "gpu": "l4"}]), stack="t").gpu_pools[0]
    assert (pool.gpus_per_node, pool.min_nodes, pool.max_nodes) == (1, 0, 1)
    assert (pool.spot, pool.disk_size_gib, pool.labels) == (False, 200, {})


def test_gpu_pool_name_defaults_to_gpu_key() -> None:
    assert config.load(stack(AWS, gpu_pools=[{"gpu": "h100-80gb"}]), stack="t").gpu_pools[0].name == "h100-80gb"


def test_gpus_per_node_defaults_to_smallest_count_offered() -> None:
    # AWS rents the A100 80GB only 8 to a machine (p4de), so 1 is not a size there.
    assert catalog.GPUS["a100-80gb"].gpu_counts("aws")[0] > 1
    cfg = config.load(stack(AWS, gpu_pools=[{"gpu": "a100-80gb"}]), stack="t")
    assert cfg.gpu_pools[0].gpus_per_node == catalog.GPUS["a100-80gb"].gpu_counts("aws")[0]


def test_gpu_pools_default_empty_for_local() -> None:
    assert config.load(LOCAL, stack="t").gpu_pools == []


def test_model_uri_defaults_to_demo() -> None:
    assert config.load(LOCAL, stack="t").model.uri == "demo"


def test_dtype_defaults_to_bf16() -> None:
    assert config.load(LOCAL, stack="t").model.dtype == "bf16"


def test_shards_defaults_to_auto() -> None:
    assert config.load(LOCAL, stack="t").model.shards == "auto"


def test_params_and_revision_default_none() -> None:
    model = config.load(LOCAL, stack="t").model
    assert (model.params, model.revision) == (None, None)


def test_replica_groups_defaults_to_1() -> None:
    assert config.load(LOCAL, stack="t").serving.replica_groups == 1


def test_public_defaults_false() -> None:
    assert config.load(LOCAL, stack="t").serving.public is False


def test_allowed_cidrs_default_empty() -> None:
    assert config.load(LOCAL, stack="t").serving.allowed_cidrs == []


def test_api_key_secret_defaults_none() -> None:
    assert config.load(LOCAL, stack="t").serving.api_key_secret is None


def test_api_key_secret_key_defaults_to_api_key() -> None:
    cfg = config.load(stack(LOCAL, serving={"api_key_secret": {"name": "inference"}}), stack="t")
    assert cfg.serving.api_key_secret is not None
    assert cfg.serving.api_key_secret.key == "api-key"


def test_image_defaults_to_runtime_image() -> None:
    assert config.load(LOCAL, stack="t").serving.image == config.DEFAULT_IMAGE
    assert config.DEFAULT_IMAGE == "ghcr.io/shardstack/runtime:0.1.0"


def test_namespace_defaults_to_shardstack() -> None:
    assert config.load(LOCAL, stack="t").serving.namespace == "shardstack"


def test_mode_defaults_to_statefulset() -> None:
    assert config.load(LOCAL, stack="t").serving.mode == "statefulset"


def test_local_defaults() -> None:
    local = config.load(LOCAL, stack="t").local
    assert local.kube_context is None
    assert (local.weights.store, local.weights.host_path, local.weights.storage_gib) == (
        "in-cluster-s3",
        None,
        20,
    )
    assert (local.cpu_per_shard, local.memory_per_shard) == ("2", "4Gi")


def test_api_key_defaults_none() -> None:
    assert config.load(LOCAL, stack="t").api_key is None


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


# --- cluster and system_pool ------------------------------------------------------------------------


def test_fails_when_public_endpoint_has_no_authorized_networks() -> None:
    line = problem_at(stack(AWS, cluster={"private_endpoint": False}), "shardstack:cluster.authorized_networks")
    assert "is empty, but private_endpoint is False" in line and "203.0.113.0/24" in line


def test_fails_when_authorized_network_is_the_whole_internet() -> None:
    values = stack(AWS, cluster={"private_endpoint": False, "authorized_networks": ["0.0.0.0/0"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'0.0.0.0/0'" in line and "whole internet" in line


def test_fails_when_authorized_network_has_host_bits() -> None:
    values = stack(AWS, cluster={"authorized_networks": ["203.0.113.5/24"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'203.0.113.5/24'" in line and "host bits" in line and "'203.0.113.0/24'" in line


def test_fails_when_authorized_network_is_not_a_cidr() -> None:
    values = stack(AWS, cluster={"authorized_networks": ["office"]})
    line = problem_at(values, "shardstack:cluster.authorized_networks[0]")
    assert "'office'" in line and "CIDR" in line


def test_fails_when_cluster_given_for_local() -> None:
    line = problem_at(stack(LOCAL, cluster={"private_endpoint": True}), "shardstack:cluster")
    assert "local" in line


def test_fails_when_system_pool_max_below_min() -> None:
    line = problem_at(stack(AWS, system_pool={"min_nodes": 3, "max_nodes": 2}), "shardstack:system_pool.max_nodes")
    assert "2 is less than min_nodes=3" in line


def test_fails_when_system_pool_disk_too_small() -> None:
    line = problem_at(stack(AWS, system_pool={"disk_size_gib": 10}), "shardstack:system_pool.disk_size_gib")
    assert "10" in line and "≥ 20" in line


def test_fails_when_system_pool_given_for_local() -> None:
    line = problem_at(stack(LOCAL, system_pool={"max_nodes": 2}), "shardstack:system_pool")
    assert "local" in line


def test_network_defaults_to_a_nat_gateway_per_zone() -> None:
    assert config.load(AWS, stack="t").network.nat_gateways == "one_per_zone"
    assert config.load(stack(AWS, network={"nat_gateways": "single"}), stack="t").network.nat_gateways == "single"


def test_fails_on_an_unknown_nat_mode_and_on_network_for_local() -> None:
    line = problem_at(stack(AWS, network={"nat_gateways": "one"}), "shardstack:network.nat_gateways")
    assert "'one'" in line and "one_per_zone" in line and "single" in line
    assert "local" in problem_at(stack(LOCAL, network={"nat_gateways": "single"}), "shardstack:network")


# --- gpu_pools --------------------------------------------------------------------------------------


def test_fails_when_cloud_has_no_gpu_pools() -> None:
    line = problem_at(stack(AWS, gpu_pools=None), "shardstack:gpu_pools")
    assert "empty" in line and "'aws'" in line


def test_fails_when_local_has_gpu_pools() -> None:
    line = problem_at(stack(LOCAL, gpu_pools=[{"gpu": "l4"}]), "shardstack:gpu_pools")
    assert "1 pool(s)" in line and "local" in line


def test_fails_when_gpu_unknown() -> None:
    line = problem_at(aws_pool(gpu="h100"), "shardstack:gpu_pools[0].gpu")
    assert "'h100' is not in the GPU catalogue" in line and "(did you mean 'h100-80gb'?)" in line
    assert "use one of " in line and "'a100-40gb'" in line
    assert line.endswith("(did you mean 'h100-80gb'?)")


def test_fails_when_gpu_not_offered_on_cloud() -> None:
    not_on_aws = next(key for key, gpu in catalog.GPUS.items() if not gpu.offers_on("aws"))
    line = problem_at(aws_pool(gpu=not_on_aws), "shardstack:gpu_pools[0].gpu")
    assert f"{not_on_aws!r} is not offered on aws" in line and "'l4'" in line


def test_fails_when_gpus_per_node_not_offered() -> None:
    counts = catalog.GPUS["l4"].gpu_counts("aws")
    line = problem_at(aws_pool(gpus_per_node=3), "shardstack:gpu_pools[0].gpus_per_node")
    assert "3 is not a node size for 'l4' on aws" in line
    assert f"allowed: {', '.join(str(c) for c in counts)}" in line


def test_fails_when_pool_name_not_dns_label() -> None:
    line = problem_at(aws_pool(name="GPU_Pool"), "shardstack:gpu_pools[0].name")
    assert "'GPU_Pool' is not a valid Kubernetes name" in line and "lowercase letters" in line


def test_fails_when_pool_names_repeat() -> None:
    values = stack(AWS, gpu_pools=[{"name": "gpu", "gpu": "l4"}, {"name": "gpu", "gpu": "t4"}])
    line = problem_at(values, "shardstack:gpu_pools[1].name")
    assert "'gpu'" in line and "gpu_pools[0]" in line and "unique" in line


def test_fails_when_pool_name_missing_and_gpu_unknown() -> None:
    line = problem_at(stack(AWS, gpu_pools=[{"gpu": "nope"}]), "shardstack:gpu_pools[0].name")
    assert "required" in line


def test_fails_when_min_nodes_negative() -> None:
    line = problem_at(aws_pool(min_nodes=-1), "shardstack:gpu_pools[0].min_nodes")
    assert "-1" in line and "≥ 0" in line


def test_fails_when_max_nodes_zero() -> None:
    line = problem_at(aws_pool(max_nodes=0), "shardstack:gpu_pools[0].max_nodes")
    assert "0 must be a whole number ≥ 1" in line


def test_fails_when_max_nodes_below_min_nodes() -> None:
    line = problem_at(aws_pool(min_nodes=2, max_nodes=1), "shardstack:gpu_pools[0].max_nodes")
    assert line == ("shardstack:gpu_pools[0].max_nodes: 1 is less than min_nodes=2; max_nodes must be ≥ min_nodes")


def test_fails_when_max_nodes_not_a_number() -> None:
    line = problem_at(aws_pool(max_nodes="three"), "shardstack:gpu_pools[0].max_nodes")
    assert "'three' must be a whole number" in line


def test_fails_when_spot_not_a_boolean() -> None:
    line = problem_at(aws_pool(spot="sometimes"), "shardstack:gpu_pools[0].spot")
    assert "'sometimes' must be true or false" in line


def test_fails_when_gpu_disk_too_small() -> None:
    line = problem_at(aws_pool(disk_size_gib=30), "shardstack:gpu_pools[0].disk_size_gib")
    assert "30 must be a whole number ≥ 50" in line


def test_fails_when_node_label_key_reserved() -> None:
    line = problem_at(
        aws_pool(labels={"node.kubernetes.io/role": "gpu"}),
        "shardstack:gpu_pools[0].labels['node.kubernetes.io/role']",
    )
    assert "'node.kubernetes.io/role'" in line and "reserved" in line


def test_fails_when_node_label_value_invalid() -> None:
    line = problem_at(aws_pool(labels={"team": "ml team"}), "shardstack:gpu_pools[0].labels.team")
    assert "'ml team'" in line and "label value" in line


def test_fails_when_gpu_pool_not_a_mapping() -> None:
    line = problem_at(stack(AWS, gpu_pools=["l4"]), "shardstack:gpu_pools[0]")
    assert "'l4' is not a mapping" in line


def test_fails_when_shards_exceed_gpu_capacity() -> None:
    values = stack(aws_pool(max_nodes=2), model={"shards": 2}, serving={"replica_groups": 2})
    line = problem_at(values, "shardstack:model.shards")
    assert "need at least 4 GPUs" in line and "at most 2" in line


# --- model ------------------------------------------------------------------------------------------


def test_fails_when_model_uri_scheme_unknown() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "ftp://host/m"}), "shardstack:model.uri")
    assert "'ftp://host/m'" in line and "s3://" in line and "'demo'" in line


def test_fails_when_model_uri_scheme_does_not_match_cloud() -> None:
    line = problem_at(stack(AWS, model={"uri": "gs://bucket/m", "shards": 1}), "shardstack:model.uri")
    assert "'gs://bucket/m'" in line and "'aws'" in line and "s3://" in line


def test_fails_when_local_model_uri_is_another_clouds_store() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "az://container/m", "shards": 1}), "shardstack:model.uri")
    assert "'az://container/m'" in line and "file://" in line


def test_fails_when_local_file_uri_without_host_path_store() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "file:///srv/m", "shards": 1}), "shardstack:model.uri")
    assert "'file:///srv/m'" in line and "'host-path'" in line


def test_fails_when_model_uri_has_no_bucket() -> None:
    line = problem_at(stack(AWS, model={"uri": "s3:///m", "shards": 1}), "shardstack:model.uri")
    assert "'s3:///m'" in line and "bucket" in line


def test_fails_when_file_uri_not_absolute() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "file://srv/m", "shards": 1}), "shardstack:model.uri")
    assert "'file://srv/m'" in line and "file:///" in line


def test_fails_when_dtype_unknown() -> None:
    line = problem_at(stack(LOCAL, model={"dtype": "bf8"}), "shardstack:model.dtype")
    assert "'bf8'" in line and "'bf16', 'fp16', 'fp32'" in line


@pytest.mark.parametrize("shards", [0, "many", 1.5, True])
def test_fails_when_shards_not_auto_or_positive(shards: object) -> None:
    line = problem_at(stack(LOCAL, model={"shards": shards}), "shardstack:model.shards")
    assert "must be 'auto' or a whole number ≥ 1" in line


def test_fails_when_params_missing_for_auto_shards() -> None:
    line = problem_at(stack(AWS, model={"uri": "s3://bucket/m"}), "shardstack:model.params")
    assert "required when shards is 'auto'" in line and "7.0e9" in line


def test_fails_when_params_not_positive() -> None:
    line = problem_at(stack(LOCAL, model={"params": 0}), "shardstack:model.params")
    assert "0" in line and "greater than 0" in line


def test_fails_when_model_not_a_mapping() -> None:
    line = problem_at(stack(LOCAL, model="demo"), "shardstack:model")
    assert "'demo' is not a mapping" in line


# --- serving ----------------------------------------------------------------------------------------


def test_fails_when_replica_groups_zero() -> None:
    line = problem_at(stack(LOCAL, serving={"replica_groups": 0}), "shardstack:serving.replica_groups")
    assert "0 must be a whole number ≥ 1" in line


def test_fails_when_public_without_allowed_cidrs() -> None:
    line = problem_at(stack(LOCAL, serving={"public": True}), "shardstack:serving.public")
    assert "needs allowed_cidrs" in line and "203.0.113.0/24" in line


def test_fails_when_public_to_whole_internet_without_api_key() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["0.0.0.0/0"]})
    line = problem_at(values, "shardstack:serving.allowed_cidrs[0]")
    assert "'0.0.0.0/0'" in line and "shardstack:api_key" in line


def test_public_to_whole_internet_is_allowed_with_api_key() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["0.0.0.0/0"]}, api_key="k")
    assert config.load(values, stack="t").serving.allowed_cidrs == ["0.0.0.0/0"]


def test_fails_when_allowed_cidr_has_host_bits() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["10.1.2.3/8"]})
    line = problem_at(values, "shardstack:serving.allowed_cidrs[0]")
    assert "'10.1.2.3/8'" in line and "'10.0.0.0/8'" in line


def test_fails_when_api_key_and_api_key_secret_both_set() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "keys"}}, api_key="k")
    line = problem_at(values, "shardstack:serving.api_key_secret")
    assert "'keys'" in line and "only one" in line


def test_fails_when_api_key_secret_name_invalid() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "My Keys"}})
    line = problem_at(values, "shardstack:serving.api_key_secret.name")
    assert "'My Keys'" in line and "is not a valid Kubernetes object name" in line


def test_fails_when_api_key_secret_key_invalid() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "keys", "key": "a/b"}})
    line = problem_at(values, "shardstack:serving.api_key_secret.key")
    assert "'a/b'" in line


def test_fails_when_namespace_not_dns_label() -> None:
    line = problem_at(stack(LOCAL, serving={"namespace": "Inference"}), "shardstack:serving.namespace")
    assert "'Inference'" in line and "lowercase letters, digits and '-'" in line


def test_fails_when_namespace_reserved() -> None:
    line = problem_at(stack(LOCAL, serving={"namespace": "kube-system"}), "shardstack:serving.namespace")
    assert "'kube-system'" in line and "reserved" in line


def test_fails_when_mode_unknown() -> None:
    line = problem_at(stack(LOCAL, serving={"mode": "deployment"}), "shardstack:serving.mode")
    assert "'deployment'" in line and "'statefulset', 'leaderworkerset'" in line


def test_fails_when_image_has_spaces() -> None:
    line = problem_at(stack(LOCAL, serving={"image": "my image"}), "shardstack:serving.image")
    assert "'my image'" in line


# --- local ------------------------------------------------------------------------------------------


def test_fails_when_local_given_for_cloud() -> None:
    line = problem_at(stack(AWS, local={"kube_context": "kind"}), "shardstack:local")
    assert "cloud 'local'" in line and "'aws'" in line


def test_fails_when_host_path_store_has_no_host_path() -> None:
    values = stack(LOCAL, local={"weights": {"store": "host-path"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "required when store is 'host-path'" in line


def test_fails_when_host_path_given_for_in_cluster_store() -> None:
    values = stack(LOCAL, local={"weights": {"host_path": "/srv/m"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "'/srv/m'" in line and "'in-cluster-s3'" in line


def test_fails_when_host_path_relative() -> None:
    values = stack(LOCAL, local={"weights": {"store": "host-path", "host_path": "models"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "'models'" in line and "absolute" in line


def test_fails_when_weights_store_unknown() -> None:
    line = problem_at(stack(LOCAL, local={"weights": {"store": "minio"}}), "shardstack:local.weights.store")
    assert "'minio'" in line and "'in-cluster-s3', 'host-path'" in line


@pytest.mark.parametrize(("key", "value"), [("cpu_per_shard", "two"), ("memory_per_shard", "0Gi")])
def test_fails_when_resource_quantity_invalid(key: str, value: str) -> None:
    line = problem_at(stack(LOCAL, local={key: value}), f"shardstack:local.{key}")
    assert repr(value) in line and "quantity" in line


def test_numeric_quantity_is_read_as_text() -> None:
    assert config.load(stack(LOCAL, local={"cpu_per_shard": 4}), stack="t").local.cpu_per_shard == "4"


# --- api_key ----------------------------------------------------------------------------------------


def test_fails_when_api_key_empty() -> None:
    line = problem_at(stack(LOCAL, api_key=" "), "shardstack:api_key")
    assert "empty" in line and "--secret" in line


def test_api_key_value_never_appears_in_messages() -> None:
    problems = problems_of(stack(LOCAL, api_key=12345678))
    assert problems == ["shardstack:api_key: '********' is not a string; quote it"]


# --- Unknown keys -----------------------------------------------------------------------------------


def test_fails_when_top_level_key_unknown() -> None:
    assert "shardstack:modle: unknown key (did you mean 'model'?)" in problems_of(stack(LOCAL, modle={}))


def test_fails_when_nested_key_unknown() -> None:
    values = stack(LOCAL, model={"dtyp": "bf16"})
    assert "shardstack:model.dtyp: unknown key (did you mean 'dtype'?)" in problems_of(values)


def test_fails_when_key_in_list_item_unknown() -> None:
    line = problem_at(aws_pool(max_node=3), "shardstack:gpu_pools[0].max_node")
    assert line.endswith("unknown key (did you mean 'max_nodes'?)")


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    line = problem_at(stack(LOCAL, serving={"xyzzy": 1}), "shardstack:serving.xyzzy")
    assert "unknown key; known keys:" in line and "'replica_groups'" in line


# --- Reporting --------------------------------------------------------------------------------------


def test_reports_every_problem_at_once() -> None:
    values = {
        "cloud": "aws",  # region missing: a rule across keys
        "modle": {},  # unknown key
        "gpu_pools": [
            {"name": "a", "gpu": "h100", "min_nodes": 2, "max_nodes": 1},  # bad gpu and bad range
            {"name": "a", "gpu": "t4", "gpus_per_node": 3},  # repeated name, size not offered
        ],
        "serving": {"replica_groups": 0, "mode": "lws"},
    }
    problems = problems_of(values)
    keys = {line.split(": ", 1)[0] for line in problems}
    assert keys == {
        "shardstack:region",
        "shardstack:modle",
        "shardstack:gpu_pools[0].gpu",
        "shardstack:gpu_pools[0].max_nodes",
        "shardstack:gpu_pools[1].name",
        "shardstack:gpu_pools[1].gpus_per_node",
        "shardstack:serving.replica_groups",
        "shardstack:serving.mode",
    }


def test_rules_across_keys_read_the_valid_keys_of_an_invalid_section() -> None:
    values = stack(AWS, model={"uri": "gs://bucket/m", "dtype": "fp8", "shards": 1})
    keys = [line.split(": ", 1)[0] for line in problems_of(values)]
    assert keys == ["shardstack:model.dtype", "shardstack:model.uri"]


def test_messages_carry_no_pydantic_text() -> None:
    values = {"cloud": "aws", "zones": "a", "gpu_pools": [{"gpu": "l4", "max_nodes": "x", "spot": []}]}
    with pytest.raises(ConfigError) as info:
        config.load(values, stack="aws-dev")
    text = str(info.value)
    assert text.startswith("invalid configuration for stack 'aws-dev':")
    for pydantic_text in ("Input should", "pydantic", "errors.pydantic.dev", "validation error"):
        assert pydantic_text not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_model_validate_alone_applies_rules_across_keys() -> None:
    with pytest.raises(ValidationError) as info:
        config.StackConfig.model_validate({"cloud": "aws", "gpu_pools": [{"gpu": "l4"}]})
    assert config.format_errors(info.value) == ["shardstack:region: is required for cloud 'aws', e.g. 'us-east-1'"]


def test_format_errors_writes_odd_keys_in_brackets() -> None:
    with pytest.raises(ValidationError) as info:
        config.StackConfig.model_validate(aws_pool(labels={"example.com/team": 1}))
    assert config.format_errors(info.value) == [
        "shardstack:gpu_pools[0].labels['example.com/team']: 1 is not a string; quote it"
    ]


def _sections() -> list[type[BaseModel]]:
    return [
        config.StackConfig,
        config.ClusterConfig,
        config.SystemPoolConfig,
        config.GpuPoolConfig,
        config.ModelConfig,
        config.ServingConfig,
        config.ApiKeySecretRef,
        config.LocalConfig,
        config.LocalWeightsConfig,
    ]


@pytest.mark.parametrize("section", _sections(), ids=lambda s: s.__name__)
def test_every_key_is_documented(section: type[BaseModel]) -> None:
    undocumented = [name for name, field in section.model_fields.items() if not field.description]
    assert undocumented == []
    assert section.model_json_schema()["additionalProperties"] is False


# --- Loading from pulumi.Config ---------------------------------------------------------------------


@pytest.fixture
def pulumi_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The stack's config map as the SDK holds it; filled by the test, emptied afterwards."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    settings: dict[str, Any] = {}
    token = CONFIG.set(settings)
    yield settings
    CONFIG.reset(token)


def test_loads_from_pulumi_config(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update(
        {
            "shardstack:cloud": "aws",
            "shardstack:region": "us-east-1",
            "shardstack:kubernetes_version": "1.30",
            "shardstack:gpu_pools": json.dumps([{"gpu": "l4", "max_nodes": 2}]),
            "shardstack:serving": json.dumps({"replica_groups": "2"}),
            "shardstack:api_key": "s3cret",
            "aws:region": "us-east-1",
        }
    )
    cfg = config.load(pulumi.Config("shardstack"), stack="aws-dev")
    assert cfg.kubernetes_version == "1.30"
    assert cfg.gpu_pools[0].max_nodes == 2
    assert cfg.serving.replica_groups == 2
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "s3cret"


def test_loads_from_pulumi_config_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # How the language host hands the stack's config to the program.
    settings = {"shardstack:cloud": "local", "shardstack:model": json.dumps({"dtype": "fp16"})}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(settings))
    token = CONFIG.set({})
    try:
        cfg = config.load(pulumi.Config("shardstack"), stack="local")
    finally:
        CONFIG.reset(token)
    assert cfg.model.dtype == "fp16"


def test_fails_when_pulumi_config_has_unknown_key(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update({"shardstack:cloud": "local", "shardstack:modle": "{}"})
    with pytest.raises(ConfigError) as info:
        config.load(pulumi.Config("shardstack"), stack="local")
    assert info.value.problems == ["shardstack:modle: unknown key (did you mean 'model'?)"]


def test_fails_when_pulumi_config_value_is_broken_json(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update({"shardstack:cloud": "aws", "shardstack:gpu_pools": "[{gpu: l4"})
    with pytest.raises(ConfigError) as info:
        config.load(pulumi.Config("shardstack"), stack="aws-dev")
    assert any(p.startswith("shardstack:gpu_pools: '[{gpu: l4' is not valid JSON") for p in info.value.problems)
    assert any(p.startswith("shardstack:region: is required") for p in info.value.problems)


def test_gpu_pool_taints_and_instance_type_and_reserved_labels() -> None:
    pool = {
        "name": "l4",
        "gpu": "l4",
        "instance_type": "g6.4xlarge",
        "taints": [{"key": "dedicated", "value": "llm", "effect": "NoExecute"}],
    }
    loaded = config.load(stack(AWS, gpu_pools=[pool]), stack="t").gpu_pools[0]
    assert loaded.instance_type == "g6.4xlarge"
    assert [(t.key, t.value, t.effect) for t in loaded.taints] == [("dedicated", "llm", "NoExecute")]
    bad = {"name": "l4", "gpu": "l4", "taints": [{"key": "dedicated", "effect": "NoSchedul"}]}
    assert "NoSchedule" in problem_at(stack(AWS, gpu_pools=[bad]), "shardstack:gpu_pools[0].taints[0].effect")
    line = problem_at(
        stack(AWS, gpu_pools=[{"name": "l4", "gpu": "l4", "labels": {"shardstack.dev/x": "y"}}]),
        "shardstack:gpu_pools[0].labels['shardstack.dev/x']",
    )
    assert "set by Shardstack itself" in line
