"""The Prometheus Operator objects of one workload: its PodMonitor and, when it alerts, its PrometheusRule (the
specs come from :mod:`shardstack.k8s.monitoring`)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import monitoring


def scrape_objects(
    owner: pulumi.Resource,
    *,
    resource_names: tuple[str, str],
    metadata: k8s.meta.v1.ObjectMetaArgs,
    pod_monitor: dict[str, Any],
    rules: dict[str, Any] | None,
) -> None:
    """Create the PodMonitor (``pod_monitor`` spec) and, unless ``rules`` is None, the PrometheusRule, both with
    ``metadata``, named ``resource_names`` (monitor, rule) in the Pulumi program."""
    objects = ((monitoring.POD_MONITOR_KIND, pod_monitor), (monitoring.PROMETHEUS_RULE_KIND, rules))
    for resource_name, (kind, spec) in zip(resource_names, objects, strict=True):
        if spec is not None:
            k8s.apiextensions.CustomResource(
                resource_name,
                api_version=monitoring.MONITORING_API_VERSION,
                kind=kind,
                metadata=metadata,
                spec=spec,
                opts=pulumi.ResourceOptions(parent=owner),
            )
