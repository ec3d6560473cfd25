"""Amazon Managed Service for Prometheus for an AwsInstallation (``monitoring.managed_prometheus``).

Usage (inside AwsInstallation)::

    managed = amazon_managed_prometheus(owner, name, cluster_arn=cluster.cluster_arn, subnet_ids=private_subnets,
                                        vpc_cidr=network.cidr_block, namespaces=["shardstack"], ...)
    managed.query_url          # KEDA's serverAddress; managed.resources: what reports to it waits for

A **workspace** (encrypted with an AWS owned key: AWS's managed collectors cannot write to a workspace with a
customer managed one) and an agentless **scraper**: AWS runs it, with network interfaces in the cluster's private
subnets and its security group, and it discovers the pods through the Kubernetes API as the user
``aps-collector-user`` (EKS maps the scraper's role to it through an access entry; a ClusterRole lets it list pods,
and nothing else). Its configuration keeps the pods' ports named ``metrics`` in the namespaces the installation
runs (the ranks and the DCGM exporter) and kube-state-metrics (installed here: the rank alerts read its container
readiness). The alerts are a **rule groups namespace** in the workspace, from the same rules the in-cluster
Prometheus would evaluate. KEDA's operator queries the workspace as an IAM role of its own through EKS Pod Identity,
allowed the ``aps`` query actions on this workspace only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from shardstack.aws.pod_identity import pod_identity_role, role_name_prefix
from shardstack.installation import ManagedCollection, ManagedPrometheus
from shardstack.k8s import charts
from shardstack.k8s.autoscaling_specs import IDENTITY_AWS
from shardstack.k8s.helm import release
from shardstack.k8s.runtime_contract import METRICS_PORT_NAME

MANAGED_COLLECTION = ManagedCollection(
    scrape_api=None, collector_namespace=None, rules_in_cluster=False, keda_identity=IDENTITY_AWS
)
"""AMP's scraper is configured with the workspace, outside the cluster; its rules are workspace resources."""

SCRAPER_USER = "aps-collector-user"
"""The Kubernetes user EKS maps the scraper's service-linked role to (AWS's documented name)."""
SCRAPER_MIN_INTERVAL_S = 30
"""The managed scraper's shortest scrape interval."""
QUERY_ACTIONS = ("aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata")
"""What KEDA's Prometheus queries call: the Prometheus HTTP API's query, series, labels and metadata reads."""
KUBE_STATE_METRICS_PORT = "http"
"""The kube-state-metrics chart's metrics port name."""


