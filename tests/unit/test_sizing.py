"""Sizing: shard counts, nodes and prices worked out by hand, defaults, and every validation rule.

Catalogue figures the hand arithmetic uses (GiB = 2**30 bytes; usable = memory x (1 - headroom)):
  h100-80gb  79.1 GiB -> x 0.8 = 63.28 GiB = 67,946,382,622.72 bytes
  h200-141gb 139.7 GiB -> x 0.8 = 111.76 GiB = 120,001,386,250.24 bytes
  l4         22.0 GiB -> x 0.8 = 17.6 GiB = 18,897,856,102.4 bytes
  t4         14.7 GiB -> x 0.8 = 11.76 GiB = 12,627,203,850.24 bytes
"""

from __future__ import annotations

import json
import math

import pytest

from shardstack.errors import ArgumentError
from shardstack.sizing import DEFAULT_HEADROOM, DTYPE_BYTES, shards_for, size_model


def problems_of(**kwargs: object) -> list[str]:
    """Return the problems size_model reports for these arguments (it must raise)."""
    with pytest.raises(ArgumentError) as e:
        size_model(**kwargs)  # type: ignore[arg-type]
    return e.value.problems


# --- Worked examples -----------------------------------------------------------------------------


def test_70b_bf16_on_h100_needs_three_shards_on_one_p5_node():
    # 70e9 x 2 B = 140e9 B; 140e9 / 67.946e9 = 2.06 -> 3 shards.
    # AWS H100 shapes hold 1 or 8 GPUs; the smallest >= 3 is 8: one p5.48xlarge at $55.04/hour.
    s = size_model(params=70e9, dtype="bf16", gpu="h100-80gb", cloud="aws")
    assert s.weight_bytes == 140e9
    assert s.usable_bytes_per_gpu == pytest.approx(67_946_382_622.72)
    assert (s.shards, s.gpus_per_shard, s.total_gpus) == (3, 1, 3)
    assert s.offer is not None and s.offer.instance_type == "p5.48xlarge"
    assert (s.gpus_per_node, s.nodes) == (8, 1)
    assert s.usd_per_hour == pytest.approx(55.04)


def test_135m_on_t4_fits_one_gpu_on_the_cheapest_one_gpu_node():
    # 135e6 x 2 B = 0.27e9 B, far below 12.6e9 B usable -> 1 shard; g4dn.xlarge at $0.526/hour.
    s = size_model(params=135e6, gpu="t4", cloud="aws")
    assert s.shards == 1
    assert s.offer is not None and s.offer.instance_type == "g4dn.xlarge"
    assert s.nodes == 1
    assert s.usd_per_hour == pytest.approx(0.526)


def test_405b_fp8_on_h200_needs_four_shards():
    # 405e9 x 1 B = 405e9 B; 405e9 / 120.0e9 = 3.37 -> 4 shards; p5en.48xlarge (8 GPUs) at $63.296.
    s = size_model(params=405e9, dtype="fp8", gpu="h200-141gb", cloud="aws")
    assert s.weight_bytes == 405e9
    assert s.shards == 4
    assert s.offer is not None and s.offer.instance_type == "p5en.48xlarge"
    assert (s.nodes, s.usd_per_hour) == (1, pytest.approx(63.296))


def test_405b_fp8_on_h100_needs_six_shards():
    # 405e9 / 67.946e9 = 5.96 -> 6 shards.
    assert size_model(params=405e9, dtype="fp8", gpu="h100-80gb").shards == 6


def test_replica_groups_multiply_gpus_and_nodes():
    # 4 shards x 3 replica groups = 12 GPUs; ceil(12 / 8) = 2 nodes; 2 x $63.296 = $126.592.
    s = size_model(params=405e9, dtype="fp8", gpu="h200-141gb", cloud="aws", replica_groups=3)
    assert (s.shards, s.total_gpus, s.nodes) == (4, 12, 2)
    assert s.usd_per_hour == pytest.approx(126.592)


def test_int4_halves_the_bytes_per_parameter():
    # 70e9 x 0.5 B = 35e9 B; 35e9 / 67.946e9 = 0.52 -> 1 shard.
    s = size_model(params=70e9, dtype="int4", gpu="h100-80gb")
    assert (s.weight_bytes, s.shards) == (35e9, 1)


