"""A load over time, the groups the autoscaler gives it, and the latency users see: a discrete-event simulation.

Usage::

    from shardstack.simulation import Scaler, simulate

    minutes = simulate(lambda t: 10.0, duration_s=3600, speed=capacity.speed, scaler=Scaler(max_groups=4))

Requests arrive as a Poisson stream of rate ``profile(t)``; each takes a free slot of a ready group, or waits in one
queue (as the Service spreads them over the leaders, each leader queueing its own: one queue is the ideal). A slot
serves a request in ``speed.request_s``, its first token ``speed.prefill_s`` after it starts. The autoscaler is
ShardedInference's (:mod:`shardstack.k8s.group_scaler`) as KEDA and the HPA run it: every ``poll_s`` it wants
``max(ceil(waiting / target), ceil(running / slots))`` groups; it adds them at once (a new group serves after
``cold_start_s``: node, image and weights), removes one a minute once ``scale_down_stabilization_s`` of wants all
agreed, and takes the last one away after ``scale_to_zero_after_s`` without a request. A request that finds no group
waits up to ``wake_timeout_s`` (the interceptor), then is answered 503: counted, never lost.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from shardstack.k8s.autoscaling_specs import (
    DEFAULT_SCALE_DOWN_STABILIZATION_S,
    DEFAULT_SCALE_TO_ZERO_AFTER_S,
    DEFAULT_TARGETS,
    DEFAULT_WAKE_TIMEOUT_S,
    METRIC_QUEUE,
)
from shardstack.k8s.group_scaler import POLLING_INTERVAL_S, SCALE_DOWN_GROUPS_PER_MINUTE
from shardstack.performance import GroupSpeed

COLD_START_S = 300.0
"""A new group's time to serve by default: a GPU node from zero, the image's pull and the weights' load."""


@dataclass(frozen=True)
class Scaler:
    """ShardedInference's ``autoscaling``, and how long a group takes to start."""

    max_groups: int
    min_groups: int = 0
    target: float = DEFAULT_TARGETS[METRIC_QUEUE]
    scale_down_stabilization_s: float = DEFAULT_SCALE_DOWN_STABILIZATION_S
    scale_to_zero_after_s: float = DEFAULT_SCALE_TO_ZERO_AFTER_S
    wake_timeout_s: float = DEFAULT_WAKE_TIMEOUT_S
    cold_start_s: float = COLD_START_S
    poll_s: float = POLLING_INTERVAL_S


@dataclass
class Minute:
    """What one minute of the simulation saw."""

    start_s: float
    requests_per_s: float
    groups_ready: int
    groups_wanted: int
    ttft_p99_s: float | None
    """Over the requests whose first token came in this minute; None when none did."""
    served: int = 0
    """Requests whose first token came in this minute."""
    refused: int = 0
    """Requests answered 503 after waiting ``wake_timeout_s`` for a group."""


@dataclass
class _Group:
    ready_at: float
    free_at: list[float]
    """When each slot is next free (a heap)."""
    draining: bool = False


@dataclass
class _Cluster:
    """The groups, the one queue, and what the autoscaler remembers."""

    speed: GroupSpeed
    scaler: Scaler
    groups: list[_Group] = field(default_factory=list)
    queue: deque[float] = field(default_factory=deque)
    """Arrival times of the requests waiting for a slot."""
    wants: deque[tuple[float, int]] = field(default_factory=deque)
    last_active: float = -math.inf
    last_removal: float = -math.inf

    def add_groups(self, count: int, at: float) -> None:
        self.groups += [_Group(at, [at] * self.speed.slots) for _ in range(count)]

    @property
    def serving(self) -> list[_Group]:
        return [g for g in self.groups if not g.draining]

    def serve(self, t: float, ttfts: list[float]) -> None:
        """Ready groups take the queue's head onto the slots that are free within this second."""
        for group in self.serving:
            if group.ready_at > t:
                continue
            while self.queue and group.free_at[0] <= t + 1:
                arrived = self.queue.popleft()
                start = max(group.free_at[0], arrived)
                ttfts.append(start - arrived + self.speed.prefill_s)
                heapq.heapreplace(group.free_at, start + self.speed.request_s)
        # A group drained of its requests goes.
        self.groups = [g for g in self.groups if not (g.draining and max(g.free_at) <= t)]

    def autoscale(self, t: float) -> None:
        """One poll: want max(ceil(waiting / target), ceil(running / slots)) groups; add them at once; remove one a
        minute when the stabilisation window all wanted fewer; the last goes after the idle time (KEDA's cooldown)."""
        serving = self.serving
        running = sum(1 for g in serving if g.ready_at <= t for free in g.free_at if free > t)
        if self.queue or running:
            self.last_active = t
        want = max(math.ceil(len(self.queue) / self.scaler.target), math.ceil(running / self.speed.slots))
        active = t - self.last_active < self.scaler.scale_to_zero_after_s
        floor = max(self.scaler.min_groups, 1) if active else self.scaler.min_groups
        want = min(max(want, floor), self.scaler.max_groups)
        self.wants.append((t, want))
        while self.wants[0][0] < t - self.scaler.scale_down_stabilization_s:
            self.wants.popleft()
        if want > len(serving):
            self.add_groups(want - len(serving), t + self.scaler.cold_start_s)
        elif want == 0 and serving:
            for group in serving:  # KEDA sets the replicas to zero itself, past the HPA's window
                group.draining = True
        elif (
            max(w for _, w in self.wants) < len(serving) and t - self.last_removal >= 60 / SCALE_DOWN_GROUPS_PER_MINUTE
        ):
            serving[-1].draining = True  # the newest; it finishes what it runs (the runtime drains)
            self.last_removal = t


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson count: Knuth's product for small means, the normal approximation past 30."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def simulate(
    profile: Callable[[float], float], *, duration_s: int, speed: GroupSpeed, scaler: Scaler, seed: int = 0
) -> list[Minute]:
    """Run ``profile`` (requests/s at second t) for ``duration_s`` seconds; return what each minute saw."""
    rng = random.Random(seed)
    cluster = _Cluster(speed, scaler)
    cluster.add_groups(scaler.min_groups, 0.0)
    minutes: list[Minute] = []
    ttfts: list[float] = []
    arrivals = refused = 0
    for t in range(duration_s):
        count = _poisson(rng, profile(t))
        cluster.queue.extend(sorted(t + rng.random() for _ in range(count)))
        arrivals += count
        cluster.serve(t, ttfts)
        # The interceptor answers 503 once a request has waited its bound for a group.
        while cluster.queue and t - cluster.queue[0] > scaler.wake_timeout_s:
            cluster.queue.popleft()
            refused += 1
        if t % scaler.poll_s == 0:
            cluster.autoscale(t)
        if (t + 1) % 60 == 0:
            serving = cluster.serving
            minutes.append(
                Minute(
                    start_s=t - 59,
                    requests_per_s=arrivals / 60,
                    groups_ready=sum(1 for g in serving if g.ready_at <= t),
                    groups_wanted=len(serving),
                    ttft_p99_s=_p99(ttfts),
                    served=len(ttfts),
                    refused=refused,
                )
            )
            ttfts, arrivals, refused = [], 0, 0
    return minutes
