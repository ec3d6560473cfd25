"""The ``shardstack`` command: plan a stack offline, size a model.

shardstack plan local                       # the resource tree, sizing and $/hour of a stack
shardstack plan aws-prod --out plan-out     # + graph.json and every Kubernetes object as YAML
shardstack plan aws-prod --policy policy    # + the policy pack's violations; exit 1 on a mandatory one
shardstack size --params 70e9 --dtype bf16 --gpu h100-80gb --cloud aws
shardstack size --params 70e9 --gpu h100-80gb --cloud aws --target managed   # one SageMaker instance per group
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pulumi

from shardstack.errors import ArgumentError, InputError
from shardstack.model_shapes import MODELS
from shardstack.offline.graph import Graph

# Exit codes: 2 for input the user can fix (argparse uses 2 for usage errors too).
EXIT_INPUT_ERROR = 2


def _plan(args: argparse.Namespace) -> int:
    from shardstack.plan import plan_stack, render_plan, write_plan

    plan = plan_stack(args.stack, args.project_dir)
    if args.out is not None:
        manifests = write_plan(plan, args.out)
        print(
            f"wrote {args.out / 'graph.json'} and {len(manifests)} manifests under {args.out / 'manifests'}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(plan.graph.to_json(plan.stack), indent=2))
    else:
        print(render_plan(plan))
    if args.policy is None:
        return 0
    # Policies run on the stack as `pulumi up` makes it: what the cloud computes (names with random suffixes, ARNs)
    # known, as the engine knows it when it checks the policies again while applying.
    applied = plan_stack(args.stack, args.project_dir, preview=False)
    return _policy(applied.graph, args.policy, args.policy_config)


def _policy(graph: Graph, pack_dir: Path, config_file: Path | None) -> int:
    """Run the policy pack at ``pack_dir`` on the plan; 1 when a mandatory policy is violated."""
    from shardstack.offline.policy import check, load_pack
    from shardstack.plan import read_yaml

    config = read_yaml(config_file) if config_file is not None else None
    pack = load_pack(pack_dir)
    violations = check(pack, graph, config)
    for violation in violations:
        print(f"{violation}{f' ({violation.urn})' if violation.urn else ''}", file=sys.stderr)
    mandatory = sum(v.level == "mandatory" for v in violations)
    print(f"policy pack {pack.name!r}: {len(pack.policies)} policies, {mandatory} mandatory violations, "
          f"{len(violations) - mandatory} advisory", file=sys.stderr)  # fmt: skip
    return 1 if mandatory else 0


LOAD_FLAGS = ("requests_per_s", "prompt_tokens", "output_tokens", "ttft_slo_s")
"""The load mode's flags: with one, ``size`` answers how many groups that load needs."""


def _size(args: argparse.Namespace) -> int:
    from shardstack.performance import DEFAULT_SLOTS, Load, capacity_dict, plan_capacity, render_capacity
    from shardstack.sizing import DTYPE_BYTES, size_model

    params = MODELS[args.model].params if args.model is not None else args.params

    def sized(replica_groups: int):
        return size_model(
            params=params,
            checkpoint_bytes=args.checkpoint_bytes,
            dtype=args.dtype,
            gpu=args.gpu,
            cloud=args.cloud,
            gpus_per_node=args.gpus_per_node,
            replica_groups=replica_groups,
            target=args.target,
            **({"headroom": args.headroom} if args.headroom is not None else {}),
        )

    def option(flag: str) -> str:
        return "--" + flag.replace("_", "-")

    given = [flag for flag in LOAD_FLAGS if getattr(args, flag) is not None]
    if not given:
        sizing = sized(args.replica_groups)
        print(json.dumps(sizing.as_dict(), indent=2) if args.json else sizing.render())
        return 0
    missing = [option(flag) for flag in LOAD_FLAGS if flag not in given]
    if missing or args.replica_groups != 1:
        with_ = ", ".join(option(flag) for flag in given)
        problems = [f"{flag} is required with {with_}: the load mode needs the whole load" for flag in missing]
        if args.replica_groups != 1:
            problems.append("--replica-groups: the load mode answers how many groups; drop it")
        raise ArgumentError("shardstack size", problems)
    load = Load(args.requests_per_s, args.prompt_tokens, args.output_tokens, args.ttft_slo_s)
    one = sized(1)
    capacity = plan_capacity(
        load, params=one.params, dtype_bytes=DTYPE_BYTES[one.dtype], gpu=one.gpu.name, shards=one.shards,
        slots=args.slots or DEFAULT_SLOTS, checkpoint_bytes=args.checkpoint_bytes,
    )  # fmt: skip
    sizing = sized(capacity.groups)
    if args.json:
        print(json.dumps({**sizing.as_dict(), "capacity": capacity_dict(capacity, load)}, indent=2))
    else:
        print(render_capacity(capacity, load) + "\n" + sizing.render())
    return 0