def test_checkpoint_bytes_are_the_weights_and_params_are_estimated_from_them():
    # 50e9 B / 18.898e9 B = 2.65 -> 3 shards. params = 50e9 / 2 B (bf16) = 25e9.
    # GCP L4 shapes hold 1, 2, 4 or 8 GPUs; the smallest >= 3 is 4: g2-standard-48 at $4.00377.
    s = size_model(checkpoint_bytes=50_000_000_000, gpu="l4", cloud="gcp")
    assert (s.weight_bytes, s.params, s.from_checkpoint) == (50e9, 25e9, True)
    assert s.shards == 3
    assert s.offer is not None and s.offer.instance_type == "g2-standard-48"
    assert (s.nodes, s.usd_per_hour) == (1, pytest.approx(4.00377))


def test_chosen_gpus_per_node_sets_the_instance_and_node_count():
    # Same 3 shards on 1-GPU nodes: 3 x g2-standard-4 at $0.70683 = $2.12049/hour.
    s = size_model(checkpoint_bytes=50_000_000_000, gpu="l4", cloud="gcp", gpus_per_node=1)
    assert s.offer is not None and s.offer.instance_type == "g2-standard-4"
    assert (s.gpus_per_node, s.nodes) == (1, 3)
    assert s.usd_per_hour == pytest.approx(2.12049)


def test_headroom_zero_uses_all_reported_memory():
    # 140e9 / (79.1 x 2**30 = 84.93e9) = 1.65 -> 2 shards (3 with the default headroom).
    assert size_model(params=70e9, gpu="h100-80gb", headroom=0).shards == 2


def test_shards_for_an_exact_fit_is_not_rounded_up():
    # 80 / (100 x 0.8) = 1 exactly -> 1; a hair more -> 2.
    assert shards_for(80, 100, 0.2) == 1
    assert shards_for(80.001, 100, 0.2) == 2


def test_shards_for_ignores_float_noise():
    # usable = 1.0 x (1 - 0.9) = 0.09999999999999998 in floats; 0.3 / that = 3.0000000000000004,
    # which must count as 3, not 4.
    assert shards_for(0.3, 1.0, 0.9) == 3


def test_shards_for_is_at_least_one():
    assert shards_for(1, 10**12, 0.5) == 1


def test_shards_for_rejects_bad_inputs_all_at_once():
    with pytest.raises(ArgumentError) as e:
        shards_for(0, -1, 1.5)
    assert [p.split(":")[0] for p in e.value.problems] == ["weight_bytes", "gpu_memory_bytes", "headroom"]


# --- Defaults ------------------------------------------------------------------------------------


def test_dtype_defaults_to_bf16():
    s = size_model(params=1e9, gpu="t4")
    assert (s.dtype, s.weight_bytes) == ("bf16", 2e9)


def test_headroom_defaults_to_a_fifth():
    s = size_model(params=1e9, gpu="t4")
    assert DEFAULT_HEADROOM == 0.2
    assert s.headroom == 0.2
    # 14.7 GiB x 0.8 = 12,627,203,850.24 bytes.
    assert s.usable_bytes_per_gpu == pytest.approx(12_627_203_850.24)


def test_replica_groups_default_to_one():
    assert size_model(params=1e9, gpu="t4").replica_groups == 1


def test_without_a_cloud_there_is_no_instance_node_count_or_price():
    s = size_model(params=1e9, gpu="t4")
    assert (s.cloud, s.offer, s.gpus_per_node, s.nodes, s.usd_per_hour) == (None, None, None, None, None)


def test_gpus_per_shard_is_always_one():
    assert size_model(params=405e9, gpu="t4", cloud="aws").gpus_per_shard == 1


def test_gpus_per_node_defaults_to_the_smallest_shape_holding_a_replica_group():
    # 35e9 x 2 B = 70e9 B on L4: 70e9 / 18.898e9 = 3.7 -> 4 shards. AWS L4 shapes: 1, 4, 8 GPUs ->
    # 4: g6.12xlarge ($4.6016), one node.
    s = size_model(params=35e9, gpu="l4", cloud="aws")
    assert s.shards == 4
    assert s.offer is not None and s.offer.instance_type == "g6.12xlarge"
    assert s.nodes == 1


