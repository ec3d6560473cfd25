"""Opening a checkpoint reads its JSON files and safetensors headers only, and locates every tensor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_weights import (
    CountingMemoryFileSystem,
    stored_bytes,
    upload_to_countmem,
    write_checkpoint,
)

from shardstack_runtime.weights.checkpoint import CheckpointError, open_checkpoint


def test_a_sharded_checkpoint_locates_every_tensor_at_its_exact_bytes(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    ckpt = open_checkpoint(f"file://{tmp_path}")
    assert ckpt.config["num_hidden_layers"] == 3 and ckpt.manifest is None
    assert ckpt.tensor_names == set(tensors)
    assert ckpt.safetensors_files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    q = ckpt.locate("model.layers.0.self_attn.q_proj.weight")
    assert (q.file, q.dtype, q.shape) == ("model-00001-of-00002.safetensors", "BF16", (32, 32))
    norm = ckpt.locate("model.layers.2.input_layernorm.weight")
    assert (norm.file, norm.dtype, norm.shape) == ("model-00002-of-00002.safetensors", "F32", (32,))
    for name, tensor in tensors.items():
        loc = ckpt.locate(name)
        with open(tmp_path / loc.file, "rb") as f:
            f.seek(loc.start)
            assert f.read(loc.nbytes) == stored_bytes(tensor), name


def test_without_an_index_every_safetensors_file_is_read(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path, sharded=False, tied=True)
    ckpt = open_checkpoint(str(tmp_path))
    assert ckpt.tensor_names == set(tensors) and "lm_head.weight" not in ckpt.tensor_names
    assert ckpt.safetensors_files == ["model.safetensors"]


def test_opening_reads_only_json_files_and_headers_never_tensor_bytes(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    uri = upload_to_countmem(tmp_path, "headers-only")
    ckpt = open_checkpoint(uri)
    json_bytes = sum((tmp_path / name).stat().st_size for name in ("config.json", "model.safetensors.index.json"))
    header_bytes = sum(8 + int.from_bytes((tmp_path / f).read_bytes()[:8], "little") for f in ckpt.safetensors_files)
    assert CountingMemoryFileSystem.bytes_read == json_bytes + header_bytes
    ranged = [(start, end) for path, start, end in CountingMemoryFileSystem.reads if path.endswith(".safetensors")]
    assert all(start is not None and end is not None for start, end in ranged)
    assert not any(path.endswith("tokenizer.json") for path, _, _ in CountingMemoryFileSystem.reads)


def test_small_files_are_read_on_demand_and_a_missing_one_names_the_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    assert json.loads(ckpt.read_text("tokenizer.json"))["model"]["type"] == "BPE"
    assert ckpt.has_file("tokenizer.json") and not ckpt.has_file("tokenizer_config.json")
    with pytest.raises(FileNotFoundError, match=r"has no file 'tokenizer_config\.json'") as e:
        ckpt.read_text("tokenizer_config.json")
    assert str(tmp_path) in str(e.value)
    with pytest.raises(KeyError, match=r"model\.layers\.9\.mlp\.up_proj\.weight"):
        ckpt.locate("model.layers.9.mlp.up_proj.weight")


def test_a_directory_without_config_or_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        open_checkpoint(str(tmp_path / "absent"))
    write_checkpoint(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        open_checkpoint(str(tmp_path))


def test_an_index_naming_a_missing_file_or_the_wrong_file_is_refused(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(
        CheckpointError,
        match=r"maps tensor 'model.norm.weight' to model-00001-of-00002.*it is in "
        r"model-00002-of-00002",
    ):
        open_checkpoint(str(tmp_path))
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"names files that are not there: model-00002-of-00002\.safetensors"):
        open_checkpoint(str(tmp_path))


def test_malformed_or_truncated_weight_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, sharded=False)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor .* outside the file's data.*truncated"):
        open_checkpoint(str(tmp_path))
    weights.write_bytes((10**12).to_bytes(8, "little") + data[8:])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is not a safetensors file"):
        open_checkpoint(str(tmp_path))
