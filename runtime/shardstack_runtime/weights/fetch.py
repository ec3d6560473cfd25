"""Concurrent ranged reads of tensors' bytes into their targets, each range hashed in order as it arrives.

    jobs = [FetchJob(loc, path, where, destination=param, source_dtype=torch.bfloat16,
                     hash_name="blake3", on_digest=check)]
    fetched = fetch(fs, jobs, concurrency=8, chunk_bytes=16 << 20)   # bytes read
    digests = hash_ranges(fs, root, locations, hash_name="blake3")    # the same reads, hashed only

Reads: each range is cut into element-aligned pieces of at most ``chunk_bytes``, adjacent pieces of
one file are coalesced into reads of at most ``chunk_bytes``, and ``concurrency`` reads run at once
(at most one per core on a local filesystem, where a read is a memory copy). Bytes land straight in
the target when it is a contiguous CPU tensor of the stored dtype, else in a staging buffer that
``copy_`` converts into the target (any dtype, any device).

Hashing: a read is made of segments of at most :data:`HASH_SEGMENT_BYTES`, read one after the other;
each segment goes to its range's :class:`~.hashing.OrderedHash` as soon as it is filled, so it is
hashed while still in the reading core's cache when it is next in order, and otherwise parked for
the thread that fills the gap. Readers never wait for a hash: hashing overlaps the reads on every
core. A parked segment of a staging buffer keeps that buffer from reuse; buffers are handed out in
read order, at most :data:`STAGING_BUFFERS_PER_WORKER` per worker, so memory stays bounded and the
oldest read can always proceed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from fsspec.implementations.local import LocalFileSystem

from .hashing import OrderedHash
from .storage import join, read_into

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from .checkpoint import TensorLocation

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CONCURRENCY",
    "HASH_SEGMENT_BYTES",
    "STAGING_BUFFERS_PER_WORKER",
    "FetchJob",
    "fetch",
    "hash_ranges",
]

DEFAULT_CONCURRENCY = 8
DEFAULT_CHUNK_BYTES = 16 << 20
HASH_SEGMENT_BYTES = 1 << 20
"""Read and hash in steps of this size: small enough to stay in a core's L2 cache in between."""
STAGING_BUFFERS_PER_WORKER = 2
"""Staging buffers per worker thread: one being filled, one whose segments wait for an earlier one's hash."""


class FetchJob:
    """One byte range to fetch: where its bytes go and, when ``hash_name`` is given, its in-order hash.

    ``on_digest(hexdigest)`` is called once the whole range is hashed, in the thread that hashed its
    last segment; what it raises (a digest mismatch) fails :func:`fetch`.
    """

    def __init__(
        self,
        loc: TensorLocation,
        path: str,
        where: str,
        *,
        destination: torch.Tensor | None,
        source_dtype: torch.dtype,
        hash_name: str | None,
        on_digest: Callable[[str], None] | None = None,
    ) -> None:
        self.loc, self.path, self.where = loc, path, where
        self.source_dtype = source_dtype
        self.itemsize = source_dtype.itemsize
        self.flat = None if destination is None else destination.view(-1)
        # Bytes go straight into the target when no conversion is needed and it lives in host memory.
        self.direct: memoryview | None = None
        if (
            self.flat is not None
            and self.flat.device.type == "cpu"
            and self.flat.dtype == source_dtype
            and self.flat.numel() > 0
        ):
            self.direct = self.flat.view(torch.uint8).numpy().data.cast("B")
        self.hash_name = hash_name
        self.on_digest = on_digest or (lambda _: None)
        self.hash: OrderedHash | None = None
        """Made by the plan, which knows how many segments the range has."""

    @property
    def digest(self) -> str | None:
        """The range's hex digest once every segment is hashed."""
        return None if self.hash is None else self.hash.digest

    def write(self, piece: _Piece, buffer: bytearray, offset: int) -> None:
        """Convert a staged piece (``buffer[offset:]``) into the target."""
        if self.flat is None:
            return
        count = (piece.end - piece.start) // self.itemsize
        source = torch.frombuffer(buffer, dtype=self.source_dtype, count=count, offset=offset)
        first = (piece.start - self.loc.start) // self.itemsize
        self.flat[first : first + count].copy_(source)


