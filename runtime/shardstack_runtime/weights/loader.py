"""Fetch exactly the tensors a rank needs from a checkpoint into preallocated tensors, verifying them.

    ckpt = open_checkpoint(settings.model_uri)
    report = load_tensors(ckpt, {name: param for name, param in my_layers.named_parameters()})
    log.info("%s", report)      # bytes fetched, GiB/s, whether it was verified against the manifest

Only the byte ranges of the requested tensors are read: adjacent tensors are coalesced into ranged
reads of at most ``chunk_bytes``, big tensors split into element-aligned pieces, and ``concurrency``
reads run at once (:mod:`.fetch`). Bytes land directly in the target when it is a contiguous CPU
tensor of the stored dtype, else in a reusable staging buffer that ``copy_`` converts into the
target (any dtype, any device). With a manifest every tensor is hashed with the manifest's algorithm
(BLAKE3, or sha256 for older manifests) while its pieces arrive, on every core beside the reads, and
a mismatch raises :class:`WeightsCorruptError` naming file and tensor before the call returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from .fetch import DEFAULT_CHUNK_BYTES, DEFAULT_CONCURRENCY, FetchJob, fetch

if TYPE_CHECKING:
    from .checkpoint import Checkpoint, TensorLocation
    from .manifest import Manifest

__all__ = ["DTYPES", "LoadReport", "WeightsCorruptError", "load_tensors"]

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
    """True when every tensor's hash matched the manifest."""
    manifest_digest: str | None = None
    """The model revision of the manifest checked against (None when not verified)."""
    hash_name: str | None = None
    """The manifest's hash algorithm, ``blake3`` or ``sha256`` (None when not verified)."""
    note: str = ""
    """Why the load was not verified, when it was not."""

    @property
    def gib_per_s(self) -> float:
        return self.bytes_fetched / 2**30 / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        check = f"{self.hash_name} verified against manifest {self.manifest_digest}" if self.verified else self.note
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
    hash must match it, or :class:`WeightsCorruptError` is raised naming file and tensor; without a
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
    jobs: list[FetchJob] = []
    staged_targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    for name, target in targets.items():
        problem = _target_problem(checkpoint, name, target)
        if problem is not None:
            problems.append(problem)
            continue
        loc = checkpoint.locate(name)
        where = f"{checkpoint.uri}/{loc.file}: tensor {name!r}"
        on_digest = None
        if manifest is not None:
            disagreement = _manifest_disagreement(manifest, loc)
            if disagreement is not None:
                corrupt.append(f"{where}: {disagreement}")
                continue
            on_digest = _digest_check(where, loc, manifest)
        destination = target.detach()
        if not destination.is_contiguous():
            destination = torch.empty(loc.shape, dtype=target.dtype, device=target.device)
            staged_targets.append((target, destination))
        jobs.append(
            FetchJob(
                loc,
                checkpoint.path(loc.file),
                where,
                destination=destination,
                source_dtype=DTYPES[loc.dtype],
                hash_name=None if manifest is None else manifest.hash_name,
                on_digest=on_digest,
            )
        )
    if problems:
        raise ValueError("cannot load the requested tensors:\n  " + "\n  ".join(problems))
    if corrupt:
        raise WeightsCorruptError(
            "the checkpoint does not match its manifest; refusing to load:\n  " + "\n  ".join(corrupt)
        )

    fetched = fetch(checkpoint.fs, jobs, concurrency=concurrency, chunk_bytes=chunk_bytes, progress=progress)
    for target, staging in staged_targets:
        target.detach().copy_(staging)
    report = LoadReport(fetched, time.perf_counter() - started, tensors=len(jobs), files=len({j.path for j in jobs}))
    if manifest is not None:
        return replace(report, verified=True, manifest_digest=manifest.digest, hash_name=manifest.hash_name)
    why = "verify=False" if not verify else f"{checkpoint.uri} has no shardstack-manifest.json"
    return replace(report, note=f"not verified: {why}")


def _target_problem(checkpoint: Checkpoint, name: str, target: torch.Tensor) -> str | None:
    """Return why ``target`` cannot receive checkpoint tensor ``name``, or None when it can."""
    if name not in checkpoint.tensor_names:
        return f"{checkpoint.uri}: no tensor {name!r} in {', '.join(checkpoint.safetensors_files)}"
    loc = checkpoint.locate(name)
    where = f"{checkpoint.uri}/{loc.file}: tensor {name!r}"
    if loc.dtype not in DTYPES:
        return f"{where}: stored dtype {loc.dtype} is not supported (supported: {', '.join(DTYPES)})"
    if tuple(target.shape) != loc.shape:
        return (
            f"{where}: expected shape {list(target.shape)} (the target), found {loc.dtype}"
            f"{list(loc.shape)} in the checkpoint"
        )
    if target.device.type == "meta":
        return f"{where}: the target is on the meta device; allocate it first"
    return None


def _manifest_disagreement(manifest: Manifest, loc: TensorLocation) -> str | None:
    """Return how the manifest's record of a tensor differs from its safetensors header, or None."""
    entry = manifest.tensor(loc.name)
    if entry is None:
        return "not listed in the manifest"
    file, record = entry
    if (file, record.dtype, record.shape, record.start, record.end) != (
        loc.file,
        loc.dtype,
        loc.shape,
        loc.start,
        loc.end,
    ):
        return (
            f"the header says {loc.dtype}{list(loc.shape)} at bytes [{loc.start}, {loc.end}), the manifest "
            f"says {record.dtype}{list(record.shape)} at bytes [{record.start}, {record.end}) of {file}"
        )
    return None


def _digest_check(where: str, loc: TensorLocation, manifest: Manifest) -> Callable[[str], None]:
    """Return the check of a tensor's digest against the manifest: raises :class:`WeightsCorruptError`."""
    entry = manifest.tensor(loc.name)
    assert entry is not None
    expected = entry[1].hexdigest

    def check(digest: str) -> None:
        if digest != expected:
            raise WeightsCorruptError(
                f"{where}: {manifest.hash_name} of its stored bytes [{loc.start}, {loc.end}) is {digest}, the "
                f"manifest says {expected}: the stored weights are corrupt; refusing to load"
            )

    return check
