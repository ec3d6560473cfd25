"""What the GCP Cluster tests share: its arguments, rendering it under recording mocks, its refusals, and
reading the GKE cluster and its system pool from what it planned."""

from __future__ import annotations

from typing import Any

from shardstack.errors import ArgumentError
from shardstack.gcp.cluster import Cluster
from shardstack.testing import Graph, Resource, run_program, run_refused

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


def cluster_args(**args: Any) -> dict[str, Any]:
    return {
        "region": "us-central1",
        "network": NETWORK,
        "subnetwork": SUBNETWORK,
        "pods_range_name": "pods",
        "services_range_name": "services",
        **args,
    }


def render(**args: Any) -> Graph:
    return run_program(lambda: Cluster("llm", cluster_args(**args)))  # type: ignore[arg-type]


def failure(args: dict[str, Any]) -> ArgumentError:
    return run_refused(lambda: Cluster("llm", args), ArgumentError)  # type: ignore[arg-type]


def problems(**args: Any) -> list[str]:
    return failure(cluster_args(**args)).problems


def gke(graph: Graph) -> dict[str, Any]:
    return graph.one(GKE).inputs


def system_pool(graph: Graph) -> dict[str, Any]:
    return graph.one(NODE_POOL).inputs


def depends_on(resource: Resource, other: Resource) -> bool:
    return other.urn in resource.dependencies
