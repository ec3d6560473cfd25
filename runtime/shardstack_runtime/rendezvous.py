"""The ranks of one replica group finding each other, and agreeing on the model they serve.

Usage::

    group = join_group(settings.rank, settings.world_size, settings.leader_addr, settings.rendezvous_port,
                       device="cpu", timeout_s=300)
    agree_on_model(group, shard.checkpoint.manifest.digest)
    ...
    leave_group(group)

or, loading this rank's weights while the group forms::

    group, shard = join_and_load(settings, ranges, timeout_s=300)

Rank 0 hosts a ``torch.distributed.TCPStore`` on the rendezvous port. Every rank first writes
``shardstack/rank/<rank>`` (its hostname) there and waits, for at most ``timeout_s``, until every rank has;
only then is the process group (gloo on CPU; gloo and NCCL on CUDA) initialised. So a rank that never comes is
named in the error ("rank 2 of 3 did not join within 10 s ...; check that pod llm-g0-2 is running")
instead of every rank hanging in ``init_process_group``. Every wait is bounded by ``timeout_s``.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# TCPStore is public, documented torch.distributed API, but torch re-exports it from torch._C without
# `as TCPStore` or an __all__ entry, so pyright takes it for a private import.
from torch.distributed import TCPStore  # pyright: ignore[reportPrivateImportUsage]

from .model.llama import LayerRange
from .settings import RankSettings
from .shard import Shard, open_shard

__all__ = [
    "Group",
    "ModelMismatchError",
    "RendezvousError",
    "agree_on_model",
    "join_and_load",
    "join_group",
    "leave_group",
    "rank_key",
    "stage_loads",
]

logger = logging.getLogger(__name__)

_POLL_S = 0.05
LISTEN_BACKLOG = 128
_DIGEST_BYTES = 32
# The status byte each rank sends beside its digest.
_HAS_DIGEST, _NO_MANIFEST, _LOAD_FAILED = 0, 1, 2


class RendezvousError(RuntimeError):
    """The group could not form: a rank did not join in time, or the leader could not be reached."""


class ModelMismatchError(RuntimeError):
    """The ranks hold different model revisions (manifest digests); names which ranks hold which."""


@dataclass
class Group:
    """This process's membership in a replica group's process group."""

    rank: int
    world_size: int
    backend: str
    device: str
    store: TCPStore
    timeout_s: float
    listener: socket.socket | None = None
    """The leader's listening socket, which its store serves on: held open as long as the group."""


def rank_key(rank: int) -> str:
    return f"shardstack/rank/{rank}"


def _pods(leader_host: str, ranks: list[int]) -> str:
    """'pod llm-g0-2' when the leader's hostname is a StatefulSet ordinal name, else 'the pod of rank 2'."""
    match = re.fullmatch(r"(.+)-0", leader_host.split(".")[0])
    if match:
        names = [f"{match.group(1)}-{r}" for r in ranks]
        return ("pod " if len(names) == 1 else "pods ") + ", ".join(names)
    return (
        "the pod"
        + ("" if len(ranks) == 1 else "s")
        + " of rank"
        + ("" if len(ranks) == 1 else "s")
        + " "
        + ", ".join(map(str, ranks))
    )


