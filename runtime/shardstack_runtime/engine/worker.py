"""A worker rank of a pipeline: its layers over every pass the previous rank sends, until the leader stops it.

Usage::

    group, shard = join_and_load(settings, ranges, timeout_s=300)   # a rank other than 0
    steps = run_worker(group, shard)                                # returns at the leader's shutdown

Each pass arrives as :mod:`.wire` describes; the worker runs its layers over the hidden states with its own
KV cache, allocated at the leader's hello and laid out like the leader's, and passes the result on. The last
rank samples (with the leader's draws) and sends rank 0 the tokens. The driving side is
:class:`~.pipeline.PipelineExecutor`.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import torch

from ..rendezvous import Group
from ..sampling import DRAW_FIELDS, sample_encoded
from ..shard import Shard
from ..timeouts import PIPELINE_TIMEOUT_S
from . import wire
from .batch import Batch
from .kv_cache import KVCache
from .wire import HEADER_LEN, HELLO, KINDS, SHUTDOWN, STEP, TIMINGS, PipelineError

logger = logging.getLogger(__name__)


def run_worker(group: Group, shard: Shard, *, pipeline_timeout_s: float = PIPELINE_TIMEOUT_S) -> int:
    """Serve this rank's layers of the pipeline until the leader shuts it down; returns the passes run.

    Raises :class:`~.wire.PipelineError` when a peer dies or a receive waits longer than
    ``pipeline_timeout_s`` (the leader's keep-alives arrive every second while it is idle).
    """
    rank, world = group.rank, group.world_size
    if rank == 0:
        raise ValueError("rank 0 runs the pipeline's engine (pipeline_engine), not run_worker")
    model = shard.model
    if model.is_first:
        raise ValueError(f"rank {rank} holds the first layers {model.layer_range}; only rank 0 may")
    if model.is_last != (rank == world - 1):
        raise ValueError(f"rank {rank} of {world} holds {model.layer_range}: only the last rank ends the model")
    if not shard.loaded:
        shard.load_weights()
    model.choose_compute()  # a no-op where the server chose it already
    stage = _Stage(group, shard, timedelta(seconds=pipeline_timeout_s))
    header = torch.empty(HEADER_LEN, dtype=torch.int64)
    with torch.inference_mode():
        while True:
            wire.recv(header, stage.prev, "a header", rank, stage.timeout)
            kind = int(header[0])
            if kind == STEP:
                stage.step(header)
                continue
            if kind not in KINDS:
                raise PipelineError(f"rank {rank}: unknown message kind {kind} from rank {stage.prev}")
            if kind == HELLO:
                stage.allocate(max_slots=int(header[1]), max_len=int(header[2]), lanes=int(header[3]))
            if not stage.last:
                wire.send(header, rank + 1, f"a {KINDS[kind]} header", rank)
            if kind == SHUTDOWN:
                return stage.steps


class _Stage:
    """This rank's place in the pipeline: its neighbours, its layers and KV cache, the passes it ran."""

    def __init__(self, group: Group, shard: Shard, timeout: timedelta) -> None:
        self.rank, self.world = group.rank, group.world_size
        self.prev, self.last = self.rank - 1, self.rank == self.world - 1
        self.timeout = timeout
        self.model = shard.model
        self.hidden_size = shard.config.hidden_size
        self.cache: KVCache | None = None
        self.steps = 0

    def allocate(self, *, max_slots: int, max_len: int, lanes: int) -> None:
        """The leader's hello: a KV cache laid out like the leader's."""
        self.cache = self.model.new_cache(max_slots, max_len, num_lanes=lanes)
        logger.info(
            "rank %d: %d slots x %d tokens in %d lanes for layers %s",
            self.rank,
            max_slots,
            max_len,
            lanes,
            self.model.layer_range,
        )

    def step(self, header: torch.Tensor) -> None:
        """Receive a pass's meta and hidden states, run this rank's layers, pass the result on."""
        rank, prev, timeout = self.rank, self.prev, self.timeout
        if self.cache is None:
            raise PipelineError(f"rank {rank}: a step arrived before the pipeline's hello")
        arrived = time.perf_counter()
        batch_len, rows, width, top = (int(v) for v in header[1:5])
        meta = wire.recv(
            torch.empty(wire.meta_len(batch_len, rows, self.world), dtype=torch.float64),
            prev,
            "the meta",
            rank,
            timeout,
        )
        hidden = wire.recv(
            torch.empty((rows, width, self.hidden_size), dtype=self.model.dtype), prev, "hidden states", rank, timeout
        )
        started = time.perf_counter()
        batch = Batch.from_tensor(meta[:batch_len].to(torch.int64))
        out = self.model.forward(hidden, batch, self.cache)
        if self.last:
            draws = meta[batch_len : batch_len + DRAW_FIELDS * rows].view(rows, DRAW_FIELDS)
            out = sample_encoded(out, draws, top).flatten()
        timings = meta[batch_len + DRAW_FIELDS * rows :]
        timings[TIMINGS * rank] = time.perf_counter() - started
        timings[TIMINGS * rank + 1] = started - arrived
        self.steps += 1
        if self.last:
            wire.send(torch.cat([out, timings]), 0, "tokens", rank)
        else:
            wire.send(header, rank + 1, "a step header", rank)
            wire.send(meta, rank + 1, "the meta", rank)
            wire.send(out.to("cpu"), rank + 1, "hidden states", rank)
