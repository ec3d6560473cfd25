"""``shardstack-runtime local --shards N``: a whole replica group as processes on this machine.

    shardstack-runtime local --shards 2 --model-uri ./smollm2 --api-port 8000

Each rank is a ``shardstack-runtime serve`` process, configured through the same ``SHARDSTACK_*``
variables a pod gets: the code path is the one that runs in Kubernetes. Rank 0 serves the API on
``--api-port`` and its probes on ``--metrics-port``; rank ``r`` serves its probes on ``--metrics-port + r``.

Placement: the CPUs this process may use are cut into ``N`` disjoint sets, one per rank (sizes differing by
at most one, the extra ones to the lowest ranks: rank 0 also runs the scheduler and the HTTP server). Each
rank is pinned to its set (``sched_setaffinity``) and runs as many torch threads as it has CPUs, so two
busy ranks never share a core. With fewer CPUs than ranks, ranks share CPUs round-robin, one thread each,
and a warning says so.

Ctrl-C or SIGTERM stops every rank. When one rank exits the others are stopped too (a pipeline without
one of its ranks cannot serve), and the command exits with the first failing rank's code: 0 when every
rank stopped cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection

from .timeouts import DRAIN_TIMEOUT_S

STOP_GRACE_S = DRAIN_TIMEOUT_S + 30.0
"""How long the group may take to stop: the leader's drain, then the ranks leaving the group."""
POLL_S = 0.2


def cpu_sets(cpus: list[int], shards: int) -> list[list[int]]:
    """One CPU set per rank: disjoint when there are enough CPUs, else shared round-robin (one CPU each)."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1; got {shards}")
    cpus = sorted(cpus)
    if len(cpus) < shards:
        return [[cpus[r % len(cpus)]] for r in range(shards)]
    size, extra = divmod(len(cpus), shards)
    sets, start = [], 0
    for rank in range(shards):
        end = start + size + (1 if rank < extra else 0)
        sets.append(cpus[start:end])
        start = end
    return sets


def gpu_sets(gpus: int, shards: int) -> list[list[int]] | None:
    """Each rank's GPUs (its CUDA_VISIBLE_DEVICES): an equal share, when every rank can have one; else None."""
    if gpus < shards:
        return None
    share = gpus // shards
    return [list(range(rank * share, (rank + 1) * share)) for rank in range(shards)]


def visible_gpus() -> int:
    """CUDA devices this process may use (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def free_ports(count: int = 1, host: str = "127.0.0.1", avoid: Collection[int] = ()) -> int:
    """The first of ``count`` consecutive free ports on ``host`` (rank r's probes listen on the first + r), none of
    them in ``avoid``: ports already promised to the group but not yet bound, so free to the OS."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            first = s.getsockname()[1]
        if set(range(first, first + count)) & set(avoid):
            continue
        try:
            for port in range(first + 1, first + count):
                with socket.socket() as s:
                    s.bind((host, port))
            return first
        except OSError:
            continue


def add_local_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", type=int, required=True, help="ranks in the group, each a local process")
    parser.add_argument("--host", default="127.0.0.1", help="address every rank listens on (default 127.0.0.1)")
    parser.add_argument("--api-port", type=int, default=8000, help="rank 0's OpenAI API port (default 8000)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9090,
        help="rank 0's health/ready/metrics port; rank r uses this + r (default 9090)",
    )
    parser.add_argument("--rendezvous-port", type=int, help="rank 0's rendezvous port (default: a free port)")


def _serve_flags(args: argparse.Namespace) -> list[str]:
    """The shared serving flags, passed on to every rank's ``serve``."""
    flags = []
    for name in (
        "dtype",
        "max_slots",
        "max_waiting",
        "max_model_len",
        "model_name",
        "micro_batches",
        "layer_split",
        "balance",
        "rendezvous_timeout",
        "pipeline_timeout",
        "drain_timeout",
    ):
        value = getattr(args, name)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def rank_commands(
    args: argparse.Namespace, cpus: list[int], gpus: list[list[int]] | None = None
) -> list[tuple[list[str], dict[str, str], list[int]]]:
    """Each rank's command line, environment and CPU set; with ``gpus``, each rank's own GPUs too."""
    promised = {args.api_port, *range(args.metrics_port, args.metrics_port + args.shards)}
    rendezvous_port = args.rendezvous_port or free_ports(1, args.host, avoid=promised)
    sets = cpu_sets(cpus, args.shards)
    ranks = []
    for rank, cpu_set in enumerate(sets):
        env = {
            **os.environ,
            "SHARDSTACK_WORLD_SIZE": str(args.shards),
            "SHARDSTACK_RANK": str(rank),
            "SHARDSTACK_RANKS_HERE": "1",  # each child is one rank
            "SHARDSTACK_LEADER_ADDR": args.host,
            "SHARDSTACK_RENDEZVOUS_PORT": str(rendezvous_port),
            "SHARDSTACK_API_PORT": str(args.api_port),
            "SHARDSTACK_METRICS_PORT": str(args.metrics_port + rank),
            # Without a GPU share each, ranks run on their CPUs; the pipeline runs over gloo either way.
            "SHARDSTACK_DEVICE": "cuda" if gpus else "cpu",
            "OMP_NUM_THREADS": str(len(cpu_set)),
        }
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus[rank]))
        if args.model_uri:
            env["SHARDSTACK_MODEL_URI"] = args.model_uri
        command = [sys.executable, "-m", "shardstack_runtime.cli", "serve", "--host", args.host, *_serve_flags(args)]
        ranks.append((command, env, cpu_set))
    return ranks


