"""Hashes of byte ranges whose segments arrive out of order, from several threads at once.

    digest = OrderedHash("blake3", segments=3, on_done=check)
    digest.add(2, third)     # parked: segment 0 has not arrived
    digest.add(0, first)     # hashed here, in this thread; segment 1 is missing, so it stops
    digest.add(1, second)    # hashes 1, then the parked 2; then calls check(hexdigest)

Whichever thread delivers the segment that closes a gap hashes everything now in order, while the
bytes it just read are still in its cache; no thread ever waits for another's turn, so readers keep
reading while hashing goes on. sha256 (hashlib) and BLAKE3 (the ``blake3`` package) both release
the GIL while they hash a buffer, so hashing runs on every core beside the reads.

BLAKE3 is the default for new manifests: 3-6x sha256's speed per core on the CPUs measured here
(docs/BENCHMARKS.md), and as strong (256-bit, collision- and preimage-resistant). sha256 stays for
the manifests already written with it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_HASH", "HASHES", "Hash", "OrderedHash", "new_hash"]

HASHES = ("blake3", "sha256")
"""The hash algorithms a manifest may name, by their manifest names."""
DEFAULT_HASH = "blake3"


class Hash(Protocol):
    """What hashlib's and blake3's hash objects share."""

    def update(self, data: memoryview | bytes, /) -> object: ...
    def hexdigest(self) -> str: ...


def new_hash(name: str) -> Hash:
    """Return a fresh hash object for ``name`` (one of :data:`HASHES`)."""
    if name == "sha256":
        return hashlib.sha256()
    if name == "blake3":
        from blake3 import blake3

        return blake3()
    raise ValueError(f"unknown hash {name!r}; known: {', '.join(HASHES)}")


class OrderedHash:
    """The hash of ``segments`` byte strings concatenated in index order, fed in any order from any thread.

    ``on_done(hexdigest)`` is called once, in the thread that hashes the last segment (or by
    :meth:`finish` for a range of no segments); what it raises reaches that thread's caller.
    """

    def __init__(self, name: str, segments: int, on_done: Callable[[str], None]) -> None:
        self.name = name
        self.segments = segments
        self.digest: str | None = None
        self._hash = new_hash(name)
        self._on_done = on_done
        self._lock = threading.Lock()
        self._ready: dict[int, tuple[memoryview, Callable[[], None] | None]] = {}
        self._next = 0
        self._busy = False  # a thread is hashing: it will take what is added meanwhile

    def add(self, index: int, data: memoryview, release: Callable[[], None] | None = None) -> None:
        """Hand over segment ``index``; hash every segment now in order. ``release()`` runs once ``data`` is hashed."""
        with self._lock:
            if index < self._next or index in self._ready or index >= self.segments:
                raise ValueError(f"segment {index} of {self.segments} added twice or out of range")
            self._ready[index] = (data, release)
            if self._busy:
                return
            self._busy = True
        while True:
            with self._lock:
                item = self._ready.pop(self._next, None)
                if item is None:
                    self._busy = False
                    return
                self._next += 1
                last = self._next == self.segments
            data, release = item
            try:
                self._hash.update(data)  # the GIL is released while large buffers are hashed
            finally:
                if release is not None:
                    release()
            if last:
                self.finish()
                return

    def finish(self) -> None:
        """Compute the digest and call ``on_done``; called by :meth:`add` after the last segment."""
        if self._next != self.segments:
            raise RuntimeError(f"{self._next} of {self.segments} segments hashed; the digest is not complete")
        self.digest = self._hash.hexdigest()
        self._on_done(self.digest)
