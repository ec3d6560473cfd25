"""``shardstack-manifest.json``: per-tensor hashes and byte ranges of a checkpoint, and its model revision.

    manifest = build_manifest("/models/smollm2")     # hashes every tensor and every other file (BLAKE3)
    manifest.digest                                   # "sha256:…", the model revision all ranks compare
    report = verify_checkpoint("s3://weights/smollm2")
    report.ok, report.mismatches

The file, version 2 (what ``weights push`` writes)::

    {
      "format": "shardstack-manifest", "version": 2, "hash": "blake3",
      "digest": "sha256:<hex>",
      "files": {
        "config.json": {"size": 712, "blake3": "<hex>"},
        "model-00001-of-00002.safetensors": {
          "size": 4999819336,
          "tensors": {"model.embed_tokens.weight":
                      {"dtype": "BF16", "shape": [49152, 576], "start": 14672, "end": 56637008, "blake3": "<hex>"}}}
      }
    }

Version 1 is the same without the ``"hash"`` key, every hash being sha256 under a ``"sha256"`` key.
Both are read; ``build_manifest(..., hash_name="sha256")`` still writes version 1, byte for byte as
before, for fleets with runtimes older than version 2.

``start``/``end`` are absolute byte offsets in the file (header included), so a rank can fetch and
check a tensor with no other knowledge. Weight files carry per-tensor hashes (ranks verify only the
bytes they load); every other file carries a whole-file hash.

Why one top-level ``"hash"`` and a new version, rather than an algorithm per record: one push hashes
everything with one algorithm, so the loader picks one hash function per manifest and rejects an
unknown one once, with one message, before reading a byte; a per-record field would allow mixtures
nothing writes and every reader would have to handle. Each record's key is still the algorithm's
name, so a record read on its own cannot be mistaken for the other kind. The version goes to 2
because a runtime that reads only version 1 cannot verify BLAKE3: it then says "manifest version 2 is
not supported" instead of failing on a missing ``"sha256"`` key.

The ``digest`` (model revision) is sha256 over one line ``name\\tdtype\\tshape\\thash\\n`` per tensor,
sorted by name, where ``hash`` is the tensor's hex digest as it stands in a sha256 manifest and
``<algorithm>:<hex>`` otherwise (``blake3:<hex>``). So a version 1 manifest keeps the revision it
always had (the revision is what users and ranks compare: recomputing it differently would break
them); the same weights pushed with BLAKE3 get a different revision, which no sha256 manifest's
lines can produce. The revision depends on the weights only, not on how they are split into files,
and not on the tokenizer or config files (which every rank reads whole from the same place); it
stays ``sha256:<hex>`` whatever the per-tensor algorithm, the fixed size the ranks exchange.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .hashing import DEFAULT_HASH, HASHES

if TYPE_CHECKING:
    from .checkpoint import TensorLocation

__all__ = [
    "DEFAULT_HASH",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "FileRecord",
    "Manifest",
    "ManifestError",
    "Mismatch",
    "TensorRecord",
    "VerifyReport",
    "build_manifest",
    "verify_checkpoint",
]

MANIFEST_NAME = "shardstack-manifest.json"
FORMAT = "shardstack-manifest"
FORMAT_VERSION = 2
"""The newest version, written for BLAKE3 manifests; version 1 (sha256) is read and written too."""
_SHA256_VERSION = 1


class ManifestError(ValueError):
    """The manifest itself is unreadable, of an unknown version, or does not match its own digest."""


@dataclass(frozen=True)
class TensorRecord:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int
    hexdigest: str
    """The tensor's bytes' hash, in the manifest's algorithm."""


