"""Push, load and verify through file://, s3://, gs:// and az:// with one code path; only env seams differ.

S3 is moto_server, GCS is gcp-storage-emulator, Azure Blob is Azurite, each a real process on
127.0.0.1 reached through the standard variables (AWS_ENDPOINT_URL_S3, STORAGE_EMULATOR_HOST,
AZURE_STORAGE_CONNECTION_STRING).
"""

from __future__ import annotations

from pathlib import Path

import adlfs
import pytest
import s3fs
import torch
from google.auth.exceptions import DefaultCredentialsError
from storage_emulators import SEAM_VARIABLES, azure_emulator, gcs_emulator, s3_emulator  # noqa: F401 (fixtures)
from synthetic_weights import layer_tensor_names, write_checkpoint

from shardstack_runtime.weights.checkpoint import open_checkpoint
from shardstack_runtime.weights.cli import push_checkpoint
from shardstack_runtime.weights.loader import WeightsCorruptError, load_tensors
from shardstack_runtime.weights.storage import filesystem, read_bytes
from shardstack_runtime.weights.verify import verify_checkpoint

STORES = ["file", "s3", "gs", "az"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Return a function giving a fresh checkpoint URI in the store, with this process pointed at it."""
    kind = request.param
    if kind == "file":
        for name in SEAM_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        return lambda name: f"file://{tmp_path}/store/{name}"
    emulator = request.getfixturevalue({"s3": "s3_emulator", "gs": "gcs_emulator", "az": "azure_emulator"}[kind])
    emulator.apply(monkeypatch)
    return lambda name: emulator.uri(f"{request.node.name}/{name}".replace("[", "-").replace("]", ""))


def test_push_then_load_a_layer_range_from_each_store(store, tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path / "src")
    uri = store("tiny")
    manifest = push_checkpoint(str(tmp_path / "src"), uri, progress=False)
    ckpt = open_checkpoint(uri)
    assert ckpt.manifest == manifest and ckpt.config["num_hidden_layers"] == 3
    names = [*layer_tensor_names(1), *layer_tensor_names(2), "model.norm.weight", "lm_head.weight"]
    targets = {name: torch.empty(tensors[name].shape, dtype=torch.float32) for name in names}
    report = load_tensors(ckpt, targets, chunk_bytes=4096, concurrency=4)
    assert report.verified and report.manifest_digest == manifest.digest
    assert report.bytes_fetched == sum(ckpt.locate(name).nbytes for name in names)
    for name in names:
        assert torch.equal(targets[name], tensors[name].float()), name
    assert verify_checkpoint(uri).ok


def test_a_corrupted_object_is_caught_by_verify_and_refused_by_the_loader(store, tmp_path: Path) -> None:
    tensors = write_checkpoint(tmp_path / "src")
    uri = store("corrupt")
    push_checkpoint(str(tmp_path / "src"), uri, progress=False)
    victim = open_checkpoint(uri).locate("model.layers.2.self_attn.k_proj.weight")
    fs, root = filesystem(uri)
    data = bytearray(read_bytes(fs, f"{root}/{victim.file}"))
    data[victim.start + 3] ^= 0x01
    fs.pipe_file(f"{root}/{victim.file}", bytes(data))

    report = verify_checkpoint(uri)
    assert not report.ok
    assert [(m.file, m.tensor) for m in report.mismatches] == [(victim.file, victim.name)]
    ckpt = open_checkpoint(uri)
    with pytest.raises(WeightsCorruptError, match=rf"{victim.file}: tensor '{victim.name}': blake3"):
        load_tensors(ckpt, {victim.name: torch.empty(tensors[victim.name].shape)})


def test_az_uris_name_the_account_in_the_host_or_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SEAM_VARIABLES, "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    fs, path = filesystem("az://weights@prodweights.blob.core.windows.net/models/smollm2/")
    assert isinstance(fs, adlfs.AzureBlobFileSystem)
    assert (fs.account_name, fs.account_url, path) == (
        "prodweights",
        "https://prodweights.blob.core.windows.net",
        "weights/models/smollm2",
    )
    with pytest.raises(ValueError, match=r"names no storage account.*AZURE_STORAGE_ACCOUNT_NAME"):
        filesystem("az://weights/models/smollm2")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "devweights")
    fs, path = filesystem("az://weights/models/smollm2")
    assert isinstance(fs, adlfs.AzureBlobFileSystem)
    assert (fs.account_name, path) == ("devweights", "weights/models/smollm2")


def test_s3_takes_its_region_from_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SEAM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    fs, path = filesystem("s3://weights/models/smollm2/")
    assert isinstance(fs, s3fs.S3FileSystem)
    assert fs.client_kwargs["region_name"] == "eu-west-3" and path == "weights/models/smollm2"


def test_gcs_is_anonymous_only_for_an_emulator_and_never_falls_back_to_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in SEAM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(DefaultCredentialsError):
        filesystem("gs://weights/models")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    fs, path = filesystem("gs://weights/models/")
    import gcsfs  # only now: gcsfs reads GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT on import, which filesystem() sets

    assert isinstance(fs, gcsfs.GCSFileSystem)
    assert fs.credentials.token == "anon" and path == "weights/models"


def test_plain_paths_and_file_uris_are_local(tmp_path: Path) -> None:
    fs, path = filesystem(str(tmp_path) + "/")
    assert "file" in fs.protocol and path == str(tmp_path)
    assert filesystem(f"file://{tmp_path}")[1] == str(tmp_path)
