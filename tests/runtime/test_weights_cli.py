"""`shardstack-runtime weights push|verify`: upload with the manifest written last, verify with exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_weights import CountingMemoryFileSystem, flip_byte, version1_manifest, write_checkpoint

from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.cli import main, push_checkpoint
from shardstack_runtime.weights.manifest import MANIFEST_NAME, Manifest
from shardstack_runtime.weights.verify import build_manifest


def test_push_copies_every_file_and_writes_the_manifest_of_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dest = tmp_path / "src", tmp_path / "bucket" / "models" / "tiny"
    write_checkpoint(src)
    (src / "original").mkdir()
    (src / "original" / "params.json").write_text("{}")
    (src / ".cache" / "huggingface").mkdir(parents=True)
    (src / ".cache" / "huggingface" / "model.safetensors.metadata").write_text("hf download bookkeeping")
    assert main(["weights", "push", str(src), f"file://{dest}", "--quiet"]) == 0
    out = capsys.readouterr().out
    manifest = Manifest.load(str(dest / MANIFEST_NAME))
    assert manifest == build_manifest(str(src))
    assert "pushed 6 files" in out and manifest.digest in out
    for name in manifest.files:
        assert (dest / name).read_bytes() == (src / name).read_bytes(), name
    assert open_checkpoint(f"file://{dest}").manifest == manifest
    assert not (dest / ".cache").exists()
    assert manifest.hash_name == "blake3" and "blake3 manifest" in out


def test_push_with_hash_sha256_writes_the_version_1_manifest_older_runtimes_read(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    write_checkpoint(src)
    assert main(["weights", "push", str(src), str(dest), "--hash", "sha256", "--quiet"]) == 0
    assert (dest / MANIFEST_NAME).read_text() == version1_manifest(src)
    assert main(["weights", "verify", str(dest), "--quiet"]) == 0


def test_the_manifest_is_removed_first_and_written_last_so_a_failed_push_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    write_checkpoint(src)
    fs = CountingMemoryFileSystem()
    fs.pipe_file("/push-order/" + MANIFEST_NAME, b"{}")  # left by an earlier upload
    events: list[tuple[str, str]] = []
    original = {name: getattr(CountingMemoryFileSystem, name) for name in ("put_file", "pipe_file", "rm_file")}

    def recording(name: str):
        def call(self, path, *args, **kwargs):
            events.append((name, args[0] if name == "put_file" else path))
            return original[name](self, path, *args, **kwargs)

        return call

    for name in original:
        monkeypatch.setattr(CountingMemoryFileSystem, name, recording(name))
    manifest = push_checkpoint(str(src), "countmem://push-order", progress=False)
    assert events[0] == ("rm_file", "/push-order/" + MANIFEST_NAME)
    assert events[-1] == ("pipe_file", "/push-order/" + MANIFEST_NAME)
    uploaded = sorted(path for kind, path in events if kind == "put_file")
    assert uploaded == [f"/push-order/{name}" for name in sorted(manifest.files)]

    def fail_on_second_weights_file(self, lpath, rpath, **kwargs):
        if rpath.endswith("model-00002-of-00002.safetensors"):
            raise PermissionError(f"{rpath}: access denied")
        return original["put_file"](self, lpath, rpath, **kwargs)

    monkeypatch.setattr(CountingMemoryFileSystem, "put_file", fail_on_second_weights_file)
    assert main(["weights", "push", str(src), "countmem://push-order", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "weights push: error: /push-order/model-00002-of-00002.safetensors: access denied" in err
    assert not fs.exists("/push-order/" + MANIFEST_NAME)


def test_push_refuses_a_directory_that_is_not_a_checkpoint_and_uploads_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "weights.bin").write_bytes(b"x")
    assert main(["weights", "push", str(tmp_path / "src"), str(tmp_path / "dest"), "--quiet"]) == 1
    assert "has no config.json" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()
    assert main(["weights", "push", str(tmp_path / "absent"), str(tmp_path / "dest"), "--quiet"]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_verify_exits_0_when_intact_and_1_naming_file_and_tensor_when_corrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_checkpoint(tmp_path / "src")
    dest = tmp_path / "dest"
    push_checkpoint(str(tmp_path / "src"), str(dest), progress=False)
    assert main(["weights", "verify", str(dest), "--quiet"]) == 0
    assert "OK" in capsys.readouterr().out
    loc = open_checkpoint(str(dest)).locate("model.embed_tokens.weight")
    flip_byte(dest / loc.file, loc.start)
    assert main(["weights", "verify", str(dest), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "model-00001-of-00002.safetensors: model.embed_tokens.weight: blake3 is" in out
    assert main(["weights", "verify", str(tmp_path / "src"), "--quiet"]) == 1
    assert "no shardstack-manifest.json" in capsys.readouterr().err


def test_the_command_runs_as_a_process_with_progress_bars(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "src")
    command = [sys.executable, "-m", "shardstack_runtime.weights.cli", "weights"]
    push = subprocess.run(
        [*command, "push", str(tmp_path / "src"), f"file://{tmp_path}/dest"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert push.returncode == 0, push.stderr
    assert "uploading to file://" in push.stderr and "hashing" in push.stderr
    verify = subprocess.run(
        [*command, "verify", f"file://{tmp_path}/dest"], capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith(f"file://{tmp_path}/dest: OK: 5 files")
