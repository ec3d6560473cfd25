"""GCP Cluster under recording mocks: Workload Identity, Dataplane V2, shielded nodes, and the logs and
metrics collected."""

from __future__ import annotations

import pulumi
from gcp_cluster_helpers import PROJECT, cluster_args, gke, render, system_pool

from shardstack.gcp.cluster import Cluster
from shardstack.testing import run_program


def test_workload_identity_pool_is_the_projects_and_exported_from_the_cluster() -> None:
    def program() -> None:
        pulumi.export("workload_pool", Cluster("llm", cluster_args()).workload_pool)  # type: ignore[arg-type]

    graph = run_program(program)
    assert gke(graph)["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert graph.outputs["workload_pool"] == f"{PROJECT}.svc.id.goog"


def test_dataplane_v2_enforces_network_policy() -> None:
    inputs = gke(render())
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    # Dataplane V2 enforces NetworkPolicy itself; the Calico add-on must not be asked for as well.
    assert "networkPolicy" not in inputs


def test_shielded_nodes_cluster_wide_and_secure_boot_on_every_node() -> None:
    graph = render()
    assert gke(graph)["enableShieldedNodes"] is True
    shielded = {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert system_pool(graph)["nodeConfig"]["shieldedInstanceConfig"] == shielded
    assert gke(graph)["nodeConfig"]["shieldedInstanceConfig"] == shielded


def test_system_and_workload_logs_and_system_metrics_are_collected() -> None:
    inputs = gke(render())
    assert inputs["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}
    assert inputs["monitoringConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS"]}
