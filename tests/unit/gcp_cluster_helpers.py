"""What the GCP Cluster tests share: its arguments, rendering it under recording mocks, its refusals, and
reading the GKE cluster and its system pool from what it planned."""

from __future__ import annotations

from typing import Any

from component_calls import ComponentCalls

from shardstack.gcp.cluster import Cluster
from shardstack.testing import Graph, Resource

CLUSTER_COMPONENT = "shardstack:gcp:Cluster"
GKE = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
K8S_PROVIDER = "pulumi:providers:kubernetes"

PROJECT = "shardstack-test"  # what the mocks answer for gcp:organizations/getClientConfig
NETWORK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/llm-vpc"
SUBNETWORK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/us-central1/subnetworks/llm-nodes"
NODE_ROLES = {
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
}
CLOUD_PLATFORM = ["https://www.googleapis.com/auth/cloud-platform"]


CALLS = ComponentCalls(
    Cluster,
    {
        "region": "us-central1",
        "network": NETWORK,
        "subnetwork": SUBNETWORK,
        "pods_range_name": "pods",
        "services_range_name": "services",
    },
)
cluster_args, render, failure, problems = CALLS.args, CALLS.render, CALLS.failure, CALLS.problems


def gke(graph: Graph) -> dict[str, Any]:
    return graph.one(GKE).inputs


def system_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(NODE_POOL).inputs


def depends_on(resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies
