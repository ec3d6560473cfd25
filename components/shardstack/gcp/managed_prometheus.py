"""Google Cloud Managed Service for Prometheus for a GcpInstallation (``monitoring.managed_prometheus``).

GKE's managed collection does the work in the cluster: its collectors (namespace ``gmp-system``) scrape what the
ranks' and the DCGM exporter's PodMonitoring objects select, its rule evaluator runs their Rules, and its
kube-state-metrics package exports the pods' readiness (the cluster's ``managed_prometheus``). Here: where KEDA
queries (the project's Prometheus API in Cloud Monitoring) and its right to: ``roles/monitoring.viewer``, granted to
KEDA's operator's Kubernetes service account itself through Workload Identity Federation for GKE, no Google service
account or key. The Prometheus API has no narrower role: it reads the project's metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from shardstack.gcp.weight_store import workload_identity_member
from shardstack.installation import ManagedCollection, ManagedPrometheus
from shardstack.k8s import charts
from shardstack.k8s.autoscaling_specs import IDENTITY_GCP
from shardstack.k8s.monitoring_specs import GOOGLE_API

MANAGED_COLLECTION = ManagedCollection(
    scrape_api=GOOGLE_API, collector_namespace="gmp-system", rules_in_cluster=True, keda_identity=IDENTITY_GCP
)
"""GKE's collectors run in ``gmp-system`` and read PodMonitoring and Rules objects."""

QUERY_ROLE = "roles/monitoring.viewer"


def query_url(project_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The project's Prometheus HTTP API (KEDA appends ``/api/v1/query``)."""
    return pulumi.Output.concat(
        "https://monitoring.googleapis.com/v1/projects/", project_id, "/location/global/prometheus"
    )


def google_managed_prometheus(
    owner: pulumi.Resource, name: str, *, after: Sequence[pulumi.Resource], keda_namespace: str | None
) -> ManagedPrometheus:
    """Let KEDA's operator (when it runs, in ``keda_namespace``) query the project's Prometheus API, ``after`` the
    cluster whose workload identity pool names it; children of ``owner``."""
    project = gcp.organizations.get_project_output(opts=pulumi.InvokeOutputOptions(parent=owner))
    resources: list[pulumi.Resource] = []
    if keda_namespace is not None:
        member = pulumi.Output.all(project.number, project.project_id).apply(
            lambda values: workload_identity_member(
                values[0], values[1], keda_namespace, charts.KEDA_OPERATOR_SERVICE_ACCOUNT
            )
        )
        resources.append(
            gcp.projects.IAMMember(
                f"{name}-keda-prometheus",
                project=project.project_id,
                role=QUERY_ROLE,
                member=member,
                opts=pulumi.ResourceOptions(parent=owner, depends_on=list(after)),
            )
        )
    return ManagedPrometheus(query_url=query_url(project.project_id), resources=resources)
