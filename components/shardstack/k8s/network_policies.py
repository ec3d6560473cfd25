"""NetworkPolicies around ShardedInference ranks: deny by default, then open each port to its callers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import group_scaler as scaler
from shardstack.k8s import labels as lbl


@dataclass(frozen=True)
class PolicyTarget:
    """What the policies protect and who may reach it."""

    namespace: pulumi.Input[str]
    namespace_name: str
    labels: Mapping[str, pulumi.Input[str]]
    """Labels on the NetworkPolicy objects themselves."""
    instance_selector: Mapping[str, str]
    """Selects every rank of the instance."""
    leader_selector: Mapping[str, str]
    """Selects the rank-0 pod of every group (the pods that serve the API)."""
    group_selectors: Sequence[tuple[str, Mapping[str, str]]]
    """(object name, selector) for each replica group."""


def _meta(name: str, target: PolicyTarget) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=target.namespace, labels=dict(target.labels))


def _selector(labels: Mapping[str, str]) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels))


def _tcp(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")


def default_deny(
    resource_name: str, object_name: str, target: PolicyTarget, opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Deny all ingress to the ranks; the policies below are the only ways in."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=_meta(object_name, target),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_selector(target.instance_selector), policy_types=["Ingress"], ingress=[]
        ),
        opts=opts,
    )


def within_group(
    resource_name: str,
    object_name: str,
    group_selector: Mapping[str, str],
    target: PolicyTarget,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """Let the ranks of one group reach each other, and nothing else reach the rendezvous port.

    Every port is open between ranks of the same group, not only the rendezvous port: after the
    rendezvous, torch.distributed's gloo and NCCL socket transports connect on ephemeral ports
    chosen at run time. No other pod, not even another group of the same model, is let in.
    """
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=_meta(object_name, target),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_selector(group_selector),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=_selector(group_selector))]
                )
            ],
        ),
        opts=opts,
    )


def _interceptor(keda_namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """KEDA's HTTP interceptor pods, in ``keda_namespace``."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=_selector({lbl.NAMESPACE_NAME: keda_namespace}),
        pod_selector=_selector(scaler.INTERCEPTOR_SELECTOR),
    )


def api_access(
    resource_name: str,
    object_name: str,
    target: PolicyTarget,
    *,
    api_port: int,
    allowed_namespaces: Sequence[str],
    allowed_cidrs: Sequence[str],
    opts: pulumi.ResourceOptions,
    interceptor_namespace: str | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """Let the allowed namespaces (and, for a public API, the allowed CIDRs; for a deployment scaled to zero, KEDA's
    HTTP interceptor in ``interceptor_namespace``) reach the leaders' API port."""
    namespaces = [target.namespace_name, *(ns for ns in allowed_namespaces if ns != target.namespace_name)]
    peers = [
        k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(key=lbl.NAMESPACE_NAME, operator="In", values=namespaces)
                ]
            )
        )
    ]
    # A public Service keeps the client's address (externalTrafficPolicy: Local), so the
    # LoadBalancer's source ranges can be enforced again at the pod.
    peers.extend(
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
        for cidr in allowed_cidrs
    )
    if interceptor_namespace is not None:
        peers.append(_interceptor(interceptor_namespace))
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=_meta(object_name, target),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_selector(target.leader_selector),
            policy_types=["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=peers, ports=[_tcp(api_port)])],
        ),
        opts=opts,
    )


def scrapers(
    namespace_selector: Mapping[str, str] | None, cidrs: pulumi.Input[Sequence[str]] | None
) -> pulumi.Input[list[k8s.networking.v1.NetworkPolicyPeerArgs]]:
    """Who may scrape a metrics port: the pods of the monitoring namespaces (``namespace_selector``), and scrapers
    that are no pod of the cluster, by address (``cidrs``: e.g. Amazon Managed Service for Prometheus' scraper,
    whose network interfaces sit in the cluster's subnets)."""
    namespaces = [] if namespace_selector is None else [
        k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=_selector(namespace_selector))
    ]  # fmt: skip
    if cidrs is None:
        return namespaces
    return pulumi.Output.from_input(cidrs).apply(
        lambda blocks: [
            *namespaces,
            *(k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=b)) for b in blocks),
        ]
    )


def metrics_access(
    resource_name: str,
    object_name: str,
    target: PolicyTarget,
    *,
    metrics_port: int,
    scraped_by: pulumi.Input[list[k8s.networking.v1.NetworkPolicyPeerArgs]],
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """Let the scrapers (:func:`scrapers`) reach every rank's metrics port."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=_meta(object_name, target),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_selector(target.instance_selector),
            policy_types=["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=scraped_by, ports=[_tcp(metrics_port)])],
        ),
        opts=opts,
    )


def from_interceptor(
    resource_name: str,
    object_name: str,
    *,
    namespace: pulumi.Input[str],
    labels: Mapping[str, pulumi.Input[str]],
    pod_selector: Mapping[str, str],
    keda_namespace: str,
    port: int,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """Let only KEDA's HTTP interceptor reach ``port`` of the pods ``pod_selector`` selects (the cold-start
    fallback), and nothing else reach them at all."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=dict(labels)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_selector(pod_selector),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[_interceptor(keda_namespace)], ports=[_tcp(port)])
            ],
        ),
        opts=opts,
    )
