"""Fetch exactly the tensors a rank needs from a checkpoint into preallocated tensors, verifying them.

    ckpt = open_checkpoint(settings.model_uri)
    report = load_tensors(ckpt, {name: param for name, param in my_layers.named_parameters()})
    log.info("%s", report)      # bytes fetched, GiB/s, whether sha256 was verified against the manifest

Only the byte ranges of the requested tensors are read: adjacent tensors are coalesced into ranged
reads of at most ``chunk_bytes``, big tensors split into element-aligned pieces, and ``concurrency``
reads run at once. Bytes land directly in the target when it is a contiguous CPU tensor of the
stored dtype, else in a per-thread reusable buffer that ``copy_`` converts into the target (any
dtype, any device). With a manifest every tensor's sha256 is checked as its last piece arrives, and
a mismatch raises :class:`WeightsCorruptError` naming file and tensor before the call returns.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from fsspec.implementations.local import LocalFileSystem

from .storage import join, read_into

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from .checkpoint import Checkpoint, TensorLocation

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CONCURRENCY",
    "DTYPES",
    "LoadReport",
    "WeightsCorruptError",
    "hash_ranges",
    "load_tensors",
]

DEFAULT_CONCURRENCY = 8
DEFAULT_CHUNK_BYTES = 16 << 20

# safetensors dtype → torch dtype, for the dtypes the loader can convert from.
DTYPES: Mapping[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class WeightsCorruptError(ValueError):
    """Stored weights do not match the checkpoint's manifest; the message names the file and tensor."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_tensors` fetched, how fast, and whether it was verified."""

    bytes_fetched: int
    seconds: float
    tensors: int
    files: int
    verified: bool = False
    """True when every tensor's sha256 matched the manifest."""
    manifest_digest: str | None = None
    """The model revision of the manifest checked against (None when not verified)."""
    note: str = ""
    """Why the load was not verified, when it was not."""

    @property
    def gib_per_s(self) -> float:
        return self.bytes_fetched / 2**30 / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        check = f"sha256 verified against manifest {self.manifest_digest}" if self.verified else self.note
        return (
            f"loaded {self.tensors} tensors from {self.files} files: {self.bytes_fetched / 2**30:.3f} GiB in "
            f"{self.seconds:.2f} s ({self.gib_per_s:.2f} GiB/s); {check}"
        )


