"""Object storage emulators on 127.0.0.1 (moto for S3, fake GCS, Azurite), and session fixtures for them.

Each emulator runs as a real process on a free port and is reached only through the standard
environment variables the runtime honours in the cloud too (``AWS_ENDPOINT_URL_S3``,
``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``): :attr:`Emulator.env` holds them.

Test modules import the fixtures they use explicitly::

    from storage_emulators import s3_emulator  # noqa: F401  (a pytest fixture)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AZURITE_BLOB = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
STARTUP_TIMEOUT_S = 30.0

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# Every variable any emulator sets, so that one emulator's test never sees another's seam.
SEAM_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_PROFILE",
    "STORAGE_EMULATOR_HOST",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
)


@dataclass
class Emulator:
    """A running emulator: its process, its port, the env that points clients at it, a bucket in it."""

    name: str
    scheme: str
    port: int
    bucket: str
    env: Mapping[str, str]
    process: subprocess.Popen = field(repr=False)
    log: Path = field(repr=False)

    def uri(self, *parts: str) -> str:
        return "/".join([f"{self.scheme}://{self.bucket}", *parts])

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this process at the emulator, and at nothing else, for one test."""
        for name in SEAM_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(name: str, command: list[str], port: int, log_dir: Path) -> tuple[subprocess.Popen, Path]:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before answering; log:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return process, log
        except urllib.error.HTTPError:  # any HTTP answer means it is up
            return process, log
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(
        f"{name} did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT_S} s; log:\n{log.read_text()}"
    )


def start_s3(log_dir: Path, bucket: str = "weights") -> Emulator:
    port = free_port()
    process, log = _start("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, log_dir)
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    emulator = Emulator("moto", "s3", port, bucket, env, process, log)
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL_S3"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def start_gcs(log_dir: Path, bucket: str = "weights") -> Emulator:
    port = free_port()
    command = [
        str(VENV_BIN / "gcp-storage-emulator"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        f"--default-bucket={bucket}",
    ]
    process, log = _start("gcp-storage-emulator", command, port, log_dir)
    return Emulator(
        "gcp-storage-emulator", "gs", port, bucket, {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"}, process, log
    )


def start_azure(log_dir: Path, container: str = "weights") -> Emulator:
    if not os.access(AZURITE_BLOB, os.X_OK):
        pytest.fail(
            f"Azurite is not installed at {AZURITE_BLOB}: run scripts/setup (it installs it under .tools/azurite)"
        )
    port = free_port()
    command = [
        str(AZURITE_BLOB),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]
    process, log = _start("azurite-blob", command, port, log_dir)
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    emulator = Emulator(
        "azurite-blob", "az", port, container, {"AZURE_STORAGE_CONNECTION_STRING": connection_string}, process, log
    )
    try:
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(connection_string) as service:
            service.create_container(container)
    except BaseException:
        emulator.stop()
        raise
    return emulator


@pytest.fixture(scope="session")
def s3_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_s3(tmp_path_factory.mktemp("moto"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_gcs(tmp_path_factory.mktemp("gcs"))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def azure_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emulator = start_azure(tmp_path_factory.mktemp("azurite"))
    yield emulator
    emulator.stop()