def _number(text: str) -> float:
    """Parse ``70e9``, ``7_000_000_000`` or ``70B``-style counts as a float."""
    cleaned = text.strip().replace("_", "")
    suffixes = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
    factor = suffixes.get(cleaned[-1:].lower(), 1.0)
    if factor != 1.0:
        cleaned = cleaned[:-1]
    try:
        return float(cleaned) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 70e9 or 70B)") from None


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` number above zero, refused in argparse's words otherwise."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``shardstack`` command."""
    from shardstack.sizing import TARGETS

    parser = argparse.ArgumentParser(
        prog="shardstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="plan a stack offline: no Pulumi CLI, no credentials")
    plan.add_argument("stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--json", action="store_true", help="print the graph as JSON instead of the report")
    plan.add_argument("--out", type=Path, help="write DIR/graph.json and DIR/manifests/*.yaml")
    plan.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the Pulumi project (default: the nearest Pulumi.yaml at or above the cwd)",
    )
    plan.add_argument(
        "--policy",
        type=Path,
        help="run the CrossGuard policy pack in DIR on the plan (e.g. policy/); exit 1 on a mandatory violation",
    )
    plan.add_argument(
        "--policy-config", type=Path, help="the pack's config (JSON or YAML, as --policy-pack-config takes it)"
    )
    plan.set_defaults(run=_plan)

    size = commands.add_parser("size", help="how many shards, nodes and $/hour a model needs")
    what = size.add_mutually_exclusive_group(required=True)
    what.add_argument("--params", type=_number, help="parameter count, e.g. 70e9 or 70B")
    what.add_argument(
        "--model",
        choices=sorted(MODELS),
        help="a catalogued model (shardstack.model_shapes): its config.json's shape gives the parameters",
    )
    what.add_argument(
        "--checkpoint-bytes",
        type=lambda s: int(_number(s)),
        help="bytes of the stored checkpoint (wins over params x dtype)",
    )
    size.add_argument("--dtype", default="bf16", help="weight dtype: fp32, bf16, fp16, fp8, int8, int4")
    size.add_argument("--gpu", required=True, help="catalogue GPU, e.g. h100-80gb, l4, a100-80gb")
    size.add_argument("--cloud", choices=["aws", "gcp", "azure"], help="price nodes on this cloud")
    size.add_argument("--gpus-per-node", type=int, help="GPUs per node (default: smallest offer that fits)")
    size.add_argument("--replica-groups", type=int, default=1, help="copies of the model (default 1)")
    size.add_argument("--headroom", type=float, help="fraction of GPU memory kept free (default 0.2)")
    size.add_argument(
        "--target",
        choices=TARGETS,
        default="kubernetes",
        help="nodes of a Kubernetes cluster (default), or the cloud's managed endpoints (one instance per group)",
    )
    load = size.add_argument_group(
        "load mode", "how many replica groups a load needs, by the performance model of shardstack.performance"
    )
    load.add_argument("--requests-per-s", type=_positive(float), help="requests per second to serve")
    load.add_argument("--prompt-tokens", type=_positive(int), help="mean prompt length, tokens")
    load.add_argument("--output-tokens", type=_positive(int), help="mean output length, tokens")
    load.add_argument("--ttft-slo-s", type=_positive(float), help="time to first token 99%% of requests meet, s")
    load.add_argument("--slots", type=_positive(int), help="sequences one group decodes together (default 16)")
    size.add_argument("--json", action="store_true", help="print JSON")
    size.set_defaults(run=_size)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; user errors print their message (no traceback) and exit non-zero."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except pulumi.RunError as error:
        # The program's own refusal (e.g. invalid stack config): its message is the whole story.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