def load_tensors(
    checkpoint: Checkpoint,
    targets: Mapping[str, torch.Tensor],
    *,
    verify: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Copy the checkpoint tensors named by ``targets`` into the given tensors, converting dtype.

    ``targets`` maps a checkpoint tensor name to a preallocated tensor of the same shape (any dtype,
    any device). Only those tensors' bytes are fetched. With ``verify`` and a manifest, each tensor's
    sha256 must match it, or :class:`WeightsCorruptError` is raised naming file and tensor; without a
    manifest the load goes ahead and the report says it was not verified. Unknown names, shape
    mismatches and unsupported dtypes raise ``ValueError`` listing every problem before anything is
    fetched. ``progress(bytes_done, bytes_total)`` is called from the calling thread.
    """
    if concurrency < 1 or chunk_bytes < 1:
        raise ValueError(f"concurrency and chunk_bytes must be positive; got {concurrency} and {chunk_bytes}")
    started = time.perf_counter()
    manifest = checkpoint.manifest if verify else None
    problems: list[str] = []
    corrupt: list[str] = []
    jobs: list[_Job] = []
    staged_targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, target in targets.items():
        if name not in checkpoint.tensor_names:
            problems.append(f"{checkpoint.uri}: no tensor {name!r} in {', '.join(checkpoint.safetensors_files)}")
            continue
        loc = checkpoint.locate(name)
        where = f"{checkpoint.uri}/{loc.file}: tensor {name!r}"
        source_dtype = DTYPES.get(loc.dtype)
        if source_dtype is None:
            problems.append(f"{where}: stored dtype {loc.dtype} is not supported (supported: {', '.join(DTYPES)})")
            continue
        if tuple(target.shape) != loc.shape:
            problems.append(
                f"{where}: expected shape {list(target.shape)} (the target), found {loc.dtype}"
                f"{list(loc.shape)} in the checkpoint"
            )
            continue
        if target.device.type == "meta":
            problems.append(f"{where}: the target is on the meta device; allocate it first")
            continue
        expected = None
        if manifest is not None:
            entry = manifest.tensor(name)
            if entry is None:
                corrupt.append(f"{where}: not listed in the manifest")
                continue
            file, record = entry
            found = (loc.file, loc.dtype, loc.shape, loc.start, loc.end)
            if (file, record.dtype, record.shape, record.start, record.end) != found:
                corrupt.append(
                    f"{where}: the header says {loc.dtype}{list(loc.shape)} at bytes [{loc.start}, "
                    f"{loc.end}), the manifest says {record.dtype}{list(record.shape)} at bytes "
                    f"[{record.start}, {record.end}) of {file}"
                )
                continue
            expected = record.sha256
        destination = target.detach()
        if not destination.is_contiguous():
            destination = torch.empty(loc.shape, dtype=target.dtype, device=target.device)
            staged_targets.append((target, destination))
        jobs.append(
            _Job(
                loc,
                checkpoint.path(loc.file),
                where,
                destination=destination,
                source_dtype=source_dtype,
                hash_bytes=expected is not None,
                expected_sha256=expected,
            )
        )
    if problems:
        raise ValueError("cannot load the requested tensors:\n  " + "\n  ".join(problems))
    if corrupt:
        raise WeightsCorruptError(
            "the checkpoint does not match its manifest; refusing to load:\n  " + "\n  ".join(corrupt)
        )

    fetched = _fetch(checkpoint.fs, jobs, concurrency=concurrency, chunk_bytes=chunk_bytes, progress=progress)
    for target, staging in staged_targets:
        target.detach().copy_(staging)
    if manifest is not None:
        verified, digest, note = True, manifest.digest, ""
    else:
        verified, digest = False, None
        note = (
            "not verified: verify=False"
            if not verify
            else f"not verified: {checkpoint.uri} has no shardstack-manifest.json"
        )
    return LoadReport(
        bytes_fetched=fetched,
        seconds=time.perf_counter() - started,
        tensors=len(jobs),
        files=len({job.path for job in jobs}),
        verified=verified,
        manifest_digest=digest,
        note=note,
    )


def hash_ranges(
    fs: AbstractFileSystem,
    root: str,
    locations: Sequence[TensorLocation],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Return the sha256 hex digest of each location's bytes (``[start, end)`` of ``root/file``), in order.

    The same chunked, concurrent reads as :func:`load_tensors`, without targets; used to build and
    verify manifests (a whole file is a location of dtype ``U8`` spanning it).
    """
    jobs = [
        _Job(
            loc,
            join(root, loc.file),
            f"{root}/{loc.file}: {loc.name!r}",
            destination=None,
            source_dtype=torch.uint8,
            hash_bytes=True,
            expected_sha256=None,
        )
        for loc in locations
    ]
    _fetch(fs, jobs, concurrency=concurrency, chunk_bytes=chunk_bytes, progress=progress)
    return [job.digest or "" for job in jobs]


class _Aborted(Exception):
    """Another piece failed; this worker stops waiting for its turn."""


class _Job:
    """One tensor to fetch: where its bytes go and its in-order sha256."""

    def __init__(
        self,
        loc: TensorLocation,
        path: str,
        where: str,
        *,
        destination: torch.Tensor | None,
        source_dtype: torch.dtype,
        hash_bytes: bool,
        expected_sha256: str | None,
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
        self.hasher = hashlib.sha256() if hash_bytes else None
        self.expected_sha256 = expected_sha256
        self.digest: str | None = None
        self.pieces = 0
        self._next_piece = 0
        self._turn = threading.Condition()

    def write(self, piece: _Piece, buffer: bytearray, offset: int) -> None:
        """Convert a staged piece (``buffer[offset:]``) into the target."""
        if self.flat is None:
            return
        count = (piece.end - piece.start) // self.itemsize
        source = torch.frombuffer(buffer, dtype=self.source_dtype, count=count, offset=offset)
        first = (piece.start - self.loc.start) // self.itemsize
        self.flat[first : first + count].copy_(source)

    def hash(self, piece: _Piece, data: memoryview, abort: threading.Event) -> None:
        """Feed one piece to the sha256 in file order, waiting for the previous piece's turn."""
        if self.hasher is None:
            return
        with self._turn:
            while self._next_piece != piece.index:
                if abort.is_set():
                    raise _Aborted
                self._turn.wait(0.05)
            self.hasher.update(data)
            self._next_piece += 1
            last = self._next_piece == self.pieces
            self._turn.notify_all()
        if last:
            self.finish()

    def finish(self) -> None:
        assert self.hasher is not None
        self.digest = self.hasher.hexdigest()
        if self.expected_sha256 is not None and self.digest != self.expected_sha256:
            raise WeightsCorruptError(
                f"{self.where}: sha256 of its stored bytes [{self.loc.start}, {self.loc.end}) "
                f"is {self.digest}, the manifest says {self.expected_sha256}: the stored "
                "weights are corrupt; refusing to load"
            )


@dataclass(eq=False)
class _Piece:
    """An element-aligned slice ``[start, end)`` (absolute file offsets) of one job's tensor."""

    job: _Job
    index: int
    start: int
    end: int


@dataclass(eq=False)
class _Read:
    """One ranged read: contiguous pieces of one file."""

    path: str
    start: int
    end: int
    pieces: list[_Piece]


def _plan(jobs: Sequence[_Job], chunk_bytes: int) -> list[_Read]:
    """Split tensors into element-aligned pieces and coalesce adjacent ones into reads ≤ chunk_bytes."""
    by_path: dict[str, list[_Job]] = defaultdict(list)
    for job in jobs:
        by_path[job.path].append(job)
    reads: list[_Read] = []
    for path in sorted(by_path):
        current: _Read | None = None
        for job in sorted(by_path[path], key=lambda j: j.loc.start):
            step = max(job.itemsize, chunk_bytes // job.itemsize * job.itemsize)
            starts = range(job.loc.start, job.loc.end, step)
            job.pieces = len(starts)
            for index, start in enumerate(starts):
                piece = _Piece(job, index, start, min(start + step, job.loc.end))
                if current is not None and current.end == start and piece.end - current.start <= chunk_bytes:
                    current.pieces.append(piece)
                    current.end = piece.end
                else:
                    current = _Read(path, start, piece.end, [piece])
                    reads.append(current)
    return reads


def _fetch(
    fs: AbstractFileSystem,
    jobs: Sequence[_Job],
    *,
    concurrency: int,
    chunk_bytes: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Run every job's reads on a bounded thread pool; return the bytes fetched."""
    reads = _plan(jobs, chunk_bytes)
    total = sum(read.end - read.start for read in reads)
    abort = threading.Event()
    local = threading.local()

    def staging_buffer(size: int) -> bytearray:
        # One buffer per worker thread, reused for every read: fresh memory costs a page fault per page.
        buffer = getattr(local, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = local.buffer = bytearray(max(size, min(chunk_bytes, total)))
        return buffer

    def run(read: _Read) -> int:
        if abort.is_set():
            raise _Aborted
        staged = sum(p.end - p.start for p in read.pieces if p.job.direct is None)
        buffer = staging_buffer(staged) if staged else None
        view = memoryview(buffer) if buffer is not None else None
        outs: list[memoryview] = []
        offsets: list[int] = []
        used = 0
        for piece in read.pieces:
            size = piece.end - piece.start
            if piece.job.direct is not None:
                first = piece.start - piece.job.loc.start
                outs.append(piece.job.direct[first : first + size])
                offsets.append(-1)
            else:
                assert view is not None
                outs.append(view[used : used + size])
                offsets.append(used)
                used += size
        try:
            read_into(fs, read.path, read.start, outs)
        except OSError as e:
            names = ", ".join(repr(p.job.loc.name) for p in read.pieces)
            raise OSError(
                f"reading bytes [{read.start}, {read.end}) of {read.path} (tensors {names}) failed: {e}"
            ) from e
        for piece, out, offset in zip(read.pieces, outs, offsets, strict=True):
            if offset >= 0:
                assert buffer is not None
                piece.job.write(piece, buffer, offset)
            piece.job.hash(piece, out, abort)
        return read.end - read.start

    if progress is not None:
        progress(0, total)
    if reads:
        workers = min(concurrency, len(reads))
        if isinstance(fs, LocalFileSystem):
            # Reads from the page cache are memory copies: threads beyond the cores only contend.
            workers = min(workers, _usable_cpus())
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shardstack-fetch") as pool:
            futures = [pool.submit(run, read) for read in reads]
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
        if job.pieces == 0 and job.hasher is not None:  # an empty tensor: nothing was read
            job.finish()
    return total


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
