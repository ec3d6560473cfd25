"""ShardedInference: one model served by replica groups of ranks on Kubernetes.

Usage::

    from shardstack.k8s import ShardedInference

    llm = ShardedInference("llm", {
        "image": "ghcr.io/org/shardstack-runtime:0.1.0",
        "model_uri": "s3://weights/llama-3-70b/",
        "shards": 4,
        "replica_groups": 2,
    }, opts=pulumi.ResourceOptions(providers=[k8s_provider]))
    pulumi.export("endpoint", llm.endpoint)

One pod is one rank; a replica group is ``shards`` pods holding one copy of the model, with rank 0
as its leader. Each group lives in one zone; groups spread across zones. Only leaders receive API
traffic. See :mod:`shardstack.k8s.runtime_contract` for what each pod is given.

With ``autoscaling`` (mode ``leaderworkerset``), KEDA adds and removes whole groups with the load
(:mod:`shardstack.k8s.group_scaler`, down to zero through :mod:`shardstack.k8s.wake_path`); with ``prometheus``,
the Prometheus Operator scrapes every rank and alerts (:mod:`shardstack.k8s.monitoring`).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.errors import ArgumentError
from shardstack.k8s import dashboard, monitoring, pod_security, wake_path
from shardstack.k8s import group_scaler as scaler
from shardstack.k8s import labels as lbl
from shardstack.k8s import network_policies as netpol
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.inference_pod import (
    CACHE_VOLUME,
    RankPod,
    leader_dns_name,
    lws_rank_field_path,
    quantity_gib,
    rank_pod_template,
    statefulset_rank_field_path,
)
from shardstack.k8s.scanner_skips import image_tag_reasons, skip_annotations
from shardstack.k8s.scrape import scrape_objects
from shardstack.k8s.sharded_inference_args import (
    MODE_STATEFULSET,
    ShardedInferenceArgs,
    ShardedInferenceSettings,
    group_object_name,
    resolve_sharded_inference_args,
    validate_sharded_inference_args,
)

TYPE_TOKEN = "shardstack:k8s:ShardedInference"
APP_NAME = "shardstack-inference"
RANK_COMPONENT = "inference"
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
"""The label the Grafana sidecar of kube-prometheus-stack loads dashboards by (its chart's default)."""

LWS_API_VERSION = scaler.LWS_API_VERSION
LWS_KIND = scaler.LWS_KIND

PDB_MAX_UNAVAILABLE = 1
"""One PodDisruptionBudget over every rank of every group, allowing one voluntary eviction at a time.

A group is useless with any rank missing, so what a budget can protect is the number of working
groups. Per-group budgets would let a node drain take one rank from each of several groups at once
(an outage with every group broken); a single budget of one lets a drain break at most one group,
and waits for that group to be ready again before the next eviction. ``maxUnavailable: 0`` would
protect a single-group deployment only by blocking node drains and cluster upgrades for good.
Unhealthy ranks may always be evicted (``AlwaysAllow``), so a crash-looping group never blocks a drain.
"""


RUNTIME_IMAGE_TAG = (
    "the runtime image is referenced by tag (image / serving.image); pin it by digest (image@sha256:...) in "
    "production, so that every rank of a group runs the same image"
)
SECRETS_AS_ENV = (
    "the runtime reads SHARDSTACK_API_KEY and env_from_secrets from its environment; the values stay in Secrets "
    "(secretKeyRef), never in the pod spec"
)


def scanner_exceptions(s: ShardedInferenceSettings) -> dict[str, str]:
    """The scanner checks a group's ranks cannot pass with these settings, with why (annotated on the object)."""
    reasons = image_tag_reasons(s.image, RUNTIME_IMAGE_TAG) if isinstance(s.image, str) else {}
    if s.api_key_secret is not None or s.env_from_secrets:
        reasons["CKV_K8S_35"] = SECRETS_AS_ENV
    return reasons


class ShardedInference(pulumi.ComponentResource):
    """Creates one model's namespace, service account, replica groups, Services, PDB and NetworkPolicies."""

    namespace: pulumi.Output[str]
    """Namespace of every object."""
    service_name: pulumi.Output[str]
    """Name of the Service in front of the group leaders' API."""
    endpoint: pulumi.Output[str]
    """API base URL: ``http://<service>.<namespace>.svc.cluster.local:<port>``, or for a public API the
    load balancer's address once it is known."""
    service_account_name: pulumi.Output[str]
    """Service account the ranks run as; bind cloud read access to the weights to it."""
    group_names: pulumi.Output[list[str]]
    """Name of each replica group: its StatefulSet, or in LeaderWorkerSet mode its leader pod; with ``autoscaling``,
    of each group it may have (up to ``max_groups``)."""

    def __init__(self, name: str, args: ShardedInferenceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_sharded_inference_args(args, name=name)
        if problems:
            raise ArgumentError(f"ShardedInference {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        s = resolve_sharded_inference_args(args)

        version = lbl.version_from_image(s.image) if isinstance(s.image, str) else None

        def labels(component: str) -> dict[str, str]:
            return lbl.standard_labels(APP_NAME, name, component, version=version, extra=s.labels)

        instance_selector = lbl.selector_labels(APP_NAME, name)

        namespace = self._namespace(name, s, labels("namespace"))
        service_account = self._service_account(name, s, namespace, labels("service-account"))
        secret_files_name = self._secret_files(name, s, namespace, labels("secret-files"))

        pod_labels = labels(RANK_COMPONENT)
        if s.mode == MODE_STATEFULSET:
            groups, group_selectors, leader_selector = self._statefulset_groups(
                name, s, namespace, pod_labels, instance_selector, service_account, secret_files_name, labels
            )
        else:
            groups, group_selectors, leader_selector = self._leaderworkerset_groups(
                name, s, namespace, pod_labels, instance_selector, service_account, secret_files_name, labels
            )

        api_service = self._api_service(name, s, namespace, leader_selector, labels("api"))

        self._disruption_budget(name, namespace, instance_selector, labels("disruption-budget"))
        if s.grafana_dashboard:
            self._grafana_dashboard(name, namespace, labels("dashboard"))
        if s.prometheus is not None:
            self._prometheus(name, s, namespace, instance_selector, labels("monitoring"))
        self._network_policies(
            name,
            s,
            netpol.PolicyTarget(
                namespace=namespace,
                namespace_name=s.namespace,
                labels=labels("network-policy"),
                instance_selector=instance_selector,
                leader_selector=leader_selector,
                group_selectors=group_selectors,
            ),
        )

        self.namespace = pulumi.Output.from_input(namespace)
        self.service_name = api_service.metadata.apply(lambda m: m.name or "")
        self.endpoint = _endpoint(name, s, api_service, self.service_name, self.namespace)
        self.service_account_name = service_account.metadata.apply(lambda m: m.name or name)
        self.group_names = pulumi.Output.all(*groups).apply(lambda names: [str(n) for n in names])
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "endpoint": self.endpoint,
                "service_account_name": self.service_account_name,
                "group_names": self.group_names,
            }
        )

    def _namespace(self, name: str, s: ShardedInferenceSettings, labels: dict[str, str]) -> pulumi.Input[str]:
        """Create the namespace when ``create_namespace``; return its name (an Output waiting for it when created)."""
        if not s.create_namespace:
            return s.namespace
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=s.namespace, labels={**labels, **pod_security.RESTRICTED_NAMESPACE_LABELS}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Taking the name from the Namespace makes every object below wait for it.
        return ns.metadata.apply(lambda m: m.name or s.namespace)

    def _grafana_dashboard(self, name: str, namespace: pulumi.Input[str], labels: dict[str, str]) -> None:
        """The dashboard as a ConfigMap the Grafana sidecar loads (it watches for this label in every namespace)."""
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-dashboard", namespace=namespace, labels={**labels, GRAFANA_DASHBOARD_LABEL: "1"}
            ),
            data={f"{dashboard.UID}.json": dashboard.dashboard_json()},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _group_scaler(
        self,
        name: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        lws: k8s.apiextensions.CustomResource,
        labels: Callable[[str], dict[str, str]],
    ) -> None:
        """Create the ScaledObject that scales the LeaderWorkerSet's groups, and the way in when it scales to zero."""
        scaling = s.autoscaling
        assert scaling is not None
        route: k8s.apiextensions.CustomResource | None = None
        if scaling.scales_to_zero:
            route = wake_path.create(
                self,
                name,
                s,
                scaling,
                namespace,
                leaders_service=api_service_name(name),
                labels=labels,
                scanner_reasons=scanner_exceptions(s),
            )
        # KEDA reads the route and the authentication when the ScaledObject appears: without the route, its trigger
        # would never wake a group; without the authentication, the managed Prometheus would refuse its queries.
        first: list[pulumi.Resource] = [lws, *([route] if route is not None else [])]
        authentication = None
        auth_spec = scaler.trigger_authentication_spec(scaling)
        if auth_spec is not None:
            authentication = f"{name}-prometheus"
            first.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-prometheus-auth",
                    api_version=scaler.KEDA_API_VERSION,
                    kind=scaler.TRIGGER_AUTHENTICATION_KIND,
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=authentication, namespace=namespace, labels=labels("autoscaler")
                    ),
                    spec=auth_spec,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        k8s.apiextensions.CustomResource(
            f"{name}-scaler",
            api_version=scaler.KEDA_API_VERSION,
            kind=scaler.SCALED_OBJECT_KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels("autoscaler")),
            spec=scaler.scaled_object_spec(
                scaling, s.namespace, name, name if route is not None else None, authentication
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=first),
        )

    def _prometheus(
        self,
        name: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        instance_selector: dict[str, str],
        labels: dict[str, str],
    ) -> None:
        """Create the PodMonitor scraping every rank and, with ``alerts``, the PrometheusRule of its alerts."""
        scrape = s.prometheus
        assert scrape is not None
        alerts = monitoring.inference_alerts(
            monitoring.RankPods(s.namespace, name, s.mode),
            shards=s.shards,
            ttft_p99_slo_s=scrape["ttft_p99_slo_s"],
            rank_not_ready_min=scrape["rank_not_ready_min"],
            queue_growing_min=scrape["queue_growing_min"],
        )
        scrape_objects(
            self,
            resource_names=(f"{name}-pod-monitor", f"{name}-alerts"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=namespace, labels={**labels, **scrape.get("labels", {})}
            ),
            scrape=scrape,
            pods=(instance_selector, s.namespace, rc.METRICS_PORT_NAME),
            rule_group=(f"shardstack-{name}", alerts),
        )

    def _service_account(
        self, name: str, s: ShardedInferenceSettings, namespace: pulumi.Input[str], labels: dict[str, str]
    ) -> k8s.core.v1.ServiceAccount:
        """Create the service account every rank runs as, with the user's labels and annotations."""
        return k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels=_merged(labels, s.service_account_labels),
                annotations=s.service_account_annotations,
            ),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _secret_files(
        self, name: str, s: ShardedInferenceSettings, namespace: pulumi.Input[str], labels: dict[str, str]
    ) -> pulumi.Input[str] | None:
        """Create the Secret of ``secret_files`` when there are any; return its name, else None."""
        if not s.secret_files:
            return None
        secret_files = k8s.core.v1.Secret(
            f"{name}-secret-files",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-files", namespace=namespace, labels=labels),
            type="Opaque",
            string_data=s.secret_files,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret_files.metadata.apply(lambda m: m.name or f"{name}-files")

    def _statefulset_groups(
        self,
        name: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        pod_labels: dict[str, str],
        instance_selector: dict[str, str],
        service_account: k8s.core.v1.ServiceAccount,
        secret_files_name: pulumi.Input[str] | None,
        labels: Callable[[str], dict[str, str]],
    ) -> tuple[list[pulumi.Output[str]], list[tuple[str, dict[str, str]]], dict[str, str]]:
        """Create one headless Service + StatefulSet per group; return names and selectors."""
        group_names: list[pulumi.Output[str]] = []
        group_selectors: list[tuple[str, dict[str, str]]] = []
        for g in range(s.replica_groups):
            group = group_object_name(name, s.mode, g)
            group_value = f"g{g}"
            selector = {**instance_selector, lbl.GROUP: group_value}
            group_selectors.append((group, selector))
            headless = self._rank_dns_service(
                group, s, namespace, {**labels("rank-dns"), lbl.GROUP: group_value}, selector
            )
            pod = RankPod(
                labels={**pod_labels, lbl.GROUP: group_value},
                group_selector=selector,
                instance_selector=instance_selector,
                group_label=lbl.GROUP,
                group_value=group_value,
                leader_addr=leader_dns_name(group, namespace),
                rank_field_path=statefulset_rank_field_path(),
                namespace=namespace,
                service_account_name=service_account.metadata.apply(lambda m: m.name or name),
                secret_files_secret=secret_files_name,
            )
            statefulset = self._statefulset(group, s, pod, headless)
            group_names.append(statefulset.metadata.apply(lambda m, group=group: m.name or group))
        leader_selector = {**instance_selector, lbl.POD_INDEX: "0"}
        return group_names, group_selectors, leader_selector

    def _rank_dns_service(
        self,
        group: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        selector: dict[str, str],
    ) -> k8s.core.v1.Service:
        """Create a group's headless Service, which gives each of its ranks a stable DNS name."""
        return k8s.core.v1.Service(
            f"{group}-headless",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=group, namespace=namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                # Ranks must resolve each other while loading, long before any is ready.
                publish_not_ready_addresses=True,
                selector=selector,
                ports=_rank_ports(s),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _statefulset(
        self, group: str, s: ShardedInferenceSettings, pod: RankPod, headless: k8s.core.v1.Service
    ) -> k8s.apps.v1.StatefulSet:
        """Create a group's StatefulSet: ``shards`` ranks of ``pod``, labelled like them, named via ``headless``."""
        return k8s.apps.v1.StatefulSet(
            group,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=group,
                namespace=pod.namespace,
                labels=pod.labels,
                annotations={
                    # Pulumi's own annotation: create the object without waiting for its rollout.
                    **({} if s.wait_until_ready else {"pulumi.com/skipAwait": "true"}),
                    **skip_annotations(scanner_exceptions(s)),
                }
                or None,
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=s.shards,
                service_name=headless.metadata.apply(lambda m: m.name or group),
                # All ranks start together: none is useful alone and each waits for the others.
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod.group_selector),
                template=rank_pod_template(s, pod),
                # Ranks are replaced highest first, each rejoining its group; use the
                # leaderworkerset mode to restart and roll whole groups at once.
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                volume_claim_templates=_cache_claims(s),
                persistent_volume_claim_retention_policy=(
                    # A cache, not state: claims go with the StatefulSet or the ranks removed.
                    k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_deleted="Delete", when_scaled="Delete"
                    )
                    if s.weights_cache_storage_class
                    else None
                ),
                revision_history_limit=5,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _leaderworkerset_groups(
        self,
        name: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        pod_labels: dict[str, str],
        instance_selector: dict[str, str],
        service_account: k8s.core.v1.ServiceAccount,
        secret_files_name: pulumi.Input[str] | None,
        labels: Callable[[str], dict[str, str]],
    ) -> tuple[list[pulumi.Output[str]], list[tuple[str, dict[str, str]]], dict[str, str]]:
        """Create one LeaderWorkerSet holding every group; return names and selectors."""
        pod = RankPod(
            labels=dict(pod_labels),
            group_selector=None,
            instance_selector=instance_selector,
            group_label=None,
            group_value=None,
            # Injected by LWS ahead of the template's env: <lws>-<group>.<lws>.<namespace>.
            leader_addr=f"$({rc.LWS_LEADER_ADDRESS})",
            rank_field_path=lws_rank_field_path(),
            namespace=namespace,
            service_account_name=service_account.metadata.apply(lambda m: m.name or name),
            secret_files_secret=secret_files_name,
        )
        template = rank_pod_template(s, pod)
        leader_worker_template: dict[str, Any] = {
            "size": s.shards,
            # A group is one unit: any rank's restart recreates the whole group.
            "restartPolicy": "RecreateGroupOnPodRestart",
            "workerTemplate": template,
        }
        claims = _cache_claims(s)
        if claims:
            leader_worker_template["volumeClaimTemplates"] = claims
        lws = k8s.apiextensions.CustomResource(
            f"{name}-lws",
            api_version=LWS_API_VERSION,
            kind=LWS_KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(RANK_COMPONENT)),
            spec={
                "replicas": s.replica_groups if s.autoscaling is None else s.autoscaling.min_groups,
                "leaderWorkerTemplate": leader_worker_template,
                # Roll one group at a time; the others keep serving.
                "rolloutStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
                },
                "startupPolicy": "LeaderCreated",
                "networkConfig": {"subdomainPolicy": "Shared"},
            },
            # KEDA owns the number of groups once it scales them: an update must not reset it.
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["spec.replicas"] if s.autoscaling is not None else None
            ),
        )
        if s.autoscaling is not None:
            self._group_scaler(name, s, namespace, lws, labels)
        # Each group is named after its leader pod, <lws>-<index>; known once the LWS exists. An autoscaled
        # deployment's groups are those it may have: each gets its NetworkPolicy before it exists.
        group_names = [lws.id.apply(lambda _, g=g: group_object_name(name, s.mode, g)) for g in range(s.groups_at_most)]
        group_selectors = [
            (group_object_name(name, s.mode, g), {**instance_selector, lbl.LWS_GROUP_INDEX: str(g)})
            for g in range(s.groups_at_most)
        ]
        leader_selector = {**instance_selector, lbl.LWS_WORKER_INDEX: "0"}
        return group_names, group_selectors, leader_selector

    def _api_service(
        self,
        name: str,
        s: ShardedInferenceSettings,
        namespace: pulumi.Input[str],
        leader_selector: dict[str, str],
        labels: dict[str, str],
    ) -> k8s.core.v1.Service:
        """Create the Service in front of every group's leader."""
        spec = k8s.core.v1.ServiceSpecArgs(
            type="LoadBalancer" if s.public else "ClusterIP",
            selector=leader_selector,
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name="http",
                    port=s.api_port,
                    target_port=rc.API_PORT_NAME,
                    protocol="TCP",
                    app_protocol="http",
                )
            ],
            load_balancer_source_ranges=s.allowed_cidrs if s.public else None,
            # Keep the client's address so the NetworkPolicy can check it against allowed_cidrs.
            external_traffic_policy="Local" if s.public else None,
        )
        return k8s.core.v1.Service(
            f"{name}-api",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=api_service_name(name),
                namespace=namespace,
                labels=labels,
                annotations=s.api_service_annotations or None,
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _disruption_budget(
        self, name: str, namespace: pulumi.Input[str], instance_selector: dict[str, str], labels: dict[str, str]
    ) -> None:
        """Create the one PodDisruptionBudget over every rank of every group (see PDB_MAX_UNAVAILABLE)."""
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=PDB_MAX_UNAVAILABLE,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=instance_selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _network_policies(self, name: str, s: ShardedInferenceSettings, target: netpol.PolicyTarget) -> None:
        """Create the NetworkPolicies: deny by default, ranks within each group, API and (optionally) metrics."""
        child = pulumi.ResourceOptions(parent=self)
        netpol.default_deny(f"{name}-default-deny", f"{name}-default-deny", target, child)
        for group_name, selector in target.group_selectors:
            netpol.within_group(f"{group_name}-ranks", f"{group_name}-ranks", selector, target, child)
        netpol.api_access(
            f"{name}-api-access",
            f"{name}-api",
            target,
            api_port=s.api_port,
            allowed_namespaces=s.api_allowed_namespaces,
            allowed_cidrs=s.allowed_cidrs if s.public else [],
            opts=child,
            interceptor_namespace=(
                s.autoscaling.keda_namespace if s.autoscaling is not None and s.autoscaling.scales_to_zero else None
            ),
        )
        if s.monitoring_namespace_selector is not None or s.monitoring_cidrs is not None:
            netpol.metrics_access(
                f"{name}-metrics-access",
                f"{name}-metrics",
                target,
                metrics_port=s.metrics_port,
                scraped_by=netpol.scrapers(s.monitoring_namespace_selector, s.monitoring_cidrs),
                opts=child,
            )


def api_service_name(name: str) -> str:
    """The Service in front of every group's leader."""
    return f"{name}-api"


def _rank_ports(s: ShardedInferenceSettings) -> list[k8s.core.v1.ServicePortArgs]:
    return [
        k8s.core.v1.ServicePortArgs(name=rc.API_PORT_NAME, port=s.api_port, target_port=rc.API_PORT_NAME),
        k8s.core.v1.ServicePortArgs(
            name=rc.RENDEZVOUS_PORT_NAME, port=s.rendezvous_port, target_port=rc.RENDEZVOUS_PORT_NAME
        ),
        k8s.core.v1.ServicePortArgs(name=rc.METRICS_PORT_NAME, port=s.metrics_port, target_port=rc.METRICS_PORT_NAME),
    ]


def _cache_claims(s: ShardedInferenceSettings) -> list[k8s.core.v1.PersistentVolumeClaimArgs] | None:
    if not s.weights_cache_storage_class:
        return None
    return [
        k8s.core.v1.PersistentVolumeClaimArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CACHE_VOLUME),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=s.weights_cache_storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": quantity_gib(s.weights_cache_gib)}
                ),
            ),
        )
    ]


