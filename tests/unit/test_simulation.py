"""The capacity simulation (shardstack.simulation): the autoscaler it runs is ShardedInference's, so a steady load
settles near the groups the model plans, a load that stops takes the groups to zero after the idle time, a group
goes one a minute, and every request is either served or answered 503 after waiting for a group: none is lost."""

from __future__ import annotations

import itertools

from shardstack.performance import GroupSpeed, Load, plan_capacity, ttft_quantile_s
from shardstack.simulation import Scaler, simulate

SPEED = GroupSpeed(itl_s=0.05, prefill_s=0.2, request_s=10.0, slots=16)
"""A group that serves a request in 10 s on each of its 16 slots: 1.6 requests/s."""


def test_a_steady_load_settles_where_the_slo_is_met_near_the_models_groups() -> None:
    minutes = simulate(lambda t: 6.0, duration_s=3 * 3600, speed=SPEED, scaler=Scaler(max_groups=10, min_groups=1))
    settled = minutes[-60:]
    groups = {m.groups_ready for m in settled}
    load = Load(requests_per_s=6.0, prompt_tokens=1, output_tokens=1, ttft_slo_s=2.0)
    planned = next(g for g in range(1, 11) if ttft_quantile_s(g, SPEED, load) <= load.ttft_slo_s)
    # The model's queueing (M/M/c) is for exponential service times; fixed ones queue less, so no more groups.
    assert groups <= set(range(planned - 2, planned + 1)), (groups, planned)
    assert 6.0 / (max(groups) * SPEED.requests_per_s) < 1  # never fewer slots than the load keeps busy
    assert all(m.ttft_p99_s is not None and m.ttft_p99_s <= 2.0 for m in settled)


def test_the_first_requests_wait_for_a_group_to_start_and_none_is_lost() -> None:
    scaler = Scaler(max_groups=4, cold_start_s=120, wake_timeout_s=60)
    minutes = simulate(lambda t: 1.0 if t < 1800 else 0.0, duration_s=3600, speed=SPEED, scaler=scaler)
    arrived = round(sum(m.requests_per_s * 60 for m in minutes))
    assert sum(m.served + m.refused for m in minutes) == arrived
    # Those that came before the first group served waited their 60 s bound and were answered 503.
    assert sum(m.refused for m in minutes[:3]) > 0 and sum(m.refused for m in minutes[5:]) == 0


def test_an_idle_deployment_goes_to_zero_after_the_idle_time_one_group_a_minute_before() -> None:
    scaler = Scaler(max_groups=6, cold_start_s=60, scale_to_zero_after_s=600, scale_down_stabilization_s=300)
    minutes = simulate(lambda t: 8.0 if t < 3600 else 0.0, duration_s=7200, speed=SPEED, scaler=scaler)
    after = [m for m in minutes if m.start_s >= 3600]
    zero = next(m.start_s for m in after if m.groups_wanted == 0)
    before = [m for m in after if m.start_s < zero]
    drops = [a.groups_wanted - b.groups_wanted for a, b in itertools.pairwise(before)]
    assert max(drops) == 1  # groups went, one a minute at most
    # The last request ends 10 s after the load stops; then 600 s of idle time, give or take a poll and a minute.
    assert 3600 + 600 <= zero <= 3600 + 10 + 600 + 60 + 15
    assert all(m.groups_wanted == 0 for m in after if m.start_s > zero)


def test_the_planner_and_the_simulation_share_one_group_speed() -> None:
    capacity = plan_capacity(Load(2.0, 500, 100, 2.0), params=8e9, dtype_bytes=2, gpu="l4", shards=1, slots=16)
    minutes = simulate(lambda t: 2.0, duration_s=3600, speed=capacity.speed, scaler=Scaler(max_groups=8, min_groups=1))
    assert max(m.groups_ready for m in minutes[-10:]) <= capacity.groups
