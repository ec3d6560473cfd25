#!/usr/bin/env python3
"""Deploy a cloud stack for real, wait for its API, ask it one completion, destroy it (opt-in, costs money).

    .venv/bin/python scripts/e2e_cloud.py --stack aws-dev
    .venv/bin/python scripts/e2e_cloud.py --stack aws-dev --timeout-min 90 --keep

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

It is opt-in: without the Pulumi CLI, a Pulumi backend login or credentials for the stack's cloud (the
stack's name starts with it: aws-*, gcp-*, azure-*) it prints "skipped: <what is missing>" and exits 0.
Exit codes: 0 passed or skipped; 1 a step failed (it is named); 2 bad usage (unknown stack, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[1]
STACKS_DIR = REPO / "stacks"

DEFAULT_TIMEOUT_MIN = 60
POLL_INTERVAL_S = 10.0
GET_TIMEOUT_S = 10.0
# The first request to a freshly loaded model may be slow: the pipeline's first pass over every rank.
COMPLETION_TIMEOUT_S = 300.0
PORT_FORWARD_START_S = 30.0
PROMPT = "Hello"
MAX_TOKENS = 8
OUTPUT_TAIL_CHARS = 3000

EXIT_PASSED_OR_SKIPPED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Setting:
    """A provider setting: a key of the stack's config, or one of the environment variables the provider reads."""

    what: str
    config_key: str
    env: tuple[str, ...]


@dataclass(frozen=True)
class CloudAccess:
    """How to tell, without calling the cloud, that credentials for it are present."""

    env: tuple[tuple[str, ...], ...]
    """Any one group of environment variables, every variable of the group set (non-empty)."""
    files: tuple[str, ...]
    """Or any of these paths under the home directory."""
    kubeconfig_tools: tuple[str, ...] = ()
    """Commands the stack's kubeconfig runs to get a token (needed on PATH for --port-forward)."""
    settings: tuple[Setting, ...] = ()
    """Provider settings `pulumi up` cannot do without, each from the stack's config or the environment."""


