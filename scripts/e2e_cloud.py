#!/usr/bin/env python3
"""Deploy a cloud stack for real, wait for its API, ask it one completion, destroy it (opt-in, costs money).

    .venv/bin/python scripts/e2e_cloud.py --stack aws-dev
    .venv/bin/python scripts/e2e_cloud.py --stack aws-dev --timeout-min 90 --keep
    .venv/bin/python scripts/e2e_cloud.py --stack aws-managed    # SageMaker (gcp-managed, azure-managed)

Steps: `pulumi up` through the Automation API (the project in the repository root, the stack's config in
stacks/Pulumi.<stack>.yaml), then, when the model lives in the stack's own new bucket, `weights push` of
the demo model there (the ranks restart until it is), then GET <endpoint>/v1/models until it answers 200
(at most --timeout-min), then POST /v1/completions with the first model listed, prompt "Hello",
max_tokens 8, which must return a non-empty text, then `pulumi destroy`, also after a failure or an
interrupt, unless --keep.

The stacks keep the API private by default (shardstack:serving.public: false): the `endpoint` output is
then an in-cluster URL (http://<service>.<namespace>.svc.cluster.local:<port>) that nothing outside the
cluster reaches. For such a stack (or with --port-forward) it runs `kubectl port-forward` to that Service
with the stack's `kubeconfig` output (written to a 0600 temp file, removed afterwards) and talks to
127.0.0.1 instead. kubectl then needs the same access to the Kubernetes API that `pulumi up` needs.

A managed stack (`shardstack:serving.platform: managed`) runs as e2e_cloud_managed.py says: up without the
endpoint, push the weights and the image (docker and the cloud's CLI), up the endpoint, one chat question
through the platform's own invoke API, destroy.

It is opt-in: without the Pulumi CLI, a Pulumi backend login or credentials for the stack's cloud (the
stack's name starts with it: aws-*, gcp-*, azure-*) it prints "skipped: <what is missing>" and exits 0.
Exit codes: 0 passed or skipped; 1 a step failed (it is named); 2 bad usage (unknown stack, ...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# The steps live beside this file, in e2e_cloud_*.py: running `python scripts/e2e_cloud.py` puts scripts/ on
# sys.path, which is where these imports find them (scripts/ is not a package).
from e2e_cloud_api import PROMPT
from e2e_cloud_managed import MANAGED_TOOLS, is_managed
from e2e_cloud_outcomes import EXIT_FAILED, EXIT_PASSED_OR_SKIPPED, EXIT_USAGE, Skipped, StepFailed, UsageError
from e2e_cloud_preconditions import check_preconditions, check_stack, needs_port_forward, stack_config
from e2e_cloud_run import REPO, run_stack, select_pulumi_stack
from e2e_cloud_seams import Seams

STACKS_DIR = REPO / "stacks"

DEFAULT_TIMEOUT_MIN = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="a stack in stacks/, e.g. aws-dev")
    parser.add_argument(
        "--timeout-min",
        type=float,
        default=DEFAULT_TIMEOUT_MIN,
        help=f"how long to wait for the endpoint after up (default {DEFAULT_TIMEOUT_MIN})",
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack up: skip destroy")
    parser.add_argument(
        "--port-forward",
        action="store_true",
        help="reach the endpoint through `kubectl port-forward` (the stack's kubeconfig); "
        "automatic for stacks that keep the API private",
    )
    args = parser.parse_args(argv)
    args.managed = False  # whether the stack serves on a managed endpoint: main reads it from the stack file
    if args.timeout_min <= 0:
        parser.error(f"--timeout-min must be > 0; got {args.timeout_min:g}")
    return args


def main(
    argv: list[str] | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    environ: Mapping[str, str] = os.environ,
    home: Path | None = None,
    stacks_dir: Path = STACKS_DIR,
    select_stack: Callable[[str], Any] = select_pulumi_stack,
    seams: Seams | None = None,
) -> int:
    args = parse_args(argv)  # exits 2 on a bad command line
    try:
        cloud = check_stack(args.stack, stacks_dir)
        config = stack_config(args.stack, stacks_dir)
        # A managed endpoint has no cluster to port-forward to: the platform's own invoke API answers.
        args.managed = is_managed(config)
        if args.managed and args.port_forward:
            raise UsageError(f"{args.stack} serves on a managed endpoint, which has no cluster: drop --port-forward")
        # Missing tools or credentials first: where they are missing, this opt-in test is skipped, not misused.
        args.port_forward = not args.managed and needs_port_forward(args.stack, stacks_dir, asked=args.port_forward)
        check_preconditions(
            cloud,
            port_forward=args.port_forward,
            which=which,
            environ=environ,
            home=home or Path.home(),
            config=config,
            tools=MANAGED_TOOLS[cloud] if args.managed else (),
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Skipped as error:
        print(f"skipped: {error}")
        return EXIT_PASSED_OR_SKIPPED
    try:
        text = run_stack(args, select_stack, seams or Seams())
    except StepFailed as error:
        print(f"FAILED in step {error.step!r}: {error.detail}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("FAILED: interrupted", file=sys.stderr)
        return EXIT_FAILED
    print(f"passed: {args.stack} answered {PROMPT!r} with {text!r}")
    return EXIT_PASSED_OR_SKIPPED


if __name__ == "__main__":
    sys.exit(main())
