"""Stack config: serving.platform 'managed' and its endpoint section, judged by the cloud's managed platform."""

from __future__ import annotations

from typing import Any

import pytest
from config_cases import AWS, LOCAL, config, problem_at, problems_of, stack

MANAGED: dict[str, Any] = {
    "cloud": "aws",
    "region": "us-east-1",
    "serving": {"platform": "managed"},
    "endpoint": {"gpu": "l4", "max_instances": 2},
}


def test_a_managed_stack_loads_with_its_endpoint() -> None:
    cfg = config.load(MANAGED, stack="test")
    assert cfg.managed and cfg.endpoint is not None
    assert (cfg.endpoint.gpu, cfg.endpoint.min_instances, cfg.endpoint.max_instances) == ("l4", 1, 2)
    assert cfg.gpu_pools == []


def test_the_default_platform_is_kubernetes_which_takes_no_endpoint() -> None:
    assert not config.load(AWS, stack="test").managed
    line = problem_at(stack(AWS, endpoint={"gpu": "l4"}), "shardstack:endpoint")
    assert "serving.platform 'managed'" in line


def test_managed_needs_its_endpoint() -> None:
    line = problem_at(stack(MANAGED, endpoint=None), "shardstack:endpoint")
    assert "is required with serving.platform 'managed'" in line


def test_managed_needs_a_cloud() -> None:
    line = problem_at(stack(LOCAL, serving={"platform": "managed"}), "shardstack:serving.platform")
    assert "'aws', 'gcp' or 'azure'" in line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gpu_pools", [{"name": "l4", "gpu": "l4"}]),
        ("cluster", {"private_endpoint": True}),
        ("system_pool", {"max_nodes": 2}),
        ("kubernetes_version", "1.33"),
    ],
)
def test_cluster_keys_are_refused_with_a_managed_endpoint(key: str, value: Any) -> None:
    line = problem_at(stack(MANAGED, **{key: value}), f"shardstack:{key}")
    assert "not used with serving.platform 'managed'" in line and "sagemaker" in line


def test_sharded_inference_keys_and_the_api_key_are_refused_with_a_managed_endpoint() -> None:
    values = stack(MANAGED, serving={"platform": "managed", "replica_groups": 2, "public": True}, api_key="k")
    problems = problems_of(values)
    assert any(p.startswith("shardstack:serving.replica_groups: ") and "endpoint.min_instances" in p for p in problems)
    assert any(p.startswith("shardstack:serving.public: ") for p in problems)
    assert any(p.startswith("shardstack:api_key: ") and "sagemaker's own auth" in p for p in problems)


@pytest.mark.parametrize(
    ("cloud", "endpoint", "key", "expected"),
    [
        ("azure", {"gpu": "l4"}, "endpoint.gpu", "'l4' is not offered on azureml"),
        ("aws", {"gpu": "l4", "gpus_per_instance": 2}, "endpoint.gpus_per_instance", "allowed: 1, 4, 8"),
        ("gcp", {"gpu": "l4", "instance_type": "ml.g6.2xlarge"}, "endpoint.instance_type", "g2-standard-4"),
        ("aws", {"gpu": "l4", "min_instances": 3}, "endpoint.max_instances", "less than min_instances=3"),
    ],
)
def test_the_endpoint_is_judged_by_the_clouds_platform(
    cloud: str, endpoint: dict[str, Any], key: str, expected: str
) -> None:
    region = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}[cloud]
    line = problem_at(stack(MANAGED, cloud=cloud, region=region, endpoint=endpoint), f"shardstack:{key}")
    assert expected in line


def test_a_model_too_big_for_one_instance_is_refused_naming_the_model_key() -> None:
    values = stack(MANAGED, model={"uri": "s3://weights/llama-405b/", "params": 405e9, "shards": "auto"})
    line = problem_at(values, "shardstack:model.params")
    assert "needs 43 GPUs" in line and "largest l4 shape has 8" in line
    line = problem_at(stack(MANAGED, model={"shards": 9}), "shardstack:model.shards")
    assert "needs 9 GPUs" in line
