"""A Hugging Face checkpoint directory in object storage, read through its safetensors headers only.

    ckpt = open_checkpoint("s3://weights/smollm2")
    ckpt.config["num_hidden_layers"]
    loc = ckpt.locate("model.layers.0.self_attn.q_proj.weight")   # file, dtype, shape, byte range

Opening costs one listing, the small JSON files, and two ranged reads per ``*.safetensors`` file
(the 8-byte header length, then the JSON header): no tensor bytes are read until
:func:`shardstack_runtime.weights.loader.load_tensors` asks for exactly the ones a rank needs.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .manifest import MANIFEST_NAME, Manifest
from .storage import filesystem, join, read_bytes

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["DTYPE_SIZES", "INDEX_NAME", "Checkpoint", "CheckpointError", "TensorLocation", "open_checkpoint"]

INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"
SAFETENSORS_SUFFIX = ".safetensors"
# The safetensors format caps the JSON header at 100 MB; a bigger length means a corrupt or foreign file.
MAX_HEADER_BYTES = 100_000_000

# Bytes per element of every safetensors dtype (the loader converts a subset of them).
DTYPE_SIZES: Mapping[str, int] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}


class CheckpointError(ValueError):
    """The checkpoint's layout or a safetensors header is malformed; the message names the file."""


@dataclass(frozen=True)
class TensorLocation:
    """Where one tensor's bytes live: ``file`` (relative to the checkpoint), ``[start, end)`` absolute in it."""

    name: str
    file: str
    dtype: str
    """safetensors dtype string: ``BF16``, ``F32``, ..."""
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Checkpoint:
    """An opened checkpoint: config, tensor locations and manifest, with the filesystem to read bytes from."""

    def __init__(
        self,
        uri: str,
        fs: AbstractFileSystem,
        root: str,
        config: dict,
        files: Mapping[str, int],
        tensors: Mapping[str, TensorLocation],
        manifest: Manifest | None,
    ) -> None:
        self.uri = uri
        self.fs = fs
        self.root = root
        self.config = config
        self.files = dict(files)
        """Every file at the top of the directory → its size in bytes."""
        self.manifest = manifest
        """``shardstack-manifest.json`` when present: per-tensor hashes (BLAKE3 or sha256) to verify against."""
        self._tensors = dict(tensors)
        self.tensor_names: set[str] = set(self._tensors)

    def __repr__(self) -> str:
        return f"Checkpoint({self.uri!r}, {len(self._tensors)} tensors in {len(self.safetensors_files)} files)"

    @property
    def safetensors_files(self) -> list[str]:
        """The weight files the tensors come from, sorted."""
        return sorted({loc.file for loc in self._tensors.values()})

    def path(self, name: str) -> str:
        """The filesystem path of ``name`` (relative to the checkpoint), for ``self.fs``."""
        return join(self.root, name)

    def locate(self, name: str) -> TensorLocation:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(
                f"{self.uri} has no tensor {name!r} ({len(self._tensors)} tensors in "
                f"{', '.join(self.safetensors_files)})"
            ) from None

    def has_file(self, name: str) -> bool:
        if name in self.files:
            return True
        return "/" in name and self.fs.exists(self.path(name))

    def read_bytes(self, name: str) -> bytes:
        try:
            return read_bytes(self.fs, self.path(name))
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.uri} has no file {name!r}") from None

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")


