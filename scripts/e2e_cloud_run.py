"""One run of scripts/e2e_cloud.py against a selected stack: up, push the demo weights, wait, complete, destroy.

The stack is destroyed after a failure or an interrupt too (unless --keep), so that a failed run leaves
nothing up that costs money; the first failure is the one reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_cloud_api import MAX_TOKENS, PROMPT, complete, wait_until_ready
from e2e_cloud_managed import PLATFORMS, exercise_managed
from e2e_cloud_outcomes import StepFailed, tail
from e2e_cloud_port_forward import reachable_endpoint
from e2e_cloud_seams import Seams

REPO = Path(__file__).resolve().parents[1]


def exercise(stack: Any, args: argparse.Namespace, seams: Seams) -> str:
    """Up, wait until the endpoint is ready, ask one completion; return the completion's text."""
    seams.log(f"== up: {args.stack}")
    try:
        result = stack.up(on_output=seams.log)
    except Exception as error:
        raise StepFailed("up", tail(str(error))) from error
    outputs = {name: output.value for name, output in result.outputs.items()}
    endpoint = outputs.get("endpoint")
    if not endpoint:
        raise StepFailed("outputs", f"the stack has no `endpoint` output (it has: {', '.join(outputs) or 'none'})")
    model_uri, bucket_uri = outputs.get("model_uri"), outputs.get("bucket_uri")
    if model_uri and bucket_uri and str(model_uri).startswith(str(bucket_uri)):
        # The stack made this bucket, so it holds only what is pushed: the demo model, for a dev stack.
        seams.log(f"== push the demo weights: {model_uri}")
        try:
            seams.push_weights(str(model_uri))
        except Exception as error:
            raise StepFailed("push the weights", tail(str(error))) from error
    api_key = outputs.get("api_key")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = seams.clock() + args.timeout_min * 60
    with reachable_endpoint(endpoint, outputs, port_forward=args.port_forward, seams=seams) as (url, get, post):
        seams.log(f"== wait for the endpoint: {url}/v1/models (at most {args.timeout_min:g} min)")
        model = wait_until_ready(
            url,
            headers,
            timeout_s=deadline - seams.clock(),
            http_get=get,
            clock=seams.clock,
            sleep=seams.sleep,
            log=seams.log,
        )
        seams.log(f"== completion: {model!r}, prompt {PROMPT!r}, max_tokens {MAX_TOKENS}")
        text = complete(
            url, model, headers, deadline=deadline, http_post=post, clock=seams.clock, sleep=seams.sleep, log=seams.log
        )
        seams.log(f"completion: {text!r}")
        return text


def run_stack(args: argparse.Namespace, select_stack: Callable[[str], Any], seams: Seams) -> str:
    """Select the stack, exercise it, and destroy it afterwards (also after a failure) unless --keep."""
    try:
        stack = select_stack(args.stack)
    except Exception as error:
        raise StepFailed("select the stack", tail(str(error))) from error
    failure: BaseException | None = None
    try:
        if args.managed:
            return exercise_managed(stack, args, seams, PLATFORMS[args.stack.split("-", 1)[0]])
        return exercise(stack, args, seams)
    except BaseException as error:
        failure = error
        raise
    finally:
        finish(stack, args, failure, seams)


def finish(stack: Any, args: argparse.Namespace, failure: BaseException | None, seams: Seams) -> None:
    """Destroy the stack unless --keep; after a failure, a failing destroy is reported, not raised."""
    again = f"`pulumi destroy -s {args.stack}` in {REPO}"
    if args.keep:
        seams.log(f"--keep: {args.stack} stays up (and costs money); remove it with {again}")
        return
    if failure is None:
        seams.log(f"== destroy: {args.stack}")
    else:
        cause = f"the failure in step {failure.step!r}" if isinstance(failure, StepFailed) else type(failure).__name__
        seams.log(f"== destroy: {args.stack}, after {cause}, so that nothing stays up")
    try:
        stack.destroy(on_output=seams.log)
    except Exception as error:
        detail = f"{tail(str(error))}\nits resources may still exist (and cost money): run {again}"
        if failure is None:
            raise StepFailed("destroy", detail) from error
        print(f"destroy failed too: {detail}", file=sys.stderr)


def select_pulumi_stack(stack: str) -> Any:
    from pulumi import automation as auto

    # Pulumi.yaml at the repository root: main infra/, the stacks' config in stacks/ (stackConfigDir).
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(REPO))