def scrape_configuration(namespaces: Sequence[str], interval_s: int) -> str:
    """The scraper's Prometheus configuration: every pod port named ``metrics`` in ``namespaces`` (labelled by
    namespace, pod and container, as the Prometheus Operator's PodMonitors label them) and kube-state-metrics (its own
    series' namespace and pod labels kept)."""
    pod_labels = [
        {"source_labels": [f"__meta_kubernetes_{meta}"], "target_label": label}
        for meta, label in (("namespace", "namespace"), ("pod_name", "pod"), ("pod_container_name", "container"))
    ]

    def keep(source: str, regex: str) -> dict[str, Any]:
        return {"source_labels": [source], "action": "keep", "regex": regex}

    config = {
        "global": {"scrape_interval": f"{max(interval_s, SCRAPER_MIN_INTERVAL_S)}s"},
        "scrape_configs": [
            {
                "job_name": "shardstack",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": sorted(set(namespaces))}}],
                "relabel_configs": [
                    keep("__meta_kubernetes_pod_container_port_name", METRICS_PORT_NAME),
                    *pod_labels,
                ],
            },
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "kubernetes_sd_configs": [
                    {"role": "pod", "namespaces": {"names": [charts.KUBE_STATE_METRICS.namespace]}}
                ],
                "relabel_configs": [
                    keep("__meta_kubernetes_pod_label_app_kubernetes_io_name", "kube-state-metrics"),
                    keep("__meta_kubernetes_pod_container_port_name", KUBE_STATE_METRICS_PORT),
                ],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def query_policy(workspace_arn: str) -> str:
    """KEDA's role's policy: the query actions on this workspace only."""
    statement = {"Sid": "QueryWorkspace", "Effect": "Allow", "Action": list(QUERY_ACTIONS), "Resource": workspace_arn}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def amazon_managed_prometheus(
    owner: pulumi.Resource,
    name: str,
    *,
    cluster_arn: pulumi.Input[str],
    cluster_name: pulumi.Input[str],
    security_group_id: pulumi.Input[str],
    subnet_ids: pulumi.Input[Sequence[str]],
    vpc_cidr: pulumi.Input[str],
    provider: k8s.Provider,
    namespaces: Sequence[str],
    interval_s: int,
    rule_groups: Sequence[Mapping[str, Any]],
    keda_namespace: str | None,
    tags: Mapping[str, str],
) -> ManagedPrometheus:
    """Make the workspace, its scraper of the pods in ``namespaces`` every ``interval_s`` (at least
    :data:`SCRAPER_MIN_INTERVAL_S`), its ``rule_groups`` and, when KEDA runs in ``keda_namespace``, KEDA's query
    role; all children of ``owner``."""
    child = pulumi.ResourceOptions(parent=owner)
    in_cluster = pulumi.ResourceOptions(parent=owner, provider=provider)
    workspace = aws.amp.Workspace(f"{name}-prometheus", alias=name, tags=dict(tags), opts=child)
    access = _scraper_access(name, in_cluster)
    kube_state = release(
        owner,
        f"{name}-kube-state-metrics",
        charts.KUBE_STATE_METRICS,
        charts.KUBE_STATE_METRICS.namespace,
        provider=provider,
    )
    scraper = aws.amp.Scraper(
        f"{name}-prometheus-scraper",
        alias=name,
        source=aws.amp.ScraperSourceArgs(
            eks=aws.amp.ScraperSourceEksArgs(
                cluster_arn=cluster_arn,
                subnet_ids=subnet_ids,
                # The cluster's security group: the nodes admit everything from it, so the scraper reaches the pods.
                security_group_ids=[security_group_id],
            )
        ),
        destination=aws.amp.ScraperDestinationArgs(amp=aws.amp.ScraperDestinationAmpArgs(workspace_arn=workspace.arn)),
        scrape_configuration=scrape_configuration(namespaces, interval_s),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=owner, depends_on=[*access, kube_state]),
    )
    resources: list[pulumi.Resource] = [workspace, scraper]
    if rule_groups:
        resources.append(
            aws.amp.RuleGroupNamespace(
                f"{name}-alerts",
                name=f"shardstack-{name}",
                workspace_id=workspace.id,
                data=yaml.safe_dump({"groups": list(rule_groups)}, sort_keys=False),
                opts=child,
            )
        )
    if keda_namespace is not None:
        keda = pod_identity_role(
            f"{name}-keda-prometheus",
            cluster_name=cluster_name,
            namespace=keda_namespace,
            service_account=charts.KEDA_OPERATOR_SERVICE_ACCOUNT,
            policy=workspace.arn.apply(query_policy),
            role_name_prefix=role_name_prefix(name, "keda-prometheus"),
            description=pulumi.Output.concat("KEDA queries Amazon Managed Prometheus workspace ", workspace.id),
            tags=dict(tags),
            opts=child,
        )
        resources.extend(keda.resources)
    region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=owner)).region
    return ManagedPrometheus(
        # The workspace's endpoint ends in '/'; KEDA appends '/api/v1/query' itself.
        query_url=workspace.prometheus_endpoint.apply(lambda endpoint: endpoint.rstrip("/")),
        resources=resources,
        aws_region=region,
        scraper_cidrs=pulumi.Output.from_input(vpc_cidr).apply(lambda cidr: [cidr]),
    )


def _scraper_access(name: str, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """Let the scraper's user discover pods: list and watch them, nothing else."""
    role = k8s.rbac.v1.ClusterRole(
        f"{name}-prometheus-scraper",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-prometheus-scraper"),
        rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
        opts=opts,
    )
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-prometheus-scraper",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-prometheus-scraper"),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role.metadata.name
        ),
        subjects=[k8s.rbac.v1.SubjectArgs(kind="User", name=SCRAPER_USER, api_group="rbac.authorization.k8s.io")],
        opts=opts,
    )
    return [role, binding]
