"""Draining: how a leader stops without cutting a request in flight.

When the rank is told to stop (SIGTERM: a scale-down, a rollout, a node drain), :class:`Drain` starts refusing new
requests with 503 and ``Retry-After`` (a load balancer or client retries them on another replica group; /ready is
already 503, so Kubernetes stops sending new ones), while the requests already running, streams included, finish.
The rank exits once none is left, or after its drain timeout (``--drain-timeout``, :data:`..timeouts.
DRAIN_TIMEOUT_S`), whichever comes first.
"""

from __future__ import annotations

import asyncio

RETRY_AFTER_S = 1
"""What a request refused for now is told (a draining replica, a full queue): another replica group, a successor or
a freed slot answers within a second or so."""


class Drain:
    """Counts the requests in flight and, once draining, refuses new ones; ``idle`` waits for the last to end."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def begin(self) -> None:
        """Refuse every request that arrives from now on; those running go on."""
        self.draining = True

    def started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def idle(self, timeout_s: float) -> bool:
        """Wait until no request runs, at most ``timeout_s``; return whether none does."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