def test_gpus_per_node_defaults_to_the_largest_shape_when_none_holds_a_replica_group():
    # 405e9 x 2 B = 810e9 B on T4: 810e9 / 12.627e9 = 64.1 -> 65 shards. AWS T4 shapes: 1, 4, 8 ->
    # none >= 65, so 8 (g4dn.metal, $7.824); ceil(65 / 8) = 9 nodes; 9 x $7.824 = $70.416.
    s = size_model(params=405e9, gpu="t4", cloud="aws")
    assert s.shards == 65
    assert s.offer is not None and s.offer.instance_type == "g4dn.metal"
    assert (s.nodes, s.usd_per_hour) == (9, pytest.approx(70.416))


# --- Output --------------------------------------------------------------------------------------


def test_render_shows_weights_memory_shards_instance_nodes_and_price():
    text = size_model(params=70e9, gpu="h100-80gb", cloud="aws").render()
    # 140e9 B = 130.4 GiB; 63.28 GiB usable.
    assert "70B parameters x 2 bytes (bf16) = 130.4 GiB of weights" in text
    assert "79.1 GiB each; 20% kept free -> 63.3 GiB usable" in text
    assert "Shards:    3 " in text
    assert "p5.48xlarge on aws: 8 GPUs" in text
    assert "Nodes:     1 (3 of 8 GPUs used)" in text
    assert "$55.04/hour" in text and "us-east-1" in text
    assert len(text.splitlines()) >= 5


def test_render_without_a_cloud_says_where_the_gpu_is_offered():
    text = size_model(params=70e9, gpu="l40s").render()
    assert "none given" in text
    assert "aws (1, 4, 8 GPUs per node)" in text


def test_render_flags_an_approximate_price():
    assert "(approximate)" in size_model(params=70e9, gpu="h100-80gb", cloud="gcp").render()


def test_as_dict_is_json_ready_and_carries_the_numbers():
    d = json.loads(json.dumps(size_model(params=70e9, gpu="h100-80gb", cloud="aws").as_dict()))
    assert (d["shards"], d["nodes"], d["gpus_per_node"], d["total_gpus"]) == (3, 1, 8, 3)
    assert d["gpu"]["name"] == "h100-80gb"
    assert d["offer"]["instance_type"] == "p5.48xlarge"
    assert d["usd_per_hour"] == pytest.approx(55.04)
    assert d["price_region"] == "us-east-1"


def test_as_dict_without_a_cloud_has_nulls():
    d = json.loads(json.dumps(size_model(params=1e9, gpu="t4").as_dict()))
    assert (d["cloud"], d["offer"], d["nodes"], d["usd_per_hour"]) == (None, None, None, None)


# --- Validation: one test per rule ---------------------------------------------------------------


def test_fails_when_dtype_is_unknown():
    [p] = problems_of(params=1e9, dtype="bf15", gpu="t4")
    assert p.startswith("dtype: 'bf15'")
    assert all(repr(d) in p for d in DTYPE_BYTES)
    assert "did you mean 'bf16'?" in p


def test_fails_when_gpu_is_unknown():
    [p] = problems_of(params=1e9, gpu="h100")
    assert p.startswith("gpu: 'h100'") and "'h100-80gb'" in p


def test_fails_when_cloud_is_unknown():
    [p] = problems_of(params=1e9, gpu="t4", cloud="amazon")
    assert p.startswith("cloud: 'amazon'")
    assert "'aws', 'gcp', 'azure'" in p


def test_fails_when_gpu_is_not_offered_on_the_cloud():
    [p] = problems_of(params=1e9, gpu="l40s", cloud="azure")
    assert p.startswith("gpu: 'l40s' is not offered on 'azure'")
    assert "clouds that offer it: 'aws'" in p


@pytest.mark.parametrize("params", [0, -7e9, math.nan, math.inf])
def test_fails_when_params_is_not_positive(params: float):
    [p] = problems_of(params=params, gpu="t4")
    assert p.startswith("params: must be a number > 0") and repr(params) in p


def test_fails_when_checkpoint_bytes_is_not_positive():
    [p] = problems_of(checkpoint_bytes=0, gpu="t4")
    assert p.startswith("checkpoint_bytes:") and "got 0" in p