@dataclass(eq=False)
class _Piece:
    """An element-aligned slice ``[start, end)`` (absolute file offsets) of one job's range."""

    job: FetchJob
    start: int
    end: int
    first_segment: int
    """The job-wide index of this piece's first hash segment."""

    def cuts(self) -> range:
        """Where the piece's segments start: every :data:`HASH_SEGMENT_BYTES` when hashed, else one cut."""
        step = HASH_SEGMENT_BYTES if self.job.hash_name is not None else max(1, self.end - self.start)
        return range(self.start, self.end, step)


@dataclass(eq=False)
class _Read:
    """One ranged read: contiguous pieces of one file."""

    path: str
    start: int
    end: int
    pieces: list[_Piece]
    ticket: int | None = None
    """Its turn for a staging buffer, in read order; None when every piece lands in its target."""
    staged: int = field(default=0)
    """Bytes that land in a staging buffer."""


class _StagingBuffers:
    """Reusable staging buffers: handed out in ticket (read) order, at most ``limit`` in existence."""

    def __init__(self, size: int, limit: int, abort: threading.Event) -> None:
        self._size, self._limit, self._abort = size, limit, abort
        self._free: list[bytearray] = []
        self._made = 0
        self._next_ticket = 0
        self._changed = threading.Condition()

    def take(self, ticket: int, holders: int) -> tuple[bytearray, Callable[[], None]]:
        """Wait for ``ticket``'s turn and a buffer; return it and a ``release`` that ``holders`` calls give back."""
        with self._changed:
            while ticket != self._next_ticket or (not self._free and self._made >= self._limit):
                if self._abort.is_set():
                    raise _Aborted
                self._changed.wait(0.05)
            self._next_ticket += 1
            if self._free:
                buffer = self._free.pop()
            else:
                # Fresh memory costs a page fault per page: reused buffers are touched once.
                buffer = bytearray(self._size)
                self._made += 1
            self._changed.notify_all()
        left = [holders]
        lock = threading.Lock()

        def release() -> None:
            with lock:
                left[0] -= 1
                done = left[0] == 0
            if done:
                with self._changed:
                    self._free.append(buffer)
                    self._changed.notify_all()

        return buffer, release


class _Aborted(Exception):
    """Another read failed; this one stops waiting for a staging buffer."""


