"""``shardstack-runtime weights push|verify``: put a checkpoint into object storage with its manifest, check it.

    shardstack-runtime weights push ./SmolLM2-135M s3://my-weights/smollm2
    shardstack-runtime weights verify s3://my-weights/smollm2

``push`` hashes the local checkpoint (per-tensor BLAKE3; ``--hash sha256`` writes the version 1 manifest
that runtimes before manifest version 2 read), uploads every file of the directory with a
progress bar, and writes ``shardstack-manifest.json`` last: a present manifest means a complete
upload (an old manifest at the destination is deleted first). ``verify`` re-reads every stored byte
and compares it with the manifest. Both exit 1 with a one-line message on failure.

Wiring (cli.py)::

    subparsers = parser.add_subparsers(dest="command", required=True)
    add_weights_commands(subparsers)
    args = parser.parse_args(argv)
    sys.exit(args.func(args))
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fsspec.callbacks import Callback

from .fetch import DEFAULT_CONCURRENCY
from .hashing import DEFAULT_HASH, HASHES
from .manifest import MANIFEST_NAME, Manifest
from .storage import filesystem, join
from .verify import build_manifest, verify_checkpoint

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["add_weights_commands", "main", "push_checkpoint"]


def push_checkpoint(
    src: str,
    dest: str,
    progress: bool = True,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    hash_name: str = DEFAULT_HASH,
) -> Manifest:
    """Upload the local checkpoint directory ``src`` to ``dest`` (file://, s3://, gs://, az://) with its manifest.

    The source is validated and hashed first with ``hash_name`` (a malformed checkpoint uploads
    nothing), then every file under it is uploaded, then the manifest. Returns the manifest written.
    """
    src_fs, src_root = filesystem(src)
    if "file" not in _protocols(src_fs):
        raise ValueError(f"SRC must be a local checkpoint directory, got {src!r}")
    if not os.path.isdir(src_root):
        raise FileNotFoundError(f"{src}: no such directory")
    manifest = _with_bar(
        progress,
        f"hashing {src}",
        lambda callback: build_manifest(src_root, hash_name=hash_name, concurrency=concurrency, progress=callback),
    )

    dest_fs, dest_root = filesystem(dest)
    local_dest = "file" in _protocols(dest_fs)
    manifest_path = join(dest_root, MANIFEST_NAME)
    if dest_fs.exists(manifest_path):  # from an earlier upload: it must not vouch for a half-overwritten copy
        dest_fs.rm_file(manifest_path)
    names = sorted(manifest.files)
    total = sum(manifest.files[name].size for name in names)
    bar = _bar(progress, total, f"uploading to {dest}")
    try:
        for name in names:
            target = join(dest_root, name)
            if local_dest:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            callback = _BytesCallback(bar)
            # fsspec is unannotated: pyright types `callback` from its default, NoOpCallback; any Callback is taken.
            dest_fs.put_file(os.path.join(src_root, name), target, callback=callback)  # pyright: ignore[reportArgumentType]
            callback.finish(manifest.files[name].size)
    finally:
        if bar is not None:
            bar.close()
    dest_fs.pipe_file(manifest_path, manifest.to_json().encode())
    return manifest


def add_weights_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``weights push`` and ``weights verify``; each sets ``func(args) -> exit code``."""
    weights = subparsers.add_parser(
        "weights",
        help="upload a checkpoint to object storage, or verify a stored one",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    commands = weights.add_subparsers(dest="weights_command", required=True, metavar="{push,verify}")

    push = commands.add_parser(
        "push",
        help="upload a checkpoint directory with its manifest",
        description="Hash a local Hugging Face checkpoint directory, upload every file of it "
        f"to DEST, then write {MANIFEST_NAME} (per-tensor hashes and byte ranges).",
    )
    push.add_argument("src", metavar="SRC", help="local checkpoint directory (config.json, *.safetensors, ...)")
    push.add_argument(
        "dest",
        metavar="DEST",
        help="destination: file:///path, s3://bucket/prefix, gs://bucket/prefix, "
        "az://container/prefix (+ AZURE_STORAGE_ACCOUNT_NAME) or "
        "az://container@account.blob.core.windows.net/prefix",
    )
    push.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="parallel reads while hashing")
    push.add_argument(
        "--hash",
        choices=HASHES,
        default=DEFAULT_HASH,
        help=f"the manifest's hash (default {DEFAULT_HASH}); sha256 writes the version 1 manifest that "
        "runtimes older than manifest version 2 can verify",
    )
    push.add_argument("--quiet", action="store_true", help="no progress bars")
    push.set_defaults(func=_run_push)

    verify = commands.add_parser(
        "verify",
        help="check a stored checkpoint against its manifest",
        description=f"Re-read every file of a stored checkpoint and compare it with its "
        f"{MANIFEST_NAME}: sizes, safetensors headers, the hash of every tensor "
        "and file. Exits 1 on any mismatch or missing file.",
    )
    verify.add_argument("uri", metavar="URI", help="the checkpoint directory or URI")
    verify.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="parallel ranged reads")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.set_defaults(func=_run_verify)
    return weights


def main(argv: list[str] | None = None) -> int:
    """Run ``weights ...`` on its own (``python -m shardstack_runtime.weights.cli weights push SRC DEST``)."""
    parser = argparse.ArgumentParser(prog="shardstack-runtime")
    add_weights_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _run_push(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        manifest = push_checkpoint(
            args.src, args.dest, progress=not args.quiet, concurrency=args.concurrency, hash_name=args.hash
        )
    except Exception as e:  # any storage SDK's error: report it, no traceback
        print(f"shardstack-runtime weights push: error: {_message(e)}", file=sys.stderr)
        return 1
    print(
        f"pushed {len(manifest.files)} files ({manifest.total_bytes / 2**30:.3f} GiB) to {args.dest} in "
        f"{time.perf_counter() - started:.1f} s; {manifest.hash_name} manifest, model revision {manifest.digest}"
    )
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    try:
        report = _with_bar(
            not args.quiet,
            f"verifying {args.uri}",
            lambda callback: verify_checkpoint(args.uri, concurrency=args.concurrency, progress=callback),
        )
    except Exception as e:  # any storage SDK's error: report it, no traceback
        print(f"shardstack-runtime weights verify: error: {_message(e)}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.ok else 1


def _message(error: Exception) -> str:
    text = str(error) or repr(error)
    return text if isinstance(error, (OSError, ValueError, KeyError)) else f"{type(error).__name__}: {text}"


def _protocols(fs: Any) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def _bar(enabled: bool, total: int, desc: str) -> tqdm | None:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)


def _with_bar(enabled: bool, desc: str, work: Callable[[Callable[[int, int], None] | None], Any]) -> Any:
    """Run ``work(progress_callback)`` under a byte progress bar (or none)."""
    bar = _bar(enabled, 0, desc)
    if bar is None:
        return work(None)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)

    try:
        return work(update)
    finally:
        bar.close()


class _BytesCallback(Callback):
    """Feeds an upload's progress (fsspec's ``set_size``/``relative_update`` calls) to a tqdm bar."""

    def __init__(self, bar: tqdm | None) -> None:
        super().__init__()
        self._bar = bar
        self._reported = 0

    def call(self, *args: Any, **kwargs: Any) -> None:
        self._advance(self.value)

    def finish(self, size: int) -> None:
        """Count the whole file, for filesystems that report no progress (local copies)."""
        self._advance(size)

    def _advance(self, value: int) -> None:
        if self._bar is not None and value > self._reported:
            self._bar.update(value - self._reported)
        self._reported = max(self._reported, value)


if __name__ == "__main__":
    sys.exit(main())