def open_checkpoint(uri: str, *, read_manifest: bool = True) -> Checkpoint:
    """Open a Hugging Face layout directory (``config.json`` + ``*.safetensors`` [+ index]) at ``uri``.

    With ``model.safetensors.index.json`` only the files its ``weight_map`` names are read, and every
    tensor it names must be in the file it says; without one, every top-level ``*.safetensors``.
    Raises ``FileNotFoundError`` when the directory or its ``config.json`` is missing and
    :class:`CheckpointError` when a header is malformed, naming the file. ``read_manifest=False``
    ignores an existing manifest (to build a new one).
    """
    fs, root = filesystem(uri)
    uri = uri.rstrip("/")
    fs.invalidate_cache(root)  # a long-lived process may open a checkpoint that was re-uploaded since
    try:
        listing = fs.ls(root, detail=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{uri}: no such checkpoint directory") from None
    files = {
        posixpath.basename(entry["name"].rstrip("/")): int(entry.get("size") or 0)
        for entry in listing
        if entry.get("type") == "file"
    }
    if CONFIG_NAME not in files:
        found = ", ".join(sorted(files)) or "nothing"
        raise FileNotFoundError(
            f"{uri} has no {CONFIG_NAME}: a Hugging Face checkpoint directory holds "
            f"{CONFIG_NAME} next to its *.safetensors files (found: {found})"
        )

    def read_json(name: str) -> dict:
        try:
            return json.loads(fs.cat_file(join(root, name)))
        except ValueError as e:
            raise CheckpointError(f"{uri}/{name} is not valid JSON: {e}") from None

    config = read_json(CONFIG_NAME)
    manifest = (
        Manifest.from_json(fs.cat_file(join(root, MANIFEST_NAME)), source=f"{uri}/{MANIFEST_NAME}")
        if read_manifest and MANIFEST_NAME in files
        else None
    )

    weight_map: dict[str, str] | None = None
    if INDEX_NAME in files:
        weight_map = read_json(INDEX_NAME).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{uri}/{INDEX_NAME} has no weight_map")
        weight_files = sorted(set(weight_map.values()))
        missing = [name for name in weight_files if name not in files]
        if missing:
            raise FileNotFoundError(f"{uri}/{INDEX_NAME} names files that are not there: {', '.join(missing)}")
    else:
        weight_files = sorted(name for name in files if name.endswith(SAFETENSORS_SUFFIX))
        if not weight_files:
            raise FileNotFoundError(f"{uri} has no *.safetensors files and no {INDEX_NAME}")

    tensors = read_headers(fs, root, weight_files, files, uri=uri)
    if weight_map is not None:
        for name, file in weight_map.items():
            found = tensors.get(name)
            if found is None or found.file != file:
                where = f"it is in {found.file}" if found else "no weight file holds it"
                raise CheckpointError(f"{uri}/{INDEX_NAME} maps tensor {name!r} to {file}, but {where}")
    return Checkpoint(uri, fs, root, config, files, tensors, manifest)


def read_headers(
    fs: AbstractFileSystem, root: str, names: list[str], sizes: Mapping[str, int], *, uri: str
) -> dict[str, TensorLocation]:
    """Read the safetensors headers of ``names`` with two batched ranged reads each; return every tensor."""
    paths = [join(root, name) for name in names]
    prefixes = fs.cat_ranges(paths, [0] * len(paths), [8] * len(paths), on_error="raise")
    lengths = []
    for name, prefix in zip(names, prefixes, strict=True):
        if len(prefix) != 8:
            raise CheckpointError(f"{uri}/{name} is shorter than a safetensors header ({len(prefix)} bytes)")
        length = int.from_bytes(prefix, "little")
        if not 2 <= length <= MAX_HEADER_BYTES or 8 + length > sizes.get(name, math.inf):
            raise CheckpointError(f"{uri}/{name} is not a safetensors file: header length {length} at offset 0")
        lengths.append(length)
    headers = fs.cat_ranges(paths, [8] * len(paths), [8 + n for n in lengths], on_error="raise")
    tensors: dict[str, TensorLocation] = {}
    for name, length, header in zip(names, lengths, headers, strict=True):
        for loc in parse_header(header, file=name, data_start=8 + length, file_size=sizes.get(name), uri=uri):
            if loc.name in tensors:
                raise CheckpointError(f"tensor {loc.name!r} is in both {uri}/{tensors[loc.name].file} and {uri}/{name}")
            tensors[loc.name] = loc
    return tensors


def parse_header(
    header: bytes, *, file: str, data_start: int, file_size: int | None = None, uri: str = ""
) -> list[TensorLocation]:
    """Parse one safetensors JSON header into absolute tensor locations, checking sizes and bounds."""
    where = f"{uri}/{file}" if uri else file
    try:
        entries = json.loads(header)
    except ValueError as e:
        raise CheckpointError(f"{where}: the safetensors header is not valid JSON: {e}") from None
    if not isinstance(entries, dict):
        raise CheckpointError(f"{where}: the safetensors header is not a JSON object")
    locations = []
    for name, entry in entries.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(int(d) for d in entry["shape"]), entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where}: tensor {name!r} has a malformed header entry: {entry!r}") from None
        loc = TensorLocation(name, file, dtype, shape, data_start + int(begin), data_start + int(end))
        itemsize = DTYPE_SIZES.get(dtype)
        if itemsize is not None and loc.nbytes != loc.numel * itemsize:
            raise CheckpointError(
                f"{where}: tensor {name!r} is {dtype}{list(shape)} ({loc.numel * itemsize} bytes) "
                f"but its data_offsets span {loc.nbytes} bytes"
            )
        if loc.start < data_start or loc.end < loc.start or (file_size is not None and loc.end > file_size):
            raise CheckpointError(
                f"{where}: tensor {name!r} has bytes [{loc.start}, {loc.end}) outside the file's "
                f"data [{data_start}, {file_size}) (truncated file?)"
            )
        locations.append(loc)
    return locations
