"""Stack config: ``serving.autoscaling`` takes ShardedInference's own keys (less the KEDA namespace, which the
installation wires), refused with the key path and what is allowed."""

from __future__ import annotations

from typing import Any

from config_cases import AWS, config, problem_at, problems_of, stack

PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
AUTOSCALING: dict[str, Any] = {"min_groups": 0, "max_groups": 2, "prometheus_url": PROMETHEUS}


def serving(**changes: Any) -> dict[str, Any]:
    return stack(AWS, model={"uri": "demo", "shards": 1},
                 serving={"mode": "leaderworkerset", "autoscaling": AUTOSCALING, **changes})  # fmt: skip


def test_an_autoscaled_stack_loads_with_the_keys_it_gives() -> None:
    cfg = config.load(serving(), stack="test")
    assert cfg.serving.autoscaling is not None
    assert (cfg.serving.autoscaling.min_groups, cfg.serving.autoscaling.max_groups) == (0, 2)
    assert cfg.groups_at_most == 2


def test_autoscaling_needs_leaderworkerset_mode() -> None:
    line = problem_at(serving(mode="statefulset"), "shardstack:serving.autoscaling")
    assert "needs mode 'leaderworkerset'" in line


def test_replica_groups_beside_autoscaling_is_refused() -> None:
    line = problem_at(serving(replica_groups=2), "shardstack:serving.replica_groups")
    assert "is given with autoscaling" in line


def test_a_bad_autoscaling_key_is_named_with_its_path() -> None:
    line = problem_at(
        serving(autoscaling={**AUTOSCALING, "max_groups": 0}), "shardstack:serving.autoscaling.max_groups"
    )
    assert "1 to 256" in line


def test_the_keda_namespace_is_the_installations_to_set() -> None:
    found = problems_of(serving(autoscaling={**AUTOSCALING, "keda_namespace": "keda"}))
    assert "shardstack:serving.autoscaling: has unknown argument 'keda_namespace'" in found


def test_the_gpu_pools_must_hold_max_groups() -> None:
    line = problem_at(serving(autoscaling={**AUTOSCALING, "max_groups": 3}), "shardstack:model.shards")
    assert "1 shards x 3 group(s) at autoscaling.max_groups need at least 3 GPUs" in line
