"""Loading a layer range fetches exactly its tensors' bytes, converts dtypes, and refuses corrupt weights,
whether the manifest is BLAKE3 (version 2) or sha256 (version 1, as already in users' buckets)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from synthetic_weights import (
    REFERENCE_HASHES,
    CountingMemoryFileSystem,
    LateStartMemoryFileSystem,
    flip_byte,
    layer_tensor_names,
    stored_bytes,
    upload_to_countmem,
    version1_manifest,
    write_checkpoint,
)

from shardstack_runtime.weights import fetch
from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.fetch import hash_ranges
from shardstack_runtime.weights.loader import WeightsCorruptError, load_tensors
from shardstack_runtime.weights.manifest import MANIFEST_NAME
from shardstack_runtime.weights.storage import filesystem
from shardstack_runtime.weights.verify import build_manifest


def with_manifest(directory: Path, hash_name: str = "blake3") -> Path:
    (directory / MANIFEST_NAME).write_text(build_manifest(str(directory), hash_name=hash_name).to_json())
    return directory


def targets_for(tensors: dict[str, torch.Tensor], names: list[str], dtype: torch.dtype | None = None):
    return {name: torch.empty(tensors[name].shape, dtype=dtype or tensors[name].dtype) for name in names}


def test_a_layer_range_fetches_exactly_the_bytes_of_its_tensors(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    uri = upload_to_countmem(tmp_path, "layer-range")
    ckpt = open_checkpoint(uri)
    CountingMemoryFileSystem.reset_counts()
    names = layer_tensor_names(1) + layer_tensor_names(2)  # spans both files
    targets = targets_for(tensors, names)
    report = load_tensors(ckpt, targets, concurrency=4)
    expected = sum(ckpt.locate(name).nbytes for name in names)
    assert report.bytes_fetched == expected == CountingMemoryFileSystem.bytes_read
    assert (report.tensors, report.files, report.verified) == (len(names), 2, True)
    assert ckpt.manifest is not None and report.manifest_digest == ckpt.manifest.digest
    for name in names:
        assert torch.equal(targets[name], tensors[name]), name
    fetched = {path.rsplit("/", 1)[-1] for path, _, _ in CountingMemoryFileSystem.reads}
    assert fetched == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}


def test_dtypes_are_converted_on_load_both_ways(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    bf16_name, f32_name = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.input_layernorm.weight"
    assert (ckpt.locate(bf16_name).dtype, ckpt.locate(f32_name).dtype) == ("BF16", "F32")
    up = torch.empty(tensors[bf16_name].shape, dtype=torch.float32)
    down = torch.empty(tensors[f32_name].shape, dtype=torch.bfloat16)
    report = load_tensors(ckpt, {bf16_name: up, f32_name: down})
    assert report.verified
    assert torch.equal(up, tensors[bf16_name].float())
    assert torch.equal(down, tensors[f32_name].to(torch.bfloat16))


def test_small_chunks_split_tensors_and_still_verify_in_order(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    seen: list[tuple[int, int]] = []
    targets = targets_for(tensors, sorted(tensors), dtype=torch.float32)
    # 1001 bytes is not a multiple of any element size: pieces are cut at element boundaries instead.
    report = load_tensors(ckpt, targets, chunk_bytes=1001, concurrency=5, progress=lambda d, t: seen.append((d, t)))
    assert report.verified and report.bytes_fetched == sum(ckpt.locate(n).nbytes for n in tensors)
    for name, tensor in tensors.items():
        assert torch.equal(targets[name], tensor.float()), name
    assert seen[0] == (0, report.bytes_fetched) and seen[-1] == (report.bytes_fetched, report.bytes_fetched)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_parameters_and_non_contiguous_targets_are_filled_in_place(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    name = "model.layers.0.mlp.gate_proj.weight"  # [64, 32]
    param = torch.nn.Parameter(torch.empty(64, 32, dtype=torch.bfloat16))
    storage = torch.empty(32, 64, dtype=torch.float32)
    transposed = storage.t()
    load_tensors(ckpt, {name: param})
    load_tensors(ckpt, {name: transposed})
    assert torch.equal(param.detach(), tensors[name]) and param.requires_grad
    assert torch.equal(storage, tensors[name].float().t())


@pytest.mark.parametrize("hash_name", ["blake3", "sha256"])
def test_a_flipped_byte_refuses_the_load_naming_file_and_tensor(tmp_path: Path, hash_name: str) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path, hash_name)
    ckpt = open_checkpoint(str(tmp_path))
    victim = ckpt.locate("model.layers.2.mlp.down_proj.weight")
    flip_byte(tmp_path / victim.file, victim.start + victim.nbytes // 2)
    ckpt = open_checkpoint(str(tmp_path))
    # A rank that does not own the damaged tensor loads fine: it never fetches those bytes.
    assert load_tensors(ckpt, targets_for(tensors, layer_tensor_names(0))).verified
    with pytest.raises(WeightsCorruptError) as e:
        load_tensors(ckpt, targets_for(tensors, layer_tensor_names(2)), chunk_bytes=512)
    message = str(e.value)
    assert "model-00002-of-00002.safetensors" in message and "'model.layers.2.mlp.down_proj.weight'" in message
    assert f"{hash_name} of its stored bytes" in message and "refusing to load" in message


def test_a_blake3_manifest_loads_and_verifies(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    assert ckpt.manifest is not None and ckpt.manifest.hash_name == "blake3"
    targets = targets_for(tensors, sorted(tensors))
    report = load_tensors(ckpt, targets)
    assert (report.verified, report.hash_name, report.manifest_digest) == (True, "blake3", ckpt.manifest.digest)
    assert f"blake3 verified against manifest {ckpt.manifest.digest}" in str(report)
    for name, tensor in tensors.items():
        assert torch.equal(targets[name], tensor), name


def test_an_old_sha256_manifest_still_verifies_and_still_catches_a_flipped_byte(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(version1_manifest(tmp_path))  # as runtime 0.1.0 pushed it
    ckpt = open_checkpoint(str(tmp_path))
    report = load_tensors(ckpt, targets_for(tensors, sorted(tensors)))
    assert (report.verified, report.hash_name) == (True, "sha256")
    victim = ckpt.locate("model.embed_tokens.weight")
    flip_byte(tmp_path / victim.file, victim.end - 1)
    with pytest.raises(WeightsCorruptError, match=r"model-00001-of-00002\.safetensors: tensor 'model\.embed_tokens"):
        load_tensors(open_checkpoint(str(tmp_path)), targets_for(tensors, [victim.name]))


@pytest.mark.parametrize("hash_name", ["blake3", "sha256"])
def test_pieces_hashed_as_they_arrive_out_of_order_give_the_sequential_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_name: str
) -> None:
    tensors = write_checkpoint(tmp_path)
    upload_to_countmem(tmp_path, f"late-{hash_name}")
    # Segments of 96 bytes in pieces of 1000, one staging buffer per thread: every range arrives in many
    # pieces, the later ones first, and parked segments hold buffers that the next reads wait for.
    monkeypatch.setattr(fetch, "HASH_SEGMENT_BYTES", 96)
    monkeypatch.setattr(fetch, "STAGING_BUFFERS_PER_WORKER", 1)
    LateStartMemoryFileSystem.answered = []
    fs, root = filesystem(f"latemem://late-{hash_name}")
    ckpt = open_checkpoint(f"countmem://late-{hash_name}")
    locations = [ckpt.locate(name) for name in sorted(tensors)]
    digests = hash_ranges(fs, root, locations, hash_name=hash_name, concurrency=8, chunk_bytes=1000)
    assert digests == [REFERENCE_HASHES[hash_name](stored_bytes(tensors[loc.name])) for loc in locations]
    starts = [start for path, start in LateStartMemoryFileSystem.answered if path.endswith(locations[0].file)]
    assert starts != sorted(starts), "the reads came back in order: nothing was hashed out of order"


def test_a_load_with_pieces_out_of_order_into_staged_and_direct_targets_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    upload_to_countmem(tmp_path, "late-load")
    monkeypatch.setattr(fetch, "HASH_SEGMENT_BYTES", 64)
    monkeypatch.setattr(fetch, "STAGING_BUFFERS_PER_WORKER", 1)
    ckpt = open_checkpoint("latemem://late-load")
    names = sorted(tensors)
    # Every other tensor converted (through a staging buffer), the others straight into their targets.
    targets = {
        n: torch.empty(tensors[n].shape, dtype=torch.float64 if i % 2 else tensors[n].dtype)
        for i, n in enumerate(names)
    }
    report = load_tensors(ckpt, targets, concurrency=6, chunk_bytes=700)
    assert report.verified and report.hash_name == "blake3"
    for name in names:
        assert torch.equal(targets[name], tensors[name].to(targets[name].dtype)), name


def test_without_a_manifest_the_load_works_and_says_it_was_not_verified(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path, tied=True)
    ckpt = open_checkpoint(str(tmp_path))
    targets = targets_for(tensors, ["model.embed_tokens.weight", "model.norm.weight"])
    report = load_tensors(ckpt, targets)
    assert not report.verified and report.manifest_digest is None
    assert "not verified" in str(report) and MANIFEST_NAME in report.note
    assert torch.equal(targets["model.norm.weight"], tensors["model.norm.weight"])
    with_manifest(tmp_path)
    skipped = load_tensors(open_checkpoint(str(tmp_path)), targets, verify=False)
    assert not skipped.verified and "verify=False" in skipped.note


def test_bad_targets_are_all_reported_before_anything_is_fetched(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    uri = upload_to_countmem(tmp_path, "bad-targets")
    ckpt = open_checkpoint(uri)
    CountingMemoryFileSystem.reset_counts()
    targets = {
        "model.layers.7.self_attn.q_proj.weight": torch.empty(32, 32),
        "model.layers.0.self_attn.k_proj.weight": torch.empty(16, 32),
        "model.layers.0.self_attn.v_proj.weight": torch.empty(32, 32),
    }
    with pytest.raises(ValueError) as e:
        load_tensors(ckpt, targets)
    message = str(e.value)
    assert "no tensor 'model.layers.7.self_attn.q_proj.weight'" in message
    assert (
        "model-00001-of-00002.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight': expected shape "
        "[16, 32] (the target), found BF16[32, 32]"
    ) in message
    assert "v_proj" not in message
    assert CountingMemoryFileSystem.bytes_read == 0


def test_a_manifest_that_disagrees_with_the_header_is_refused_before_fetching(tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path)
    with_manifest(tmp_path)
    write_checkpoint(tmp_path, tied=True)  # re-exported without lm_head: the same tensors at other offsets
    ckpt = open_checkpoint(str(tmp_path))
    with pytest.raises(
        WeightsCorruptError,
        match=r"model\.layers\.2\.mlp\.up_proj\.weight': the header says BF16"
        r"\[64, 32\] at bytes \[\d+, \d+\), the manifest says",
    ):
        load_tensors(ckpt, targets_for(tensors, ["model.layers.2.mlp.up_proj.weight"]))


def test_integer_bool_and_half_tensors_load_too(tmp_path: Path) -> None:
    stored = {
        "buffers.positions": torch.arange(-5, 7, dtype=torch.int64),
        "buffers.ids": torch.arange(12, dtype=torch.int32).reshape(3, 4),
        "buffers.bytes": torch.arange(250, 256, dtype=torch.uint8),
        "buffers.mask": torch.tensor([True, False, True]),
        "buffers.half": torch.linspace(-2, 2, 9, dtype=torch.float16),
        "buffers.empty": torch.empty(0, 4),
    }
    save_file(stored, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text("{}")
    with_manifest(tmp_path)
    ckpt = open_checkpoint(str(tmp_path))
    targets = {name: torch.empty(t.shape, dtype=t.dtype) for name, t in stored.items()}
    targets["buffers.half"] = torch.empty(9, dtype=torch.float32)
    report = load_tensors(ckpt, targets)
    assert report.verified and report.tensors == len(stored)
    for name, tensor in stored.items():
        assert torch.equal(targets[name], tensor.to(targets[name].dtype)), name
