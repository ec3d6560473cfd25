"""Azure Monitor managed Prometheus for an AzureInstallation (``monitoring.managed_prometheus``).

The cluster runs AKS's metrics add-on (the Azure Monitor agent, ``ama-metrics`` in ``kube-system``: the cluster's
``managed_prometheus``), which scrapes what the ranks' and the DCGM exporter's ``azmonitoring.coreos.com``
PodMonitors select, and the pods' readiness from its own kube-state-metrics. Here, as Azure's own onboarding template
builds it: an **Azure Monitor workspace**, a **data collection endpoint** and **rule** forwarding the agent's
Prometheus stream into the workspace, and the rule's **association** with the cluster. The alerts are **Prometheus
rule groups** on the workspace and the cluster, from the same rules the in-cluster Prometheus would evaluate; they
fire in Azure Monitor's alerts (route them to an action group with an alert processing rule). KEDA's operator
queries the workspace as a managed identity of its own (Azure Workload Identity), with Monitoring Data Reader on this
workspace only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import alertsmanagement, authorization, monitor

from shardstack.azure import roles
from shardstack.azure.workload_identity import workload_identity_grant
from shardstack.installation import ManagedCollection, ManagedPrometheus
from shardstack.k8s import charts
from shardstack.k8s.autoscaling_specs import IDENTITY_AZURE
from shardstack.k8s.monitoring_specs import AZURE_API

MANAGED_COLLECTION = ManagedCollection(
    scrape_api=AZURE_API, collector_namespace="kube-system", rules_in_cluster=False, keda_identity=IDENTITY_AZURE
)
"""AKS's agent runs in ``kube-system`` and reads azmonitoring.coreos.com PodMonitors; alert rules are Azure's."""

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
WORKSPACE_DESTINATION = "workspace"
SEVERITIES = {"critical": 0, "warning": 2}
"""Azure's alert severities (0 critical, 1 error, 2 warning, 3 informational, 4 verbose) for the rules' labels."""
RULE_INTERVAL = "PT1M"
"""How often the rule groups are evaluated: the in-cluster Prometheus' default."""


def azure_rule(rule: Mapping[str, Any]) -> alertsmanagement.PrometheusRuleArgs:
    """A Prometheus alerting rule (``alert``, ``expr``, ``for`` in minutes, ``labels``, ``annotations``) as Azure's."""
    minutes = int(str(rule["for"]).removesuffix("m"))
    return alertsmanagement.PrometheusRuleArgs(
        alert=rule["alert"],
        expression=rule["expr"],
        for_=f"PT{minutes}M" if minutes else None,
        severity=SEVERITIES[rule["labels"]["severity"]],
        labels=dict(rule["labels"]),
        annotations=dict(rule["annotations"]),
        enabled=True,
    )


def azure_managed_prometheus(
    owner: pulumi.Resource,
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    cluster_id: pulumi.Input[str],
    cluster_name: pulumi.Input[str],
    oidc_issuer_url: pulumi.Input[str],
    rule_groups: Sequence[Mapping[str, Any]],
    keda_namespace: str | None,
    tags: Mapping[str, str],
) -> ManagedPrometheus:
    """Make the workspace, its data collection from the cluster ``cluster_id``, its ``rule_groups`` and, when KEDA
    runs in ``keda_namespace``, KEDA's identity; all children of ``owner``."""
    child = pulumi.ResourceOptions(parent=owner)
    located = {"resource_group_name": resource_group_name, "location": location, "tags": dict(tags)}
    workspace = monitor.AzureMonitorWorkspace(
        f"{name}-prometheus", azure_monitor_workspace_name=name, **located, opts=child
    )
    endpoint = monitor.DataCollectionEndpoint(f"{name}-prometheus", kind="Linux", **located, opts=child)
    rule = monitor.DataCollectionRule(
        f"{name}-prometheus",
        kind="Linux",
        description=f"Azure Monitor managed Prometheus of AKS cluster {name}",
        data_collection_endpoint_id=endpoint.id,
        data_sources=monitor.DataCollectionRuleDataSourcesArgs(
            prometheus_forwarder=[
                monitor.PrometheusForwarderDataSourceArgs(name="PrometheusDataSource", streams=[PROMETHEUS_STREAM])
            ]
        ),
        destinations=monitor.DataCollectionRuleDestinationsArgs(
            monitoring_accounts=[
                monitor.MonitoringAccountDestinationArgs(account_resource_id=workspace.id, name=WORKSPACE_DESTINATION)
            ]
        ),
        data_flows=[monitor.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=[WORKSPACE_DESTINATION])],
        **located,
        opts=child,
    )
    association = monitor.DataCollectionRuleAssociation(
        f"{name}-prometheus",
        resource_uri=cluster_id,
        association_name=f"{name}-prometheus",
        data_collection_rule_id=rule.id,
        description="Sends the cluster's Prometheus metrics to its Azure Monitor workspace; without it, none arrive.",
        opts=child,
    )
    resources: list[pulumi.Resource] = [workspace, endpoint, rule, association]
    for group in rule_groups:
        resources.append(
            alertsmanagement.PrometheusRuleGroup(
                f"{name}-{group['name']}",
                rule_group_name=group["name"],
                scopes=[workspace.id, cluster_id],
                cluster_name=cluster_name,
                interval=RULE_INTERVAL,
                enabled=True,
                rules=[azure_rule(r) for r in group["rules"]],
                **located,
                opts=child,
            )
        )
    keda: dict[str, pulumi.Input[str]] = {}
    if keda_namespace is not None:
        grant = workload_identity_grant(
            f"{name}-keda-prometheus",
            resource_group_name=resource_group_name,
            location=location,
            identity_name=f"{name}-keda-prometheus",
            oidc_issuer_url=oidc_issuer_url,
            namespace=keda_namespace,
            service_account=charts.KEDA_OPERATOR_SERVICE_ACCOUNT,
            scope=workspace.id,
            role=roles.MONITORING_DATA_READER,
            tags=tags,
            opts=child,
        )
        resources.extend(grant.resources)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=owner))
        keda = {"keda_azure_client_id": grant.identity.client_id, "keda_azure_tenant_id": client.tenant_id}
    return ManagedPrometheus(
        query_url=workspace.metrics.apply(lambda metrics: metrics.prometheus_query_endpoint if metrics else ""),
        resources=resources,
        keda=keda,
    )
