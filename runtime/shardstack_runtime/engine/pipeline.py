"""Pipeline parallelism: one model's layer ranges on the ranks of a group, driven by rank 0's engine.

Usage::

    group, shard = join_and_load(settings, ranges, timeout_s=300)
    if group.rank == 0:
        engine = pipeline_engine(group, shard, max_slots=8, max_model_len=2048)
        ...                                     # serve engine.generate() as with Engine
        engine.shutdown()                       # also stops the workers
    else:
        run_worker(group, shard)                # returns when the leader shuts the pipeline down
    leave_group(group)

Rank 0 (the leader) runs the continuous-batching :class:`~.engine.Engine` with a :class:`PipelineExecutor`:
its scheduler, detokenizer and each request's random stream are unchanged; only where a pass runs differs.
The KV-cache slots are split into ``micro_batches`` lanes (default: one per rank) and every lane has its
own pass in flight, so while rank 1 runs lane A's pass the leader already runs lane B's: with as many lanes
as stages and work in each, no stage waits for another except to fill and drain the pipeline.

The leader runs its own layers, sends the hidden states on (:mod:`.wire` says how a pass travels), and
gets the sampled tokens back from the last rank, in the order passes were sent. Every other rank runs
:func:`~.worker.run_worker`: its layers over what it receives, with its own KV cache, laid out like the
leader's (the same slots; the batch's :class:`~.batch.SlotMove` s applied).

Bounds: every wait on a peer is bounded by ``pipeline_timeout_s`` (default
:data:`~shardstack_runtime.timeouts.PIPELINE_TIMEOUT_S`), so a stuck peer fails the pipeline instead of
hanging it, and a peer that dies closes its connections, which fails the next exchange at once. While idle
the leader sends a keep-alive every second (at most a quarter of the timeout), so that workers waiting for
the next pass don't time out and a dead worker is noticed within about a second. A failed exchange is
fatal: the ranks may disagree on what they received, so the engine stops with that error (``ready`` turns
false, ``engine.error`` holds it, in-flight requests end with ``finish_reason="abort"``, which the server
answers with 503, and new ones raise :class:`~.engine.EngineStoppedError`); the replica group has to be
restarted, which is what the server's exit code asks Kubernetes to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from ..generation import EngineStats, StageStats
from ..model.llama import LayerRange
from ..rendezvous import Group, stage_loads
from ..sampling import decode_sampled, encode_draws
from ..shard import Shard
from ..timeouts import KEEPALIVE_S, PIPELINE_TIMEOUT_S
from . import wire
from .engine import Engine
from .kv_cache import KVCache
from .lanes import MicroBatch
from .wire import HELLO, KEEPALIVE, KINDS, SHUTDOWN, STEP, TIMINGS, PipelineError, encode_header

__all__ = ["PipelineError", "PipelineExecutor", "pipeline_engine"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def pipeline_engine(
    group: Group,
    shard: Shard,
    *,
    start: bool = True,
    micro_batches: int | None = None,
    layer_ranges: list[LayerRange] | None = None,
    pipeline_timeout_s: float = PIPELINE_TIMEOUT_S,
    **options,
) -> Engine:
    """The leader's engine over ``group``: an :class:`~.engine.Engine` whose passes run through every rank.

    ``options`` as for :class:`~.engine.Engine` (``max_slots``, ``max_model_len``, ``model_name``, ``verify``,
    ...); ``micro_batches`` defaults to one lane per rank, at most ``max_slots``; ``layer_ranges`` (every
    rank's) name the stages in the stats. Started with ``start``.
    """
    executor = PipelineExecutor(group, shard, layer_ranges=layer_ranges, pipeline_timeout_s=pipeline_timeout_s)
    lanes = micro_batches or min(group.world_size, options.get("max_slots") or group.world_size)
    engine = Engine(shard, executor=executor, micro_batches=lanes, **options)
    if start:
        engine.start()
    return engine


class _InFlight:
    """The leader's side of one pass in the pipeline: the sends to wait for and the pending result."""

    def __init__(self, sends: list[dist.Work], result: torch.Tensor, receive: dist.Work, sent_at: float) -> None:
        self.sends = sends
        self.result = result
        self.receive = receive
        self.sent_at = sent_at


class PipelineExecutor:
    """Runs each pass through the ranks of ``group``: rank 0's layers here, then every worker's in turn."""

    def __init__(
        self,
        group: Group,
        shard: Shard,
        *,
        layer_ranges: list[LayerRange] | None = None,
        pipeline_timeout_s: float = PIPELINE_TIMEOUT_S,
    ) -> None:
        if group.rank != 0 or group.world_size < 2:
            raise ValueError(
                f"a pipeline's engine runs on rank 0 of a group of ≥ 2 ranks; this is rank {group.rank} "
                f"of {group.world_size} (use Engine for one rank, run_worker on the others)"
            )
        if not shard.model.is_first or shard.model.is_last:
            raise ValueError(
                f"rank 0 of a pipeline needs the first layers but not the last; it holds "
                f"{shard.model.layer_range} of {shard.config.num_layers}"
            )
        self.group = group
        self.model = shard.model
        self._cache: KVCache | None = None
        self._timeout = timedelta(seconds=pipeline_timeout_s)
        self._keepalive_s = min(KEEPALIVE_S, pipeline_timeout_s / 4)
        self.idle_wait_s: float | None = self._keepalive_s
        self._last_sent = time.monotonic()
        self._broken = False
        self._serving = False
        world = group.world_size
        names = [f"{r.start}-{r.end}" for r in layer_ranges] if layer_ranges else ["?"] * world
        self._stages = [StageStats(rank=r, layers=names[r]) for r in range(world)]

    # ------------------------------------------------------------------ the Executor protocol

    def prepare(self, max_slots: int, max_model_len: int, num_lanes: int) -> KVCache:
        """Allocate this rank's cache and have every worker allocate its own, laid out alike (the hello)."""
        self._cache = self.model.new_cache(max_slots, max_model_len, num_lanes=num_lanes)
        self._guarded(lambda: self._send_header(encode_header(HELLO, max_slots, max_model_len, num_lanes)))
        for stage, (load_bytes, load_seconds) in zip(self._stages, stage_loads(self.group), strict=True):
            stage.load_bytes, stage.load_seconds = load_bytes, load_seconds
        return self._cache

    def submit(self, micro: MicroBatch) -> None:
        """Run rank 0's layers, then send the pass on without waiting for it."""
        assert self._cache is not None
        started = time.perf_counter()
        hidden = self.model.forward(micro.ids, micro.batch, self._cache)  # local: a failure is not fatal
        self._stages[0].compute_seconds += time.perf_counter() - started
        micro.handle = self._guarded(lambda: self._send_pass(micro, hidden))

    def collect(self, micro: MicroBatch) -> None:
        flight = micro.handle
        assert isinstance(flight, _InFlight)
        self._guarded(lambda: self._wait(flight))
        rows, top = len(micro.draws), micro.top_logprobs
        sampled = (2 + 2 * top) * rows
        micro.tokens, micro.logprobs, micro.top = decode_sampled(flight.result[:sampled].view(-1, rows), top)
        timings = flight.result[sampled:].tolist()
        for rank in range(1, self.group.world_size):
            stage = self._stages[rank]
            stage.compute_seconds += timings[TIMINGS * rank]
            stage.transfer_seconds += timings[TIMINGS * rank + 1]
        leader = self._stages[0]
        leader.received_bytes += flight.result.nbytes
        leader.received_messages += 1

    def idle(self) -> None:
        """Send a keep-alive when nothing was sent for ``idle_wait_s``."""
        if time.monotonic() - self._last_sent >= self._keepalive_s:
            self._guarded(lambda: self._send_header(encode_header(KEEPALIVE)))

    def reset_stats(self) -> None:
        for stage in self._stages:
            stage.compute_seconds = stage.transfer_seconds = 0.0
            stage.received_bytes = stage.received_messages = 0
        self._serving = True

    def add_stats(self, stats: EngineStats) -> None:
        stats.stages = [StageStats(**vars(stage)) for stage in self._stages]
        if self._serving:
            # What a single-rank engine reports as its passes' time: no whole pass runs here, each stage's
            # part is in stats.stages.
            stats.extra["compute_seconds"] = 0.0

    def stop(self) -> None:
        """Tell the workers to stop, unless the pipeline is broken (they fail on their own then)."""
        if self._broken:
            return
        try:
            self._send_header(encode_header(SHUTDOWN))
        except PipelineError:
            logger.exception("could not tell the pipeline's workers to stop")

    # ------------------------------------------------------------------ wire

    def _guarded(self, exchange: Callable[[], T]) -> T:
        """Run an exchange with the workers; any failure breaks the pipeline, which stops the engine."""
        try:
            return exchange()
        except PipelineError:
            self._broken = True
            raise
        except Exception as e:
            self._broken = True
            raise PipelineError(f"rank 0: {e}") from e

    def _send_header(self, header: torch.Tensor) -> None:
        wire.send(header, 1, f"a {KINDS[int(header[0])]} header", 0)
        self._last_sent = time.monotonic()

    def _send_pass(self, micro: MicroBatch, hidden: torch.Tensor) -> _InFlight:
        """Post the receive of the pass's result, then send it to rank 1, without waiting for either.

        The receive goes first so that the last rank can always deliver a result, even while the leader's
        sends of later passes wait for rank 1 to take them.
        """
        world, rows = self.group.world_size, micro.batch.num_rows
        encoded = micro.batch.to_tensor()
        meta = torch.cat(
            [
                encoded.to(torch.float64),
                encode_draws(micro.draws).flatten(),
                torch.zeros(TIMINGS * world, dtype=torch.float64),
            ]
        )
        top = micro.top_logprobs
        header = encode_header(STEP, encoded.numel(), rows, hidden.shape[1], top)
        result = torch.empty((2 + 2 * top) * rows + TIMINGS * world, dtype=torch.float64)
        hidden = hidden.to("cpu").contiguous()  # host tensors over gloo (see .wire)
        try:
            receive = wire.started(dist.irecv(result, src=world - 1))
            sends = [wire.started(dist.isend(tensor, dst=1)) for tensor in (header, meta, hidden)]
        except Exception as e:
            raise PipelineError(f"rank 0: starting a pass through the pipeline failed: {e}") from e
        self._last_sent = time.monotonic()
        for stage in self._stages[1:]:  # every hop carries the same shapes
            stage.received_bytes += header.nbytes + meta.nbytes + hidden.nbytes
            stage.received_messages += 1
        return _InFlight(sends, result, receive, time.monotonic())

    def _wait(self, flight: _InFlight) -> None:
        last = self.group.world_size - 1
        try:
            for send in flight.sends:
                send.wait(self._timeout)
        except Exception as e:
            raise PipelineError(f"rank 0: sending a pass to rank 1 failed: {e}") from e
        try:
            flight.receive.wait(self._timeout)
        except Exception as e:
            raise PipelineError(f"rank 0: receiving tokens from rank {last} failed: {e}") from e
