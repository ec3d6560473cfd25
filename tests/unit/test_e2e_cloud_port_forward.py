"""How scripts/e2e_cloud.py reaches a stack's API, with a fake kubectl: which endpoint URLs are in-cluster,
and the port-forward to them (its private kubeconfig, restarts and clean-up)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud_fakes import MODELS, FakeClock, FakeHttp, FakeProcess, make_seams  # noqa: E402
from e2e_cloud_outcomes import StepFailed  # noqa: E402
from e2e_cloud_port_forward import parse_in_cluster_url, reachable_endpoint  # noqa: E402

ENDPOINT = "http://inference-api.shardstack.svc.cluster.local:8000"


# --- endpoint URLs --------------------------------------------------------------------------------


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
    service = parse_in_cluster_url(url)
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
    assert parse_in_cluster_url(url) is None


# --- port-forward ---------------------------------------------------------------------------------


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
    with reachable_endpoint(ENDPOINT, outputs, port_forward=True, seams=seams) as (url, get, _post):
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
    with reachable_endpoint(ENDPOINT, {"kubeconfig": "{}"}, port_forward=True, seams=seams) as (url, get, _):
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
        pytest.raises(StepFailed, match=unreachable) as failure,
        reachable_endpoint(ENDPOINT, {}, port_forward=False, seams=seams),
    ):
        pass
    assert failure.value.step == "endpoint"
    with (
        pytest.raises(StepFailed, match="no `kubeconfig` output"),
        reachable_endpoint(ENDPOINT, {}, port_forward=True, seams=seams),
    ):
        pass


def test_a_public_endpoint_is_used_directly():
    seams = make_seams(FakeHttp({}), FakeClock(), [])
    with reachable_endpoint("http://a1b2.elb.amazonaws.com:8000/", {}, port_forward=True, seams=seams) as (
        url,
        get,
        post,
    ):
        assert url == "http://a1b2.elb.amazonaws.com:8000"
        assert (get, post) == (seams.http_get, seams.http_post)
