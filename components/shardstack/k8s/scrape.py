"""The Prometheus objects of one workload: its PodMonitor and, when it alerts, its PrometheusRule, in the kinds of
the Prometheus that reads them (``prometheus.api``; the specs come from :mod:`shardstack.k8s.monitoring`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import monitoring


def scrape_objects(
    owner: pulumi.Resource,
    *,
    resource_names: tuple[str, str],
    metadata: k8s.meta.v1.ObjectMetaArgs,
    scrape: Mapping[str, Any],
    pods: tuple[Mapping[str, str], str, str],
    rule_group: tuple[str, Sequence[monitoring.Alert]],
) -> None:
    """Create the PodMonitor of ``pods`` (selector, namespace, port name) and, when ``scrape`` alerts, the
    PrometheusRule of ``rule_group`` (name, alerts), both with ``metadata``, in ``scrape``'s API; named
    ``resource_names`` (monitor, rule) in the Pulumi program. ``scrape`` is a ``prometheus`` argument, resolved."""
    kinds = monitoring.SCRAPE_KINDS[scrape["api"]]
    selector, namespace, port = pods
    objects = [(kinds.monitor_kind, kinds.monitor_spec(selector, namespace, port, scrape["interval_s"]))]
    if scrape["alerts"] and kinds.rule_kind is not None:
        objects.append((kinds.rule_kind, monitoring.rule_spec(*rule_group)))
    for resource_name, (kind, spec) in zip(resource_names, objects, strict=False):
        k8s.apiextensions.CustomResource(
            resource_name,
            api_version=kinds.api_version,
            kind=kind,
            metadata=metadata,
            spec=spec,
            opts=pulumi.ResourceOptions(parent=owner),
        )