def _pin(cpu_set: list[int]) -> Callable[[], None] | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cpu_set)  # runs in the child, before it execs


def is_ready(url: str) -> bool:
    """Whether ``url`` (a rank's /ready) answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def run_local(args: argparse.Namespace, gpus: list[list[int]] | None = None) -> int:
    """Run the group of ``args.shards`` ranks until stopped; with ``gpus``, each rank on its own share of them."""
    if args.shards < 1:
        print(f"error: --shards {args.shards}: must be at least 1", file=sys.stderr)
        return 2
    cpus = available_cpus()
    ranks = rank_commands(args, cpus, gpus)
    if len(cpus) < args.shards:
        print(
            f"warning: {args.shards} ranks on {len(cpus)} CPUs: ranks share CPUs, so they slow each other down",
            file=sys.stderr,
            flush=True,
        )
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[subprocess.Popen] = []
    try:
        for rank, (command, env, cpu_set) in enumerate(ranks):
            print(
                f"rank {rank}: CPUs {','.join(map(str, cpu_set))}, {len(cpu_set)} threads", file=sys.stderr, flush=True
            )
            # The children ignore the terminal's Ctrl-C (own session); this process stops them in order.
            procs.append(
                subprocess.Popen(
                    command, env=env, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpu_set), start_new_session=True
                )
            )
        code = _supervise(args, procs, stop)
    finally:
        _stop_all(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _supervise(args: argparse.Namespace, procs: list[subprocess.Popen], stop: dict[str, int]) -> int:
    """Wait until a signal comes or a rank exits; return the exit code for the whole group."""
    ready_url = f"http://{args.host}:{args.metrics_port}/ready"
    announced = False
    while not stop["signal"]:
        for rank, proc in enumerate(procs):
            code = proc.poll()
            if code is not None:
                if code != 0:
                    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                    print(f"error: rank {rank} {how}; stopping the other ranks", file=sys.stderr, flush=True)
                    return code if code > 0 else 128 - code  # the shell's convention for a signal
                print(f"rank {rank} stopped; stopping the other ranks", file=sys.stderr, flush=True)
                return 0
        if not announced and is_ready(ready_url):
            announced = True
            print(
                f"ready: {len(procs)} ranks serving http://{args.host}:{args.api_port}/v1", file=sys.stderr, flush=True
            )
        time.sleep(POLL_S)
    print(f"stopping {len(procs)} ranks", file=sys.stderr, flush=True)
    return 0


def _stop_all(procs: list[subprocess.Popen]) -> None:
    """Stop the leader first (it drains its running requests, then tells the workers to stop), then any rank still
    running; SIGKILL after a grace."""
    deadline = time.monotonic() + STOP_GRACE_S
    for group in (procs[:1], procs[1:]):
        for proc in group:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in group:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