def _ranks(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


def _wait_for_ranks(store: TCPStore, prefix: str, world_size: int, timeout_s: float) -> list[int]:
    """Wait until ``prefix/<r>`` is set for every rank, or ``timeout_s`` passes; return the ranks still missing."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = [r for r in range(world_size) if not store.check([f"{prefix}/{r}"])]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(_POLL_S)


def listen_where_reached(leader_addr: str, port: int) -> socket.socket:
    """A socket listening on ``port`` at the address of this host that ``leader_addr`` names (127.0.0.1 for a local
    group, the pod's IP for a leader Service's DNS name), so that the store is reachable from nowhere else. Where
    ``leader_addr`` names no address of this host (a name that routes through a proxy), every interface, logged.

    The socket must stay open while the store serves: the store listens on its file descriptor.
    """
    for family, kind, proto, _, address in socket.getaddrinfo(leader_addr, port, type=socket.SOCK_STREAM):
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(address)
        except OSError as e:
            listener.close()
            if e.errno == errno.EADDRNOTAVAIL:
                continue  # not one of this host's addresses
            raise
        listener.listen(LISTEN_BACKLOG)
        return listener
    logger.warning(
        "%s names no address of this host: the rendezvous store listens on every interface of port %d",
        leader_addr,
        port,
    )
    return socket.create_server(("", port), backlog=LISTEN_BACKLOG)


def join_group(rank: int, world_size: int, leader_addr: str, port: int, *, device: str, timeout_s: float) -> Group:
    """Join the process group of ``world_size`` ranks whose rank 0 listens on ``leader_addr:port``.

    Raises :class:`RendezvousError` within about ``timeout_s`` when a rank is missing (naming it) or the
    leader cannot be reached (naming its address).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a group of {world_size} ranks (0..{world_size - 1})")
    device = torch.device(device).type
    # On GPUs, CUDA tensors go over NCCL and the pipeline's small host tensors (headers, metadata) over gloo.
    backend = "cpu:gloo,cuda:nccl" if device == "cuda" else "gloo"
    timeout = timedelta(seconds=timeout_s)
    leader = f"{leader_addr}:{port}"
    is_leader = rank == 0
    listener: socket.socket | None = None
    try:
        # The leader's store listens only where the group reaches it: the store has no authentication.
        listener = listen_where_reached(leader_addr, port) if is_leader else None
        store = TCPStore(
            leader_addr,
            port,
            world_size,
            is_master=is_leader,
            timeout=timeout,
            wait_for_workers=False,
            master_listen_fd=listener.fileno() if listener is not None else None,
        )
    except (RuntimeError, OSError) as e:  # DistNetworkError / DistStoreError are RuntimeErrors
        if listener is not None:
            listener.close()
        if is_leader:
            raise RendezvousError(f"rank 0 could not listen for the group on {leader}: {e}") from e
        raise RendezvousError(
            f"rank {rank} could not reach the leader at {leader} within {timeout_s:g} s; check "
            f"that rank 0 is running and that {leader_addr} resolves and port {port} is open "
            f"({e})"
        ) from e

    try:
        store.set(rank_key(rank), socket.gethostname())
        missing = _wait_for_ranks(store, "shardstack/rank", world_size, timeout_s)
        if missing:
            leader_host = store.get(rank_key(0)).decode() if store.check([rank_key(0)]) else leader_addr
            raise RendezvousError(
                f"{_ranks(missing)} of {world_size} did not join within {timeout_s:g} s (leader {leader}); "
                f"check that {_pods(leader_host, missing)} {'is' if len(missing) == 1 else 'are'} running"
            )
    except RendezvousError:
        raise
    except (RuntimeError, OSError) as e:  # the leader went away while we waited
        raise RendezvousError(f"rank {rank} lost the leader at {leader} while waiting for the group: {e}") from e

    try:
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    except (RuntimeError, OSError) as e:
        raise RendezvousError(
            f"rank {rank}: every rank joined {leader}, but the {backend} process group did not "
            f"form within {timeout_s:g} s: {e}"
        ) from e
    return Group(
        rank=rank,
        world_size=world_size,
        backend=backend,
        device=device,
        store=store,
        timeout_s=timeout_s,
        listener=listener,
    )


def _encode(status: int, digest: str | None, device: str) -> torch.Tensor:
    payload = bytes(_DIGEST_BYTES)
    if digest is not None:
        hexdigest = digest.removeprefix("sha256:")
        try:
            payload = bytes.fromhex(hexdigest)
        except ValueError:
            payload = b""
        if len(payload) != _DIGEST_BYTES:
            raise ValueError(f'digest {digest!r} is not a sha256 ("sha256:" + 64 hex digits)')
    return torch.tensor([status, *payload], dtype=torch.uint8, device=device)


def _exchange(group: Group, status: int, digest: str | None) -> list[tuple[int, str | None]]:
    """All-gather every rank's (status, digest) as fixed-size uint8 tensors: no pickles cross the wire."""
    mine = _encode(status, digest, group.device)
    gathered = [torch.empty_like(mine) for _ in range(group.world_size)]
    dist.all_gather(gathered, mine)
    out = []
    for tensor in gathered:
        raw = bytes(tensor.cpu().tolist())
        out.append((raw[0], "sha256:" + raw[1:].hex() if raw[0] == _HAS_DIGEST else None))
    return out


def agree_on_model(group: Group, digest: str | None, *, load_error: BaseException | None = None) -> None:
    """Check that every rank holds the same model revision (manifest digest, or None without a manifest).

    Raises :class:`ModelMismatchError` on every rank when they differ, naming which ranks hold which
    revision. Ranks without a manifest agree with each other (there is nothing to compare). A rank whose
    weights failed to load passes ``load_error``: it re-raises that, and every other rank raises
    :class:`RendezvousError` naming it.
    """
    status = _LOAD_FAILED if load_error is not None else _NO_MANIFEST if digest is None else _HAS_DIGEST
    views = _exchange(group, status, digest if status == _HAS_DIGEST else None)
    failed = [r for r, (s, _) in enumerate(views) if s == _LOAD_FAILED]
    if failed:
        if load_error is not None:
            raise load_error
        its = "its" if len(failed) == 1 else "their"
        raise RendezvousError(f"{_ranks(failed)} of {group.world_size} failed to load {its} weights; see {its} log")
    holders: dict[str | None, list[int]] = {}
    for r, (_, d) in enumerate(views):
        holders.setdefault(d, []).append(r)
    if len(holders) > 1:
        parts = [
            f"{_ranks(ranks)} {'has' if len(ranks) == 1 else 'have'} {d if d is not None else 'no manifest'}"
            for d, ranks in holders.items()
        ]
        raise ModelMismatchError(
            "the ranks hold different model revisions: "
            + "; ".join(parts)
            + ". Every rank must read the same checkpoint (re-push it, or restart the group)"
        )


def _load_key(rank: int) -> str:
    return f"shardstack/load/{rank}"


def stage_loads(group: Group) -> list[tuple[int, float]]:
    """Each rank's weight load, ``(bytes, seconds)``, as it published it in the group's store ((0, 0) if not)."""
    loads = []
    for rank in range(group.world_size):
        key = _load_key(rank)
        if group.store.check([key]):
            size, seconds = group.store.get(key).decode().split()
            loads.append((int(size), float(seconds)))
        else:
            loads.append((0, 0.0))
    return loads


def leave_group(group: Group) -> None:
    """Destroy the process group (the leader's store closes with the process, and its socket with the group)."""
    if dist.is_initialized():
        dist.destroy_process_group()
    if group.listener is not None:
        group.listener.close()


def join_and_load(
    settings: RankSettings,
    layer_ranges: list[LayerRange],
    *,
    timeout_s: float,
    verify: bool = True,
    require_tokenizer: bool = True,
) -> tuple[Group, Shard]:
    """Load this rank's layers in a thread while the group forms, then agree on the model revision.

    ``timeout_s`` bounds each wait on the other ranks: for them to join, then for the slowest to finish
    loading after this rank has. Returns the joined group and the loaded shard. Raises
    :class:`RendezvousError` or :class:`ModelMismatchError` (on every rank) when the group cannot form or
    the ranks disagree; a rank whose load fails raises its own error, and the others name that rank.
    """
    if len(layer_ranges) != settings.world_size:
        raise ValueError(
            f"{len(layer_ranges)} layer ranges for a group of {settings.world_size} ranks; need one per rank"
        )
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    result: dict[str, object] = {}

    def load() -> None:
        try:
            shard = open_shard(
                settings.model_uri,
                layer_range=layer_ranges[settings.rank],
                dtype=settings.dtype,
                device=device,
                require_tokenizer=require_tokenizer,
            )
            shard.load_weights(verify=verify)
            result["shard"] = shard
        except Exception as e:  # handed to the other ranks by agree_on_model
            result["error"] = e

    loader = threading.Thread(target=load, name=f"shardstack-load-rank{settings.rank}", daemon=True)
    loader.start()
    group = join_group(
        settings.rank,
        settings.world_size,
        settings.leader_addr,
        settings.rendezvous_port,
        device=device,
        timeout_s=timeout_s,
    )
    try:
        loader.join()
        error = result.get("error")
        # Wait (bounded, naming the slow ranks) until every rank has loaded, so that no rank's load time
        # counts against the collective timeout of the agreement below.
        shard = result.get("shard")
        if isinstance(shard, Shard) and shard.load_report is not None:
            report = shard.load_report
            group.store.set(_load_key(settings.rank), f"{report.bytes_fetched} {report.seconds}")
        group.store.set(f"shardstack/loaded/{settings.rank}", "failed" if error else "ok")
        slow = _wait_for_ranks(group.store, "shardstack/loaded", group.world_size, timeout_s)
        if slow:
            raise RendezvousError(
                f"{_ranks(slow)} of {group.world_size} did not finish loading "
                f"{settings.model_uri} within {timeout_s:g} s of rank {settings.rank}"
            )
        digest = None
        if isinstance(shard, Shard) and shard.checkpoint.manifest is not None:
            digest = shard.checkpoint.manifest.digest
        agree_on_model(group, digest, load_error=error if isinstance(error, BaseException) else None)
    except BaseException:
        leave_group(group)
        raise
    assert isinstance(shard, Shard)
    return group, shard