def _plan(jobs: Sequence[FetchJob], chunk_bytes: int) -> list[_Read]:
    """Split ranges into element-aligned pieces and coalesce adjacent ones into reads ≤ chunk_bytes."""
    by_path: dict[str, list[FetchJob]] = {}
    for job in jobs:
        by_path.setdefault(job.path, []).append(job)
    reads: list[_Read] = []
    for path in sorted(by_path):
        current: _Read | None = None
        for job in sorted(by_path[path], key=lambda j: j.loc.start):
            step = max(job.itemsize, chunk_bytes // job.itemsize * job.itemsize)
            segments = 0
            for start in range(job.loc.start, job.loc.end, step):
                piece = _Piece(job, start, min(start + step, job.loc.end), segments)
                segments += len(piece.cuts())
                if current is not None and current.end == start and piece.end - current.start <= chunk_bytes:
                    current.pieces.append(piece)
                    current.end = piece.end
                else:
                    current = _Read(path, start, piece.end, [piece])
                    reads.append(current)
            if job.hash_name is not None:
                job.hash = OrderedHash(job.hash_name, segments, job.on_digest)
    tickets = 0
    for read in reads:
        read.staged = sum(p.end - p.start for p in read.pieces if p.job.direct is None)
        if read.staged:
            read.ticket, tickets = tickets, tickets + 1
    return reads


def _run(fs: AbstractFileSystem, read: _Read, buffers: _StagingBuffers, abort: threading.Event) -> int:
    """Read one ``_Read`` into its targets (or a staging buffer), handing each segment to its hash."""
    if abort.is_set():
        raise _Aborted
    buffer, release = None, None
    if read.ticket is not None:
        hashed = sum(len(p.cuts()) for p in read.pieces if p.job.direct is None and p.job.hash is not None)
        buffer, release = buffers.take(read.ticket, holders=hashed + 1)  # + 1: the conversion below
    view = memoryview(buffer) if buffer is not None else None
    outs: list[memoryview] = []
    segments: list[tuple[_Piece, int]] = []  # per out: its piece and its index in the job's hash
    offsets: list[int] = []  # per piece: where it lies in the staging buffer, or -1 in its target
    used = 0
    for piece in read.pieces:
        if piece.job.direct is not None:
            first = piece.start - piece.job.loc.start
            base = piece.job.direct[first : first + piece.end - piece.start]
            offsets.append(-1)
        else:
            assert view is not None
            base = view[used : used + piece.end - piece.start]
            offsets.append(used)
            used += piece.end - piece.start
        cuts = piece.cuts()
        for index, start in enumerate(cuts):
            outs.append(base[start - piece.start : min(start + cuts.step, piece.end) - piece.start])
            segments.append((piece, piece.first_segment + index))

    def filled(index: int) -> None:
        piece, segment = segments[index]
        if piece.job.hash is not None:
            piece.job.hash.add(segment, outs[index], release if piece.job.direct is None else None)

    try:
        read_into(fs, read.path, read.start, outs, filled)
    except OSError as e:
        names = ", ".join(repr(p.job.loc.name) for p in read.pieces)
        raise OSError(f"reading bytes [{read.start}, {read.end}) of {read.path} (tensors {names}) failed: {e}") from e
    for piece, offset in zip(read.pieces, offsets, strict=True):
        if offset >= 0:
            assert buffer is not None
            piece.job.write(piece, buffer, offset)
    if release is not None:
        release()
    return read.end - read.start


def fetch(
    fs: AbstractFileSystem,
    jobs: Sequence[FetchJob],
    *,
    concurrency: int,
    chunk_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run every job's reads on a bounded thread pool; return the bytes fetched.

    ``progress(bytes_done, bytes_total)`` is called from the calling thread. The first error (a
    failed read, or what a job's ``on_digest`` raised) stops the other reads and is raised here.
    """
    reads = _plan(jobs, chunk_bytes)
    total = sum(read.end - read.start for read in reads)
    abort = threading.Event()
    if progress is not None:
        progress(0, total)
    if reads:
        workers = min(concurrency, len(reads))
        if isinstance(fs, LocalFileSystem):
            # Reads from the page cache are memory copies: threads beyond the cores only contend.
            workers = min(workers, _usable_cpus())
        size = max(read.staged for read in reads)
        buffers = _StagingBuffers(size, STAGING_BUFFERS_PER_WORKER * workers, abort)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shardstack-fetch") as pool:
            # Submitted in read order, and the pool starts them in that order: staging tickets rely on it.
            futures = [pool.submit(_run, fs, read, buffers, abort) for read in reads]
            done = 0
            try:
                for future in as_completed(futures):
                    done += future.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                abort.set()
                for future in futures:
                    future.cancel()
                raise
    for job in jobs:
        if job.hash is not None and job.hash.segments == 0:  # an empty range: nothing was read
            job.hash.finish()
    return total


def hash_ranges(
    fs: AbstractFileSystem,
    root: str,
    locations: Sequence[TensorLocation],
    *,
    hash_name: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Return the hex digest (``hash_name``: blake3 or sha256) of each location's bytes, in order.

    A location is ``[start, end)`` of ``root/file``. The same chunked, concurrent reads and hashing
    as :func:`.loader.load_tensors`, without targets; used to build and verify manifests (a whole file
    is a location of dtype ``U8`` spanning it).
    """
    jobs = [
        FetchJob(
            loc,
            join(root, loc.file),
            f"{root}/{loc.file}: {loc.name!r}",
            destination=None,
            source_dtype=torch.uint8,
            hash_name=hash_name,
        )
        for loc in locations
    ]
    fetch(fs, jobs, concurrency=concurrency, chunk_bytes=chunk_bytes, progress=progress)
    return [job.digest or "" for job in jobs]


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
