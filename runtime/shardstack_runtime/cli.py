"""The ``shardstack-runtime`` command: what a pod runs, and the weight tools.

    shardstack-runtime serve                                  # one rank, configured from SHARDSTACK_* env
    shardstack-runtime serve --model-uri file:///models/demo --api-port 8000
    shardstack-runtime weights push ./smollm2 s3://my-weights/smollm2/
    shardstack-runtime weights verify s3://my-weights/smollm2/
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence

from shardstack_runtime.settings import RankSettings, SettingsError, from_env

log = logging.getLogger("shardstack_runtime")

# Exit codes: 2 = the configuration cannot work (fix the env/flags); 1 = the model could not be served
# (e.g. weights failed verification): Kubernetes restarts the pod either way, the log says why.
EXIT_BAD_SETTINGS = 2
EXIT_SERVE_FAILED = 1

READY_POLL_S = 0.2


def _device(settings: RankSettings) -> str:
    if settings.device != "auto":
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


async def _serve(settings: RankSettings, args: argparse.Namespace) -> int:
    """Serve the API on the API port and health/ready/metrics on the metrics port until stopped."""
    import uvicorn
    from fastapi import FastAPI, Response
    from fastapi.responses import JSONResponse

    from shardstack_runtime.api import create_app
    from shardstack_runtime.engine import Engine
    from shardstack_runtime.metrics import CONTENT_TYPE, Metrics
    from shardstack_runtime.server_settings import ServerSettings

    # The engine loads in its own thread; the servers answer /health meanwhile, so that the
    # startup probe sees a live process while a large shard downloads.
    engine = Engine.from_uri(settings.model_uri, dtype=settings.dtype, device=_device(settings),
                             max_slots=args.max_slots, max_model_len=args.max_model_len, model_name=args.model_name)
    metrics = Metrics(engine.model_name, max_model_len=engine.max_model_len)
    api = create_app(engine, ServerSettings(api_key=settings.api_key), metrics=metrics)
    host = args.host

    # Set once the engine is ready and its load is recorded: /ready never runs ahead of /metrics.
    serving = asyncio.Event()
    probes = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @probes.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @probes.get("/ready")
    async def ready() -> Response:
        if serving.is_set() and engine.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "loading"}, status_code=503)

    @probes.get("/metrics")
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    servers = [
        uvicorn.Server(uvicorn.Config(api, host=host, port=settings.api_port, log_level="warning",
                                      timeout_graceful_shutdown=30)),
        uvicorn.Server(uvicorn.Config(probes, host=host, port=settings.metrics_port, log_level="warning")),
    ]
    outcome = {"code": 0}

    async def watch_engine() -> None:
        started = time.monotonic()
        while not engine.ready and engine.error is None:
            await asyncio.sleep(READY_POLL_S)
        if engine.error is not None:
            # Refuse to serve: a model that failed to load or verify must not answer requests.
            log.error("shardstack-runtime: cannot serve %s: %s", settings.model_uri, engine.error)
            print(f"error: cannot serve {settings.model_uri}: {engine.error}", file=sys.stderr, flush=True)
            outcome["code"] = EXIT_SERVE_FAILED
            for server in servers:
                server.should_exit = True
            return
        report = engine.shard.load_report
        if report is not None:
            metrics.record_weights_load(report.seconds, report.bytes_fetched)
            print(f"ready in {time.monotonic() - started:.1f} s: {report}", file=sys.stderr, flush=True)
        serving.set()

    watcher = asyncio.create_task(watch_engine())
    print(f"serving {settings.model_uri} on http://{host}:{settings.api_port} "
          f"(health, ready, metrics on :{settings.metrics_port})", file=sys.stderr, flush=True)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        engine.shutdown()
    return outcome["code"]


def _run_serve(args: argparse.Namespace) -> int:
    try:
        settings = from_env(model_uri=args.model_uri, api_port=args.api_port, metrics_port=args.metrics_port,
                            dtype=args.dtype, device=args.device)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if settings.world_size > 1:
        print(f"error: SHARDSTACK_WORLD_SIZE={settings.world_size}: this runtime serves a whole model from one "
              "rank; set SHARDSTACK_WORLD_SIZE=1 (or shards: 1)", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return asyncio.run(_serve(settings, args))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``shardstack-runtime`` command."""
    from shardstack_runtime.weights_cli import add_weights_commands

    parser = argparse.ArgumentParser(prog="shardstack-runtime", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one rank (settings from SHARDSTACK_* env; flags win)")
    serve.add_argument("--model-uri", help="checkpoint: s3://, gs://, az://, file:// or a directory")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--api-port", type=int, help="OpenAI API port (default 8000)")
    serve.add_argument("--metrics-port", type=int, help="health/ready/metrics port (default 9090)")
    serve.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="compute dtype (default bf16)")
    serve.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: cuda when visible")
    serve.add_argument("--max-slots", type=int, default=8, help="sequences decoded together (default 8)")
    serve.add_argument("--max-model-len", type=int, help="prompt + completion tokens (default: the model's)")
    serve.add_argument("--model-name", help="the name clients use in `model` (default: the checkpoint's directory)")
    serve.set_defaults(func=_run_serve)
    add_weights_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
