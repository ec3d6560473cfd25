"""The Kubernetes side of a cloud's managed Prometheus, component by component: ``prometheus.api`` picks the scrape
and rule kinds its collector reads, ``monitoring_cidrs`` opens the metrics ports to a scraper that is no pod,
``autoscaling.prometheus_identity`` signs KEDA's queries, and GroupAutoscaling gives KEDA an Azure identity."""

from __future__ import annotations

from typing import Any

import pytest
from sharded_inference_parts import BASE, INSTANCE_SELECTOR, render

from shardstack.k8s import (
    GpuEnablement,
    GroupAutoscaling,
    validate_gpu_enablement_args,
    validate_group_autoscaling_args,
    validate_sharded_inference_args,
)
from shardstack.k8s.monitoring_specs import AZURE_API, GOOGLE_API
from shardstack.testing import run_program

GMP = "kubernetes:monitoring.googleapis.com/v1"
AZMON = "kubernetes:azmonitoring.coreos.com/v1"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTH = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
COLLECTORS = {"kubernetes.io/metadata.name": "gmp-system"}
SCALED = {"mode": "leaderworkerset", "autoscaling": {"max_groups": 3, "prometheus_url": "https://prometheus.example"}}


def test_gke_reads_a_pod_monitoring_of_the_ranks_namespace_and_its_rules() -> None:
    graph = render(prometheus={"api": GOOGLE_API}, monitoring_namespace_selector=COLLECTORS)
    monitoring = graph.one(f"{GMP}:PodMonitoring").inputs
    assert monitoring["metadata"]["namespace"] == "shardstack"  # a PodMonitoring selects its own namespace's pods
    assert monitoring["spec"]["selector"] == {"matchLabels": INSTANCE_SELECTOR}
    assert monitoring["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    (group,) = graph.one(f"{GMP}:Rules").inputs["spec"]["groups"]
    assert "ShardstackRankNotReady" in {rule["alert"] for rule in group["rules"]}
    assert not [r for r in graph.resources if "coreos" in r.type]


def test_aks_reads_a_pod_monitor_of_its_own_group_and_no_rule_object() -> None:
    graph = render(prometheus={"api": AZURE_API, "alerts": False}, monitoring_namespace_selector=COLLECTORS)
    monitor = graph.one(f"{AZMON}:PodMonitor").inputs["spec"]
    assert monitor["podMetricsEndpoints"][0]["port"] == "metrics"
    assert [r.type for r in graph.resources if "monitoring" in r.type] == [f"{AZMON}:PodMonitor"]


def test_an_azure_monitor_scrape_that_asks_for_alert_objects_is_refused() -> None:
    problems = validate_sharded_inference_args(
        {**BASE, "prometheus": {"api": AZURE_API}, "monitoring_namespace_selector": COLLECTORS}
    )
    assert [p for p in problems if p.startswith("prometheus.alerts=True is True with api 'azmonitoring.coreos.com'")]
    assert validate_gpu_enablement_args(
        {"dcgm_exporter": True, "prometheus": {"api": AZURE_API}, "monitoring_namespace_selector": COLLECTORS}
    )


def test_a_scraper_outside_the_pods_reaches_only_the_metrics_port_from_its_blocks() -> None:
    graph = render(monitoring_cidrs=["10.0.0.0/16"])
    (policy,) = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == "llm-metrics"]
    (ingress,) = policy.inputs["spec"]["ingress"]
    assert ingress["from"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    assert [p["port"] for p in ingress["ports"]] == [9090]
    gpu = run_program(lambda: GpuEnablement("gpu", {"dcgm_exporter": True, "monitoring_cidrs": ["10.0.0.0/16"]}))
    (dcgm,) = [r for r in gpu.of_type(NETPOL) if r.inputs["metadata"]["name"] == "gpu-dcgm-metrics"]
    assert dcgm.inputs["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    assert validate_sharded_inference_args({**BASE, "monitoring_cidrs": ["10.0.0.0/33"]})


@pytest.mark.parametrize(
    ("identity", "signed"),
    [
        (
            {"prometheus_identity": "aws", "aws_region": "eu-west-1"},
            {"awsRegion": "eu-west-1", "identityOwner": "operator"},
        ),
        ({"prometheus_identity": "gcp"}, {}),
        ({"prometheus_identity": "azure-workload"}, {}),
    ],
)
def test_keda_signs_every_prometheus_query_as_the_named_identity(
    identity: dict[str, Any], signed: dict[str, str]
) -> None:
    graph = render(**{**SCALED, "autoscaling": {**SCALED["autoscaling"], **identity}})
    auth = graph.one(TRIGGER_AUTH)
    assert auth.inputs["spec"] == {"podIdentity": {"provider": identity["prometheus_identity"]}}
    # KEDA resolves the authentication when it reads the ScaledObject: it must exist first.
    scaled_object = graph.one(SCALED_OBJECT)
    assert auth.urn in scaled_object.dependencies
    for trigger in scaled_object.inputs["spec"]["triggers"]:
        assert trigger["authenticationRef"] == {"name": "llm-prometheus"}
        assert {k: trigger["metadata"][k] for k in signed} == signed


def test_unsigned_queries_get_no_authentication() -> None:
    graph = render(**SCALED)
    assert not graph.of_type(TRIGGER_AUTH)
    assert all("authenticationRef" not in t for t in graph.one(SCALED_OBJECT).inputs["spec"]["triggers"])


@pytest.mark.parametrize(
    ("autoscaling", "expected"),
    [
        ({"prometheus_identity": "aws"}, "autoscaling.aws_region is required with prometheus_identity 'aws'"),
        ({"prometheus_identity": "gcp", "aws_region": "us-east-1"}, "autoscaling.aws_region='us-east-1' only applies"),
        (
            {"prometheus_identity": "aws", "aws_region": "US East"},
            "autoscaling.aws_region='US East' is not an AWS region",
        ),
        ({"prometheus_identity": "oidc"}, "autoscaling.prometheus_identity='oidc' must be one of"),
    ],
)
def test_an_identity_without_what_it_needs_is_refused(autoscaling: dict[str, Any], expected: str) -> None:
    problems = validate_sharded_inference_args(
        {**BASE, **SCALED, "autoscaling": {**SCALED["autoscaling"], **autoscaling}}
    )
    assert any(p.startswith(expected) for p in problems), problems


def test_keda_gets_the_azure_workload_identity_it_is_given() -> None:
    identity = {"keda_azure_client_id": "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "keda_azure_tenant_id": "11111111-1111-1111-1111-111111111111"}  # fmt: skip
    graph = run_program(lambda: GroupAutoscaling("autoscaling", identity))  # type: ignore[arg-type]
    (keda,) = [r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "keda"]
    assert keda.inputs["values"] == {
        "podIdentity": {
            "azureWorkload": {"enabled": True, "clientId": identity["keda_azure_client_id"],
                              "tenantId": identity["keda_azure_tenant_id"]}
        }
    }  # fmt: skip
    assert validate_group_autoscaling_args({"keda_azure_client_id": identity["keda_azure_client_id"]}) == [
        "keda_azure_tenant_id is required with keda_azure_client_id: Azure Workload Identity needs both"
    ]
    assert validate_group_autoscaling_args({**identity, "keda": False})[0].startswith("keda_azure_client_id=")
    assert validate_group_autoscaling_args({**identity, "keda_azure_tenant_id": "tenant"})[0].startswith(
        "keda_azure_tenant_id='tenant' is not a GUID"
    )
