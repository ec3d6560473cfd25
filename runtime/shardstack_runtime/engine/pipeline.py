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

One pass crosses the wire as three preallocated, contiguous host tensors, with no pickles (on GPUs the
hidden states are copied to the host and sent over gloo too: correct everywhere, and on CPUs the only
path; sending them device to device over NCCL is the next step for GPU clusters):

- a fixed-size int64 header: message kind, and for a step the batch's encoded length, rows, width and how
  many likeliest tokens the last rank reports per row (0 unless a request of the pass asked for logprobs);
- a float64 *meta* tensor: the :class:`~.batch.Batch` (:meth:`~.batch.Batch.to_tensor`), the rows' sampling
  draws (:func:`~.sampling.encode_draws`, the random number included, so that a seeded request samples the
  same tokens however it is split) and each rank's timings;
- the hidden states ``[B, S, hidden]``.

Every worker runs its layers over them with its own KV cache, laid out like the leader's (the same slots;
the batch's :class:`~.batch.SlotMove` s applied), and passes them on. The last rank samples and sends rank 0
only ``[2, B]`` token ids and logprobs plus the timings, or ``[2 + 2k, B]`` with each row's ``k`` likeliest
tokens and their logprobs for a pass that asked for them (:func:`~.sampling.sample_encoded`). Results come
back in the order passes were sent.

Bounds: every wait on a peer is bounded by ``pipeline_timeout_s`` (default
:data:`~.timeouts.PIPELINE_TIMEOUT_S`), so a stuck peer fails the pipeline instead of hanging it, and a peer
that dies closes its connections, which fails the next exchange at once. While idle the leader sends a
keep-alive every second (at most a quarter of the timeout), so that workers waiting for the next pass don't
time out and a dead worker is noticed within about a second. A failed exchange is fatal: the ranks may
disagree on what they received, so the engine stops with that error (``ready`` turns false,
``engine.error`` holds it, in-flight requests end with ``finish_reason="abort"``, which the server answers
with 503, and new ones raise :class:`~.engine.EngineStoppedError`); the replica group has to be restarted,
which is what the server's exit code asks Kubernetes to do.
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
from ..sampling import DRAW_FIELDS, decode_sampled, encode_draws, sample_encoded
from ..shard import Shard
from ..timeouts import KEEPALIVE_S, PIPELINE_TIMEOUT_S
from .batch import Batch
from .engine import Engine, MicroBatch
from .kv_cache import KVCache

__all__ = ["PipelineEngine", "PipelineError", "run_worker"]

logger = logging.getLogger(__name__)

HEADER_LEN = 8
# Message kinds (header[0]).
STEP, HELLO, KEEPALIVE, SHUTDOWN = 1, 2, 3, 4
_KINDS = {STEP: "step", HELLO: "hello", KEEPALIVE: "keep-alive", SHUTDOWN: "shutdown"}
TIMINGS = 2
"""Per rank in the meta tensor: compute seconds and transfer seconds of the pass."""
T = TypeVar("T")


class PipelineError(RuntimeError):
    """A pipeline exchange failed: a peer died, timed out, or sent something unexpected."""


def _header(kind: int, *values: int) -> torch.Tensor:
    header = torch.zeros(HEADER_LEN, dtype=torch.int64)
    header[0] = kind
    header[1 : 1 + len(values)] = torch.tensor(values, dtype=torch.int64)
    return header


def _meta_len(batch_len: int, rows: int, world_size: int) -> int:
    return batch_len + DRAW_FIELDS * rows + TIMINGS * world_size


def _started(work: dist.Work | None) -> dist.Work:
    """The handle of a started isend/irecv; torch returns None only to a process outside the group."""
    if work is None:
        raise PipelineError("this process is not a member of the pipeline's process group")
    return work


def _recv(tensor: torch.Tensor, src: int, what: str, rank: int, timeout: timedelta) -> torch.Tensor:
    try:
        _started(dist.irecv(tensor, src=src)).wait(timeout)
    except Exception as e:  # gloo raises RuntimeError / DistBackendError on timeout or a closed peer
        raise PipelineError(f"rank {rank}: receiving {what} from rank {src} failed: {e}") from e
    return tensor


