"""Tiny Llama-shaped safetensors checkpoints written into tmp dirs, their manifests as older runtimes wrote
them, and in-memory filesystems that count bytes read or answer out of order."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from pathlib import Path

import blake3
import fsspec
import torch
from fsspec.implementations.memory import MemoryFileSystem
from safetensors.torch import save_file

HIDDEN = 32
INTERMEDIATE = 64
VOCAB = 128
LAYERS = 3


def layer_tensor_names(layer: int) -> list[str]:
    prefix = f"model.layers.{layer}"
    return (
        [f"{prefix}.self_attn.{p}_proj.weight" for p in "qkvo"]
        + [f"{prefix}.mlp.{p}_proj.weight" for p in ("gate", "up", "down")]
        + [f"{prefix}.input_layernorm.weight", f"{prefix}.post_attention_layernorm.weight"]
    )


def make_tensors(*, layers: int = LAYERS, tied: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Llama-named tensors: projections and embeddings in bf16, norms in f32 (as HF checkpoints often are)."""
    g = torch.Generator().manual_seed(seed)

    def bf16(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": bf16(VOCAB, HIDDEN)}
    for layer in range(layers):
        names = layer_tensor_names(layer)
        shapes = [(HIDDEN, HIDDEN)] * 4 + [(INTERMEDIATE, HIDDEN)] * 2 + [(HIDDEN, INTERMEDIATE)]
        for name, shape in zip(names[:7], shapes, strict=True):
            tensors[name] = bf16(*shape)
        for name in names[7:]:
            tensors[name] = 1 + 0.1 * torch.randn(HIDDEN, generator=g)
    tensors["model.norm.weight"] = 1 + 0.1 * torch.randn(HIDDEN, generator=g)
    if not tied:
        tensors["lm_head.weight"] = bf16(VOCAB, HIDDEN)
    return tensors


def write_checkpoint(
    directory: Path, *, layers: int = LAYERS, tied: bool = False, sharded: bool = True, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Write config.json, tokenizer.json and the weights (2 files + index when ``sharded``); return the tensors."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = make_tensors(layers=layers, tied=tied, seed=seed)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": layers,
        "vocab_size": VOCAB,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16",
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}}))
    if not sharded:
        save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
        return tensors
    # Layers 0..1 and the embeddings in the first file, the rest in the second.
    first = {
        n: t for n, t in tensors.items() if n.startswith(("model.embed_tokens", "model.layers.0.", "model.layers.1."))
    }
    second = {n: t for n, t in tensors.items() if n not in first}
    files = {"model-00001-of-00002.safetensors": first, "model-00002-of-00002.safetensors": second}
    for file, part in files.items():
        save_file(part, directory / file, metadata={"format": "pt"})
    weight_map = {name: file for file, part in files.items() for name in part}
    index = {
        "metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
        "weight_map": weight_map,
    }
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return tensors


def stored_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes()


REFERENCE_HASHES = {
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "blake3": lambda data: blake3.blake3(data).hexdigest(),
}
"""Each algorithm over one whole byte string, straight from its library: what the runtime must agree with."""


def version1_manifest(directory: Path) -> str:
    """The ``shardstack-manifest.json`` of ``directory`` as runtime 0.1.0 wrote it: format version 1, all sha256.

    Made here from that format's description (safetensors headers read by hand, hashlib over whole
    byte strings), not by the code under test, so that it stands for the manifests already in users'
    buckets.
    """
    files: dict[str, dict] = {}
    tensor_lines = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "shardstack-manifest.json"):
        name, data = path.relative_to(directory).as_posix(), path.read_bytes()
        entry: dict = {"size": len(data)}
        if not name.endswith(".safetensors"):
            entry["sha256"] = hashlib.sha256(data).hexdigest()
        else:
            (header_size,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8 : 8 + header_size])
            base = 8 + header_size
            tensors = {}
            for tensor, info in sorted(
                ((t, i) for t, i in header.items() if t != "__metadata__"), key=lambda item: item[1]["data_offsets"][0]
            ):
                start, end = (base + offset for offset in info["data_offsets"])
                digest = hashlib.sha256(data[start:end]).hexdigest()
                tensors[tensor] = {"dtype": info["dtype"], "shape": info["shape"], "start": start, "end": end}
                tensors[tensor]["sha256"] = digest
                tensor_lines.append(f"{tensor}\t{info['dtype']}\t{','.join(map(str, info['shape']))}\t{digest}\n")
            entry["tensors"] = tensors
        files[name] = entry
    digest = "sha256:" + hashlib.sha256("".join(sorted(tensor_lines)).encode()).hexdigest()
    doc = {"format": "shardstack-manifest", "version": 1, "digest": digest, "files": files}
    return json.dumps(doc, indent=1) + "\n"


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


class CountingMemoryFileSystem(MemoryFileSystem):
    """``countmem://``: an in-memory filesystem that counts the bytes handed out by ``cat_file``."""

    protocol = ("countmem",)
    store: dict = {}  # noqa: RUF012 - fsspec's MemoryFileSystem keeps its store on the class too
    pseudo_dirs = [""]  # noqa: RUF012
    bytes_read = 0
    reads: list[tuple[str, int | None, int | None]] = []  # noqa: RUF012
    _lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str):
            path = path.removeprefix(f"{cls.protocol[0]}://")
        return super()._strip_protocol(path)

    def cat_file(self, path, start=None, end=None, **kwargs):
        data = super().cat_file(path, start=start, end=end, **kwargs)
        with CountingMemoryFileSystem._lock:
            CountingMemoryFileSystem.bytes_read += len(data)
            CountingMemoryFileSystem.reads.append((self._strip_protocol(path), start, end))
        return data

    @classmethod
    def reset_counts(cls) -> None:
        cls.bytes_read = 0
        cls.reads = []


fsspec.register_implementation("countmem", CountingMemoryFileSystem, clobber=True)


class LateStartMemoryFileSystem(CountingMemoryFileSystem):
    """``latemem://``: the bytes of countmem://, but a ranged read answers later the nearer it starts to the
    start of its file, so that the pieces of one range arrive out of order (the last first)."""

    protocol = ("latemem",)
    most_lag_s = 0.02
    answered: list[tuple[str, int]] = []  # noqa: RUF012 - (path, start) in the order the reads returned

    def cat_file(self, path, start=None, end=None, **kwargs):
        size = self.size(path) or 1
        time.sleep(self.most_lag_s * (1 - (start or 0) / size))
        data = super().cat_file(path, start=start, end=end, **kwargs)
        with CountingMemoryFileSystem._lock:
            LateStartMemoryFileSystem.answered.append((self._strip_protocol(path), start or 0))
        return data


fsspec.register_implementation("latemem", LateStartMemoryFileSystem, clobber=True)


def upload_to_countmem(directory: Path, name: str) -> str:
    """Copy a local checkpoint directory into ``countmem://<name>`` and return that URI."""
    fs = CountingMemoryFileSystem()
    for path in directory.iterdir():
        fs.pipe_file(f"/{name}/{path.name}", path.read_bytes())
    CountingMemoryFileSystem.reset_counts()
    return f"countmem://{name}"
