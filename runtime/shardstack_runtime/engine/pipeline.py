"""Pipeline parallelism: one model's layer ranges on the ranks of a group, driven by rank 0's engine.

Usage::

    group, shard = join_and_load(settings, ranges, timeout_s=300)
    if group.rank == 0:
        engine = PipelineEngine.from_group(group, shard, max_slots=8, max_model_len=2048)
        ...                                     # serve engine.generate() as with Engine
        engine.shutdown()                       # also stops the workers
    else:
        run_worker(group, shard)                # returns when the leader shuts the pipeline down
    leave_group(group)

Rank 0 (the leader) runs the continuous-batching :class:`~.engine.Engine`: its scheduler, detokenizer and
each request's random stream are unchanged; only where a pass runs differs. The KV-cache slots are split
into ``micro_batches`` lanes (default: one per rank) and every lane has its own pass in flight, so while
rank 1 runs lane A's pass the leader already runs lane B's: with as many lanes as stages and work in each,
no stage waits for another except to fill and drain the pipeline.

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

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from ..generation import EngineStats, StageStats
from ..model import LayerRange
from ..rendezvous import Group, stage_loads
from ..sampling import decode_sampled, encode_draws
from ..shard import Shard
from ..timeouts import KEEPALIVE_S, PIPELINE_TIMEOUT_S
from . import wire
from .engine import Engine, MicroBatch
from .wire import HELLO, KEEPALIVE, KINDS, SHUTDOWN, STEP, TIMINGS, PipelineError, encode_header

__all__ = ["PipelineEngine", "PipelineError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _InFlight:
    """The leader's side of one pass in the pipeline: the sends to wait for and the pending result."""

    def __init__(self, sends: list[dist.Work], result: torch.Tensor, receive: dist.Work, sent_at: float) -> None:
        self.sends = sends
        self.result = result
        self.receive = receive
        self.sent_at = sent_at


class PipelineEngine(Engine):
    """The :class:`~.engine.Engine` on rank 0 of a pipeline: its passes run through every rank."""

    _whole_model = False

    def __init__(
        self,
        group: Group,
        shard: Shard,
        *,
        micro_batches: int | None = None,
        layer_ranges: list[LayerRange] | None = None,
        pipeline_timeout_s: float = PIPELINE_TIMEOUT_S,
        **options,
    ) -> None:
        if group.rank != 0 or group.world_size < 2:
            raise ValueError(
                f"PipelineEngine runs on rank 0 of a group of ≥ 2 ranks; this is rank {group.rank} "
                f"of {group.world_size} (use Engine for one rank, run_worker on the others)"
            )
        if not shard.model.is_first or shard.model.is_last:
            raise ValueError(
                f"rank 0 of a pipeline needs the first layers but not the last; it holds "
                f"{shard.model.layer_range} of {shard.config.num_layers}"
            )
        max_slots = options.get("max_slots", 8)
        super().__init__(shard, micro_batches=micro_batches or min(group.world_size, max_slots), **options)
        self.group = group
        self._timeout = timedelta(seconds=pipeline_timeout_s)
        self._keepalive_s = min(KEEPALIVE_S, pipeline_timeout_s / 4)
        self._idle_wait_s = self._keepalive_s
        self._last_sent = time.monotonic()
        self._pipeline_broken = False
        world = group.world_size
        names = [f"{r.start}-{r.end}" for r in layer_ranges] if layer_ranges else ["?"] * world
        self._stages = [StageStats(rank=r, layers=names[r]) for r in range(world)]
        self._busy_seconds = 0.0
        self._busy_since: float | None = None

    @classmethod
    def from_group(cls, group: Group, shard: Shard, *, start: bool = True, **options) -> PipelineEngine:
        """The leader's engine over ``group`` (``options`` as for :class:`~.engine.Engine`); started with ``start``."""
        engine = cls(group, shard, **options)
        if start:
            engine.start()
        return engine

    def stats(self) -> EngineStats:
        stats = super().stats()
        busy = self._busy_seconds
        if self._busy_since is not None:
            busy += time.monotonic() - self._busy_since
        stats.stages = [StageStats(**vars(stage)) for stage in self._stages]
        stats.busy_seconds = busy
        return stats

    # ------------------------------------------------------------------ engine-thread hooks

    def _main(self) -> None:
        try:
            super()._main()
        finally:
            if not self._pipeline_broken:
                try:
                    self._send_header(encode_header(SHUTDOWN))
                except PipelineError:
                    logger.exception("could not tell the pipeline's workers to stop")

    def _on_cache_ready(self) -> None:
        self._guarded(
            lambda: self._send_header(encode_header(HELLO, self.max_slots, self.max_model_len, self.micro_batches))
        )
        for stage, (load_bytes, load_seconds) in zip(self._stages, stage_loads(self.group), strict=True):
            stage.load_bytes, stage.load_seconds = load_bytes, load_seconds

    def _prepare(self) -> None:
        super()._prepare()
        for stage in self._stages:  # count serving only, not the warm-up
            stage.compute_seconds = stage.transfer_seconds = 0.0
            stage.received_bytes = stage.received_messages = 0

    def _on_idle(self) -> None:
        if time.monotonic() - self._last_sent >= self._keepalive_s:
            with contextlib.suppress(PipelineError):  # recorded as the engine's error; the loop stops
                self._guarded(lambda: self._send_header(encode_header(KEEPALIVE)))

    def _submit(self, micro: MicroBatch) -> None:
        assert self._cache is not None
        started = time.perf_counter()
        hidden = self.shard.model.forward(micro.ids, micro.batch, self._cache)  # local: a failure is not fatal
        self._stages[0].compute_seconds += time.perf_counter() - started
        micro.handle = self._guarded(lambda: self._send_pass(micro, hidden))

    def _collect(self, micro: MicroBatch) -> None:
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

    def _step(self) -> None:
        # Busy: from the first step with work until nothing runs or waits, the leader's bookkeeping between
        # passes included, so that the bubble fraction counts it as the idle time it is for the workers.
        if self._busy_since is None:
            self._busy_since = time.monotonic()
        super()._step()
        if not self._in_flight and not self._waiting and not self._running():
            self._busy_seconds += time.monotonic() - self._busy_since
            self._busy_since = None

    # ------------------------------------------------------------------ wire

    def _guarded(self, exchange: Callable[[], T]) -> T:
        """Run an exchange with the workers; any failure breaks the pipeline and stops the engine."""
        try:
            return exchange()
        except BaseException as e:
            self._pipeline_broken = True
            with self._lock:
                if self.error is None:
                    self.error = e if isinstance(e, PipelineError) else PipelineError(f"rank 0: {e}")
            self._stopping.set()
            self._wakeup.set()
            raise

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
