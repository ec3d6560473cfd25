"""Where the engine's passes run: the protocol its scheduler drives, and the executor that runs them here.

Usage::

    executor = LocalExecutor(shard)                       # a shard that holds every layer, weights loaded
    cache = executor.prepare(max_slots=8, max_model_len=2048, num_lanes=1)
    executor.submit(micro)                                # start a MicroBatch's pass
    executor.collect(micro)                               # its tokens are now in micro.tokens, .logprobs, .top

The scheduler (:mod:`.scheduler`) decides what each pass holds and what comes of its tokens; an
:class:`Executor` runs the passes, in the order they are submitted, and samples their tokens.
:class:`LocalExecutor` runs each pass at once in this process;
:class:`~shardstack_runtime.engine.pipeline.PipelineExecutor` sends it through the ranks of a pipeline and
keeps one pass per lane in flight.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..generation import EngineStats
from ..sampling import sample
from ..shard import Shard
from .kv_cache import KVCache
from .lanes import MicroBatch


class ExecutorBrokenError(RuntimeError):
    """The executor can run no more passes (say, a rank of its pipeline is lost): the engine stops with this error.

    Any other error from :meth:`Executor.submit` ends only the requests of the pass's lane.
    """


class Executor(Protocol):
    """What the engine drives: its passes' forward and sampling, and the KV cache they write."""

    @property
    def idle_wait_s(self) -> float | None:
        """While the engine has no work, call :meth:`idle` at least this often (None: just wait for work)."""
        ...

    def prepare(self, max_slots: int, max_model_len: int, num_lanes: int) -> KVCache:
        """Allocate the KV cache, its slots in ``num_lanes`` lanes (and have every peer allocate its own).

        Called once in the engine thread, with the weights loaded, before the warm-up passes.
        """
        ...

    def submit(self, micro: MicroBatch) -> None:
        """Start the micro-batch's pass; :meth:`collect` gets its tokens."""
        ...

    def collect(self, micro: MicroBatch) -> None:
        """Wait for the oldest pass submitted, ``micro``, and set its ``tokens``, ``logprobs`` and ``top``."""
        ...

    def idle(self) -> None:
        """Called in the engine thread while it has nothing to run (see :attr:`idle_wait_s`)."""
        ...

    def reset_stats(self) -> None:
        """Count from zero: called once the warm-up passes ran, so that the stats count serving only."""
        ...

    def add_stats(self, stats: EngineStats) -> None:
        """Add what the executor measures to the engine's ``stats``."""
        ...

    def stop(self) -> None:
        """Called once as the engine thread ends, whether it served or failed to start."""
        ...


class LocalExecutor:
    """Runs each pass at once, in the engine thread, over a shard that holds the whole model."""

    idle_wait_s: float | None = None

    def __init__(self, shard: Shard) -> None:
        if not (shard.model.is_first and shard.model.is_last):
            raise ValueError(
                f"Engine runs a whole model on one rank; this shard holds layers {shard.model.layer_range}"
            )
        self.model = shard.model
        self._cache: KVCache | None = None
        self._compute_seconds: float | None = None
        """Forward and sampling time of the passes run; None (not reported) until one ran."""

    def prepare(self, max_slots: int, max_model_len: int, num_lanes: int) -> KVCache:
        self._cache = self.model.new_cache(max_slots, max_model_len, num_lanes=num_lanes)
        return self._cache

    def submit(self, micro: MicroBatch) -> None:
        """Run the pass and sample its rows now; :meth:`collect` has nothing left to wait for."""
        assert self._cache is not None
        started = time.perf_counter()
        logits = self.model.forward(micro.ids, micro.batch, self._cache)
        rows = [row for row, draw in enumerate(micro.draws) if draw is not None]
        if rows:
            sampled = sample(logits[rows], [draw for draw in micro.draws if draw is not None], micro.top_logprobs)
            for row, token, logprob in zip(rows, sampled.tokens, sampled.logprobs, strict=True):
                micro.tokens[row], micro.logprobs[row] = token, logprob
            if micro.top_logprobs:
                for row, top in zip(rows, sampled.top(), strict=True):
                    micro.top[row] = top
        self._compute_seconds = (self._compute_seconds or 0.0) + time.perf_counter() - started

    def collect(self, micro: MicroBatch) -> None:
        pass

    def idle(self) -> None:
        pass

    def reset_stats(self) -> None:
        self._compute_seconds = 0.0

    def add_stats(self, stats: EngineStats) -> None:
        if self._compute_seconds is not None:
            stats.extra["compute_seconds"] = self._compute_seconds

    def stop(self) -> None:
        pass
