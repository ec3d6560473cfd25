"""torch's parallel kernels in one thread per serving process: its compute thread (the engine's, or a worker rank's).

torch on Linux runs its kernels on OpenMP (libgomp). libgomp keeps a pool of worker threads for every thread that
has run a parallel region, for as long as that thread lives; once the pools together hold more threads than the
machine has CPUs, it stops spinning at its barriers and sleeps on a futex instead, so each of the hundreds of
small parallel regions of a decode step waits for a wake-up. Measured on 2 cores (SmolLM2-135M, bf16, one row):
a decode step takes 33 ms when only the compute thread has a pool and 51-56 ms once the main thread has one too
(it had built the rotary tables, a few parallel regions at start).

So a serving process calls :func:`leave_cores_to_compute` first, which makes torch run single-threaded in the
calling thread and in threads that start later, and its compute thread calls :func:`compute_here` with the
count. Threads that do torch work and end (a load's readers) free their pool with them: only threads that
live on matter.

The count is the CPUs torch sees, but no more than the pod's CPU quota: a pod limited to 4 CPUs on a 64-core
node sees 64, and 64 threads on 4 CPUs' worth of time would spend it waiting for each other.
``OMP_NUM_THREADS``, when set, wins (``shardstack-runtime local`` sets it per rank).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .memory import CGROUP


def leave_cores_to_compute() -> int:
    """Run torch's kernels on one core in this thread and in threads started from now on; return the compute count."""
    threads = compute_threads(torch.get_num_threads())
    torch.set_num_threads(1)
    return threads


def compute_here(threads: int) -> None:
    """Give the calling thread, the process's compute thread, ``threads`` cores for torch's kernels."""
    torch.set_num_threads(threads)


def compute_threads(visible: int, env: Mapping[str, str] | None = None, cgroup: Path = CGROUP) -> int:
    """The compute thread's count: ``visible`` (torch's) capped by the CPU quota, unless OMP_NUM_THREADS set it."""
    env = os.environ if env is None else env
    if env.get("OMP_NUM_THREADS"):
        return visible
    quota = cpu_quota(cgroup)
    return visible if quota is None else max(1, min(visible, quota))


def cpu_quota(cgroup: Path = CGROUP) -> int | None:
    """CPUs' worth of time the cgroup may use (``cpu.max``: quota and period, rounded up); None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError):
        return None