def _send(tensor: torch.Tensor, dst: int, what: str, rank: int) -> None:
    try:
        dist.send(tensor.contiguous(), dst=dst)
    except Exception as e:
        raise PipelineError(f"rank {rank}: sending {what} to rank {dst} failed: {e}") from e


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
                    self._send_header(_header(SHUTDOWN))
                except PipelineError:
                    logger.exception("could not tell the pipeline's workers to stop")

    def _on_cache_ready(self) -> None:
        self._guarded(lambda: self._send_header(_header(HELLO, self.max_slots, self.max_model_len, self.micro_batches)))
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
                self._guarded(lambda: self._send_header(_header(KEEPALIVE)))

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
        _send(header, 1, f"a {_KINDS[int(header[0])]} header", 0)
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
        header = _header(STEP, encoded.numel(), rows, hidden.shape[1], top)
        result = torch.empty((2 + 2 * top) * rows + TIMINGS * world, dtype=torch.float64)
        hidden = hidden.to("cpu").contiguous()  # host tensors over gloo (see the module docstring)
        try:
            receive = _started(dist.irecv(result, src=world - 1))
            sends = [_started(dist.isend(tensor, dst=1)) for tensor in (header, meta, hidden)]
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


def run_worker(group: Group, shard: Shard, *, pipeline_timeout_s: float = PIPELINE_TIMEOUT_S) -> int:
    """Serve this rank's layers of the pipeline until the leader shuts it down; returns the passes run.

    Raises :class:`PipelineError` when a peer dies or a receive waits longer than ``pipeline_timeout_s``
    (the leader's keep-alives arrive every second while it is idle).
    """
    rank, world = group.rank, group.world_size
    if rank == 0:
        raise ValueError("rank 0 runs PipelineEngine, not run_worker")
    model = shard.model
    if model.is_first:
        raise ValueError(f"rank {rank} holds the first layers {model.layer_range}; only rank 0 may")
    if model.is_last != (rank == world - 1):
        raise ValueError(f"rank {rank} of {world} holds {model.layer_range}: only the last rank ends the model")
    if not shard.loaded:
        shard.load_weights()
    model.pack_weights()
    prev, last = rank - 1, rank == world - 1
    timeout = timedelta(seconds=pipeline_timeout_s)
    header = torch.empty(HEADER_LEN, dtype=torch.int64)
    cache: KVCache | None = None
    steps = 0
    with torch.inference_mode():
        while True:
            _recv(header, prev, "a header", rank, timeout)
            kind = int(header[0])
            if kind == STEP:
                if cache is None:
                    raise PipelineError(f"rank {rank}: a step arrived before the pipeline's hello")
                arrived = time.perf_counter()
                batch_len, rows, width, top = (int(v) for v in header[1:5])
                meta = _recv(
                    torch.empty(_meta_len(batch_len, rows, world), dtype=torch.float64), prev, "the meta", rank, timeout
                )
                hidden = _recv(
                    torch.empty((rows, width, shard.config.hidden_size), dtype=model.dtype),
                    prev,
                    "hidden states",
                    rank,
                    timeout,
                )
                started = time.perf_counter()
                batch = Batch.from_tensor(meta[:batch_len].to(torch.int64))
                out = model.forward(hidden, batch, cache)
                if last:
                    draws = meta[batch_len : batch_len + DRAW_FIELDS * rows].view(rows, DRAW_FIELDS)
                    out = sample_encoded(out, draws, top).flatten()
                timings = meta[batch_len + DRAW_FIELDS * rows :]
                timings[TIMINGS * rank] = time.perf_counter() - started
                timings[TIMINGS * rank + 1] = started - arrived
                steps += 1
                if last:
                    _send(torch.cat([out, timings]), 0, "tokens", rank)
                else:
                    _send(header, rank + 1, "a step header", rank)
                    _send(meta, rank + 1, "the meta", rank)
                    _send(out.to("cpu"), rank + 1, "hidden states", rank)
                continue
            if kind not in _KINDS:
                raise PipelineError(f"rank {rank}: unknown message kind {kind} from rank {prev}")
            if kind == HELLO:
                max_slots, max_len, lanes = int(header[1]), int(header[2]), int(header[3])
                cache = model.new_cache(max_slots, max_len, num_lanes=lanes)
                logger.info(
                    "rank %d: %d slots x %d tokens in %d lanes for layers %s",
                    rank,
                    max_slots,
                    max_len,
                    lanes,
                    model.layer_range,
                )
            if not last:
                _send(header, rank + 1, f"a {_KINDS[kind]} header", rank)
            if kind == SHUTDOWN:
                return steps
