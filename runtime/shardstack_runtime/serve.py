"""Serving one rank: what ``shardstack-runtime serve`` runs in a pod.

Every rank answers ``/health``, ``/ready`` and ``/metrics`` on its metrics port from the moment it starts,
so that a startup probe sees a live process while a large shard downloads.

- One rank (``world_size`` 1): an :class:`~.engine.engine.Engine` over the whole model, the OpenAI API on the API
  port.
- Rank 0 of a pipeline: the ranks rendezvous while each loads only its own layers
  (:func:`~.rendezvous.join_and_load`), agree on the manifest digest, then rank 0 runs an engine whose
  passes go through every rank (:func:`~.engine.pipeline.pipeline_engine`) behind the API; the other ranks
  run :func:`~.engine.worker.run_worker`.

``/ready`` turns 200 only once the engine (and so every rank) has loaded, verified and warmed up, and
turns 503 again if the engine stops. Exit codes: 0 after a clean shutdown (SIGTERM, or the leader's
shutdown message on a worker); 1 when the model cannot be served or the pipeline breaks (a rank died,
a peer timed out, the ranks disagree on the model): Kubernetes then restarts the pod, and with it the
group (see docs/RUNTIME.md); 2 for settings that cannot work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .settings import RankSettings
from .timeouts import DRAIN_TIMEOUT_S, PIPELINE_TIMEOUT_S, RENDEZVOUS_TIMEOUT_S

log = logging.getLogger("shardstack_runtime")

EXIT_SERVE_FAILED = 1
READY_POLL_S = 0.2
FAULT_GRACE_S = 2.0
API_CLOSE_TIMEOUT_S = 5
"""After the drain, how long uvicorn waits for the connections left (idle keep-alives) before it closes them."""
WORKER_DRAIN_MARGIN_S = 10.0
"""A worker waits for the leader's drain this much longer than the drain itself: the shutdown message's trip."""
"""After the pipeline breaks, keep answering (503 to requests, /ready false) this long before exiting, so
that clients in flight get their 503 and the readiness probe sees the rank leave."""
T = TypeVar("T")


@dataclass(frozen=True)
class ServeOptions:
    """What ``serve``'s flags add to the rank's settings."""

    host: str = "0.0.0.0"
    max_slots: int | None = None
    """Sequences decoded together (default: measured at start, see engine/slots.py)."""
    max_waiting: int | None = None
    """Requests waiting for a slot before more are refused with 503 (default: 16 per slot)."""
    max_model_len: int | None = None
    model_name: str | None = None
    micro_batches: int | None = None
    """Passes in flight in a pipeline (default: one per rank)."""
    layer_split: str | None = None
    """Explicit layer ranges, e.g. "0-10,10-30" (default: balanced, see ``balance``)."""
    balance: str = "bytes"
    """What the default split evens out: weight "bytes" (what must fit) or per-pass "compute"."""
    rendezvous_timeout_s: float = RENDEZVOUS_TIMEOUT_S
    """Bound on each wait for the other ranks: to join, then to finish loading."""
    pipeline_timeout_s: float = PIPELINE_TIMEOUT_S
    """Bound on every wait for a peer once serving."""
    drain_timeout_s: float = DRAIN_TIMEOUT_S
    """How long a stopping leader lets running requests finish (http/drain.py); workers wait that long for it."""


def device_of(settings: RankSettings) -> str:
    if settings.device != "auto":
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _in_daemon_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``fn`` in a daemon thread: a rank blocked in a receive must not keep the process from exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: object = None, error: BaseException | None = None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)  # type: ignore[arg-type]
        else:
            future.set_exception(error)

    def run() -> None:
        try:
            result = fn()
        except BaseException as error:  # handed to the awaiting coroutine
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                loop.call_soon_threadsafe(settle, None, error)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=run, name=f"shardstack-{getattr(fn, '__name__', 'work')}", daemon=True).start()
    return future


async def serve(settings: RankSettings, options: ServeOptions) -> int:
    """Serve this rank until stopped (SIGTERM/SIGINT, or a failure); returns the process exit code."""
    return await _RankServer(settings, options).run()


class _RankServer:
    """One rank's HTTP servers, its engine or worker loop, and what /ready reports."""

    def __init__(self, settings: RankSettings, options: ServeOptions) -> None:
        self.settings = settings
        self.options = options
        self.ready = threading.Event()
        """This rank serves: loaded, verified and warmed up (through every rank); cleared when it stops."""
        self.failed = False
        self.metrics = None
        self.servers: list = []
        self.draining: set = set()
        """The servers that finish their running requests before they stop (the API's)."""
        self.stopping = asyncio.Event()
        from .threads import leave_cores_to_compute

        self.threads = leave_cores_to_compute()
        """torch's cores, all for this rank's compute thread: the engine's or the worker loop's (threads.py)."""

    def _server(self, app, port: int, *, drains: bool = False, **config):
        """A uvicorn server on ``port``; one that ``drains`` is left to stop itself when told to stop."""
        import uvicorn

        class Server(uvicorn.Server):
            # Signals are handled once for the whole process (see run()); uvicorn's own handlers would
            # re-raise SIGTERM after the first server stops and kill the process before it cleans up.
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        server = Server(uvicorn.Config(app, host=self.options.host, port=port, log_level="warning", **config))
        self.servers.append(server)
        if drains:
            self.draining.add(server)
        return server

    def _stop(self, *, everything: bool = False) -> None:
        """Stop serving: /ready turns 503 at once; the API drains first unless ``everything`` must stop now."""
        self.ready.clear()
        self.stopping.set()
        for server in self.servers:
            if everything or server not in self.draining:
                server.should_exit = True

    def _fail(self, error: BaseException) -> int:
        self.failed = True
        self.ready.clear()
        s = self.settings
        log.error("shardstack-runtime rank %d: cannot serve %s: %s", s.rank, s.model_uri, error)
        print(f"error: rank {s.rank} cannot serve {s.model_uri}: {error}", file=sys.stderr, flush=True)
        return EXIT_SERVE_FAILED

    async def run(self) -> int:
        import signal

        from fastapi import FastAPI, Response
        from fastapi.responses import JSONResponse

        from .metrics import CONTENT_TYPE

        probes = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @probes.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @probes.get("/ready")
        async def ready() -> Response:
            if self.ready.is_set():
                return JSONResponse({"status": "ready"})
            return JSONResponse({"status": "failed" if self.failed else "loading"}, status_code=503)

        @probes.get("/metrics")
        async def metrics() -> Response:
            return Response(self.metrics.render() if self.metrics is not None else b"", media_type=CONTENT_TYPE)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self._stop)
        # The probes answer until the rank exits: /ready says 503 while it drains.
        probe_task = asyncio.ensure_future(self._server(probes, self.settings.metrics_port, drains=True).serve())
        try:
            if self.settings.world_size == 1:
                return await self._serve_whole_model()
            return await self._serve_rank_of_pipeline()
        finally:
            self._stop(everything=True)
            with contextlib.suppress(asyncio.CancelledError):
                await probe_task
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _serve_whole_model(self) -> int:
        from .engine.engine import Engine

        s, o = self.settings, self.options
        # The engine loads in its own thread; the probes answer meanwhile.
        engine = Engine.from_uri(
            s.model_uri,
            dtype=s.dtype,
            device=device_of(s),
            max_slots=o.max_slots,
            max_waiting=o.max_waiting,
            max_model_len=o.max_model_len,
            model_name=o.model_name,
            threads=self.threads,
        )
        return await self._serve_api(engine)

    async def _serve_rank_of_pipeline(self) -> int:
        from .engine.pipeline import pipeline_engine
        from .metrics import Metrics
        from .model.config import ModelConfig
        from .model.partition import balanced_layer_ranges, parse_layer_split
        from .rendezvous import join_and_load, leave_group
        from .weights.checkpoint import open_checkpoint

        s, o = self.settings, self.options
        world = s.world_size
        try:
            config = ModelConfig.from_hf(open_checkpoint(s.model_uri).config)
            ranges = (
                parse_layer_split(o.layer_split, config.num_layers, world)
                if o.layer_split
                else balanced_layer_ranges(config, world, by=o.balance)
            )
        except Exception as e:
            return self._fail(e)
        mine = ranges[s.rank]
        print(
            f"rank {s.rank} of {world}: layers {mine.start}-{mine.end} of {config.num_layers} (split "
            f"{','.join(f'{r.start}-{r.end}' for r in ranges)}); joining {s.leader_addr}:{s.rendezvous_port}",
            file=sys.stderr,
            flush=True,
        )
        started = time.monotonic()
        joining = _in_daemon_thread(lambda: join_and_load(s, ranges, timeout_s=o.rendezvous_timeout_s))
        if not await self._first(joining):
            return 0  # stopped while joining
        try:
            group, shard = joining.result()
        except Exception as e:  # RendezvousError, ModelMismatchError, or this rank's own load error
            return self._fail(e)
        joined = True
        if shard.load_report is not None:
            print(
                f"rank {s.rank}: group formed and weights loaded in {time.monotonic() - started:.1f} s: "
                f"{shard.load_report}",
                file=sys.stderr,
                flush=True,
            )
        try:
            if s.rank == 0:
                engine = pipeline_engine(
                    group,
                    shard,
                    max_slots=o.max_slots,
                    max_waiting=o.max_waiting,
                    max_model_len=o.max_model_len,
                    model_name=o.model_name,
                    micro_batches=o.micro_batches,
                    layer_ranges=ranges,
                    pipeline_timeout_s=o.pipeline_timeout_s,
                    threads=self.threads,
                )
                return await self._serve_api(engine)
            self.metrics = Metrics(o.model_name or s.model_uri.rstrip("/").rsplit("/", 1)[-1])
            if shard.load_report is not None:
                self.metrics.record_weights_load(shard.load_report.seconds, shard.load_report.bytes_fetched)
            self.ready.set()
            working = _in_daemon_thread(lambda: self._work(group, shard))
            if not await self._first(working) and not await self._leader_drains(working):
                # Still in a receive after the leader's drain: tearing the group down under the worker thread
                # could block; the process exits anyway, and the leader sees this rank leave.
                joined = False
                return 0
            self.ready.clear()
            try:
                passes = working.result()
            except Exception as e:  # PipelineError: a peer died or timed out
                return self._fail(e)
            print(
                f"rank {s.rank}: the leader shut the pipeline down after {passes} passes", file=sys.stderr, flush=True
            )
            return 0
        finally:
            if joined:
                leave_group(group)

    async def _leader_drains(self, working: asyncio.Future) -> bool:
        """Told to stop, a worker keeps serving the pipeline while the leader drains (its running requests pass
        through every rank), until the leader shuts the pipeline down; True if it did within the drain timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(working), self.options.drain_timeout_s + WORKER_DRAIN_MARGIN_S)
        return working.done()

    def _work(self, group, shard) -> int:
        """The worker rank's compute thread: choose the compute path, then run the pipeline loop."""
        from .engine.worker import run_worker
        from .threads import compute_here

        compute_here(self.threads)
        compute = shard.model.choose_compute()
        if self.metrics is not None:
            self.metrics.record_compute_path(compute.labels())
        return run_worker(group, shard, pipeline_timeout_s=self.options.pipeline_timeout_s)

    async def _first(self, work: asyncio.Future) -> bool:
        """Wait for ``work`` or a stop signal, whichever comes first; True if the work finished."""
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return work.done()

    async def _serve_api(self, engine) -> int:
        """Serve the OpenAI API over ``engine``; /ready follows the engine; exit 1 if it fails."""
        from .http import create_app
        from .metrics import Metrics
        from .server_settings import ServerSettings

        s = self.settings
        self.metrics = metrics = Metrics(engine.model_name, max_model_len=engine.max_model_len)
        app = create_app(
            engine,
            ServerSettings(
                api_key=s.api_key, platform=s.platform, health_route=s.health_route, predict_route=s.predict_route
            ),
            metrics=metrics,
        )
        api = self._server(
            app,
            s.api_port,
            drains=True,
            # Connections left once the drain is over are idle keep-alives: close them soon.
            timeout_graceful_shutdown=API_CLOSE_TIMEOUT_S,
        )
        outcome = {"code": 0}

        async def drain_when_stopped() -> None:
            await self.stopping.wait()
            drain = app.state.drain
            drain.begin()
            running = drain.in_flight
            if running:
                print(f"draining: {running} requests running", file=sys.stderr, flush=True)
            if not await drain.idle(self.options.drain_timeout_s):
                print(
                    f"drain timeout ({self.options.drain_timeout_s:g} s): {drain.in_flight} requests cut",
                    file=sys.stderr,
                    flush=True,
                )
            api.should_exit = True

        async def watch_engine() -> None:
            started = time.monotonic()
            while not engine.ready and engine.error is None:
                await asyncio.sleep(READY_POLL_S)
            if engine.error is None:
                report = engine.shard.load_report
                if engine.compute is not None:
                    metrics.record_compute_path(engine.compute.labels())
                if report is not None:
                    metrics.record_weights_load(report.seconds, report.bytes_fetched)
                    print(f"ready in {time.monotonic() - started:.1f} s: {report}", file=sys.stderr, flush=True)
                self.ready.set()
                while engine.error is None and engine.ready:
                    await asyncio.sleep(READY_POLL_S)
                self.ready.clear()
                if engine.error is None:
                    return  # shut down on purpose
                outcome["code"] = self._fail(engine.error)
                await asyncio.sleep(FAULT_GRACE_S)
            else:
                # Refuse to serve: a model that failed to load or verify must not answer requests.
                outcome["code"] = self._fail(engine.error)
            self._stop()

        watcher = asyncio.create_task(watch_engine())
        drainer = asyncio.create_task(drain_when_stopped())
        on = "" if s.platform == "kubernetes" else f" as a {s.platform} container"
        print(
            f"serving {s.model_uri}{on} on http://{self.options.host}:{s.api_port} "
            f"(health, ready, metrics on :{s.metrics_port})",
            file=sys.stderr,
            flush=True,
        )
        try:
            await api.serve()
        finally:
            for task in (watcher, drainer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.shutdown()
        return outcome["code"]