# The one cloud-specific table: a new cloud is a new row.
CLOUDS: dict[str, CloudAccess] = {
    "aws": CloudAccess(
        env=(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ("AWS_PROFILE",), ("AWS_WEB_IDENTITY_TOKEN_FILE",)),
        files=(".aws/credentials",),
        kubeconfig_tools=("aws",),  # the EKS kubeconfig runs `aws eks get-token`
    ),
    "gcp": CloudAccess(
        # GOOGLE_CREDENTIALS: what the Pulumi gcp provider reads besides Application Default Credentials.
        env=(("GOOGLE_APPLICATION_CREDENTIALS",), ("GOOGLE_CREDENTIALS",)),
        files=(".config/gcloud/application_default_credentials.json",),
        kubeconfig_tools=("gke-gcloud-auth-plugin",),  # the GKE kubeconfig's exec credential plugin
        # The stacks name no project (it is yours): the provider reads gcp:project or these variables.
        settings=(
            Setting(
                "the GCP project",
                "gcp:project",
                ("GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
            ),
        ),
    ),
    "azure": CloudAccess(
        # ARM_*: the names the Pulumi azure-native provider reads for a service principal.
        env=(("AZURE_CLIENT_ID", "AZURE_TENANT_ID"), ("ARM_CLIENT_ID", "ARM_TENANT_ID")),
        files=(".azure",),  # `az login`
        # The AKS kubeconfig runs `kubelogin get-token --login azurecli`, which asks the Azure CLI for a token.
        kubeconfig_tools=("kubelogin", "az"),
    ),
}


class Skipped(Exception):
    """A precondition of this opt-in test is missing: report it and exit 0."""


class UsageError(Exception):
    """The command line asks for something that cannot work: exit 2."""


class StepFailed(Exception):
    """One step of the run failed: exit 1, naming the step."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step, self.detail = step, detail


# --- preconditions -------------------------------------------------------------------------------


def available_stacks(stacks_dir: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def check_stack(stack: str, stacks_dir: Path) -> str:
    """Return the stack's cloud; raise UsageError when the stack file or the cloud is wrong."""
    stack_file = stacks_dir / f"Pulumi.{stack}.yaml"
    stacks = available_stacks(stacks_dir)
    if not stack_file.is_file():
        raise UsageError(f"no stack file {stack_file}; the stacks are: {', '.join(stacks) or 'none'}")
    cloud = stack.split("-", 1)[0]
    if cloud not in CLOUDS:
        cloud_stacks = [s for s in stacks if s.split("-", 1)[0] in CLOUDS]
        prefixes = ", ".join(f"{c}-" for c in CLOUDS)
        raise UsageError(
            f"stack {stack!r} is not a cloud stack: its name must start with one of {prefixes}; "
            f"the cloud stacks are: {', '.join(cloud_stacks) or 'none'}"
        )
    return cloud


def stack_config(stack: str, stacks_dir: Path) -> dict[str, Any]:
    """The ``config`` block of the stack's file."""
    config = (yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    return config if isinstance(config, dict) else {}


def needs_port_forward(stack: str, stacks_dir: Path, *, asked: bool) -> bool:
    """Whether to reach the API through `kubectl port-forward`: when asked, or when the stack keeps it private.

    Decided from the stack file before `pulumi up`, so that a missing kubectl skips the test before it costs.
    """
    serving = stack_config(stack, stacks_dir).get("shardstack:serving") or {}
    return asked or not (isinstance(serving, dict) and serving.get("public") is True)


def check_preconditions(
    cloud: str,
    *,
    port_forward: bool,
    which: Callable[[str], str | None],
    environ: Mapping[str, str],
    home: Path,
    config: Mapping[str, Any] | None = None,
) -> None:
    """Raise Skipped naming the first missing tool or credential; return when all are there."""
    if which("pulumi") is None:
        raise Skipped("the Pulumi CLI is not on PATH (install it: https://www.pulumi.com/docs/install/)")
    pulumi_home = Path(environ.get("PULUMI_HOME") or home / ".pulumi")
    if not (
        _set(environ, "PULUMI_ACCESS_TOKEN")
        or _set(environ, "PULUMI_BACKEND_URL")
        or (pulumi_home / "credentials.json").is_file()
    ):
        raise Skipped(
            "not logged in to a Pulumi backend: run `pulumi login` (or `pulumi login --local`), "
            "or set PULUMI_ACCESS_TOKEN or PULUMI_BACKEND_URL"
        )
    access = CLOUDS[cloud]
    has_env = any(all(_set(environ, name) for name in group) for group in access.env)
    if not has_env and not any((home / path).exists() for path in access.files):
        ways = [" and ".join(group) for group in access.env] + [f"create ~/{path}" for path in access.files]
        raise Skipped(f"no {cloud} credentials: set {' or '.join(ways)}")
    for setting in access.settings:
        if not (config or {}).get(setting.config_key) and not any(_set(environ, name) for name in setting.env):
            raise Skipped(
                f"{setting.what} is not set: run `pulumi config set {setting.config_key} <value> -s "
                f"<stack>` or set {' or '.join(setting.env)}"
            )
    if port_forward:
        for tool in ("kubectl", *access.kubeconfig_tools):
            if which(tool) is None:
                raise Skipped(f"--port-forward needs `{tool}` on PATH")


def _set(environ: Mapping[str, str], name: str) -> bool:
    return bool(environ.get(name))


# --- talking to the API --------------------------------------------------------------------------

HttpGet = Callable[[str, Mapping[str, str], float], tuple[int, str]]
HttpPost = Callable[[str, Mapping[str, Any], Mapping[str, str], float], tuple[int, str]]


def http_get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    """Return (status, body); raise OSError when nothing answers."""
    return _send(urllib.request.Request(url, headers=dict(headers)), timeout_s)


def http_post(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
    """POST ``body`` as JSON; return (status, body); raise OSError when nothing answers."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    return _send(request, timeout_s)


def _send(request: urllib.request.Request, timeout_s: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode(errors="replace")


def wait_until_ready(
    base_url: str,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
    http_get: HttpGet,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    interval_s: float = POLL_INTERVAL_S,
) -> str:
    """Poll GET <base_url>/v1/models until it answers 200 with a model; return the first model's id."""
    url = f"{base_url}/v1/models"
    started = clock()
    while True:
        try:
            status, body = http_get(url, headers, GET_TIMEOUT_S)
        except (OSError, http.client.HTTPException) as error:
            last = f"unreachable ({error})"
        else:
            if status == 200 and (model := _first_model(body)):
                log(f"ready after {clock() - started:.0f} s: {url} lists {model!r}")
                return model
            if status in (401, 403):
                raise StepFailed(
                    "wait for the endpoint",
                    f"{url} answered {status}: the API key (stack output api_key) is missing or wrong",
                )
            last = f"{status}" if status != 200 else "200 without a model listed"
        elapsed = clock() - started
        if elapsed >= timeout_s:
            raise StepFailed(
                "wait for the endpoint", f"{url} did not answer 200 within {timeout_s:.0f} s (last: {last})"
            )
        log(f"waiting for {url}: {elapsed:.0f} s elapsed, last: {last}")
        sleep(min(interval_s, timeout_s - elapsed))


def _first_model(body: str) -> str | None:
    try:
        models = json.loads(body).get("data") or []
        return str(models[0]["id"]) if models else None
    except (ValueError, AttributeError, LookupError, TypeError):
        return None


def complete(
    base_url: str,
    model: str,
    headers: Mapping[str, str],
    *,
    deadline: float,
    http_post: HttpPost,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    interval_s: float = POLL_INTERVAL_S,
) -> str:
    """Ask one completion; return its text, or raise StepFailed("completion") if it is not a non-empty text.

    A 503 ("not ready yet", e.g. a port-forwarded pod still warming up) is retried until ``deadline``.
    """
    url = f"{base_url}/v1/completions"
    request = {"model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS}
    while True:
        try:
            status, body = http_post(url, request, headers, COMPLETION_TIMEOUT_S)
        except (OSError, http.client.HTTPException) as error:
            raise StepFailed("completion", f"POST {url}: no answer ({error})") from error
        if status != 503 or clock() >= deadline:
            break
        log(f"completion: 503 (not ready yet), retrying in {interval_s:g} s")
        sleep(interval_s)
    if status != 200:
        raise StepFailed("completion", f"POST {url} answered {status}: {body[:500]}")
    try:
        text = json.loads(body)["choices"][0]["text"]
    except (ValueError, LookupError, TypeError):
        raise StepFailed("completion", f"POST {url}: not a completion: {body[:500]}") from None
    if not isinstance(text, str) or not text:
        raise StepFailed("completion", f"POST {url}: the completion's text is empty: {body[:500]}")
    return text


# --- reaching an in-cluster endpoint -------------------------------------------------------------


@dataclass(frozen=True)
class InClusterService:
    """A Service named by an in-cluster URL."""

    name: str
    namespace: str
    port: int


def parse_in_cluster_url(url: str) -> InClusterService | None:
    """Return the Service of ``http://<service>.<namespace>.svc[.cluster.local][:<port>]``, else None."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    if len(labels) not in (3, 5) or labels[2:] not in (["svc"], ["svc", "cluster", "local"]):
        return None
    if not all(labels[:2]):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return InClusterService(name=labels[0], namespace=labels[1], port=port)


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def push_demo_weights(model_uri: str) -> None:
    """Put the demo model (SmolLM2, from the runtime's package) at ``model_uri``, with its manifest."""
    from shardstack_runtime.demo_model import prepare_demo_model
    from shardstack_runtime.weights_cli import push_checkpoint

    push_checkpoint(str(prepare_demo_model()), model_uri, progress=True)


@dataclass
class Seams:
    """Everything the run does outside this process; the tests replace them."""

    http_get: HttpGet = http_get
    http_post: HttpPost = http_post
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    popen: Callable[..., Any] = subprocess.Popen
    port_open: Callable[[int], bool] = port_open
    free_local_port: Callable[[], int] = free_local_port
    push_weights: Callable[[str], None] = push_demo_weights
    log: Callable[[str], None] = print


class PortForward:
    """`kubectl port-forward` to an in-cluster Service, started again whenever it has exited.

    kubectl forwards to one pod of the Service; when that pod restarts (or was not running yet), kubectl
    exits, and the next request starts it again.
    """

    def __init__(self, kubeconfig_path: str, service: InClusterService, seams: Seams) -> None:
        self.service, self.seams = service, seams
        self.local_port = seams.free_local_port()
        self.command = [
            "kubectl",
            "--kubeconfig",
            kubeconfig_path,
            "--namespace",
            service.namespace,
            "port-forward",
            f"service/{service.name}",
            f"{self.local_port}:{service.port}",
        ]
        self.process: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def ensure_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            self.seams.log(f"kubectl port-forward exited ({self.process.returncode}); starting it again")
        # stdout only says "Handling connection for ..." per request; errors (stderr) still show.
        self.process = self.seams.popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        started = self.seams.clock()
        while not self.seams.port_open(self.local_port) and self.process.poll() is None:
            if self.seams.clock() - started > PORT_FORWARD_START_S:
                break  # the request that follows reports the port as unreachable
            self.seams.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def reachable_endpoint(
    endpoint: str, outputs: Mapping[str, Any], *, port_forward: bool, seams: Seams
) -> Iterator[tuple[str, HttpGet, HttpPost]]:
    """Yield (base URL, http_get, http_post) that reach ``endpoint`` from here, port-forwarding if asked."""
    service = parse_in_cluster_url(endpoint)
    if service is None:
        if port_forward:
            seams.log(f"endpoint {endpoint} is not in-cluster: using it directly, no port-forward")
        yield endpoint.rstrip("/"), seams.http_get, seams.http_post
        return
    if not port_forward:
        raise StepFailed(
            "endpoint",
            f"{endpoint} is an in-cluster address, not reachable from here: "
            "rerun with --port-forward, or serve publicly (shardstack:serving.public)",
        )
    kubeconfig = outputs.get("kubeconfig")
    if not kubeconfig:
        raise StepFailed("port-forward", "the stack has no `kubeconfig` output to reach the cluster with")
    # mkstemp creates the file readable by this user only (0600): a kubeconfig may carry credentials.
    fd, path = tempfile.mkstemp(prefix="shardstack-kubeconfig-", suffix=".yaml")
    forward = PortForward(path, service, seams)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(kubeconfig if isinstance(kubeconfig, str) else json.dumps(kubeconfig))
        seams.log(f"port-forward: {endpoint} -> {forward.base_url} ({' '.join(forward.command[3:])})")

        def get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
            forward.ensure_running()
            return seams.http_get(url, headers, timeout_s)

        def post(url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> tuple[int, str]:
            forward.ensure_running()
            return seams.http_post(url, body, headers, timeout_s)

        yield forward.base_url, get, post
    finally:
        forward.stop()
        Path(path).unlink(missing_ok=True)


# --- the run -------------------------------------------------------------------------------------


def exercise(stack: Any, args: argparse.Namespace, seams: Seams) -> str:
    """Up, wait until the endpoint is ready, ask one completion; return the completion's text."""
    seams.log(f"== up: {args.stack}")
    try:
        result = stack.up(on_output=seams.log)
    except Exception as error:
        raise StepFailed("up", _tail(str(error))) from error
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
            raise StepFailed("push the weights", _tail(str(error))) from error
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
        raise StepFailed("select the stack", _tail(str(error))) from error
    failure: BaseException | None = None
    try:
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
        detail = f"{_tail(str(error))}\nits resources may still exist (and cost money): run {again}"
        if failure is None:
            raise StepFailed("destroy", detail) from error
        print(f"destroy failed too: {detail}", file=sys.stderr)


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_TAIL_CHARS else "…" + text[-OUTPUT_TAIL_CHARS:]


def select_pulumi_stack(stack: str) -> Any:
    from pulumi import automation as auto

    # Pulumi.yaml at the repository root: main infra/, the stacks' config in stacks/ (stackConfigDir).
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(REPO))


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
        # Missing tools or credentials first: where they are missing, this opt-in test is skipped, not misused.
        args.port_forward = needs_port_forward(args.stack, stacks_dir, asked=args.port_forward)
        check_preconditions(
            cloud,
            port_forward=args.port_forward,
            which=which,
            environ=environ,
            home=home or Path.home(),
            config=stack_config(args.stack, stacks_dir),
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
