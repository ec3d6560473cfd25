"""A checkpoint's hashes: recorded in a new manifest, or checked against the one stored beside it.

    manifest = build_manifest("/models/smollm2")     # hashes every tensor and every other file (BLAKE3)
    manifest.save("/models/smollm2/shardstack-manifest.json")
    report = verify_checkpoint("s3://weights/smollm2")
    report.ok, report.mismatches

Both read the checkpoint through its safetensors headers (:mod:`.checkpoint`) and hash its byte
ranges with the loader's concurrent reads (:func:`.fetch.hash_ranges`); the file they write and
read is :mod:`.manifest`'s format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .checkpoint import CheckpointError, TensorLocation, open_checkpoint, read_headers
from .fetch import hash_ranges
from .hashing import DEFAULT_HASH, HASHES
from .manifest import MANIFEST_NAME, FileRecord, Manifest, TensorRecord
from .storage import filesystem, join

__all__ = ["Mismatch", "VerifyReport", "build_manifest", "verify_checkpoint"]


@dataclass(frozen=True)
class Mismatch:
    file: str
    tensor: str | None
    """None when the problem concerns the whole file."""
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}" if self.tensor is None else f"{self.file}: {self.tensor}: {self.problem}"


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_checkpoint` checked and what it found wrong."""

    uri: str
    digest: str
    files_checked: int
    tensors_checked: int
    bytes_read: int
    seconds: float
    mismatches: tuple[Mismatch, ...] = ()
    missing_files: tuple[str, ...] = ()
    unlisted_files: tuple[str, ...] = ()
    """Files present but not in the manifest: reported, not an error."""

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.missing_files

    def summary(self) -> str:
        gib = self.bytes_read / 2**30
        rate = gib / self.seconds if self.seconds > 0 else 0.0
        head = (
            f"{self.uri}: {'OK' if self.ok else 'FAILED'}: {self.files_checked} files, {self.tensors_checked} "
            f"tensors, {gib:.3f} GiB hashed in {self.seconds:.2f} s ({rate:.2f} GiB/s); revision {self.digest}"
        )
        lines = [head]
        lines += [f"  missing: {name}" for name in self.missing_files]
        lines += [f"  mismatch: {m}" for m in self.mismatches]
        lines += [f"  not in manifest (ignored): {name}" for name in self.unlisted_files]
        return "\n".join(lines)


