"""GpuNodePool (Azure) under recording mocks: Spot pools (priority, eviction, the price cap) and the
label and taint AKS puts on Spot nodes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from azure_gpu_node_pool_helpers import BASE, GPU_TAINT, SPOT_LABEL, SPOT_TAINT, agent_pool, failure, pools, render

from shardstack.azure.gpu_node_pool import validate_gpu_node_pool_args


def test_regular_pool_uses_regular_vms_without_spot_settings() -> None:
    pool = agent_pool(render())
    assert pool["scaleSetPriority"] == "Regular"
    assert "scaleSetEvictionPolicy" not in pool and "spotMaxPrice" not in pool
    assert SPOT_LABEL not in pool["nodeLabels"] and SPOT_TAINT not in pool["nodeTaints"]


def test_spot_pool_pays_up_to_the_on_demand_price_and_deletes_evicted_vms() -> None:
    pool = agent_pool(render(spot=True, max_nodes=2))
    assert (pool["scaleSetPriority"], pool["scaleSetEvictionPolicy"], pool["spotMaxPrice"]) == ("Spot", "Delete", -1)
    # AKS refuses max surge on Spot pools.
    assert "upgradeSettings" not in pool


def test_spot_pool_declares_the_label_and_taint_aks_puts_on_spot_nodes() -> None:
    pool = agent_pool(render(spot=True))
    assert pool["nodeLabels"][SPOT_LABEL] == "spot"
    assert pool["nodeTaints"] == [GPU_TAINT, SPOT_TAINT]


def test_spot_max_price_caps_the_spot_price() -> None:
    assert agent_pool(render(spot=True, spot_max_price=0.25))["spotMaxPrice"] == 0.25
    assert agent_pool(render(spot=True, spot_max_price=2))["spotMaxPrice"] == 2


@pytest.mark.parametrize("price", [0, -2, -0.5, "1", True, math.nan, math.inf, None])
def test_spot_max_price_must_be_minus_one_or_a_positive_price(price: Any) -> None:
    (problem,) = failure(spot=True, spot_max_price=price).problems
    assert problem == (
        f"spot_max_price={price!r} must be -1 (pay up to the on-demand price) or a positive price in US dollars "
        "per hour and node, e.g. 2.5"
    )


def test_spot_max_price_has_at_most_five_decimal_places() -> None:
    (problem,) = failure(spot=True, spot_max_price=0.123456).problems
    assert problem == "spot_max_price=0.123456 has more than 5 decimal places, which Azure refuses"
    assert validate_gpu_node_pool_args({**BASE, "spot": True, "spot_max_price": 0.12345}) == []


def test_spot_max_price_needs_a_spot_pool() -> None:
    (problem,) = failure(spot_max_price=1.5).problems
    assert problem == "spot_max_price=1.5 applies to Spot pools only; set spot=True or drop spot_max_price"
    (problem,) = failure(spot=False, spot_max_price=-1).problems
    assert problem.startswith("spot_max_price=-1 applies to Spot pools only")


def test_required_tolerations_cover_every_taint_including_the_aks_spot_taint() -> None:
    taints = [{"key": "dedicated", "value": "llm", "effect": "NoExecute"}]
    regular, _ = pools({**BASE, "taints": taints})
    spot, _ = pools({**BASE, "taints": taints, "spot": True})
    gpu = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    caller = {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"}
    spot_toleration = {"key": SPOT_LABEL, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
    assert regular.required_tolerations == [gpu, caller]
    assert spot.required_tolerations == [gpu, caller, spot_toleration]
