"""GpuNodePool (Azure): the AKS agent pool name made from the component's name."""

from __future__ import annotations

import pytest
from azure_gpu_node_pool_helpers import AKS_POOL_NAME, agent_pool, failure, render

from shardstack.azure.gpu_node_pool import agent_pool_name


@pytest.mark.parametrize(
    ("name", "aks_name"),
    [("t4", "t4"), ("a100-spot", "a100spot"), ("4xt4", "gpu4xt4"), ("h100-nvl-east", "h100nvleast")],
)
def test_aks_pool_name_is_the_component_name_without_dashes(name: str, aks_name: str) -> None:
    assert agent_pool_name(name) == aks_name
    assert agent_pool(render(name))["agentPoolName"] == aks_name


def test_long_names_are_shortened_with_a_hash_that_keeps_them_apart() -> None:
    east, west = agent_pool_name("inference-east"), agent_pool_name("inference-west")
    assert east != west
    assert east.startswith("inferenc") and west.startswith("inferenc")
    assert len(east) == len(west) == 12
    # Stable across runs: the name is the pool's identity in the cluster.
    assert agent_pool_name("inference-east") == east


@pytest.mark.parametrize("name", ["a", "a" * 63, "0", "9" * 63, "a-b", "gpu-pool-1", "1-2-3-4-5-6-7-8-9"])
def test_every_kubernetes_name_gives_a_valid_aks_pool_name(name: str) -> None:
    assert AKS_POOL_NAME.match(agent_pool_name(name)), agent_pool_name(name)


def test_pool_name_must_be_a_kubernetes_name() -> None:
    (problem,) = failure("T4_Pool").problems
    assert problem.startswith("name='T4_Pool' is not a valid Kubernetes name")
