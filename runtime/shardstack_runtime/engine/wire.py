"""What crosses the wire between the ranks of a pipeline, over torch.distributed point-to-point.

One pass crosses each hop as three preallocated, contiguous host tensors, with no pickles (on GPUs the
hidden states are copied to the host and sent over gloo too: correct everywhere, and on CPUs the only
path; sending them device to device over NCCL is the next step for GPU clusters):

- a fixed-size int64 header (:func:`encode_header`): message kind, and for a step the batch's encoded
  length, rows, width and how many likeliest tokens the last rank reports per row (0 unless a request of
  the pass asked for logprobs);
- a float64 *meta* tensor (:func:`meta_len`): the :class:`~.batch.Batch` (:meth:`~.batch.Batch.to_tensor`),
  the rows' sampling draws (:func:`~shardstack_runtime.sampling.encode_draws`, the random number included,
  so that a seeded request samples the same tokens however it is split) and each rank's timings;
- the hidden states ``[B, S, hidden]``.

The last rank samples and sends rank 0 only ``[2, B]`` token ids and logprobs plus the timings, or
``[2 + 2k, B]`` with each row's ``k`` likeliest tokens and their logprobs for a pass that asked for them
(:func:`~shardstack_runtime.sampling.sample_encoded`). Control messages are a header alone: the leader's
hello (slots, tokens per slot and lanes of the KV cache every rank allocates), keep-alives while it is idle,
and shutdown. Every rank but the last passes each message on to the next.
"""

from __future__ import annotations

from datetime import timedelta

import torch
import torch.distributed as dist

from ..sampling import DRAW_FIELDS
from .executor import ExecutorBrokenError

HEADER_LEN = 8
# Message kinds (header[0]).
STEP, HELLO, KEEPALIVE, SHUTDOWN = 1, 2, 3, 4
KINDS = {STEP: "step", HELLO: "hello", KEEPALIVE: "keep-alive", SHUTDOWN: "shutdown"}
TIMINGS = 2
"""Per rank in the meta tensor: compute seconds and transfer seconds of the pass."""


class PipelineError(ExecutorBrokenError):
    """A pipeline exchange failed: a peer died, timed out, or sent something unexpected."""


def encode_header(kind: int, *values: int) -> torch.Tensor:
    header = torch.zeros(HEADER_LEN, dtype=torch.int64)
    header[0] = kind
    header[1 : 1 + len(values)] = torch.tensor(values, dtype=torch.int64)
    return header


def meta_len(batch_len: int, rows: int, world_size: int) -> int:
    """Length of a step's meta tensor: the encoded batch, the rows' draws, every rank's timings."""
    return batch_len + DRAW_FIELDS * rows + TIMINGS * world_size


def started(work: dist.Work | None) -> dist.Work:
    """The handle of a started isend/irecv; torch returns None only to a process outside the group."""
    if work is None:
        raise PipelineError("this process is not a member of the pipeline's process group")
    return work


def recv(tensor: torch.Tensor, src: int, what: str, rank: int, timeout: timedelta) -> torch.Tensor:
    """Receive into ``tensor`` from rank ``src``, waiting at most ``timeout``; ``what`` names it in errors."""
    try:
        started(dist.irecv(tensor, src=src)).wait(timeout)
    except Exception as e:  # gloo raises RuntimeError / DistBackendError on timeout or a closed peer
        raise PipelineError(f"rank {rank}: receiving {what} from rank {src} failed: {e}") from e
    return tensor


def send(tensor: torch.Tensor, dst: int, what: str, rank: int) -> None:
    """Send ``tensor`` to rank ``dst``; ``what`` names it in errors."""
    try:
        dist.send(tensor.contiguous(), dst=dst)
    except Exception as e:
        raise PipelineError(f"rank {rank}: sending {what} to rank {dst} failed: {e}") from e
