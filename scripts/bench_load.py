"""Weight-load benchmark (item 4 of bench_runtime.py): the loader, with and without verification, vs a raw read.

    .venv/bin/python scripts/bench_runtime.py --only load --repeat 7 [--write]

Measured side by side in each round, for a BLAKE3 manifest (what ``weights push`` writes) and a sha256
one (what older pushes wrote), from the page cache and from disk (the file's pages evicted first).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import torch
from bench_machine import cpu_line

__all__ = ["LOAD_BEGIN", "LOAD_CASES", "LOAD_END", "load_ratio", "load_section", "load_summary"]

LOAD_BEGIN, LOAD_END = "<!-- bench_runtime_load:begin -->", "<!-- bench_runtime_load:end -->"
LOAD_CASES = (("blake3", False), ("sha256", False), ("blake3", True), ("sha256", True))
"""(manifest hash, read from disk): new manifests and old (sha256) ones, from the page cache and from disk."""


def load_ratio(model_dir: Path, scratch: Path, repeat: int, *, hash_name: str, cold: bool) -> dict[str, float]:
    """Loader GiB/s (verify off, and on against a ``hash_name`` manifest) vs a parallel raw read of the same file.

    Each round times, one after the other, the raw read, the loader, the verified loader and the hash
    alone (every core hashing its slice of the bytes in memory), so that other work on the machine hits
    them alike; ratios are taken within a round, and their median and range over the rounds are
    returned (``ratio``, ``ratio_min``, ``ratio_max``; the same with ``_verified``) beside the median
    GiB/s. ``ceiling`` is what the verified load would reach if reading and hashing shared the cores
    perfectly, as a fraction of the raw read: 1 / (1/raw + 1/hash) / raw. With ``cold`` the file is
    evicted from the page cache (``posix_fadvise``, this file's pages only) before every timed read.
    """
    from shardstack_runtime.shard import open_shard
    from shardstack_runtime.weights.checkpoint import open_checkpoint
    from shardstack_runtime.weights.cli import push_checkpoint
    from shardstack_runtime.weights.loader import load_tensors

    stored = scratch / hash_name
    push_checkpoint(str(model_dir), str(stored), progress=False, hash_name=hash_name)  # + the manifest
    files = sorted(stored.glob("*.safetensors"))
    raw_read, hash_all, size = _raw_reader(files, hash_name)
    raw_read()  # page cache warm, buffers touched
    shard = open_shard(str(stored), dtype=torch.bfloat16)
    targets = shard.model.checkpoint_targets()
    checkpoint = open_checkpoint(str(stored))
    report = load_tensors(checkpoint, targets, verify=True)  # touches the targets: reused from here on
    assert report.verified and report.hash_name == hash_name, report
    fetched = report.bytes_fetched / (1 << 30)
    runs = {
        "raw": (size / (1 << 30), raw_read),
        "load": (fetched, lambda: load_tensors(checkpoint, targets, verify=False)),
        "load_verified": (fetched, lambda: load_tensors(checkpoint, targets, verify=True)),
        "hash": (size / (1 << 30), hash_all),
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, (gib, run) in runs.items():
            if cold:
                _evict(files)
            rates[name].append(gib / _seconds(run))
    result = {name: statistics.median(values) for name, values in rates.items()}
    for name, suffix in (("load", ""), ("load_verified", "_verified")):
        ratios = [ours / raw for ours, raw in zip(rates[name], rates["raw"], strict=True)]
        result |= {f"ratio{suffix}": statistics.median(ratios), f"ratio{suffix}_min": min(ratios)}
        result[f"ratio{suffix}_max"] = max(ratios)
    ceilings = [hashed / (raw + hashed) for raw, hashed in zip(rates["raw"], rates["hash"], strict=True)]
    return result | {"ceiling": statistics.median(ceilings)}


def _raw_reader(files: list[Path], hash_name: str) -> tuple[Callable[[], None], Callable[[], None], int]:
    """Return ``read()``, the ceiling: every core reading its slice of each file into a reused buffer;
    ``hash()``, every core hashing its slice of those buffers; and the bytes."""
    from concurrent.futures import ThreadPoolExecutor

    from shardstack_runtime.weights.hashing import new_hash

    sizes = [f.stat().st_size for f in files]
    workers = os.cpu_count() or 1
    buffers = [bytearray(size) for size in sizes]
    jobs = []
    for index, size in enumerate(sizes):
        step = -(-size // workers)
        jobs += [(index, s, min(s + step, size)) for s in range(0, size, step)]

    def piece(job: tuple[int, int, int]) -> None:
        index, start, end = job
        with files[index].open("rb", buffering=0) as handle:
            handle.seek(start)
            handle.readinto(memoryview(buffers[index])[start:end])

    def hash_piece(job: tuple[int, int, int]) -> None:
        index, start, end = job
        new_hash(hash_name).update(memoryview(buffers[index])[start:end])

    def read() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(piece, jobs))

    def hash_all() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(hash_piece, jobs))

    return read, hash_all, sum(sizes)


def _evict(files: list[Path]) -> None:
    """Drop these files' pages from the page cache (only theirs: other work on the machine keeps its cache)."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages are not dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def load_summary(load: dict[str, float]) -> str:
    """Return one load measurement as one line: GiB/s and the ratios to the raw read, median and range."""
    return (
        f"raw read on every core {load['raw']:.2f} GiB/s; loader {load['load']:.2f} GiB/s = "
        f"{load['ratio']:.2f}x the raw read ({load['ratio_min']:.2f}-{load['ratio_max']:.2f}); verified "
        f"{load['load_verified']:.2f} GiB/s = {load['ratio_verified']:.2f}x "
        f"({load['ratio_verified_min']:.2f}-{load['ratio_verified_max']:.2f}); hash alone on every core "
        f"{load['hash']:.2f} GiB/s, read+hash ceiling {load['ceiling']:.2f}x"
    )


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def load_section(
    command: str,
    repeat: int,
    loads: dict[tuple[str, bool], dict[str, float]],
    machine: dict[str, str],
    goals: Sequence[str] = (),
) -> str:
    """Return this run's weight-load section of docs/BENCHMARKS.md, between its begin and end markers.

    ``goals``: lines written after the table (the goals this section measured), none by default.
    """
    table = [
        "| manifest | read from | raw read GiB/s | loader GiB/s (÷ raw) | verified GiB/s | **verified ÷ raw** (range) "
        "| hash alone GiB/s | read+hash ceiling ÷ raw |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (hash_name, cold), r in loads.items():
        ceiling = "n/a (disk-bound)" if cold else f"{r['ceiling']:.2f}"
        table.append(
            f"| {hash_name} | {'disk (evicted)' if cold else 'page cache'} | {r['raw']:.2f} | {r['load']:.2f} "
            f"({r['ratio']:.2f}) | {r['load_verified']:.2f} | **{r['ratio_verified']:.2f}** "
            f"({r['ratio_verified_min']:.2f}-{r['ratio_verified_max']:.2f}) | {r['hash']:.2f} | {ceiling} |"
        )
    return "\n".join(
        [
            LOAD_BEGIN,
            "### Weight load (SmolLM2-135M-Instruct, bf16 targets)",
            "",
            f"Command: `{command}` ({datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}).",
            "",
            cpu_line(machine),
            "",
            f"Each of {repeat} rounds reads the same file one way after the other (targets reused): a raw "
            "parallel read into one buffer on every core (the ceiling), the loader without verification, the "
            "loader verifying every tensor against the manifest, and the hash alone (every core hashing its "
            "slice of the bytes in memory). Ratios are within a round; median (range) over the rounds. 'Disk "
            "(evicted)' drops the file's pages from the page cache before every timed read. The read+hash "
            "ceiling is 1 / (1/raw + 1/hash) over raw: what verification can reach when reading and hashing "
            "both need the CPU and share its cores perfectly.",
            "",
            *table,
            *goals,
            LOAD_END,
        ]
    )
