"""How many replica groups a load needs: a performance model of one pipelined group, and queueing across groups.

Usage::

    from shardstack.performance import Load, plan_capacity

    capacity = plan_capacity(Load(requests_per_s=20, prompt_tokens=1000, output_tokens=200, ttft_slo_s=2.0),
                             params=70e9, dtype="bf16", gpu="h100-80gb", shards=2)
    capacity.groups, capacity.ttft_p99_s

The model, per replica group of ``S`` stages (one GPU each) holding ``W`` weight bytes and ``P`` parameters, on a
GPU of memory bandwidth ``BW`` and dense tensor throughput ``F`` (the catalogue's, ``catalog.GpuSpeed``), each
reached at a fraction ``e_bw`` / ``e_f`` (:data:`BANDWIDTH_EFFICIENCY`, :data:`COMPUTE_EFFICIENCY`):

    stage step for b tokens   t(b)      = max(W/S / (BW e_bw), 2 P/S b / (F e_f))      read the stage's weights once,
                                                                                      or compute b tokens, the slower
    decode (B slots in S micro-batches of B/S, each passing every stage; the pipeline full)
                              ITL       = S t(B/S) + (S-1) hop                         one token of every sequence
                              tokens/s  = B / ITL                                      per group
    prefill of one prompt of L_in tokens, stage after stage
                              t_prefill = S t(L_in) + (S-1) hop
    a request on its slot     T         = t_prefill + L_out ITL
    a group                   B slots, each serving a request in T:  B / T requests/s at most

Across ``G`` groups, ``c = G B`` slots serve a Poisson stream of ``λ`` requests/s, each for ``T`` (M/M/c, Erlang C):
a request waits with probability ``C(c, λT)``, and longer than ``x`` with ``C exp(-(c/T - λ) x)``. Its time to
first token is that wait plus ``t_prefill``; :func:`plan_capacity` takes the fewest groups whose p99 meets the SLO.

What it leaves out: the KV cache's memory (``slots`` must fit beside the weights: the runtime picks its slots from
the memory left), tensor parallelism, and prompts and outputs of varying length (their means are used). A test
checks the decode formula against the CPU benchmark's own measurements (tests/unit/test_performance_model.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shardstack.catalog import GpuSpeed
from shardstack.catalog import gpu as lookup_gpu
from shardstack.errors import ArgumentError

BANDWIDTH_EFFICIENCY = 0.8
"""Share of the datasheet bandwidth a decode step's weight reads reach (large sequential reads of every stage's
matrices: 75-90% is what memory-bound GEMV kernels measure on HBM)."""
COMPUTE_EFFICIENCY = 0.5
"""Share of the dense tensor throughput a prefill reaches (a long prompt's GEMMs with attention, norms and the
launches between them: the 40-60% model FLOPs utilisation serving engines report)."""
HOP_S = 100e-6
"""One stage's activations handed to the next, over NVLink or the nodes' network: tens of microseconds of latency
for the few hundred KiB of a micro-batch, rounded up."""
TTFT_QUANTILE = 0.99
MAX_GROUPS = 256
"""The most groups the planner considers: ShardedInference's own bound (``limits.MAX_REPLICA_GROUPS``)."""


@dataclass(frozen=True)
class Load:
    """The traffic to serve: a Poisson stream of requests, each with a prompt and an output of the given lengths."""

    requests_per_s: float
    prompt_tokens: int
    output_tokens: int
    ttft_slo_s: float
    """The time to first token that 99% of requests must meet, queueing included."""


@dataclass(frozen=True)
class GroupSpeed:
    """What one replica group does, by the model above."""

    itl_s: float
    """Inter-token latency: the time between two tokens of one sequence with every slot decoding."""
    prefill_s: float
    request_s: float
    """A request's time on its slot: its prefill and all its output tokens."""
    slots: int

    @property
    def tokens_per_s(self) -> float:
        return self.slots / self.itl_s

    @property
    def requests_per_s(self) -> float:
        return self.slots / self.request_s


def stage_step_s(weight_bytes: float, params: float, shards: int, tokens: float, speed: GpuSpeed) -> float:
    """One stage's step over ``tokens`` tokens: its weights read once, or their products computed, the slower."""
    read = weight_bytes / shards / (speed.memory_gb_per_s * 1e9 * BANDWIDTH_EFFICIENCY)
    compute = 2 * params / shards * tokens / (speed.dense_tflops * 1e12 * COMPUTE_EFFICIENCY)
    return max(read, compute)


def group_speed(
    *, weight_bytes: float, params: float, shards: int, slots: int, load: Load, speed: GpuSpeed
) -> GroupSpeed:
    """One group's inter-token latency, prefill and request time for ``load``'s lengths (the module's formulas)."""
    hops = (shards - 1) * HOP_S
    micro_batch = max(slots / shards, 1)
    itl = shards * stage_step_s(weight_bytes, params, shards, micro_batch, speed) + hops
    prefill = shards * stage_step_s(weight_bytes, params, shards, load.prompt_tokens, speed) + hops
    return GroupSpeed(itl_s=itl, prefill_s=prefill, request_s=prefill + load.output_tokens * itl, slots=slots)


