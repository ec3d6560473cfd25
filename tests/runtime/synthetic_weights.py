"""Tiny Llama-shaped safetensors checkpoints written into tmp dirs, and filesystems that count bytes read."""

from __future__ import annotations

import json
import threading
from pathlib import Path

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
            path = path.removeprefix("countmem://")
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


def upload_to_countmem(directory: Path, name: str) -> str:
    """Copy a local checkpoint directory into ``countmem://<name>`` and return that URI."""
    fs = CountingMemoryFileSystem()
    for path in directory.iterdir():
        fs.pipe_file(f"/{name}/{path.name}", path.read_bytes())
    CountingMemoryFileSystem.reset_counts()
    return f"countmem://{name}"
