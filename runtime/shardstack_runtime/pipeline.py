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

Rank 0 (the leader) runs the continuous-batching :class:`~.engine.Engine` with its scheduler, sampling
and detokenizing unchanged; only the forward pass differs. For each step the leader runs its own layer
range, then sends rank 1 a fixed-size int64 header (message kind, batch length, rows, width), the
:class:`~.batch.Batch` (:meth:`~.batch.Batch.to_tensor`) and the hidden states ``[B, S, hidden]``.
Every worker runs its range over them with its own KV cache, laid out like the leader's (same slots,
same :class:`~.batch.SlotMove` s applied from the batch), and passes them on; the last rank sends the
last-token logits ``[B, vocab]`` back to rank 0, which samples. Only preallocated, contiguous tensors
cross the wire with ``send``/``recv``: no pickles.

Bounds: every receive is bounded by the process group's timeout (``Group.timeout_s``), so a dead or
stuck peer raises instead of hanging. While idle the leader sends a keep-alive every quarter of that
timeout so that workers waiting for the next step don't time out. A failed exchange is fatal: the
pipeline's ranks may disagree on what they received, so the engine stops with that error (``ready``
turns false, ``engine.error`` holds it, in-flight requests end with ``finish_reason="abort"`` and new
ones raise :class:`~.engine.EngineStoppedError`); the replica group has to be restarted.

Limits of this first version: one micro-batch is in flight, so only one rank computes at a time. The
next step is to keep at least as many micro-batches in flight as there are stages, one per KV-cache
lane (``KVCache(num_lanes=...)``), and to have the last rank sample so that only token ids travel back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from .batch import Batch
from .engine import WARMUP_PROMPT_TOKENS, Engine
from .kv_cache import KVCache
from .rendezvous import Group
from .shard import Shard

__all__ = ["PipelineEngine", "PipelineError", "run_worker"]

logger = logging.getLogger(__name__)

HEADER_LEN = 8
# Message kinds (header[0]).
STEP, HELLO, KEEPALIVE, SHUTDOWN = 1, 2, 3, 4
T = TypeVar("T")
_KINDS = {STEP: "step", HELLO: "hello", KEEPALIVE: "keep-alive", SHUTDOWN: "shutdown"}


class PipelineError(RuntimeError):
    """A pipeline exchange failed: a peer died, timed out, or sent something unexpected."""


def _header(kind: int, *values: int) -> torch.Tensor:
    header = torch.zeros(HEADER_LEN, dtype=torch.int64)
    header[0] = kind
    header[1 : 1 + len(values)] = torch.tensor(values, dtype=torch.int64)
    return header


def _recv(tensor: torch.Tensor, src: int, what: str, rank: int) -> torch.Tensor:
    try:
        dist.recv(tensor, src=src)
    except Exception as e:  # gloo raises RuntimeError / DistBackendError on timeout or a closed peer
        raise PipelineError(f"rank {rank}: receiving {what} from rank {src} failed: {e}") from e
    return tensor


def _send(tensor: torch.Tensor, dst: int, what: str, rank: int) -> None:
    try:
        dist.send(tensor.contiguous(), dst=dst)
    except Exception as e:
        raise PipelineError(f"rank {rank}: sending {what} to rank {dst} failed: {e}") from e