def build_manifest(
    checkpoint_dir: str,
    *,
    hash_name: str = DEFAULT_HASH,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Hash every tensor of every weight file, and every other file, of a checkpoint directory or URI.

    ``hash_name`` is ``blake3`` (the default: a version 2 manifest) or ``sha256`` (version 1, for
    runtimes that predate version 2). All files under the directory are included (recursively),
    except an existing manifest and hidden files and directories (``.gitattributes``, ``.cache/``).
    """
    if hash_name not in HASHES:
        raise ValueError(f"unknown hash {hash_name!r}; a manifest can use {', '.join(HASHES)}")
    checkpoint = open_checkpoint(checkpoint_dir, read_manifest=False)  # an old one may be stale or damaged
    sizes = _list_files(checkpoint.fs, checkpoint.root)
    weight_files = set(checkpoint.safetensors_files)
    tensors = [checkpoint.locate(name) for name in sorted(checkpoint.tensor_names)]
    others = [
        TensorLocation(name, name, "U8", (size,), 0, size)
        for name, size in sorted(sizes.items())
        if name not in weight_files
    ]
    digests = hash_ranges(
        checkpoint.fs,
        checkpoint.root,
        tensors + others,
        hash_name=hash_name,
        concurrency=concurrency,
        progress=progress,
    )
    by_file: dict[str, dict[str, TensorRecord]] = {name: {} for name in weight_files}
    for loc, digest in zip(tensors, digests[: len(tensors)], strict=True):
        by_file[loc.file][loc.name] = TensorRecord(loc.dtype, loc.shape, loc.start, loc.end, digest)
    files = {name: FileRecord(size=sizes[name], tensors=by_file[name]) for name in weight_files}
    for loc, digest in zip(others, digests[len(tensors) :], strict=True):
        files[loc.file] = FileRecord(size=loc.nbytes, hexdigest=digest)
    return Manifest(files, hash_name)


def verify_checkpoint(
    uri: str, *, concurrency: int = 8, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check a stored checkpoint against its manifest: every listed file present with its size, every
    safetensors header entry as recorded, every tensor's and every other file's hash (the manifest's
    algorithm: BLAKE3 or sha256).

    Raises ``FileNotFoundError`` when there is no manifest (push the checkpoint with
    ``shardstack-runtime weights push`` to write one) and :class:`~.manifest.ManifestError` when it is unreadable.
    """
    started = time.perf_counter()
    fs, root = filesystem(uri)
    uri = uri.rstrip("/")
    try:
        manifest = Manifest.from_json(fs.cat_file(join(root, MANIFEST_NAME)), source=f"{uri}/{MANIFEST_NAME}")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{uri} has no {MANIFEST_NAME}: upload it with `shardstack-runtime weights push` "
            "(which writes the manifest)"
        ) from None
    sizes = _list_files(fs, root)
    mismatches: list[Mismatch] = []
    missing = sorted(name for name in manifest.files if name not in sizes)
    unlisted = sorted(name for name in sizes if name not in manifest.files)
    present = {name: record for name, record in manifest.files.items() if name in sizes}
    for name, record in present.items():
        if sizes[name] != record.size:
            mismatches.append(Mismatch(name, None, f"size is {sizes[name]} bytes, manifest says {record.size}"))

    checks: list[tuple[TensorLocation, str, bool]] = []  # (bytes to hash, expected hash, whole file?)
    for name, record in present.items():
        if sizes[name] != record.size:
            continue  # already a mismatch; its ranges may lie beyond its end
        if not record.tensors:
            whole = TensorLocation(name, name, "U8", (sizes[name],), 0, sizes[name])
            checks.append((whole, record.hexdigest or "", True))
            continue
        try:
            found = read_headers(fs, root, [name], sizes, uri=uri)
        except CheckpointError as e:
            mismatches.append(Mismatch(name, None, f"unreadable safetensors header: {e}"))
            continue
        mismatches += _compare_header(name, record, found, checks)

    digests = hash_ranges(
        fs,
        root,
        [loc for loc, _, _ in checks],
        hash_name=manifest.hash_name,
        concurrency=concurrency,
        progress=progress,
    )
    for (loc, expected, whole_file), digest in zip(checks, digests, strict=True):
        if digest != expected:
            problem = f"{manifest.hash_name} is {digest}, manifest says {expected}"
            mismatches.append(Mismatch(loc.file, None if whole_file else loc.name, problem))
    return VerifyReport(
        uri=uri,
        digest=manifest.digest,
        files_checked=len(present),
        tensors_checked=sum(1 for _, _, whole_file in checks if not whole_file),
        bytes_read=sum(loc.nbytes for loc, _, _ in checks),
        seconds=time.perf_counter() - started,
        mismatches=tuple(mismatches),
        missing_files=tuple(missing),
        unlisted_files=tuple(unlisted),
    )


def _compare_header(
    name: str, record: FileRecord, found: Mapping[str, TensorLocation], checks: list[tuple[TensorLocation, str, bool]]
) -> list[Mismatch]:
    """Return how a weight file's header differs from its manifest record; add each agreeing tensor to ``checks``."""
    mismatches = []
    for tensor, expected in record.tensors.items():
        loc = found.get(tensor)
        if loc is None:
            mismatches.append(Mismatch(name, tensor, "listed in the manifest but not in the file's header"))
            continue
        stored = TensorRecord(loc.dtype, loc.shape, loc.start, loc.end, expected.hexdigest)
        if stored != expected:
            problem = f"header says {_describe(stored)}, manifest says {_describe(expected)}"
            mismatches.append(Mismatch(name, tensor, problem))
        else:
            checks.append((loc, expected.hexdigest, False))
    return mismatches + [
        Mismatch(name, tensor, "in the file's header but not in the manifest")
        for tensor in sorted(set(found) - set(record.tensors))
    ]


def _describe(record: TensorRecord) -> str:
    return f"{record.dtype}{list(record.shape)} at bytes [{record.start}, {record.end})"


def _list_files(fs, root: str) -> dict[str, int]:
    """Every file under ``root`` (recursively) → size, by path relative to ``root``.

    Left out: the manifest itself, and hidden files and directories (``.git*``, the
    ``.cache/huggingface`` that ``hf download --local-dir`` leaves), which are no part of a model.
    """
    fs.invalidate_cache(root)
    found = fs.find(root, detail=True)
    prefix = root.rstrip("/") + "/"
    sizes = {}
    for path, info in found.items():
        if info.get("type", "file") != "file" or not path.startswith(prefix):
            continue
        name = path[len(prefix) :]
        if name != MANIFEST_NAME and not any(part.startswith(".") for part in name.split("/")):
            sizes[name] = int(info.get("size") or 0)
    return sizes
