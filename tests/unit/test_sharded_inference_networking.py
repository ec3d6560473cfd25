"""How ShardedInference's API is reached and who may connect: the headless and API Services, a public load
balancer, ports moved everywhere they are used, and the network policies."""

from __future__ import annotations

from typing import Any

from sharded_inference_parts import INSTANCE_SELECTOR, NETPOL, SVC, container, env_of, policy, render, spec_of

from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph

# -- services ------------------------------------------------------------------------------------------


def test_headless_service_per_group_publishes_ranks_before_they_are_ready() -> None:
    graph = render(replica_groups=2)
    for g in (0, 1):
        svc = graph.one(SVC, f"llm-g{g}-headless").inputs
        assert svc["metadata"]["name"] == f"llm-g{g}"
        spec = svc["spec"]
        assert spec["clusterIP"] == "None"
        assert spec["publishNotReadyAddresses"] is True
        assert spec["selector"] == {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}
        assert {p["name"]: p["port"] for p in spec["ports"]} == {
            "api": 8000,
            "rendezvous": 29500,
            "metrics": 9090,
        }


def test_api_service_selects_the_leader_of_every_group() -> None:
    graph = render(replica_groups=3)
    svc = graph.one(SVC, "llm-api").inputs
    assert svc["metadata"]["name"] == "llm-api"
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    # No group label: rank 0 of every group; rank 0 only: the leaders serve the API.
    assert spec["selector"] == {**INSTANCE_SELECTOR, "apps.kubernetes.io/pod-index": "0"}
    assert spec["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "api", "protocol": "TCP", "appProtocol": "http"}
    ]
    assert "loadBalancerSourceRanges" not in spec


def test_default_api_is_private() -> None:
    assert spec_of(render().one(SVC, "llm-api"))["type"] == "ClusterIP"


def test_public_api_is_a_load_balancer_limited_to_the_allowed_cidrs() -> None:
    graph = render(public=True, allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    spec = spec_of(graph.one(SVC, "llm-api"))
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerSourceRanges"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert spec["externalTrafficPolicy"] == "Local"


def test_api_service_annotations_are_passed_through() -> None:
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}
    graph = render(public=True, allowed_cidrs=["203.0.113.0/24"], api_service_annotations=annotations)
    assert graph.one(SVC, "llm-api").inputs["metadata"]["annotations"] == annotations


def test_ports_can_be_moved_and_follow_into_env_services_and_policies() -> None:
    graph = render(api_port=8080, rendezvous_port=23456, metrics_port=9400)
    env = env_of(container(graph))
    assert env[rc.ENV_API_PORT]["value"] == "8080"
    assert env[rc.ENV_RENDEZVOUS_PORT]["value"] == "23456"
    assert env[rc.ENV_METRICS_PORT]["value"] == "9400"
    assert spec_of(graph.one(SVC, "llm-api"))["ports"][0]["port"] == 8080
    assert policy(graph, "llm-api")["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


# -- network policies ----------------------------------------------------------------------------------


def test_ingress_to_every_rank_is_denied_by_default() -> None:
    assert policy(render(), "llm-default-deny") == {
        "podSelector": {"matchLabels": INSTANCE_SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }


def test_ranks_accept_connections_only_from_their_own_group() -> None:
    graph = render(replica_groups=2)
    for g in (0, 1):
        selector = {"matchLabels": {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}}
        assert policy(graph, f"llm-g{g}-ranks") == {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": selector}]}],
        }


def test_api_port_is_open_to_the_same_namespace_only_by_default() -> None:
    assert policy(render(), "llm-api") == {
        "podSelector": {"matchLabels": {**INSTANCE_SELECTOR, "apps.kubernetes.io/pod-index": "0"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/metadata.name",
                                    "operator": "In",
                                    "values": ["shardstack"],
                                }
                            ]
                        }
                    }
                ],
                "ports": [{"port": 8000, "protocol": "TCP"}],
            }
        ],
    }


def test_api_port_is_open_to_the_allowed_namespaces() -> None:
    (rule,) = policy(render(api_allowed_namespaces=["gateway", "shardstack"]), "llm-api")["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchExpressions"][0]["values"] == ["shardstack", "gateway"]


def test_public_api_port_is_open_to_the_allowed_cidrs() -> None:
    (rule,) = policy(render(public=True, allowed_cidrs=["203.0.113.0/24"]), "llm-api")["ingress"]
    assert rule["from"][1:] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]


def test_metrics_port_is_open_to_the_monitoring_namespaces() -> None:
    selector = {"kubernetes.io/metadata.name": "monitoring"}
    assert policy(render(monitoring_namespace_selector=selector), "llm-metrics") == {
        "podSelector": {"matchLabels": INSTANCE_SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": selector}}],
                "ports": [{"port": 9090, "protocol": "TCP"}],
            }
        ],
    }


def test_default_lets_no_other_namespace_scrape_metrics() -> None:
    names = {r.inputs["metadata"]["name"] for r in render().of_type(NETPOL)}
    assert "llm-metrics" not in names


def _peers_admitted(graph: Graph, pod_labels: dict[str, str], port: int) -> list[dict[str, Any]]:
    """Every peer that the rendered NetworkPolicies, together, let reach ``port`` on a pod with ``pod_labels``
    (Kubernetes' rule: a connection is allowed if any policy selecting the pod admits it)."""
    peers: list[dict[str, Any]] = []
    for resource in graph.of_type(NETPOL):
        spec = spec_of(resource)
        if not spec["podSelector"].get("matchLabels", {}).items() <= pod_labels.items():
            continue
        for rule in spec.get("ingress", []):
            if "ports" not in rule or any(p["port"] == port for p in rule["ports"]):
                peers += rule.get("from") or [{"everyone": True}]  # a rule without 'from' admits every source
    return peers


def test_only_the_groups_own_pods_reach_its_rendezvous_store() -> None:
    # The store torch.distributed's ranks meet at has no authentication: the policies are what guards it.
    graph = render(replica_groups=2, public=True, allowed_cidrs=["203.0.113.0/24"])
    for g in (0, 1):
        group = {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}
        for index in ("0", "1"):  # the leader, which listens, and a worker
            pod = {**group, "apps.kubernetes.io/pod-index": index}
            assert _peers_admitted(graph, pod, 29500) == [{"podSelector": {"matchLabels": group}}]
