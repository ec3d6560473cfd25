"""The manifest records every tensor's hash (BLAKE3, or sha256 in version 1) and byte range; verify finds what
changed or went missing; manifests already written with sha256 keep reading, verifying and their revision."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from synthetic_weights import REFERENCE_HASHES, flip_byte, stored_bytes, version1_manifest, write_checkpoint

from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.manifest import MANIFEST_NAME, Manifest, ManifestError
from shardstack_runtime.weights.verify import build_manifest, verify_checkpoint


@pytest.mark.parametrize("hash_name", ["blake3", "sha256"])
def test_build_records_each_tensors_hash_and_absolute_byte_range(tmp_path: Path, hash_name: str) -> None:
    tensors = write_checkpoint(tmp_path)
    manifest = build_manifest(str(tmp_path), hash_name=hash_name)
    reference = REFERENCE_HASHES[hash_name]
    assert manifest.hash_name == hash_name
    ckpt = open_checkpoint(str(tmp_path))
    assert sorted(manifest.files) == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
    ]
    for name, tensor in tensors.items():
        listed = manifest.tensor(name)
        assert listed is not None, name
        file, record = listed
        loc = ckpt.locate(name)
        assert (file, record.dtype, record.shape, record.start, record.end) == (
            loc.file,
            loc.dtype,
            loc.shape,
            loc.start,
            loc.end,
        )
        assert record.hexdigest == reference(stored_bytes(tensor))
    config = manifest.files["config.json"]
    assert config.hexdigest == reference((tmp_path / "config.json").read_bytes())
    assert config.size == (tmp_path / "config.json").stat().st_size and not config.tensors
    assert (
        manifest.files["model-00001-of-00002.safetensors"].size
        == (tmp_path / "model-00001-of-00002.safetensors").stat().st_size
    )
    assert manifest.digest.startswith("sha256:") and len(manifest.digest) == 7 + 64


def test_the_revision_digest_depends_on_the_weights_not_on_how_they_are_split(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "a")
    sharded = build_manifest(str(tmp_path / "a"))
    write_checkpoint(tmp_path / "b", sharded=False)
    single = build_manifest(str(tmp_path / "b"))
    write_checkpoint(tmp_path / "c", seed=1)
    other = build_manifest(str(tmp_path / "c"))
    assert sharded.digest == single.digest != other.digest


def test_new_manifests_are_blake3_version_2_and_their_revision_follows_the_documented_lines(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    manifest = build_manifest(str(tmp_path))
    assert manifest.hash_name == "blake3"
    doc = json.loads(manifest.to_json())
    assert (doc["format"], doc["version"], doc["hash"]) == ("shardstack-manifest", 2, "blake3")
    record = doc["files"]["model-00001-of-00002.safetensors"]["tensors"]["model.embed_tokens.weight"]
    assert set(record) == {"dtype", "shape", "start", "end", "blake3"}
    assert set(doc["files"]["config.json"]) == {"size", "blake3"}
    # The revision stays a sha256 (what ranks exchange); BLAKE3 hashes enter its lines as "blake3:<hex>".
    lines = sorted(
        f"{name}\t{r['dtype']}\t{','.join(map(str, r['shape']))}\tblake3:{r['blake3']}\n"
        for entry in doc["files"].values()
        for name, r in entry.get("tensors", {}).items()
    )
    assert doc["digest"] == manifest.digest == "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
    assert manifest.digest != build_manifest(str(tmp_path), hash_name="sha256").digest


@pytest.mark.parametrize("hash_name", ["blake3", "sha256"])
def test_json_round_trips_and_a_tampered_manifest_is_rejected(tmp_path: Path, hash_name: str) -> None:
    write_checkpoint(tmp_path)
    manifest = build_manifest(str(tmp_path), hash_name=hash_name)
    manifest.save(str(tmp_path / MANIFEST_NAME))
    loaded = Manifest.load(f"file://{tmp_path}/{MANIFEST_NAME}")
    assert loaded == manifest and loaded.digest == manifest.digest and loaded.hash_name == hash_name
    doc = json.loads((tmp_path / MANIFEST_NAME).read_text())
    record = doc["files"]["model-00001-of-00002.safetensors"]["tensors"]["model.embed_tokens.weight"]
    record[hash_name] = "0" * 64
    with pytest.raises(ManifestError, match="does not match its tensors"):
        Manifest.from_json(json.dumps(doc))
    doc["version"] = 99
    with pytest.raises(ManifestError, match="version 99 is not supported"):
        Manifest.from_json(json.dumps(doc))


def test_an_unknown_hash_or_one_a_version_cannot_carry_is_refused(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    doc = json.loads(build_manifest(str(tmp_path)).to_json())
    with pytest.raises(ManifestError, match="hash 'md5' is not supported; this runtime verifies blake3, sha256"):
        Manifest.from_json(json.dumps({**doc, "hash": "md5"}))
    with pytest.raises(ManifestError, match="a version 1 manifest is all sha256"):
        Manifest.from_json(json.dumps({**doc, "version": 1}))
    with pytest.raises(ValueError, match="unknown hash 'md5'"):
        build_manifest(str(tmp_path), hash_name="md5")


def test_an_old_sha256_manifest_keeps_its_revision_and_is_still_written_byte_for_byte(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    old = version1_manifest(tmp_path)  # as runtime 0.1.0 wrote it, into users' buckets
    (tmp_path / MANIFEST_NAME).write_text(old)
    loaded = Manifest.load(str(tmp_path / MANIFEST_NAME))
    assert loaded.hash_name == "sha256" and loaded.digest == json.loads(old)["digest"]
    assert build_manifest(str(tmp_path), hash_name="sha256").to_json() == old
    report = verify_checkpoint(str(tmp_path))
    assert report.ok and report.digest == json.loads(old)["digest"], report.summary()


def test_verify_passes_an_intact_checkpoint_and_lists_extra_files_without_failing(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    manifest = build_manifest(str(tmp_path))
    manifest.save(str(tmp_path / MANIFEST_NAME))
    (tmp_path / "README.md").write_text("notes")
    report = verify_checkpoint(str(tmp_path))
    assert report.ok and report.digest == manifest.digest
    assert (report.files_checked, report.tensors_checked) == (5, len(list(manifest.iter_tensors())))
    assert report.unlisted_files == ("README.md",)
    assert report.bytes_read == sum(r.end - r.start for _, _, r in manifest.iter_tensors()) + sum(
        f.size for f in manifest.files.values() if not f.tensors
    )
    assert "OK" in report.summary()


@pytest.mark.parametrize("hash_name", ["blake3", "sha256"])
def test_verify_names_the_file_and_tensor_of_a_flipped_byte_and_missing_or_changed_files(
    tmp_path: Path, hash_name: str
) -> None:
    write_checkpoint(tmp_path)
    build_manifest(str(tmp_path), hash_name=hash_name).save(str(tmp_path / MANIFEST_NAME))
    loc = open_checkpoint(str(tmp_path)).locate("model.layers.1.self_attn.o_proj.weight")
    flip_byte(tmp_path / loc.file, loc.end - 1)
    flip_byte(tmp_path / "config.json", 0)
    (tmp_path / "tokenizer.json").unlink()
    report = verify_checkpoint(str(tmp_path))
    assert not report.ok
    assert report.missing_files == ("tokenizer.json",)
    problems = {(m.file, m.tensor) for m in report.mismatches}
    assert problems == {
        ("model-00001-of-00002.safetensors", "model.layers.1.self_attn.o_proj.weight"),
        ("config.json", None),
    }
    summary = report.summary()
    assert "FAILED" in summary and "missing: tokenizer.json" in summary
    assert f"model-00001-of-00002.safetensors: model.layers.1.self_attn.o_proj.weight: {hash_name} is" in summary


def test_verify_reports_a_truncated_file_by_its_size(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    build_manifest(str(tmp_path)).save(str(tmp_path / MANIFEST_NAME))
    weights = tmp_path / "model-00002-of-00002.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    report = verify_checkpoint(str(tmp_path))
    assert [str(m) for m in report.mismatches] == [
        f"model-00002-of-00002.safetensors: size is {weights.stat().st_size} bytes, manifest says "
        f"{weights.stat().st_size + 100}"
    ]


def test_verify_without_a_manifest_says_how_to_get_one(tmp_path: Path) -> None:
    write_checkpoint(tmp_path)
    with pytest.raises(
        FileNotFoundError,
        match=r"no shardstack-manifest\.json: upload it with "
        r"`shardstack-runtime weights push`",
    ):
        verify_checkpoint(str(tmp_path))