def _merged(
    base: dict[str, str], extra: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None
) -> pulumi.Input[Mapping[str, pulumi.Input[str]]]:
    """Return ``extra`` labels with ours on top (ours win: selectors depend on them)."""
    if extra is None:
        return base
    return pulumi.Output.from_input(extra).apply(lambda e: {**dict(e), **base})


def _endpoint(
    name: str,
    s: ShardedInferenceSettings,
    api_service: k8s.core.v1.Service,
    service_name: pulumi.Output[str],
    namespace: pulumi.Output[str],
) -> pulumi.Output[str]:
    """Return the API base URL: the load balancer's once it is known for a public API, the interceptor's for a
    deployment that scales to zero groups, else the leaders' Service's in the cluster."""
    if s.autoscaling is not None and s.autoscaling.scales_to_zero:
        return wake_path.endpoint(name, namespace)
    cluster_url = pulumi.Output.concat("http://", service_name, ".", namespace, ".svc.cluster.local:", str(s.api_port))
    if not s.public:
        return cluster_url
    return pulumi.Output.all(api_service.status, cluster_url).apply(
        lambda parts: _public_url(parts[0], s.api_port) or parts[1]
    )


def _public_url(status: Any, port: int) -> str | None:
    """Return ``http://<load balancer host or ip>:<port>`` from a Service status, when it has one."""
    load_balancer = getattr(status, "load_balancer", None)
    if load_balancer is None and isinstance(status, Mapping):
        load_balancer = status.get("loadBalancer") or status.get("load_balancer")
    ingress = getattr(load_balancer, "ingress", None)
    if ingress is None and isinstance(load_balancer, Mapping):
        ingress = load_balancer.get("ingress")
    for entry in ingress or []:
        host = (
            (entry.get("hostname") or entry.get("ip"))
            if isinstance(entry, Mapping)
            else (getattr(entry, "hostname", None) or getattr(entry, "ip", None))
        )
        if host:
            return f"http://{host}:{port}"
    return None
