"""GpuNodePool (Azure) under recording mocks: the VM size and its hourly price from the catalogue, and
multi-instance GPU profiles."""

from __future__ import annotations

from azure_gpu_node_pool_helpers import A100, AGENT_POOL, BASE, H100_X8, agent_pool, failure, pools, render

from shardstack import catalog
from shardstack.testing import UNKNOWN

# -- VM sizes and prices --------------------------------------------------------------------------


def test_vm_size_is_the_cheapest_catalogue_size_for_the_gpu() -> None:
    assert agent_pool(render())["vmSize"] == catalog.gpu("t4").offer("azure", 1).instance_type
    assert agent_pool(render())["vmSize"] == "Standard_NC4as_T4_v3"
    assert agent_pool(render("a100", **A100))["vmSize"] == "Standard_NC24ads_A100_v4"
    assert agent_pool(render("a100x4", **A100, gpus_per_node=4))["vmSize"] == "Standard_NC96ads_A100_v4"


def test_a_gpu_sold_only_in_eights_defaults_to_eight_per_node() -> None:
    pool, _ = pools({**BASE, "gpu": "h100-80gb"}, "h100")
    assert (pool.vm_size, pool.gpus_per_node) == ("Standard_ND96isr_H100_v5", 8)


def test_instance_type_picks_another_catalogue_size_with_the_same_gpus() -> None:
    assert agent_pool(render(instance_type="Standard_NC8as_T4_v3"))["vmSize"] == "Standard_NC8as_T4_v3"
    (problem,) = failure(instance_type="Standard_NC6s_v3").problems
    assert problem.startswith("instance_type='Standard_NC6s_v3' is not a catalogue shape with 1 x t4 on azure")


def test_outputs_give_the_size_and_the_hourly_price_from_the_catalogue() -> None:
    pool, graph = pools({**BASE, "min_nodes": 1, "max_nodes": 4})
    price = catalog.gpu("t4").offer("azure", 1).usd_per_hour
    assert (pool.vm_size, pool.gpus_per_node) == ("Standard_NC4as_T4_v3", 1)
    assert (pool.hourly_usd_min, pool.hourly_usd_max) == (price, round(4 * price, 6))
    assert graph.outputs["node_pool_name"] == graph.one(AGENT_POOL).outputs["name"] == "t4"


def test_a_pool_that_scales_to_zero_costs_nothing_at_its_minimum() -> None:
    pool, _ = pools({**BASE, **H100_X8, "max_nodes": 2}, "h100")
    assert pool.hourly_usd_min == 0
    assert pool.hourly_usd_max == round(2 * catalog.gpu("h100-80gb").offer("azure", 8).usd_per_hour, 6)


def test_spot_pools_are_priced_at_the_on_demand_upper_bound() -> None:
    regular, _ = pools({**BASE, "max_nodes": 3})
    spot, _ = pools({**BASE, "max_nodes": 3, "spot": True})
    assert spot.hourly_usd_max == regular.hourly_usd_max == round(3 * 0.526, 6)


def test_node_pool_name_is_known_only_after_apply() -> None:
    graph = render(preview=True)
    assert graph.one(AGENT_POOL).outputs["name"] == UNKNOWN
    assert agent_pool(graph)["agentPoolName"] == "t4"


# -- multi-instance GPU ---------------------------------------------------------------------------


def test_mig_profile_partitions_a100_and_h100_gpus() -> None:
    assert agent_pool(render("a100", **A100, gpu_instance_profile="MIG1g"))["gpuInstanceProfile"] == "MIG1g"
    pool = agent_pool(render("h100", **H100_X8, gpu_instance_profile="MIG7g"))
    assert (pool["vmSize"], pool["gpuInstanceProfile"]) == ("Standard_ND96isr_H100_v5", "MIG7g")
    assert agent_pool(render("nvl", gpu="h100-nvl-94gb", gpu_instance_profile="MIG2g"))["gpuInstanceProfile"] == "MIG2g"


def test_mig_profile_is_refused_on_gpus_without_mig() -> None:
    (problem,) = failure(gpu_instance_profile="MIG1g").problems
    assert problem == (
        "gpu_instance_profile='MIG1g' needs a GPU with Multi-Instance GPU support ('a100-40gb', 'a100-80gb', "
        "'h100-80gb', 'h100-nvl-94gb'); gpu='t4' has none. Drop gpu_instance_profile or choose one of those GPUs"
    )
    (problem,) = failure(gpu="a10", gpu_instance_profile="MIG3g").problems
    assert "gpu='a10' has none" in problem


def test_mig_profile_must_be_one_aks_knows() -> None:
    (problem,) = failure(**A100, gpu_instance_profile="mig1g").problems
    assert problem == (
        "gpu_instance_profile='mig1g' must be one of 'MIG1g', 'MIG2g', 'MIG3g', 'MIG4g', 'MIG7g' "
        "(did you mean 'MIG1g'?)"
    )
    (problem,) = failure(**A100, gpu_instance_profile="1g.10gb").problems
    assert problem.startswith("gpu_instance_profile='1g.10gb' must be one of 'MIG1g'")