class PipelineEngine(Engine):
    """The :class:`~.engine.Engine` on rank 0 of a pipeline: its forward runs through every rank."""

    _whole_model = False

    def __init__(self, group: Group, shard: Shard, **options) -> None:
        if group.rank != 0 or group.world_size < 2:
            raise ValueError(f"PipelineEngine runs on rank 0 of a group of ≥ 2 ranks; this is rank {group.rank} "
                             f"of {group.world_size} (use Engine for one rank, run_worker on the others)")
        if not shard.model.is_first or shard.model.is_last:
            raise ValueError(f"rank 0 of a pipeline needs the first layers but not the last; it holds "
                             f"{shard.model.layer_range} of {shard.config.num_layers}")
        if group.device != "cpu":
            raise ValueError("PipelineEngine supports gloo on CPU only for now")
        super().__init__(shard, **options)
        self.group = group
        self._keepalive_s = group.timeout_s / 4
        self._idle_wait_s = self._keepalive_s
        self._last_sent = time.monotonic()
        self._pipeline_broken = False

    @classmethod
    def from_group(cls, group: Group, shard: Shard, *, start: bool = True, **options) -> PipelineEngine:
        """The leader's engine over ``group`` (``options`` as for :class:`~.engine.Engine`); started with ``start``."""
        engine = cls(group, shard, **options)
        if start:
            engine.start()
        return engine

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

    def _prepare(self) -> None:
        started = time.perf_counter()
        if not self.shard.loaded:
            logger.info("%s", self.shard.load_weights(verify=self._verify))
        model = self.shard.model
        model.pack_weights()
        self._cache = model.new_cache(self.max_slots, self.max_model_len)
        self._guarded(lambda: self._send_header(_header(HELLO, self.max_slots, self.max_model_len)))
        # Warm up every rank through the real path: a prefill, then a batched decode.
        n = min(WARMUP_PROMPT_TOKENS, self.max_model_len - 1)
        if n >= 1:
            self._forward(torch.zeros((1, n), dtype=torch.int64), Batch.prefill(0, 0, n))
            rows = min(self.max_slots, 2)
            self._forward(torch.zeros((rows, 1), dtype=torch.int64), Batch.decode(range(rows), [n] * rows))
        logger.info("pipeline of %d ranks ready in %.2f s: %d slots x %d tokens", self.group.world_size,
                    time.perf_counter() - started, self.max_slots, self.max_model_len)

    def _on_idle(self) -> None:
        if time.monotonic() - self._last_sent >= self._keepalive_s:
            with contextlib.suppress(PipelineError):  # recorded as the engine's error; the loop stops
                self._guarded(lambda: self._send_header(_header(KEEPALIVE)))

    def _forward(self, ids: torch.Tensor, batch: Batch) -> torch.Tensor:
        assert self._cache is not None
        hidden = self.shard.model.forward(ids, batch, self._cache)  # local: a failure here is not fatal
        return self._guarded(lambda: self._exchange(hidden, batch))

    # ------------------------------------------------------------------ wire

    def _guarded(self, exchange: Callable[[], T]) -> T:
        """Run an exchange with the workers; any failure breaks the pipeline and stops the engine."""
        try:
            return exchange()
        except BaseException as e:
            self._pipeline_broken = True
            with self._lock:
                if self.error is None:
                    self.error = e
            self._stopping.set()
            self._wakeup.set()
            raise

    def _send_header(self, header: torch.Tensor) -> None:
        _send(header, 1, f"a {_KINDS[int(header[0])]} header", 0)
        self._last_sent = time.monotonic()

    def _exchange(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        encoded = batch.to_tensor()
        self._send_header(_header(STEP, encoded.numel(), hidden.shape[0], hidden.shape[1]))
        _send(encoded, 1, "the batch", 0)
        _send(hidden, 1, "hidden states", 0)
        logits = torch.empty((batch.num_rows, self.shard.config.vocab_size), dtype=self.shard.model.dtype)
        return _recv(logits, self.group.world_size - 1, "logits", 0)


def run_worker(group: Group, shard: Shard) -> int:
    """Serve this rank's layers of the pipeline until the leader shuts it down; returns the steps run.

    Raises :class:`PipelineError` when a peer dies or a receive passes the group's timeout.
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
    header = torch.empty(HEADER_LEN, dtype=torch.int64)
    cache: KVCache | None = None
    steps = 0
    with torch.inference_mode():
        while True:
            _recv(header, prev, "a header", rank)
            kind = int(header[0])
            if kind == STEP:
                if cache is None:
                    raise PipelineError(f"rank {rank}: a step arrived before the pipeline's hello")
                batch_len, rows, width = (int(v) for v in header[1:4])
                batch = Batch.from_tensor(_recv(torch.empty(batch_len, dtype=torch.int64), prev, "the batch", rank))
                hidden = torch.empty((rows, width, shard.config.hidden_size), dtype=model.dtype)
                _recv(hidden, prev, "hidden states", rank)
                out = model.forward(hidden, batch, cache)
                steps += 1
                if last:
                    _send(out, 0, "logits", rank)
                else:
                    _send(header, rank + 1, "a step header", rank)
                    _send(batch.to_tensor(), rank + 1, "the batch", rank)
                    _send(out, rank + 1, "hidden states", rank)
                continue
            if kind not in _KINDS:
                raise PipelineError(f"rank {rank}: unknown message kind {kind} from rank {prev}")
            if kind == HELLO:
                max_slots, max_len = int(header[1]), int(header[2])
                cache = model.new_cache(max_slots, max_len)
                logger.info("rank %d: %d slots x %d tokens for layers %s", rank, max_slots, max_len,
                            model.layer_range)
            if not last:
                _send(header, rank + 1, f"a {_KINDS[kind]} header", rank)
            if kind == SHUTDOWN:
                return steps
