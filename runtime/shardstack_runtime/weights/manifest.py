"""``shardstack-manifest.json``: per-tensor hashes and byte ranges of a checkpoint, and its model revision.

    manifest = Manifest.load("s3://weights/smollm2/shardstack-manifest.json")
    manifest.digest                                   # "sha256:…", the model revision all ranks compare
    manifest.tensor("model.embed_tokens.weight")      # its file, and dtype, shape, byte range and hash

This module is the file's format only: its records, and reading, writing and checking it against its
own digest. :mod:`.verify` builds a manifest for a checkpoint and checks a checkpoint against one.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .hashing import HASHES
from .storage import filesystem

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST_NAME", "FileRecord", "Manifest", "ManifestError", "TensorRecord"]

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
        fs, path = filesystem(uri)
        fs.pipe_file(path, self.to_json().encode())

    @classmethod
    def load(cls, uri: str) -> Manifest:
        """Read a manifest from ``uri`` (a file path or object URI)."""
        fs, path = filesystem(uri)
        return cls.from_json(fs.cat_file(path), source=uri)


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
