"""Object storage access: one fsspec filesystem per URI scheme, credentials from the workload identity.

    fs, path = filesystem("s3://weights/smollm2")      # fs.cat_file(f"{path}/config.json")

Supported URIs (any other fsspec protocol, e.g. ``memory://``, is passed to fsspec unchanged), with
where credentials come from in the cloud (never from the pod's env) and the standard variable that
points the client at an emulator instead:

- ``/abs/path`` or ``file:///abs/path``: the local filesystem.
- ``s3://<bucket>/<prefix>`` (s3fs): botocore's default chain, i.e. IRSA
  (``AWS_WEB_IDENTITY_TOKEN_FILE``), EKS Pod Identity, ``AWS_SHARED_CREDENTIALS_FILE``, instance
  profile. Region from ``AWS_REGION`` or ``AWS_DEFAULT_REGION``. Emulator: ``AWS_ENDPOINT_URL_S3``
  (or ``AWS_ENDPOINT_URL``), honoured by botocore itself.
- ``gs://<bucket>/<prefix>`` (gcsfs): Application Default Credentials, i.e. the GKE metadata server
  under Workload Identity. Emulator: ``STORAGE_EMULATOR_HOST`` (then anonymous, as Google's own
  clients do).
- ``az://<container>/<prefix>`` (adlfs): ``DefaultAzureCredential``, i.e. Azure Workload Identity
  (``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE``). Emulator:
  ``AZURE_STORAGE_CONNECTION_STRING``.

How ``az://`` names the storage account: either in the URI,
``az://<container>@<account>.blob.core.windows.net/<prefix>`` (the host also selects sovereign
clouds, e.g. ``<account>.blob.core.chinacloudapi.cn``), or with the short form
``az://<container>/<prefix>`` plus ``AZURE_STORAGE_ACCOUNT_NAME=<account>`` in the environment.
When ``AZURE_STORAGE_CONNECTION_STRING`` is set it decides the account and the endpoint
(that is how Azurite is reached), whatever the URI says.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["SUPPORTED_SCHEMES", "filesystem", "join", "read_bytes", "read_into"]

SUPPORTED_SCHEMES = ("file", "s3", "gs", "az")

# botocore's default pool is 10 connections: the loader's concurrency must not queue behind it.
S3_MAX_POOL_CONNECTIONS = 64


def filesystem(uri: str) -> tuple[AbstractFileSystem, str]:
    """Return the fsspec filesystem for ``uri`` and the path inside it (no trailing slash).

    Filesystems are cached by fsspec per set of arguments, so calling this per file is cheap.
    Fails with ``ImportError`` naming the extra to install when the scheme's driver is missing.
    """
    scheme, _, rest = uri.partition("://")
    if not rest:  # a plain local path
        scheme, rest = "file", uri
    scheme = scheme.lower()
    if scheme == "file":
        return _local(rest)
    if scheme == "s3":
        return _s3(rest)
    if scheme in ("gs", "gcs"):
        return _gcs(rest)
    if scheme == "az":
        return _azure(uri)
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path.rstrip("/")


def join(path: str, name: str) -> str:
    """Join a filesystem path returned by :func:`filesystem` and a relative name with ``/``."""
    return f"{path}/{name}" if path else name


def read_bytes(fs: AbstractFileSystem, path: str, start: int | None = None, end: int | None = None) -> bytes:
    """Return the bytes of ``path`` (from ``start`` to ``end`` when given): ``fs.cat_file`` with its type.

    fsspec is unannotated and its ``cat_file`` reads through a file object that could be text, so a type
    checker sees ``str | bytes``; every filesystem opens the file in binary mode, and text here is a bug.
    """
    data = fs.cat_file(path, start=start, end=end)
    if isinstance(data, str):
        raise TypeError(f"{type(fs).__name__}.cat_file({path!r}) returned text, expected bytes")
    return data


def read_into(
    fs: AbstractFileSystem,
    path: str,
    start: int,
    outs: Sequence[memoryview],
    filled: Callable[[int], None] | None = None,
) -> None:
    """Read the bytes of ``path`` from ``start`` on into ``outs``, one after the other (a scatter read).

    Local files are read straight into ``outs`` (no intermediate copy); other filesystems make one
    ranged request (``cat_file``) whose body is copied into ``outs``. ``filled(i)`` is called as soon
    as ``outs[i]`` holds its bytes, while they are still in this core's cache. A short file is an
    ``OSError``.
    """
    from fsspec.implementations.local import LocalFileSystem

    want = sum(len(out) for out in outs)
    got = 0
    if isinstance(fs, LocalFileSystem):
        with open(path, "rb", buffering=0) as f:
            f.seek(start)
            for index, out in enumerate(outs):
                filled_bytes = 0
                while filled_bytes < len(out):
                    n = f.readinto(out[filled_bytes:])
                    if not n:
                        break
                    filled_bytes += n
                got += filled_bytes
                if filled_bytes < len(out):
                    break
                if filled is not None:
                    filled(index)
    else:
        data = memoryview(read_bytes(fs, path, start=start, end=start + want))
        got = len(data)
        if got == want:
            offset = 0
            for index, out in enumerate(outs):
                out[:] = data[offset : offset + len(out)]
                offset += len(out)
                if filled is not None:
                    filled(index)
    if got != want:
        raise OSError(
            f"{path}: expected {want} bytes at offset {start}, got {got}: the file is shorter than its "
            "safetensors header says (truncated upload?)"
        )


def _local(rest: str) -> tuple[AbstractFileSystem, str]:
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), os.path.abspath(rest).rstrip("/") or "/"


def _s3(rest: str) -> tuple[AbstractFileSystem, str]:
    try:
        import s3fs
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("s3:// needs s3fs: pip install 'shardstack-runtime[s3]'") from e
    # botocore reads the credential chain and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself; the endpoint
    # is passed explicitly too so that fsspec's instance cache (keyed by arguments) follows the env.
    # botocore only reads AWS_DEFAULT_REGION, while EKS and our local stack set AWS_REGION.
    client_kwargs = {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    fs = s3fs.S3FileSystem(
        endpoint_url=endpoint,
        client_kwargs=client_kwargs,
        config_kwargs={"max_pool_connections": S3_MAX_POOL_CONNECTIONS},
    )
    return fs, rest.rstrip("/")


def _gcs(rest: str) -> tuple[AbstractFileSystem, str]:
    # Without this, gcsfs's experimental HNS support probes a gRPC endpoint and waits ~60 s per call
    # when that endpoint is unreachable (emulators, air-gapped clusters). An explicit setting wins.
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    try:
        import gcsfs
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("gs:// needs gcsfs: pip install 'shardstack-runtime[gcs]'") from e
    # An emulator takes no credentials (google-cloud-storage goes anonymous for STORAGE_EMULATOR_HOST
    # too). Otherwise only Application Default Credentials: never a silent fallback to anonymous.
    # The endpoint is passed explicitly so that fsspec's instance cache follows the env.
    emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
    if emulator in ("", "default"):
        return gcsfs.GCSFileSystem(token="google_default"), rest.rstrip("/")
    if not emulator.startswith(("http://", "https://")):
        emulator = f"http://{emulator}"
    return gcsfs.GCSFileSystem(token="anon", endpoint_url=emulator), rest.rstrip("/")


def _azure(uri: str) -> tuple[AbstractFileSystem, str]:
    try:
        import adlfs
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("az:// needs adlfs and azure-identity: pip install 'shardstack-runtime[azure]'") from e
    parts = urlsplit(uri)
    container, path = parts.netloc, parts.path.strip("/")
    account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    account_host = None
    if "@" in container:
        container, account_host = container.split("@", 1)
        if "." not in account_host:
            raise ValueError(
                f"{uri!r}: expected az://<container>@<account>.blob.core.windows.net/<path>, got host {account_host!r}"
            )
        account = account_host.split(".", 1)[0]
    elif not (account or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")):
        raise ValueError(
            f"{uri!r} names no storage account: use az://<container>@<account>.blob.core.windows.net/"
            "<path>, or set AZURE_STORAGE_ACCOUNT_NAME (or AZURE_STORAGE_CONNECTION_STRING)"
        )
    if not container:
        raise ValueError(f"{uri!r} names no container: expected az://<container>/<path>")
    # Without a key, SAS or connection string adlfs authenticates with DefaultAzureCredential (workload
    # identity). It reads these variables itself; passing them keeps fsspec's instance cache in step.
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    # adlfs annotates these `str = None`: None is its own default and means "not given".
    fs = adlfs.AzureBlobFileSystem(
        account_name=account,  # pyright: ignore[reportArgumentType]
        account_host=account_host,  # pyright: ignore[reportArgumentType]
        connection_string=connection_string,  # pyright: ignore[reportArgumentType]
    )
    return fs, f"{container}/{path}".rstrip("/")
