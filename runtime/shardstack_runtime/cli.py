"""The ``shardstack-runtime`` command: what a pod runs, and the weight tools.

shardstack-runtime serve                                  # one rank, configured from SHARDSTACK_* env
shardstack-runtime serve --model-uri file:///models/demo --api-port 8000
shardstack-runtime local --shards 2 --model-uri ./smollm2 --api-port 8000   # a replica group on this machine
shardstack-runtime weights push ./smollm2 s3://my-weights/smollm2/
shardstack-runtime weights verify s3://my-weights/smollm2/
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from shardstack_runtime.settings import RankSettings, SettingsError, from_env
from shardstack_runtime.timeouts import DRAIN_TIMEOUT_S, PIPELINE_TIMEOUT_S, RENDEZVOUS_TIMEOUT_S

log = logging.getLogger("shardstack_runtime")

# Exit codes: 2 = the configuration cannot work (fix the env/flags); 1 = the model could not be served
# (serve.EXIT_SERVE_FAILED: weights failed verification, a rank died): Kubernetes restarts the pod either
# way, the log says why.
EXIT_BAD_SETTINGS = 2


def _run_serve(args: argparse.Namespace) -> int:
    from shardstack_runtime.serve import ServeOptions, serve

    try:
        settings = from_env(
            model_uri=args.model_uri,
            api_port=args.api_port,
            metrics_port=args.metrics_port,
            dtype=args.dtype,
            device=args.device,
            host=args.host,
        )
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    options = ServeOptions(
        host=settings.host,
        max_slots=args.max_slots,
        max_waiting=args.max_waiting,
        max_model_len=args.max_model_len,
        model_name=args.model_name,
        micro_batches=args.micro_batches,
        layer_split=args.layer_split,
        balance=args.balance,
        rendezvous_timeout_s=args.rendezvous_timeout,
        pipeline_timeout_s=args.pipeline_timeout,
        drain_timeout_s=args.drain_timeout,
    )
    if (problem := _check_options(options, settings.world_size)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if settings.ranks_here > 1:
        return _serve_group_here(args, settings)
    return asyncio.run(serve(settings, options))


def _serve_group_here(args: argparse.Namespace, settings: RankSettings) -> int:
    """A whole replica group in this container (a managed endpoint's instance): its ranks as local processes,
    each on its own share of the GPUs when every rank can have one, rank 0 serving the platform's port."""
    from shardstack_runtime.local import gpu_sets, run_local, visible_gpus

    visible = 0 if settings.device == "cpu" else visible_gpus()
    gpus = gpu_sets(visible, settings.ranks_here) if visible else None
    if settings.device == "cuda" and gpus is None:
        print(f"error: SHARDSTACK_DEVICE=cuda, but {visible} GPUs for {settings.ranks_here} ranks", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    # `local`'s arguments, from this rank's settings: the children read the rest of the env as it is.
    group = argparse.Namespace(**vars(args))
    group.shards, group.rendezvous_port, group.model_uri = settings.ranks_here, None, settings.model_uri
    group.host, group.api_port, group.metrics_port = settings.host, settings.api_port, settings.metrics_port
    return run_local(group, gpus)


def _check_options(options, world_size: int) -> str | None:
    if options.max_slots is not None and options.max_slots < 1:
        return f"--max-slots {options.max_slots}: must be at least 1"
    if options.max_waiting is not None and options.max_waiting < 0:
        return f"--max-waiting {options.max_waiting}: must be 0 or more"
    if options.micro_batches is not None and not 1 <= options.micro_batches <= (
        options.max_slots or options.micro_batches
    ):
        return (
            f"--micro-batches {options.micro_batches}: must be between 1 and --max-slots ({options.max_slots}); "
            f"the default is one per rank ({world_size})"
        )
    if options.rendezvous_timeout_s <= 0:
        return f"--rendezvous-timeout {options.rendezvous_timeout_s:g}: must be a positive number of seconds"
    if options.pipeline_timeout_s <= 0:
        return f"--pipeline-timeout {options.pipeline_timeout_s:g}: must be a positive number of seconds"
    if options.drain_timeout_s < 0:
        return f"--drain-timeout {options.drain_timeout_s:g}: must be 0 or more seconds"
    return None


def _add_serving_flags(parser: argparse.ArgumentParser) -> None:
    """The flags ``serve`` and ``local`` share: how the engine runs."""
    parser.add_argument("--model-uri", help="checkpoint: s3://, gs://, az://, file:// or a directory")
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="compute dtype (default bf16)")
    parser.add_argument(
        "--max-slots",
        type=int,
        help="sequences decoded together (default: the knee of the batch curve measured at start, within memory)",
    )
    parser.add_argument(
        "--max-waiting", type=int, help="requests waiting for a slot before more get 503 (default: 16 per slot)"
    )
    parser.add_argument("--max-model-len", type=int, help="prompt + completion tokens (default: the model's)")
    parser.add_argument("--model-name", help="the name clients use in `model` (default: the checkpoint's directory)")
    parser.add_argument(
        "--micro-batches",
        type=int,
        help="passes in flight through a pipeline, each over its own slots (default: one per rank)",
    )
    parser.add_argument(
        "--layer-split", help="explicit layer ranges per rank, e.g. 0-10,10-30 (default: balanced, see --balance)"
    )
    parser.add_argument(
        "--balance",
        choices=["bytes", "compute"],
        default="bytes",
        help="what the default split evens out: weight bytes, embeddings and LM head included (what "
        "must fit in each GPU; default), or the work of a pass, where the embedding lookup is "
        "free and the LM head is not (faster where memory is not the limit)",
    )
    parser.add_argument(
        "--rendezvous-timeout",
        type=float,
        default=RENDEZVOUS_TIMEOUT_S,
        help=f"seconds to wait for the other ranks to join, then for them to load (default {RENDEZVOUS_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--pipeline-timeout",
        type=float,
        default=PIPELINE_TIMEOUT_S,
        help=f"seconds a rank waits for a peer once serving before it fails the group (default {PIPELINE_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_S,
        help="seconds a stopping leader lets running requests finish, refusing new ones with 503 "
        f"(default {DRAIN_TIMEOUT_S:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``shardstack-runtime`` command."""
    from shardstack_runtime.local import add_local_flags, run_local
    from shardstack_runtime.weights.cli import add_weights_commands

    parser = argparse.ArgumentParser(
        prog="shardstack-runtime", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one rank (settings from SHARDSTACK_* env; flags win)")
    _add_serving_flags(serve)
    serve.add_argument("--host", help="address to listen on (default: SHARDSTACK_HOST, else 0.0.0.0)")
    serve.add_argument("--api-port", type=int, help="OpenAI API port (default 8000)")
    serve.add_argument("--metrics-port", type=int, help="health/ready/metrics port (default 9090)")
    serve.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: cuda when visible")
    serve.set_defaults(func=_run_serve)
    local = commands.add_parser("local", help="run a whole replica group (N ranks) as local processes")
    _add_serving_flags(local)
    add_local_flags(local)
    local.set_defaults(func=run_local)
    cold_start = commands.add_parser(
        "cold-start",
        help="answer every API request 503 with Retry-After: the KEDA HTTP interceptor's fallback while a model "
        "scaled to zero wakes",
    )
    cold_start.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    cold_start.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    cold_start.add_argument(
        "--wake-timeout",
        type=float,
        required=True,
        help="seconds the interceptor held each request before handing it here (said in the answer)",
    )
    cold_start.set_defaults(func=_run_cold_start)
    add_weights_commands(commands)
    return parser


def _run_cold_start(args: argparse.Namespace) -> int:
    import uvicorn

    from shardstack_runtime.http.cold_start import cold_start_app

    uvicorn.run(cold_start_app(args.wake_timeout), host=args.host, port=args.port, log_level="warning")
    return 0


SAGEMAKER_START = "serve"
"""SageMaker starts a container as ``docker run <image> serve``: the word lands after the image's entrypoint
(``shardstack-runtime serve``), and means what the entrypoint already says."""


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["serve", SAGEMAKER_START]:
        del words[1]
    args = build_parser().parse_args(words)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
