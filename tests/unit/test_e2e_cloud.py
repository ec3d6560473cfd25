"""scripts/e2e_cloud.py without a cloud: preconditions, the stack check, endpoint parsing, readiness,
the completion check, port-forwarding and the up → wait → complete → destroy sequence, all with fakes."""

from __future__ import annotations

import argparse
import importlib.util
import json
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "e2e_cloud.py"


def _load_script():
    # scripts/ is not a package: load the file as a module (registered, as dataclasses need).
    spec = importlib.util.spec_from_file_location("e2e_cloud", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    import e2e_cloud as e2e  # found through pyright's extraPaths; at run time _load_script() loads the file
else:
    e2e = _load_script()

ENDPOINT = "http://inference-api.shardstack.svc.cluster.local:8000"
MODELS = json.dumps({"object": "list", "data": [{"id": "smollm2-135m-instruct", "object": "model"}]})


def completion(text: str) -> str:
    return json.dumps({"object": "text_completion", "choices": [{"index": 0, "text": text}]})


# --- fakes ---------------------------------------------------------------------------------------


class FakeClock:
    """time.monotonic and time.sleep together: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeHttp:
    """Answers each URL from a script of (status, body) pairs or exceptions; the last one repeats."""

    def __init__(self, answers: dict[str, list]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Mapping[str, Any] | None, dict[str, str]]] = []

    def _answer(self, url: str):
        path = url.split("127.0.0.1", 1)[-1] if "127.0.0.1" in url else url
        key = next(k for k in self.answers if path.endswith(k))
        script = self.answers[key]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get(self, url, headers, timeout_s):
        self.requests.append(("GET", url, None, dict(headers)))
        return self._answer(url)

    def post(self, url, body, headers, timeout_s):
        self.requests.append(("POST", url, body, dict(headers)))
        return self._answer(url)


class FakeStack:
    def __init__(
        self, outputs: dict, *, up_error: Exception | None = None, destroy_error: Exception | None = None
    ) -> None:
        self.outputs, self.up_error, self.destroy_error = outputs, up_error, destroy_error
        self.calls: list[str] = []

    def up(self, on_output):
        self.calls.append("up")
        on_output("Resources: + 12 to create")
        if self.up_error:
            raise self.up_error
        return SimpleNamespace(outputs={k: SimpleNamespace(value=v, secret=False) for k, v in self.outputs.items()})

    def destroy(self, on_output):
        self.calls.append("destroy")
        if self.destroy_error:
            raise self.destroy_error


class FakeProcess:
    def __init__(self, command: list[str], exit_code: int | None = None) -> None:
        self.command, self.returncode, self.terminated = command, exit_code, False

    def poll(self):
        return self.returncode

    def terminate(self):
        self.terminated, self.returncode = True, -15

    def wait(self, timeout=None):
        return self.returncode


def make_seams(http: FakeHttp, clock: FakeClock, log: list[str], popen=None, push_weights=None) -> e2e.Seams:
    def no_popen(*args, **kwargs):
        raise AssertionError("no kubectl expected")

    def no_push(uri):
        raise AssertionError(f"no weights push expected (to {uri})")

    return e2e.Seams(
        http_get=http.get,
        http_post=http.post,
        clock=clock,
        sleep=clock.sleep,
        popen=popen or no_popen,
        port_open=lambda port: True,
        free_local_port=lambda: 18000,
        push_weights=push_weights or no_push,
        log=log.append,
    )


def args(**overrides) -> argparse.Namespace:
    values = {"stack": "aws-dev", "timeout_min": 60.0, "keep": False, "port_forward": False, **overrides}
    return argparse.Namespace(**values)


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    directory = tmp_path / "stacks"
    directory.mkdir()
    private = "config:\n  shardstack:cloud: {cloud}\n  shardstack:serving:\n    public: false\n"
    for name, cloud in [("aws-dev", "aws"), ("gcp-dev", "gcp"), ("azure-dev", "azure"), ("local", "local")]:
        (directory / f"Pulumi.{name}.yaml").write_text(private.format(cloud=cloud))
    (directory / "Pulumi.aws-public.yaml").write_text(
        "config:\n  shardstack:cloud: aws\n  shardstack:serving:\n    public: true\n"
        "    allowed_cidrs: ['203.0.113.0/24']\n"
    )
    return directory


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    (directory / ".pulumi").mkdir(parents=True)
    (directory / ".pulumi" / "credentials.json").write_text("{}")
    return directory


def on_path(*tools: str):
    return lambda tool: f"/usr/bin/{tool}" if tool in tools else None


ALL_TOOLS = on_path("pulumi", "kubectl", "aws", "gke-gcloud-auth-plugin", "kubelogin", "az")
CLOUD_ENV = {
    "aws": {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
    "gcp": {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json", "GOOGLE_CLOUD_PROJECT": "acme-ml"},
    "azure": {"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant"},
}


# --- preconditions -------------------------------------------------------------------------------


def test_no_pulumi_cli_is_a_skip_not_a_failure(stacks, home, capsys):
    code = e2e.main(
        ["--stack", "aws-dev", "--port-forward"],
        which=on_path("kubectl", "aws"),
        environ=CLOUD_ENV["aws"],
        home=home,
        stacks_dir=stacks,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("skipped: the Pulumi CLI is not on PATH")


def test_no_pulumi_backend_login_is_a_skip(stacks, tmp_path, capsys):
    code = e2e.main(
        ["--stack", "aws-dev", "--port-forward"],
        which=ALL_TOOLS,
        environ=CLOUD_ENV["aws"],
        home=tmp_path / "empty-home",
        stacks_dir=stacks,
    )
    assert code == 0
    assert "skipped: not logged in to a Pulumi backend" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cloud", "names"),
    [
        (
            "aws",
            [
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "~/.aws/credentials",
            ],
        ),
        ("gcp", ["GOOGLE_APPLICATION_CREDENTIALS", "~/.config/gcloud/application_default_credentials.json"]),
        ("azure", ["AZURE_CLIENT_ID and AZURE_TENANT_ID", "~/.azure"]),
    ],
)
def test_missing_cloud_credentials_are_a_skip_naming_what_to_set(cloud, names, stacks, home, capsys):
    code = e2e.main(
        ["--stack", f"{cloud}-dev", "--port-forward"],
        which=ALL_TOOLS,
        environ={"AWS_ACCESS_KEY_ID": ""},
        home=home,
        stacks_dir=stacks,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"skipped: no {cloud} credentials: set ")
    for name in names:
        assert name in out


@pytest.mark.parametrize("cloud", sorted(e2e.CLOUDS))
def test_credentials_from_the_environment_or_a_file_are_enough(cloud, home):
    check = lambda environ: e2e.check_preconditions(  # noqa: E731
        cloud, port_forward=False, which=ALL_TOOLS, environ=environ, home=home
    )
    # The settings the provider cannot do without (the GCP project) come from the environment here.
    settings = {s.env[0]: "value" for s in e2e.CLOUDS[cloud].settings}
    check(CLOUD_ENV[cloud])
    with pytest.raises(e2e.Skipped):
        check(settings)
    (home / e2e.CLOUDS[cloud].files[0]).parent.mkdir(parents=True, exist_ok=True)
    (home / e2e.CLOUDS[cloud].files[0]).write_text("")
    check(settings)


def test_a_gcp_stack_needs_a_project_from_its_config_or_the_environment(home):
    credentials = {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json"}
    with pytest.raises(
        e2e.Skipped,
        match=r"the GCP project is not set: run `pulumi config set gcp:project .*"
        r"GOOGLE_CLOUD_PROJECT",
    ):
        e2e.check_preconditions("gcp", port_forward=False, which=ALL_TOOLS, environ=credentials, home=home)
    e2e.check_preconditions(
        "gcp", port_forward=False, which=ALL_TOOLS, environ=credentials, home=home, config={"gcp:project": "acme-ml"}
    )
    e2e.check_preconditions(
        "gcp",
        port_forward=False,
        which=ALL_TOOLS,
        environ={**credentials, "CLOUDSDK_CORE_PROJECT": "acme-ml"},
        home=home,
    )


@pytest.mark.parametrize(("cloud", "tool"), [("gcp", "gke-gcloud-auth-plugin"), ("azure", "kubelogin")])
def test_a_private_stack_needs_the_tool_its_kubeconfig_runs(cloud, tool, home):
    with pytest.raises(e2e.Skipped, match=f"--port-forward needs `{tool}` on PATH"):
        e2e.check_preconditions(
            cloud, port_forward=True, which=on_path("pulumi", "kubectl"), environ=CLOUD_ENV[cloud], home=home
        )


def test_half_a_key_pair_is_no_aws_credentials(home):
    with pytest.raises(e2e.Skipped, match="no aws credentials"):
        e2e.check_preconditions(
            "aws", port_forward=False, which=ALL_TOOLS, environ={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, home=home
        )


@pytest.mark.parametrize(("tools", "missing"), [(("pulumi", "aws"), "kubectl"), (("pulumi", "kubectl"), "aws")])
def test_port_forward_needs_kubectl_and_the_kubeconfig_tool(tools, missing, home):
    with pytest.raises(e2e.Skipped, match=f"--port-forward needs `{missing}` on PATH"):
        e2e.check_preconditions("aws", port_forward=True, which=on_path(*tools), environ=CLOUD_ENV["aws"], home=home)
    e2e.check_preconditions("aws", port_forward=False, which=on_path(*tools), environ=CLOUD_ENV["aws"], home=home)


# --- the stack -----------------------------------------------------------------------------------


def test_unknown_stack_is_bad_usage_listing_the_stacks(stacks, home, capsys):
    code = e2e.main(
        ["--stack", "aws-prod", "--port-forward"],
        which=ALL_TOOLS,
        environ=CLOUD_ENV["aws"],
        home=home,
        stacks_dir=stacks,
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no stack file" in err and "Pulumi.aws-prod.yaml" in err
    assert "the stacks are: aws-dev, aws-public, azure-dev, gcp-dev, local" in err


def test_unknown_stack_is_reported_before_the_missing_cli(stacks, tmp_path, capsys):
    assert e2e.main(["--stack", "nope"], which=on_path(), environ={}, home=tmp_path, stacks_dir=stacks) == 2
    assert "error: no stack file" in capsys.readouterr().err


def test_the_repository_stacks_are_listed():
    with pytest.raises(e2e.UsageError, match=r"the stacks are: .*\blocal\b"):
        e2e.check_stack("no-such-stack", e2e.STACKS_DIR)


def test_a_stack_of_no_cloud_is_bad_usage(stacks):
    with pytest.raises(e2e.UsageError, match=r"'local' is not a cloud stack.*cloud stacks are: aws-dev, aws-public"):
        e2e.check_stack("local", stacks)


def test_a_private_stack_is_reached_through_a_port_forward_without_being_asked(stacks, home, capsys):
    assert e2e.needs_port_forward("aws-dev", stacks, asked=False)
    assert not e2e.needs_port_forward("aws-public", stacks, asked=False)
    assert e2e.needs_port_forward("aws-public", stacks, asked=True)
    # So a private stack needs kubectl: without it the test is skipped before anything is deployed.
    code = e2e.main(
        ["--stack", "gcp-dev"],
        which=on_path("pulumi"),
        environ=CLOUD_ENV["gcp"],
        home=home,
        stacks_dir=stacks,
        select_stack=lambda name: pytest.fail("must not deploy"),
    )
    assert code == 0
    assert "kubectl" in capsys.readouterr().out


def test_without_the_cli_a_private_stack_is_still_a_skip(stacks, home, capsys):
    assert e2e.main(["--stack", "aws-dev"], which=on_path(), environ={}, home=home, stacks_dir=stacks) == 0
    assert capsys.readouterr().out.startswith("skipped: the Pulumi CLI is not on PATH")


@pytest.mark.parametrize("argv", [[], ["--stack", "aws-dev", "--timeout-min", "0"], ["--stack", "aws-dev", "--x"]])
def test_bad_command_lines_exit_2(argv):
    with pytest.raises(SystemExit) as exit_:
        e2e.parse_args(argv)
    assert exit_.value.code == 2


# --- endpoint URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (ENDPOINT, ("inference-api", "shardstack", 8000)),
        ("http://llm.prod.svc.cluster.local:8000/", ("llm", "prod", 8000)),
        ("http://llm.prod.svc:9000", ("llm", "prod", 9000)),
        ("http://llm.prod.svc.cluster.local", ("llm", "prod", 80)),
        ("https://llm.prod.svc.cluster.local", ("llm", "prod", 443)),
    ],
)
def test_in_cluster_urls_name_the_service(url, expected):
    service = e2e.parse_in_cluster_url(url)
    assert service is not None
    assert (service.name, service.namespace, service.port) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://a1b2.elb.us-east-1.amazonaws.com:8000",
        "http://203.0.113.7:8000",
        "http://svc.cluster.local:8000",
        "http://llm.svc.cluster.local:8000",
        "not a url",
    ],
)
def test_other_urls_are_not_in_cluster(url):
    assert e2e.parse_in_cluster_url(url) is None


# --- readiness -----------------------------------------------------------------------------------


def test_readiness_polls_until_200_and_returns_the_first_model():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [(503, "not ready"), (503, "not ready"), (200, MODELS)]})
    model = e2e.wait_until_ready(
        "http://127.0.0.1:18000",
        {"Authorization": "Bearer k"},
        timeout_s=600,
        http_get=http.get,
        clock=clock,
        sleep=clock.sleep,
        log=log.append,
    )
    assert model == "smollm2-135m-instruct"
    assert [r[1] for r in http.requests] == ["http://127.0.0.1:18000/v1/models"] * 3
    assert http.requests[0][3] == {"Authorization": "Bearer k"}
    assert clock.sleeps == [e2e.POLL_INTERVAL_S] * 2
    assert log[0] == "waiting for http://127.0.0.1:18000/v1/models: 0 s elapsed, last: 503"
    assert log[1].endswith(f"{e2e.POLL_INTERVAL_S:.0f} s elapsed, last: 503")
    assert log[2].startswith("ready after 20 s")


def test_readiness_times_out_with_the_last_status():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [ConnectionRefusedError(111, "Connection refused"), (503, "loading")]})
    with pytest.raises(e2e.StepFailed) as failure:
        e2e.wait_until_ready(
            "http://x", {}, timeout_s=95, http_get=http.get, clock=clock, sleep=clock.sleep, log=log.append
        )
    assert failure.value.step == "wait for the endpoint"
    assert "did not answer 200 within" in failure.value.detail and "(last: 503)" in failure.value.detail
    assert "unreachable" in log[0] and "Connection refused" in log[0]
    assert sum(clock.sleeps) == 95  # bounded: never sleeps past the timeout
    assert len(http.requests) == 11


def test_readiness_stops_at_once_on_a_wrong_api_key():
    clock = FakeClock()
    http = FakeHttp({"/v1/models": [(401, '{"error": {"code": "invalid_api_key"}}')]})
    with pytest.raises(e2e.StepFailed, match="API key") as failure:
        e2e.wait_until_ready(
            "http://x", {}, timeout_s=600, http_get=http.get, clock=clock, sleep=clock.sleep, log=lambda line: None
        )
    assert failure.value.step == "wait for the endpoint"
    assert clock.sleeps == []


def test_readiness_waits_for_a_listed_model():
    clock = FakeClock()
    http = FakeHttp({"/v1/models": [(200, '{"data": []}'), (200, MODELS)]})
    assert (
        e2e.wait_until_ready(
            "http://x", {}, timeout_s=600, http_get=http.get, clock=clock, sleep=clock.sleep, log=lambda line: None
        )
        == "smollm2-135m-instruct"
    )


# --- the completion ------------------------------------------------------------------------------


def ask(http: FakeHttp, clock: FakeClock | None = None, deadline: float = 0.0) -> str:
    clock = clock or FakeClock()
    return e2e.complete(
        "http://x",
        "m",
        {"Authorization": "Bearer k"},
        deadline=deadline,
        http_post=http.post,
        clock=clock,
        sleep=clock.sleep,
        log=lambda line: None,
    )


def test_the_completion_sends_one_small_request_and_returns_its_text():
    http = FakeHttp({"/v1/completions": [(200, completion(" there! How can I"))]})
    assert ask(http) == " there! How can I"
    assert http.requests == [
        (
            "POST",
            "http://x/v1/completions",
            {"model": "m", "prompt": "Hello", "max_tokens": 8},
            {"Authorization": "Bearer k"},
        )
    ]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ((200, completion("")), "the completion's text is empty"),
        ((200, '{"choices": []}'), "not a completion"),
        ((200, "<html>"), "not a completion"),
        ((500, '{"error": "boom"}'), "answered 500"),
        (ConnectionResetError(104, "reset"), "no answer"),
    ],
)
def test_a_bad_completion_fails_naming_the_step(answer, detail):
    with pytest.raises(e2e.StepFailed, match=detail) as failure:
        ask(FakeHttp({"/v1/completions": [answer]}))
    assert failure.value.step == "completion"
    assert str(failure.value).startswith("completion: ")


def test_the_completion_retries_503_until_the_deadline():
    clock = FakeClock()
    http = FakeHttp({"/v1/completions": [(503, "warming up"), (200, completion("Hi"))]})
    assert ask(http, clock, deadline=clock.now + 60) == "Hi"
    with pytest.raises(e2e.StepFailed, match="answered 503"):
        ask(FakeHttp({"/v1/completions": [(503, "warming up")]}), clock, deadline=clock.now + 25)


# --- port-forward --------------------------------------------------------------------------------


def test_port_forward_runs_kubectl_with_a_private_kubeconfig_and_cleans_up():
    clock, log, started = FakeClock(), [], []
    http = FakeHttp({"/v1/models": [(200, MODELS)]})

    def popen(command, **kwargs):
        kubeconfig = Path(command[2])
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        assert kubeconfig.read_text() == "apiVersion: v1\nkind: Config\n"
        started.append(FakeProcess(command))
        return started[-1]

    seams = make_seams(http, clock, log, popen)
    outputs = {"endpoint": ENDPOINT, "kubeconfig": "apiVersion: v1\nkind: Config\n"}
    with e2e.reachable_endpoint(ENDPOINT, outputs, port_forward=True, seams=seams) as (url, get, _post):
        assert url == "http://127.0.0.1:18000"
        assert get(f"{url}/v1/models", {}, 5) == (200, MODELS)
        kubeconfig = Path(started[0].command[2])
    assert started[0].command[3:] == [
        "--namespace",
        "shardstack",
        "port-forward",
        "service/inference-api",
        "18000:8000",
    ]
    assert started[0].command[:2] == ["kubectl", "--kubeconfig"]
    assert started[0].terminated
    assert not kubeconfig.exists()


def test_port_forward_starts_kubectl_again_after_it_exited():
    clock, log, started = FakeClock(), [], []

    def popen(command, **kwargs):
        started.append(FakeProcess(command))
        return started[-1]

    seams = make_seams(FakeHttp({"/v1/models": [(503, "")]}), clock, log, popen)
    with e2e.reachable_endpoint(ENDPOINT, {"kubeconfig": "{}"}, port_forward=True, seams=seams) as (url, get, _):
        get(f"{url}/v1/models", {}, 5)
        get(f"{url}/v1/models", {}, 5)
        assert len(started) == 1
        started[0].returncode = 1  # its pod restarted
        get(f"{url}/v1/models", {}, 5)
    assert len(started) == 2
    assert "kubectl port-forward exited (1); starting it again" in log


def test_an_in_cluster_endpoint_without_port_forward_says_it_is_unreachable():
    seams = make_seams(FakeHttp({}), FakeClock(), [])
    unreachable = r"in-cluster address, not reachable from here.*--port-forward"
    with (
        pytest.raises(e2e.StepFailed, match=unreachable) as failure,
        e2e.reachable_endpoint(ENDPOINT, {}, port_forward=False, seams=seams),
    ):
        pass
    assert failure.value.step == "endpoint"
    with (
        pytest.raises(e2e.StepFailed, match="no `kubeconfig` output"),
        e2e.reachable_endpoint(ENDPOINT, {}, port_forward=True, seams=seams),
    ):
        pass


def test_a_public_endpoint_is_used_directly():
    seams = make_seams(FakeHttp({}), FakeClock(), [])
    with e2e.reachable_endpoint("http://a1b2.elb.amazonaws.com:8000/", {}, port_forward=True, seams=seams) as (
        url,
        get,
        post,
    ):
        assert url == "http://a1b2.elb.amazonaws.com:8000"
        assert (get, post) == (seams.http_get, seams.http_post)


# --- the whole sequence with a fake stack --------------------------------------------------------


def public_outputs(**extra) -> dict:
    return {"endpoint": "http://a1b2.elb.amazonaws.com:8000", **extra}


def test_up_wait_complete_destroy():
    clock, log = FakeClock(), []
    http = FakeHttp({"/v1/models": [(503, ""), (200, MODELS)], "/v1/completions": [(200, completion(" world"))]})
    stack = FakeStack(public_outputs(api_key="sk-e2e"))
    assert e2e.run_stack(args(), lambda name: stack, make_seams(http, clock, log)) == " world"
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
    e2e.run_stack(args(), lambda name: FakeStack(outputs), make_seams(http, FakeClock(), log, push_weights=push))
    assert pushed == [BUCKET + "demo/smollm2-135m-instruct/"]
    # A model somewhere else is the user's: nothing is pushed (make_seams fails on a push).
    elsewhere = public_outputs(bucket_uri=BUCKET, model_uri="s3://team-models/llama/")
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("!"))]})
    e2e.run_stack(args(), lambda name: FakeStack(elsewhere), make_seams(http, FakeClock(), []))


def test_a_failed_push_names_the_step_and_still_destroys():
    def push(uri):
        raise RuntimeError("AccessDenied: s3:PutObject")

    stack = FakeStack(public_outputs(bucket_uri=BUCKET, model_uri=BUCKET + "demo/"))
    with pytest.raises(e2e.StepFailed) as failure:
        e2e.run_stack(args(), lambda name: stack, make_seams(FakeHttp({}), FakeClock(), [], push_weights=push))
    assert failure.value.step == "push the weights" and "AccessDenied" in failure.value.detail
    assert stack.calls == ["up", "destroy"]


def test_no_api_key_output_sends_no_authorization():
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("!"))]})
    e2e.run_stack(args(), lambda name: FakeStack(public_outputs()), make_seams(http, FakeClock(), []))
    assert all(request[3] == {} for request in http.requests)


def test_a_failure_destroys_the_stack_and_names_the_step(capsys):
    log = []
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion(""))]})
    stack = FakeStack(public_outputs())
    with pytest.raises(e2e.StepFailed) as failure:
        e2e.run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), log))
    assert failure.value.step == "completion"
    assert stack.calls == ["up", "destroy"]
    assert "== destroy: aws-dev, after the failure in step 'completion', so that nothing stays up" in log


def test_a_failed_up_is_destroyed_too():
    stack = FakeStack({}, up_error=RuntimeError("error: creating EKS Cluster: AccessDenied"))
    with pytest.raises(e2e.StepFailed, match="AccessDenied") as failure:
        e2e.run_stack(args(), lambda name: stack, make_seams(FakeHttp({}), FakeClock(), []))
    assert failure.value.step == "up"
    assert stack.calls == ["up", "destroy"]


def test_keep_skips_destroy():
    log = []
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("x"))]})
    stack = FakeStack(public_outputs())
    e2e.run_stack(args(keep=True), lambda name: stack, make_seams(http, FakeClock(), log))
    assert stack.calls == ["up"]
    assert any(line.startswith("--keep: aws-dev stays up") and "pulumi destroy -s aws-dev" in line for line in log)


def test_a_failed_destroy_is_a_failure_after_success_and_a_note_after_a_failure(capsys):
    http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion("x"))]})
    stack = FakeStack(public_outputs(), destroy_error=RuntimeError("DependencyViolation"))
    with pytest.raises(e2e.StepFailed, match="DependencyViolation") as failure:
        e2e.run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), []))
    assert failure.value.step == "destroy"
    assert "pulumi destroy -s aws-dev" in failure.value.detail

    stack = FakeStack({}, destroy_error=RuntimeError("DependencyViolation"))
    with pytest.raises(e2e.StepFailed) as failure:
        e2e.run_stack(args(), lambda name: stack, make_seams(http, FakeClock(), []))
    assert failure.value.step == "outputs"  # the first failure is the one reported
    assert "destroy failed too: DependencyViolation" in capsys.readouterr().err


def test_main_reports_pass_and_failure_with_exit_codes(stacks, home, capsys):
    def run(answer: str) -> int:
        http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion(answer))]})
        return e2e.main(
            ["--stack", "aws-public"],
            which=ALL_TOOLS,
            environ=CLOUD_ENV["aws"],
            home=home,
            stacks_dir=stacks,
            select_stack=lambda name: FakeStack(public_outputs()),
            seams=make_seams(http, FakeClock(), []),
        )

    assert run(" there") == 0
    assert "passed: aws-public answered 'Hello' with ' there'" in capsys.readouterr().out
    assert run("") == 1
    assert "FAILED in step 'completion': " in capsys.readouterr().err
