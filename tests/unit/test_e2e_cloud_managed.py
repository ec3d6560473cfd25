"""scripts/e2e_cloud.py on a managed stack, with a fake stack and platform: up without the endpoint → push the
weights and the image → up with it → one chat question through the platform → destroy; and the targets of the
first up, read from the real offline plan of each managed stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud_fakes import FakeClock, FakeHttp, FakeStack, make_seams  # noqa: E402
from e2e_cloud_managed import CHAT, PLATFORMS, SOURCE_IMAGE, Platform, urns_outside_endpoint  # noqa: E402
from e2e_cloud_outcomes import StepFailed  # noqa: E402
from e2e_cloud_run import run_stack  # noqa: E402

from shardstack.defaults import DEFAULT_IMAGE  # noqa: E402

OUTPUTS = {
    "endpoint": "aws-managed-endpoint-0a1b2c",
    "bucket_uri": "s3://aws-managed-weights-1a2b/",
    "model_uri": "s3://aws-managed-weights-1a2b/demo/smollm2-135m-instruct/",
    "registry_url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime",
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shardstack/runtime:0.1.0",
}
ANSWER = {"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}]}


def args(stack: str = "aws-managed") -> argparse.Namespace:
    return argparse.Namespace(stack=stack, timeout_min=60.0, keep=False, port_forward=False, managed=True)


def test_up_push_up_ask_destroy(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[Any] = []
    asked: list[Any] = []

    def invoke(outputs: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
        asked.append((outputs["endpoint"], body))
        return ANSWER

    monkeypatch.setitem(PLATFORMS, "aws", Platform(PLATFORMS["aws"].registry_login, invoke))

    def run(command: list[str], stdin: str | None) -> str:
        done.append(("run", command, stdin))
        return "ecr-password" if command[:3] == ["aws", "ecr", "get-login-password"] else ""

    stack = FakeStack(OUTPUTS)
    seams = make_seams(
        FakeHttp({}),
        FakeClock(),
        [],
        push_weights=lambda uri: done.append(("push", uri)),
        run=run,
        targets=lambda name: ["urn:a", "urn:b"],
    )
    assert run_stack(args(), lambda name: stack, seams) == "Hi!"
    assert stack.calls == ["up 2 targets", "up", "destroy"]
    registry = OUTPUTS["registry_url"].split("/")[0]
    assert done == [
        ("push", OUTPUTS["model_uri"]),
        ("run", ["aws", "ecr", "get-login-password", "--region", "us-east-1"], None),
        ("run", ["docker", "login", "--username", "AWS", "--password-stdin", registry], "ecr-password"),
        ("run", ["docker", "pull", SOURCE_IMAGE], None),
        ("run", ["docker", "tag", SOURCE_IMAGE, OUTPUTS["image"]], None),
        ("run", ["docker", "push", OUTPUTS["image"]], None),
    ]
    assert asked == [(OUTPUTS["endpoint"], CHAT)]


def test_the_image_copied_is_the_released_runtime() -> None:
    assert SOURCE_IMAGE == DEFAULT_IMAGE


@pytest.mark.parametrize(
    ("answer", "detail"),
    [({"error": "model not loaded"}, "not a chat completion"), ({"choices": [{"message": {"content": " "}}]}, "empty")],
)
def test_a_wrong_answer_fails_the_ask_and_still_destroys(
    monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any], detail: str
) -> None:
    monkeypatch.setitem(PLATFORMS, "aws", Platform(lambda outputs, run: None, lambda outputs, body: answer))
    stack = FakeStack(OUTPUTS)
    seams = make_seams(FakeHttp({}), FakeClock(), [], push_weights=lambda uri: None, run=lambda c, s: "")
    with pytest.raises(StepFailed) as failure:
        run_stack(args(), lambda name: stack, seams)
    assert failure.value.step == "ask the endpoint" and detail in failure.value.detail
    assert stack.calls[-1] == "destroy"


def test_a_failed_image_push_names_the_step_and_still_destroys(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(command: list[str], stdin: str | None) -> str:
        if command[:2] == ["docker", "push"]:
            raise OSError("denied: not authorized")
        return ""

    stack = FakeStack(OUTPUTS)
    seams = make_seams(FakeHttp({}), FakeClock(), [], push_weights=lambda uri: None, run=run)
    with pytest.raises(StepFailed) as failure:
        run_stack(args(), lambda name: stack, seams)
    assert failure.value.step == "push the image" and "not authorized" in failure.value.detail
    assert stack.calls == ["up 0 targets", "destroy"]


@pytest.mark.parametrize("stack", ["aws-managed", "gcp-managed", "azure-managed"])
def test_the_first_up_creates_everything_but_the_endpoint(stack: str) -> None:
    from shardstack.plan import plan_stack

    graph = plan_stack(stack, Path(_SCRIPTS).parent).graph
    targets = set(urns_outside_endpoint(stack))
    endpoint = next(r for r in graph if r.type.endswith(("SageMakerEndpoint", "VertexEndpoint", "MlOnlineEndpoint")))
    assert endpoint.urn not in targets and not [r for r in graph.children(endpoint) if r.urn in targets]
    assert {r.urn for r in graph if r.type.endswith(("WeightStore", "Registry"))} <= targets
    assert len(targets) + 1 + len(graph.descendants(endpoint)) == len(list(graph))