@dataclass(frozen=True)
class FileRecord:
    size: int
    hexdigest: str | None = None
    """Whole-file hash (the manifest's algorithm), for files that are not weight files."""
    tensors: Mapping[str, TensorRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    files: Mapping[str, FileRecord]
    """Path relative to the checkpoint directory → record."""
    hash_name: str
    """The algorithm of every record's hash: ``blake3`` or ``sha256`` (version 1 manifests)."""

    @cached_property
    def digest(self) -> str:
        """The model revision: ``sha256:<hex>`` over every tensor's name, dtype, shape and hash.

        A sha256 hash enters as its bare hex (the revision version 1 manifests always had), any other
        as ``<algorithm>:<hex>``.
        """
        prefix = "" if self.hash_name == "sha256" else f"{self.hash_name}:"
        lines = sorted(
            f"{name}\t{rec.dtype}\t{','.join(map(str, rec.shape))}\t{prefix}{rec.hexdigest}\n"
            for _, name, rec in self.iter_tensors()
        )
        return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()

    @cached_property
    def _tensor_index(self) -> dict[str, tuple[str, TensorRecord]]:
        return {name: (file, rec) for file, name, rec in self.iter_tensors()}

    def iter_tensors(self):
        """Yield ``(file, tensor name, TensorRecord)`` for every tensor."""
        for file, record in self.files.items():
            for name, rec in record.tensors.items():
                yield file, name, rec

    def tensor(self, name: str) -> tuple[str, TensorRecord] | None:
        """The file and record of tensor ``name``, or None when the manifest does not list it."""
        return self._tensor_index.get(name)

    @property
    def total_bytes(self) -> int:
        return sum(record.size for record in self.files.values())

    def to_json(self) -> str:
        """The manifest file: version 1 for sha256 (as older runtimes read it), else version 2."""
        key = self.hash_name
        files: dict[str, Any] = {}
        for name in sorted(self.files):
            record = self.files[name]
            entry: dict[str, Any] = {"size": record.size}
            if record.hexdigest is not None:
                entry[key] = record.hexdigest
            if record.tensors:
                entry["tensors"] = {
                    t: {"dtype": r.dtype, "shape": list(r.shape), "start": r.start, "end": r.end, key: r.hexdigest}
                    for t, r in sorted(record.tensors.items(), key=lambda item: item[1].start)
                }
            files[name] = entry
        head: dict[str, Any] = {"format": FORMAT, "version": _SHA256_VERSION}
        if self.hash_name != "sha256":
            head = {"format": FORMAT, "version": FORMAT_VERSION, "hash": self.hash_name}
        return json.dumps({**head, "digest": self.digest, "files": files}, indent=1) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes, *, source: str = MANIFEST_NAME) -> Manifest:
        """Parse a manifest (version 1 or 2); the stored digest must match the one recomputed from its tensors."""
        try:
            doc = json.loads(data)
            hash_name = _hash_name(doc, source)
            files = {
                name: FileRecord(
                    size=int(entry["size"]),
                    hexdigest=entry.get(hash_name),
                    tensors={
                        t: TensorRecord(
                            r["dtype"], tuple(int(d) for d in r["shape"]), int(r["start"]), int(r["end"]), r[hash_name]
                        )
                        for t, r in entry.get("tensors", {}).items()
                    },
                )
                for name, entry in doc["files"].items()
            }
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ManifestError(f"{source}: malformed manifest: {e!r}") from None
        manifest = cls(files, hash_name)
        if doc.get("digest") != manifest.digest:
            raise ManifestError(
                f"{source}: stored digest {doc.get('digest')} does not match its tensors' "
                f"{manifest.digest}: the manifest was edited or damaged"
            )
        return manifest

    def save(self, uri: str) -> None:
        """Write the manifest to ``uri`` (a file path or object URI)."""
        from .storage import filesystem

        fs, path = filesystem(uri)
        fs.pipe_file(path, self.to_json().encode())

    @classmethod
    def load(cls, uri: str) -> Manifest:
        """Read a manifest from ``uri`` (a file path or object URI)."""
        from .storage import filesystem

        fs, path = filesystem(uri)
        return cls.from_json(fs.cat_file(path), source=uri)


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
    from .checkpoint import TensorLocation, open_checkpoint
    from .loader import hash_ranges

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
    ``shardstack-runtime weights push`` to write one) and :class:`ManifestError` when it is unreadable.
    """
    from .checkpoint import CheckpointError, TensorLocation, read_headers
    from .loader import hash_ranges
    from .storage import filesystem, join

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


def _hash_name(doc: Any, source: str) -> str:
    """Return the algorithm a parsed manifest's records use, refusing an unknown format, version or algorithm."""
    if doc.get("format") != FORMAT:
        raise ManifestError(f"{source}: not a {FORMAT} file (format={doc.get('format')!r})")
    version = doc.get("version")
    if version not in (_SHA256_VERSION, FORMAT_VERSION):
        raise ManifestError(
            f"{source}: manifest version {version!r} is not supported; this runtime reads versions "
            f"{_SHA256_VERSION} and {FORMAT_VERSION}"
        )
    hash_name = doc.get("hash", "sha256") if version == FORMAT_VERSION else "sha256"
    if version == _SHA256_VERSION and "hash" in doc:
        raise ManifestError(f'{source}: a version {version} manifest is all sha256 and has no "hash" key')
    if hash_name not in HASHES:
        raise ManifestError(f"{source}: hash {hash_name!r} is not supported; this runtime verifies {', '.join(HASHES)}")
    return hash_name


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
