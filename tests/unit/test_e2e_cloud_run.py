"""The whole sequence of scripts/e2e_cloud.py with a fake stack: up → push the demo weights → wait →
complete → destroy, and the destroy after every kind of failure (or none, with --keep)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud_fakes import MODELS, FakeClock, FakeHttp, FakeStack, completion, make_seams, public_outputs  # noqa: E402
from e2e_cloud_outcomes import StepFailed  # noqa: E402
from e2e_cloud_run import run_stack  # noqa: E402


def args(**overrides) -> argparse.Namespace:
    values = {"stack": "aws-dev", "timeout_min": 60.0, "keep": False, "port_forward": False, "managed": False}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_up_wait_complete_destroy():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [(503, ""), (200, MODELS)], "/v1/completions": [(200, completion(" world"))]})
    stack = FakeStack(public_outputs(api_key="sk-e2e"))
    assert run_stack(args(), lambda name: stack, make_seams(http, clock, log)) == " world"
    assert stack.calls == ["up", "destroy"]
    assert all(request[3] == {"Authorization": "Bearer sk-e2e"} for request in http.requests)
    method, _, body, _ = http.requests[-1]
    assert method == "POST" and body is not None and body["model"] == "smollm2-135m-instruct"
    assert "Resources: + 12 to create" in log  # pulumi's own output is shown


BUCKET = "s3://aws-dev-weights-bucket-1a2b3c/"


def test_a_model_in_the_stacks_own_bucket_gets_the_demo_weights_before_the_wait():
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("!"))]})
    pushed: list[str] = []
    log: list[str] = []

    def push(uri):
        pushed.append(uri)
        assert not http.requests  # before anything waits for the ranks

    outputs = public_outputs(bucket_uri=BUCKET, model_uri=BUCKET + "demo/smollm2-135m-instruct/")
    run_stack(args(), lambda name: FakeStack(outputs), make_seams(http, FakeClock(), log, push_weights=push))
    assert pushed == [BUCKET + "demo/smollm2-135m-instruct/"]
    # A model somewhere else is the user's: nothing is pushed (make_seams fails on a push).
    elsewhere = public_outputs(bucket_uri=BUCKET, model_uri="s3://team-models/llama/")
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("!"))]})
    run_stack(args(), lambda name: FakeStack(elsewhere), make_seams(http, FakeClock(), []))


def test_a_failed_push_names_the_step_and_still_destroys():
    def push(uri):
        raise RuntimeError("AccessDenied: s3:PutObject")

    stack = FakeStack(public_outputs(bucket_uri=BUCKET, model_uri=BUCKET + "demo/"))
    with pytest.raises(StepFailed) as failure:
        run_stack(args(), lambda name: stack, make_seams(FakeHttp({}), FakeClock(), [], push_weights=push))
    assert failure.value.step == "push the weights" and "AccessDenied" in failure.value.detail
    assert stack.calls == ["up", "destroy"]


def test_no_api_key_output_sends_no_authorization():
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("!"))]})
    run_stack(args(), lambda name: FakeStack(public_outputs()), make_seams(http, FakeClock(), []))
    assert all(request[3] == {} for request in http.requests)


def test_a_failure_destroys_the_stack_and_names_the_step(capsys):
    log = []
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion(""))]})
    stack = FakeStack(public_outputs())
    with pytest.raises(StepFailed) as failure:
        run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), log))
    assert failure.value.step == "completion"
    assert stack.calls == ["up", "destroy"]
    assert "== destroy: aws-dev, after the failure in step 'completion', so that nothing stays up" in log


def test_a_failed_up_is_destroyed_too():
    stack = FakeStack({}, up_error=RuntimeError("error: creating EKS Cluster: AccessDenied"))
    with pytest.raises(StepFailed, match="AccessDenied") as failure:
        run_stack(args(), lambda name: stack, make_seams(FakeHttp({}), FakeClock(), []))
    assert failure.value.step == "up"
    assert stack.calls == ["up", "destroy"]


def test_keep_skips_destroy():
    log = []
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("x"))]})
    stack = FakeStack(public_outputs())
    run_stack(args(keep=True), lambda name: stack, make_seams(http, FakeClock(), log))
    assert stack.calls == ["up"]
    assert any(line.startswith("--keep: aws-dev stays up") and "pulumi destroy -s aws-dev" in line for line in log)


def test_a_failed_destroy_is_a_failure_after_success_and_a_note_after_a_failure(capsys):
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("x"))]})
    stack = FakeStack(public_outputs(), destroy_error=RuntimeError("DependencyViolation"))
    with pytest.raises(StepFailed, match="DependencyViolation") as failure:
        run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), []))
    assert failure.value.step == "destroy"
    assert "pulumi destroy -s aws-dev" in failure.value.detail

    stack = FakeStack({}, destroy_error=RuntimeError("DependencyViolation"))
    with pytest.raises(StepFailed) as failure:
        run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), []))
    assert failure.value.step == "outputs"  # the first failure is the one reported
    assert "destroy failed too: DependencyViolation" in capsys.readouterr().err
