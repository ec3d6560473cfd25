"""The cloud-neutral GPU pool: defaults resolved against the catalogue, every check, node labels and taints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from shardstack import catalog
from shardstack.errors import ArgumentError
from shardstack.gpu_pool import (
    GPU_POOL_ARG_NAMES,
    MIN_GPU_DISK_SIZE_GIB,
    GpuPool,
    node_labels,
    node_taints,
    pool_name_problem,
    resolve_gpu_pool,
    validate_gpu_pool_args,
)

_INFRA = str(Path(__file__).resolve().parents[2] / "infra")
if _INFRA not in sys.path:
    sys.path.insert(0, _INFRA)

import config  # noqa: E402


def problems(cloud: catalog.Cloud = "aws", **args: Any) -> list[str]:
    return validate_gpu_pool_args(args, cloud)


def only_problem(cloud: catalog.Cloud = "aws", **args: Any) -> str:
    found = problems(cloud, **args)
    assert len(found) == 1, found
    return found[0]


# -- defaults -------------------------------------------------------------------------------------


def test_defaults_give_one_cheapest_on_demand_node_that_scales_to_zero() -> None:
    pool = resolve_gpu_pool({"gpu": "l4"}, "aws")
    assert pool == GpuPool(
        cloud="aws",
        gpu="l4",
        offer=catalog.gpu("l4").offer("aws", 1),
        gpus_per_node=1,
        min_nodes=0,
        max_nodes=1,
        spot=False,
        disk_size_gib=200,
    )
    assert pool.instance_type == "g6.xlarge"
    assert dict(pool.labels) == {} and pool.taints == ()


def test_gpu_key_is_read_case_insensitively() -> None:
    assert resolve_gpu_pool({"gpu": " L4 "}, "gcp").gpu == "l4"


@pytest.mark.parametrize(
    ("gpu", "cloud", "gpus"),
    [("a100-40gb", "aws", 8), ("h200-141gb", "aws", 8), ("h100-80gb", "gcp", 8), ("t4", "gcp", 1)],
)
def test_default_gpus_per_node_is_one_or_the_smallest_count_offered(gpu: str, cloud: catalog.Cloud, gpus: int) -> None:
    pool = resolve_gpu_pool({"gpu": gpu}, cloud)
    assert pool.gpus_per_node == gpus
    assert pool.offer.gpu_count == gpus


def test_gpus_per_node_picks_the_cheapest_shape_with_that_many_gpus() -> None:
    assert resolve_gpu_pool({"gpu": "l4", "gpus_per_node": 4}, "aws").instance_type == "g6.12xlarge"


def test_instance_type_picks_another_catalogue_shape() -> None:
    pool = resolve_gpu_pool({"gpu": "l4", "instance_type": "g6.4xlarge"}, "aws")
    assert pool.offer.instance_type == "g6.4xlarge"
    assert pool.offer.vcpus == 16


def test_hourly_price_is_nodes_times_the_catalogue_price() -> None:
    pool = resolve_gpu_pool({"gpu": "l4", "min_nodes": 1, "max_nodes": 3}, "aws")
    assert pool.hourly_usd_min == 0.8048
    assert pool.hourly_usd_max == 2.4144
    assert pool.max_gpus == 3
    assert resolve_gpu_pool({"gpu": "l4"}, "aws").hourly_usd_min == 0.0


def test_spot_pools_are_priced_at_the_on_demand_list_price() -> None:
    # The catalogue has no spot prices: the figure is an upper bound, never a guess.
    on_demand = resolve_gpu_pool({"gpu": "l4", "max_nodes": 2}, "aws")
    spot = resolve_gpu_pool({"gpu": "l4", "max_nodes": 2, "spot": True}, "aws")
    assert spot.spot and spot.hourly_usd_max == on_demand.hourly_usd_max


def test_the_stack_config_reads_a_pool_as_every_cloud_resolves_it() -> None:
    # The stack config's keys are the pool's own arguments (plus its name and placement), with the same defaults.
    placement = {"name", "zones", "compact_placement"}
    assert set(config.GpuPoolConfig.model_fields) - placement == set(GPU_POOL_ARG_NAMES)
    written = config.GpuPoolConfig.model_validate({"gpu": "L4", "max_nodes": "3", "spot": "true"})
    resolved = resolve_gpu_pool({"gpu": "l4", "max_nodes": 3, "spot": True}, "aws")
    for name in ("gpu", "gpus_per_node", "min_nodes", "max_nodes", "spot", "disk_size_gib"):
        assert getattr(written, name) == getattr(resolved, name), name
    assert written.name == "l4"


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    args = {
        "gpu": "h100-80gb",
        "gpus_per_node": 8,
        "min_nodes": 1,
        "max_nodes": 2,
        "spot": True,
        "disk_size_gib": 500,
        "labels": {"team": "ml"},
        "taints": [{"key": "example.com/dedicated", "value": "llm", "effect": "NoExecute"}],
        "instance_type": "p5.48xlarge",
    }
    assert validate_gpu_pool_args(args, "aws") == []


def test_unknown_argument_suggests_the_closest_name() -> None:
    assert only_problem(gpu="l4", gpu_per_node=1) == "unknown argument 'gpu_per_node' (did you mean 'gpus_per_node'?)"


def test_a_cloud_pool_names_its_own_extra_arguments() -> None:
    assert validate_gpu_pool_args({"gpu": "l4", "cluster_name": "c"}, "aws", known_args=[*GPU_POOL_ARG_NAMES]) == [
        "unknown argument 'cluster_name'"
    ]
    known = [*GPU_POOL_ARG_NAMES, "cluster_name"]
    assert validate_gpu_pool_args({"gpu": "l4", "cluster_name": "c"}, "aws", known_args=known) == []


def test_gpu_is_required() -> None:
    problem = only_problem()
    assert problem.startswith("gpu is required: a GPU catalogue key, one of 'a100-40gb'")


def test_unknown_gpu_names_the_catalogue_and_the_closest_key() -> None:
    problem = only_problem(gpu="h100")
    assert problem.startswith("gpu='h100' is not in the GPU catalogue; use one of 'a10', 'a100-40gb'")
    assert problem.endswith("(did you mean 'h100-80gb'?)")


def test_gpu_must_be_offered_on_the_cloud() -> None:
    problem = only_problem(gpu="a10")
    assert problem.startswith("gpu='a10' is not offered on aws in the catalogue (it is on: azure); GPUs on aws: ")
    assert "'a10g'" in problem and problem.endswith("(did you mean 'a10g'?)")


def test_gpu_must_be_a_string() -> None:
    assert only_problem(gpu=4) == "gpu=4 must be a GPU catalogue key such as 'l4'"


def test_gpus_per_node_must_be_a_count_the_cloud_offers() -> None:
    assert (
        only_problem(gpu="l4", gpus_per_node=3)
        == "gpus_per_node=3 is not a node size for 'l4' on aws; allowed: 1, 4, 8"
    )
    assert (
        only_problem(gpu="l4", gpus_per_node=0)
        == "gpus_per_node=0 must be a whole number from 1 to 16 (no GPU machine type has more than 16)"
    )


def test_node_counts_are_checked() -> None:
    assert (
        only_problem(gpu="l4", min_nodes=-1)
        == "min_nodes=-1 must be a whole number from 0 to 5000 (no cloud's node pool holds more than 5000 nodes)"
    )
    assert (
        only_problem(gpu="l4", max_nodes=0)
        == "max_nodes=0 must be a whole number from 1 to 5000 (no cloud's node pool holds more than 5000 nodes)"
    )
    assert (
        only_problem(gpu="l4", max_nodes=True)
        == "max_nodes=True must be a whole number from 1 to 5000 (no cloud's node pool holds more than 5000 nodes)"
    )
    assert (
        only_problem(gpu="l4", min_nodes=3, max_nodes=2)
        == "max_nodes=2 is less than min_nodes=3; max_nodes must be ≥ min_nodes"
    )
    assert only_problem(gpu="l4", min_nodes=2) == "max_nodes=1 is less than min_nodes=2; max_nodes must be ≥ min_nodes"


def test_spot_must_be_a_boolean() -> None:
    assert only_problem(gpu="l4", spot="yes") == "spot='yes' must be true or false"


def test_disk_must_hold_cuda_images() -> None:
    problem = only_problem(gpu="l4", disk_size_gib=20)
    assert problem.startswith(
        f"disk_size_gib=20 must be a whole number from {MIN_GPU_DISK_SIZE_GIB} to 65536 (CUDA images"
    )


def test_labels_may_not_use_shardstack_or_kubernetes_prefixes() -> None:
    assert only_problem(gpu="l4", labels={"shardstack.dev/pool": "x"}).startswith(
        "labels['shardstack.dev/pool'] is not allowed: keys starting with 'app.kubernetes.io/', 'shardstack.dev/'"
    )
    assert only_problem(gpu="l4", labels={"node.kubernetes.io/role": "gpu"}).startswith(
        "labels['node.kubernetes.io/role'] is not allowed: the domains 'kubernetes.io', 'k8s.io' are reserved"
    )
    assert only_problem(gpu="l4", labels={"team": "ml team"}).startswith(
        "labels['team']='ml team' is not a valid label value"
    )


def test_taints_are_checked_field_by_field() -> None:
    problem = only_problem(gpu="l4", taints=[{"key": "dedicated", "effect": "NoScedule"}])
    assert problem == (
        "taints[0].effect='NoScedule' must be one of 'NoSchedule', 'PreferNoSchedule', 'NoExecute'"
        " (did you mean 'NoSchedule'?)"
    )
    assert only_problem(gpu="l4", taints=[{"key": "dedicated"}]).startswith(
        "taints[0].effect is required: one of 'NoSchedule'"
    )
    assert only_problem(gpu="l4", taints=[{"effect": "NoSchedule"}]).startswith(
        "taints[0].key is required: a taint key"
    )
    assert (
        only_problem(gpu="l4", taints=[{"key": "dedicated", "effect": "NoSchedule", "efect": "x"}])
        == "taints[0] has unknown argument 'efect' (did you mean 'effect'?)"
    )
    assert only_problem(gpu="l4", taints={"key": "x"}).startswith(
        "taints={'key': 'x'} must be a list, each item a mapping with key, value, effect"
    )


def test_taint_keys_are_unique_and_the_gpu_taint_is_reserved() -> None:
    assert only_problem(gpu="l4", taints=[{"key": "nvidia.com/gpu", "effect": "NoExecute"}]) == (
        "taints[0].key='nvidia.com/gpu' is the key of the GPU taint the pool always sets; choose another key"
    )
    twice = [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}]
    assert only_problem(gpu="l4", taints=twice).startswith("taints[1].key='a' is already used by taints[0]")


def test_instance_type_must_be_a_catalogue_shape_with_those_gpus() -> None:
    problem = only_problem(gpu="l4", instance_type="g6.4xl")
    assert problem.startswith("instance_type='g6.4xl' is not a catalogue shape with 1 x l4 on aws; use one of")
    assert problem.endswith("(did you mean 'g6.4xlarge'?)")
    assert only_problem(gpu="l4", instance_type="g6.12xlarge").startswith(
        "instance_type='g6.12xlarge' is not a catalogue shape with 1 x l4 on aws"
    )
    assert problems(gpu="l4", gpus_per_node=4, instance_type="g6.12xlarge") == []


def test_every_problem_is_reported_at_once() -> None:
    found = problems(gpu="l4", gpus_per_node=3, max_nodes=0, spot=1, disk_size_gib=10, colour="red")
    assert len(found) == 5, found


def test_resolve_raises_every_problem_under_the_callers_title() -> None:
    with pytest.raises(ArgumentError) as error:
        resolve_gpu_pool({"gpu": "h100", "max_nodes": 0}, "aws", what="GpuNodePool 'gpu'")
    assert str(error.value).startswith("invalid arguments for GpuNodePool 'gpu':")
    assert len(error.value.problems) == 2


def test_cloud_must_be_one_the_catalogue_knows() -> None:
    with pytest.raises(ValueError, match="cloud must be one of 'aws', 'gcp', 'azure'; got 'local'"):
        validate_gpu_pool_args({"gpu": "l4"}, "local")  # type: ignore[arg-type]


def test_pool_name_must_be_a_label_value() -> None:
    assert pool_name_problem("l4") is None
    assert pool_name_problem("L4_pool") is not None


# -- node labels and taints -----------------------------------------------------------------------


def test_node_labels_mark_gpu_nodes_their_pool_and_gpu_then_the_extras() -> None:
    pool = resolve_gpu_pool({"gpu": "h100-80gb", "gpus_per_node": 8, "labels": {"team": "ml"}}, "aws")
    labels = node_labels(pool, "big")
    assert labels == {
        "shardstack.dev/gpu": "true",
        "shardstack.dev/pool": "big",
        "shardstack.dev/gpu-type": "h100-80gb",
        "team": "ml",
    }
    assert list(labels)[:3] == ["shardstack.dev/gpu", "shardstack.dev/pool", "shardstack.dev/gpu-type"]


def test_node_taints_put_the_gpu_taint_first_then_the_extras() -> None:
    pool = resolve_gpu_pool({"gpu": "l4", "taints": [{"key": "dedicated", "effect": "NoExecute"}]}, "gcp")
    assert node_taints(pool) == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "", "effect": "NoExecute"},
    ]
    assert node_taints(resolve_gpu_pool({"gpu": "l4"}, "aws")) == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
