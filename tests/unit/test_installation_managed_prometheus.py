"""``monitoring.managed_prometheus``: every cloud installation sends the ranks' (and the GPUs') metrics, alerts and
autoscaling queries to that cloud's managed Prometheus instead of an in-cluster one, with KEDA querying it as a
workload identity of its own, allowed to read and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from installation_parts import refused_installation, render_installation

from shardstack.aws import AwsInstallation
from shardstack.azure import AzureInstallation
from shardstack.gcp import GcpInstallation
from shardstack.k8s import charts
from shardstack.local.installation import validate_local_installation_args
from shardstack.offline.fakes.aws import MOCK_AWS_REGION
from shardstack.testing import Graph

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
CLOUDS: dict[str, tuple[Any, dict[str, Any]]] = {
    "aws": (AwsInstallation, {}),
    "gcp": (GcpInstallation, {"region": "us-central1", "gpu_enablement": {"dcgm_exporter": True}}),
    "azure": (AzureInstallation, {"location": "eastus"}),
}
RELEASE = "kubernetes:helm.sh/v3:Release"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTH = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
EXPECTED_IDENTITY = {"aws": "aws", "gcp": "gcp", "azure": "azure-workload"}
RANK_ALERTS = {"ShardstackGroupLostRank", "ShardstackRankNotReady", "ShardstackQueueGrowing",
               "ShardstackTimeToFirstTokenOverSLO"}  # fmt: skip
GPU_ALERTS = {"ShardstackGpuMemoryNearFull", "ShardstackGpuXidError"}


def args(cloud: str, *, autoscaled: bool = True, **overrides: Any) -> dict[str, Any]:
    inference: dict[str, Any] = {"image": IMAGE, "shards": 2, "mode": "leaderworkerset"}
    if autoscaled:
        inference["autoscaling"] = {"max_groups": 2}
    return {**CLOUDS[cloud][1], "gpu_pools": [{"name": "t4", "gpu": "t4", "max_nodes": 4}], "inference": inference,
            "model_path": "m/", "monitoring": {"managed_prometheus": True}, **overrides}  # fmt: skip


def render(cloud: str, **overrides: Any) -> Graph:
    return render_installation(CLOUDS[cloud][0], "llm", args(cloud, **overrides))


@pytest.fixture(scope="module", params=list(CLOUDS))
def planned(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, render(request.param)


def _kinds(graph: Graph) -> set[str]:
    return {r.type.removeprefix("kubernetes:") for r in graph.resources if r.type.startswith("kubernetes:")}


def test_no_in_cluster_prometheus_or_grafana_runs(planned: tuple[str, Graph]) -> None:
    cloud, graph = planned
    assert charts.KUBE_PROMETHEUS_STACK.name not in {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    assert not any("grafana_dashboard" in (r.inputs["metadata"].get("labels") or {}) for r in graph.of_type(CONFIG_MAP))
    assert not {k for k in _kinds(graph) if k.startswith("monitoring.coreos.com/")}, cloud


def test_keda_queries_the_clouds_prometheus_as_its_own_pod_identity(planned: tuple[str, Graph]) -> None:
    cloud, graph = planned
    auth = graph.one(TRIGGER_AUTH)
    assert auth.inputs["spec"] == {"podIdentity": {"provider": EXPECTED_IDENTITY[cloud]}}
    triggers = [t for t in graph.one(SCALED_OBJECT).inputs["spec"]["triggers"] if t["type"] == "prometheus"]
    assert triggers and all(t["authenticationRef"] == {"name": auth.inputs["metadata"]["name"]} for t in triggers)
    servers = {t["metadata"]["serverAddress"] for t in triggers}
    assert len(servers) == 1
    (server,) = servers
    # A base URL: KEDA appends /api/v1/query itself.
    assert server.startswith("https://") and not server.endswith(("/", "/api/v1/query"))
    assert server == _query_url(cloud, graph)


def _query_url(cloud: str, graph: Graph) -> str:
    """Where each cloud's Prometheus API answers, read from what the plan made (or the provider's project)."""
    if cloud == "aws":
        return graph.one("aws:amp/workspace:Workspace").outputs["prometheusEndpoint"].rstrip("/")
    if cloud == "azure":
        return graph.one("azure-native:monitor:AzureMonitorWorkspace").outputs["metrics"]["prometheusQueryEndpoint"]
    project = graph.one("gcp:projects/iAMMember:IAMMember", "llm-keda-prometheus").inputs["project"]
    return f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"


def test_aws_scrapes_with_amps_agentless_scraper_from_the_clusters_subnets() -> None:
    graph = render("aws")
    workspace = graph.one("aws:amp/workspace:Workspace")
    scraper = graph.one("aws:amp/scraper:Scraper")
    eks = scraper.inputs["source"]["eks"]
    assert eks["clusterArn"] == graph.one("aws:eks/cluster:Cluster").outputs["arn"]
    private = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(eks["subnetIds"]) == private
    assert scraper.inputs["destination"]["amp"]["workspaceArn"] == workspace.outputs["arn"]
    config = yaml.safe_load(scraper.inputs["scrapeConfiguration"])
    assert config["global"]["scrape_interval"] == "30s"  # the scraper's floor, over the 15 s default
    ranks = {job["job_name"]: job for job in config["scrape_configs"]}["shardstack"]
    assert set(ranks["kubernetes_sd_configs"][0]["namespaces"]["names"]) == {"shardstack", "shardstack-gpu"}
    assert {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "action": "keep", "regex": "metrics"} in (
        ranks["relabel_configs"]
    )
    # The alerts the in-cluster Prometheus would run, as the workspace's rule groups.
    rules = yaml.safe_load(graph.one("aws:amp/ruleGroupNamespace:RuleGroupNamespace").inputs["data"])
    assert {r["alert"] for g in rules["groups"] for r in g["rules"]} == RANK_ALERTS | GPU_ALERTS
    # The scraper reaches the pods from the VPC: no scrape objects, and the metrics ports open to the VPC's block.
    assert not {k for k in _kinds(graph) if "monitoring" in k}
    vpc = graph.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    for policy in ("llm-metrics", "llm-gpu-dcgm-metrics"):
        (found,) = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == policy]
        assert found.inputs["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": vpc}}]
    # kube-state-metrics, which the rank alerts read, runs for the scraper; the scraper may only list pods.
    assert charts.KUBE_STATE_METRICS.name in {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    role = graph.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "llm-prometheus-scraper")
    assert role.inputs["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = graph.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "llm-prometheus-scraper")
    assert binding.inputs["subjects"] == [
        {"kind": "User", "name": "aps-collector-user", "apiGroup": "rbac.authorization.k8s.io"}
    ]


def test_aws_keda_may_query_this_workspace_and_nothing_else() -> None:
    graph = render("aws")
    association = graph.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "llm-keda-prometheus-pod-identity")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        charts.KEDA.namespace,
        charts.KEDA_OPERATOR_SERVICE_ACCOUNT,
    )
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "llm-keda-prometheus-policy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Resource"] == graph.one("aws:amp/workspace:Workspace").outputs["arn"]
    assert all(action.startswith("aps:") and ("Query" in action or "Get" in action) for action in statement["Action"])
    trigger = graph.one(SCALED_OBJECT).inputs["spec"]["triggers"][0]
    assert trigger["metadata"]["awsRegion"] == MOCK_AWS_REGION  # SigV4 for the workspace's region


def test_gcp_turns_on_gkes_managed_collection_and_its_pod_metrics() -> None:
    graph = render("gcp")
    config = graph.one("gcp:container/cluster:Cluster").inputs["monitoringConfig"]
    assert config["managedPrometheus"] == {"enabled": True}
    assert {"SYSTEM_COMPONENTS", "POD"} <= set(config["enableComponents"])
    assert _kinds(graph) >= {"monitoring.googleapis.com/v1:PodMonitoring", "monitoring.googleapis.com/v1:Rules"}
    rules = graph.one("kubernetes:monitoring.googleapis.com/v1:Rules", "llm-alerts").inputs
    assert rules["metadata"]["namespace"] == "shardstack"  # the ranks' namespace: GMP scopes Rules to their own
    gpu_rules = graph.one("kubernetes:monitoring.googleapis.com/v1:Rules", "llm-gpu-gpu-alerts").inputs
    assert {r["alert"] for g in gpu_rules["spec"]["groups"] for r in g["rules"]} == GPU_ALERTS
    # GMP's collectors run in gmp-system: the metrics NetworkPolicy admits that namespace.
    (access,) = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == "llm-metrics"]
    assert access.inputs["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}}}
    ]
    grant = graph.one("gcp:projects/iAMMember:IAMMember", "llm-keda-prometheus").inputs
    assert grant["role"] == "roles/monitoring.viewer"
    assert grant["member"].endswith(f"/subject/ns/{charts.KEDA.namespace}/sa/{charts.KEDA_OPERATOR_SERVICE_ACCOUNT}")


def test_gcp_without_managed_prometheus_leaves_the_clusters_monitoring_as_it_was() -> None:
    config = render("gcp", monitoring={}).one("gcp:container/cluster:Cluster").inputs["monitoringConfig"]
    assert config == {"enableComponents": ["SYSTEM_COMPONENTS"]}


def test_azure_sends_the_clusters_metrics_into_a_workspace_and_alerts_there() -> None:
    graph = render("azure")
    cluster = graph.one("azure-native:containerservice:ManagedCluster")
    assert cluster.inputs["azureMonitorProfile"] == {"metrics": {"enabled": True}}
    workspace = graph.one("azure-native:monitor:AzureMonitorWorkspace").id
    rule = graph.one("azure-native:monitor:DataCollectionRule").inputs
    assert rule["destinations"]["monitoringAccounts"][0]["accountResourceId"] == workspace
    assert rule["dataSources"]["prometheusForwarder"][0]["streams"] == ["Microsoft-PrometheusMetrics"]
    association = graph.one("azure-native:monitor:DataCollectionRuleAssociation").inputs
    assert association["resourceUri"] == cluster.id
    assert association["dataCollectionRuleId"] == graph.one("azure-native:monitor:DataCollectionRule").id
    groups = graph.of_type("azure-native:alertsmanagement:PrometheusRuleGroup")
    assert {r["alert"] for g in groups for r in g.inputs["rules"]} == RANK_ALERTS | GPU_ALERTS
    assert all(g.inputs["scopes"] == [workspace, cluster.id] for g in groups)
    severities = {r["alert"]: r["severity"] for g in groups for r in g.inputs["rules"]}
    assert severities["ShardstackGroupLostRank"] == 0 and severities["ShardstackRankNotReady"] == 2
    # ama-metrics reads azmonitoring PodMonitors; their alerts are the rule groups, not Kubernetes objects.
    assert {k for k in _kinds(graph) if "monitoring" in k} == {"azmonitoring.coreos.com/v1:PodMonitor"}


def test_azure_keda_reads_the_workspace_as_a_managed_identity_of_its_own() -> None:
    graph = render("azure")
    identity = graph.one("azure-native:managedidentity:UserAssignedIdentity", "llm-keda-prometheus")
    credential = graph.one(
        "azure-native:managedidentity:FederatedIdentityCredential", "llm-keda-prometheus-federation"
    ).inputs
    assert (
        credential["subject"] == f"system:serviceaccount:{charts.KEDA.namespace}:{charts.KEDA_OPERATOR_SERVICE_ACCOUNT}"
    )
    reader = graph.one("azure-native:authorization:RoleAssignment", "llm-keda-prometheus-reader").inputs
    assert reader["scope"] == graph.one("azure-native:monitor:AzureMonitorWorkspace").id
    assert reader["roleDefinitionId"].endswith("/b0d8363b-8ddd-447d-831f-62ca05bff136")  # Monitoring Data Reader
    (keda,) = [r for r in graph.of_type(RELEASE) if r.inputs["chart"] == charts.KEDA.name]
    workload = keda.inputs["values"]["podIdentity"]["azureWorkload"]
    assert workload["enabled"] is True and workload["clientId"] == identity.outputs["clientId"]


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_without_autoscaling_keda_gets_no_identity(cloud: str) -> None:
    graph = render(cloud, inference={"image": IMAGE, "shards": 2})
    assert not [r for r in graph.resources if r.name.startswith("llm-keda-prometheus")]
    assert not graph.of_type(TRIGGER_AUTH)


@pytest.mark.parametrize(
    ("monitoring", "expected"),
    [
        (
            {"managed_prometheus": True, "prometheus": False},
            "monitoring: managed_prometheus=True contradicts prometheus",
        ),
        (
            {"managed_prometheus": True, "grafana": False},
            "monitoring: grafana=False configures the in-cluster Prometheus",
        ),
        ({"managed_prometheus": True, "namespace": "obs"}, "monitoring: namespace='obs' configures the in-cluster"),
    ],
)
def test_contradictory_monitoring_is_refused(monitoring: dict[str, Any], expected: str) -> None:
    error = refused_installation(AwsInstallation, "llm", args("aws", monitoring=monitoring))
    assert any(p.startswith(expected) for p in error.problems), error.problems


def test_a_local_cluster_refuses_managed_prometheus() -> None:
    local = {"inference": {"image": IMAGE, "shards": 2}, "model_path": "m/", "monitoring": {"managed_prometheus": True}}
    assert any(
        p.startswith("monitoring.managed_prometheus is True, but a local cluster has no cloud's managed Prometheus")
        for p in validate_local_installation_args(local)
    )