def erlang_c(servers: int, offered: float) -> float:
    """The probability that a request waits, with ``servers`` busy ``offered`` = λT on average (M/M/c)."""
    if offered >= servers:
        return 1.0
    # Erlang B by its recurrence, which stays within floating point for thousands of servers (a^c / c! would not),
    # then Erlang C from it.
    blocked = 1.0
    for k in range(1, servers + 1):
        blocked = offered * blocked / (k + offered * blocked)
    return servers * blocked / (servers - offered * (1 - blocked))


def ttft_quantile_s(groups: int, speed: GroupSpeed, load: Load, quantile: float = TTFT_QUANTILE) -> float:
    """The ``quantile`` of the time to first token with ``groups`` groups: the wait for a slot, then the prefill."""
    servers = groups * speed.slots
    offered = load.requests_per_s * speed.request_s
    if offered >= servers:
        return math.inf
    waits = erlang_c(servers, offered)
    if waits <= 1 - quantile:
        return speed.prefill_s
    # P(wait > x) = C exp(-(c/T - λ) x) = 1 - quantile
    rate = servers / speed.request_s - load.requests_per_s
    return speed.prefill_s + math.log(waits / (1 - quantile)) / rate


@dataclass(frozen=True)
class Capacity:
    groups: int
    speed: GroupSpeed
    ttft_p99_s: float
    utilisation: float
    """The share of the slots busy on average."""


def plan_capacity(
    load: Load, *, params: float, dtype_bytes: float, gpu: str, shards: int, slots: int,
    checkpoint_bytes: float | None = None,
) -> Capacity:  # fmt: skip
    """The fewest groups whose time to first token meets ``load.ttft_slo_s`` at p99.

    Raises ArgumentError when no number of groups can: the prefill alone is over the SLO, or the load needs more
    than :data:`MAX_GROUPS` groups.
    """
    model = lookup_gpu(gpu)
    if model.speed is None:
        raise ArgumentError("capacity", [f"gpu: {gpu!r} has no published speeds in the catalogue"])
    weight_bytes = checkpoint_bytes if checkpoint_bytes is not None else params * dtype_bytes
    speed = group_speed(
        weight_bytes=weight_bytes, params=params, shards=shards, slots=slots, load=load, speed=model.speed
    )
    if speed.prefill_s > load.ttft_slo_s:
        raise ArgumentError(
            "capacity",
            [
                f"ttft_slo_s: {load.ttft_slo_s:g} is below the prefill alone ({speed.prefill_s:.3g} s for "
                f"{load.prompt_tokens} prompt tokens on {shards} x {gpu}): no number of groups meets it; allow more, "
                "or shorten the prompts"
            ],
        )
    for groups in range(1, MAX_GROUPS + 1):
        ttft = ttft_quantile_s(groups, speed, load)
        if ttft <= load.ttft_slo_s:
            utilisation = load.requests_per_s * speed.request_s / (groups * slots)
            return Capacity(groups, speed, ttft, utilisation)
    raise ArgumentError(
        "capacity",
        [
            f"requests_per_s: {load.requests_per_s:g} needs more than {MAX_GROUPS} groups of {shards} x {gpu} at this "
            "SLO; split it over installations or use a larger GPU"
        ],
    )


DEFAULT_SLOTS = 16
"""Sequences a group decodes together when the caller does not say: the runtime picks its own from the memory
left beside the weights (often more on an 80 GB GPU), so 16 is a conservative figure for planning."""


def render_capacity(capacity: Capacity, load: Load) -> str:
    """The load part of ``shardstack size``'s report: the load, one group's speed, and the groups it takes."""
    s = capacity.speed
    return "\n".join(
        [
            f"Load:      {load.requests_per_s:g} requests/s of {load.prompt_tokens} prompt + {load.output_tokens} "
            f"output tokens; time to first token p99 <= {load.ttft_slo_s:g} s",
            f"One group: {s.slots} slots; {s.itl_s * 1e3:.1f} ms between tokens, {s.tokens_per_s:,.0f} tokens/s; "
            f"prefill {s.prefill_s * 1e3:.0f} ms; {s.request_s:.2f} s per request, {s.requests_per_s:.2f} requests/s",
            f"Groups:    {capacity.groups}, {capacity.utilisation:.0%} of their slots busy; time to first token p99 "
            f"{capacity.ttft_p99_s * 1e3:.0f} ms (model: shardstack.performance)",
        ]
    )


def capacity_dict(capacity: Capacity, load: Load) -> dict[str, object]:
    """The same as plain values (``shardstack size --json``)."""
    s = capacity.speed
    return {
        "load": {"requests_per_s": load.requests_per_s, "prompt_tokens": load.prompt_tokens,
                 "output_tokens": load.output_tokens, "ttft_slo_s": load.ttft_slo_s},
        "group": {"slots": s.slots, "itl_s": s.itl_s, "prefill_s": s.prefill_s, "request_s": s.request_s,
                  "tokens_per_s": s.tokens_per_s, "requests_per_s": s.requests_per_s},
        "groups": capacity.groups,
        "utilisation": capacity.utilisation,
        "ttft_p99_s": capacity.ttft_p99_s,
    }  # fmt: skip