def test_fails_when_both_params_and_checkpoint_bytes_are_given():
    [p] = problems_of(params=1e9, checkpoint_bytes=2_000_000_000, gpu="t4")
    assert "mutually exclusive" in p and "params=1000000000.0" in p and "checkpoint_bytes=2000000000" in p


def test_fails_when_neither_params_nor_checkpoint_bytes_is_given():
    [p] = problems_of(gpu="t4")
    assert p == "params or checkpoint_bytes: one is required; got neither"


@pytest.mark.parametrize("headroom", [1.0, 1.5, -0.1, math.nan])
def test_fails_when_headroom_is_outside_zero_to_one(headroom: float):
    [p] = problems_of(params=1e9, gpu="t4", headroom=headroom)
    assert p.startswith("headroom:") and "[0, 1)" in p and repr(headroom) in p


@pytest.mark.parametrize("replica_groups", [0, -1])
def test_fails_when_replica_groups_is_below_one(replica_groups: int):
    [p] = problems_of(params=1e9, gpu="t4", replica_groups=replica_groups)
    assert p.startswith("replica_groups:") and f"got {replica_groups}" in p


def test_fails_when_gpus_per_node_is_not_offered():
    [p] = problems_of(params=1e9, gpu="h100-80gb", cloud="aws", gpus_per_node=4)
    assert p.startswith("gpus_per_node: 4 is not offered for h100-80gb on aws")
    assert p.endswith("use one of 1, 8")


def test_fails_when_gpus_per_node_is_given_without_a_cloud():
    [p] = problems_of(params=1e9, gpu="t4", gpus_per_node=1)
    assert p.startswith("gpus_per_node:") and "no cloud" in p


def test_fails_listing_every_problem_at_once():
    problems = problems_of(params=-1, dtype="fp12", gpu="nope", cloud="ibm", replica_groups=0, headroom=2.0)
    assert [p.split(":")[0] for p in problems] == [
        "params",
        "dtype",
        "gpu",
        "cloud",
        "replica_groups",
        "headroom",
    ]


def test_managed_target_puts_a_whole_group_on_the_platforms_cheapest_shape_that_holds_it() -> None:
    sizing = size_model(params=70e9, dtype="bf16", gpu="h100-80gb", cloud="aws", target="managed", replica_groups=2)
    assert sizing.shards == 3
    assert sizing.offer is not None and sizing.offer.platform == "sagemaker"
    assert sizing.offer.instance_type == "ml.p5.48xlarge" and sizing.nodes == 2  # one instance per replica group
    assert sizing.usd_per_hour == pytest.approx(2 * sizing.offer.usd_per_hour)
    assert "Instance:  ml.p5.48xlarge on sagemaker (aws)" in sizing.render()
    assert sizing.as_dict()["platform"] == "sagemaker" and sizing.as_dict()["target"] == "managed"
    # The smallest shape that holds the group, then the cheapest of that size.
    small = size_model(params=8e9, dtype="bf16", gpu="l4", cloud="gcp", target="managed")
    assert small.offer is not None and small.offer.gpu_count == 1
    assert small.offer.usd_per_hour == min(
        o.usd_per_hour for o in small.gpu.managed_offers_on("vertex") if o.gpu_count == 1
    )


def test_managed_target_refuses_what_no_instance_of_the_platform_holds() -> None:
    with pytest.raises(ArgumentError) as error:
        size_model(params=400e9, dtype="bf16", gpu="a10g", cloud="aws", target="managed")
    assert "sagemaker's shapes have at most 8; pick a GPU with more memory, or target kubernetes" in str(error.value)
    with pytest.raises(ArgumentError) as error:
        size_model(params=8e9, gpu="h200-141gb", cloud="azure", target="managed", gpus_per_node=3)
    assert "gpu: 'h200-141gb' is not offered on 'azureml' (azure's managed endpoints)" in str(error.value)
    with pytest.raises(ArgumentError) as error:
        size_model(params=8e9, gpu="l4", target="managd")
    assert "target: 'managd' is not a target; use" in str(error.value) and "did you mean 'managed'" in str(error.value)
    with pytest.raises(ArgumentError) as error:
        size_model(params=8e9, gpu="l4", cloud="gcp", target="managed", gpus_per_node=3)
    assert "gpus_per_node: 3 is not offered for l4 on vertex; use one of 1, 2, 4, 8" in str(error.value)
