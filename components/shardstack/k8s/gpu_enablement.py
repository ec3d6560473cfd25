"""GpuEnablement: make NVIDIA GPUs schedulable (device plugin) and observable (DCGM exporter).

Usage::

    from shardstack.k8s import GpuEnablement

    GpuEnablement("gpu", {"dcgm_exporter": True},
                  opts=pulumi.ResourceOptions(providers=[k8s_provider]))

Plain Kubernetes objects, no Helm chart fetched at deploy time. Both DaemonSets run only on nodes
labelled ``shardstack.dev/gpu: "true"`` and tolerate the ``nvidia.com/gpu`` taint. On GKE, which
installs its own device plugin, pass ``device_plugin=False``.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.errors import ArgumentError
from shardstack.k8s import labels as lbl
from shardstack.k8s import monitoring, names, pod_security
from shardstack.k8s import network_policies as netpol
from shardstack.k8s.args import GpuEnablementArgs
from shardstack.k8s.monitoring_specs import GPU_PROMETHEUS
from shardstack.k8s.scanner_skips import THIRD_PARTY_TAG, image_tag_reasons, skip_annotations
from shardstack.k8s.scrape import scrape_objects
from shardstack.k8s.specs import DCGM_EXPORTER_IMAGE, DEFAULT_GPU_NODE_SELECTOR, DEVICE_PLUGIN_IMAGE, GPU_ENABLEMENT
from shardstack.k8s.specs import GPU_ENABLEMENT_NAMESPACE as DEFAULT_NAMESPACE
from shardstack.k8s.tolerations import Toleration, toleration_args
from shardstack.specs.problem import as_arguments

__all__ = [
    "DCGM_EXPORTER_IMAGE",
    "DEFAULT_GPU_NODE_SELECTOR",
    "DEFAULT_NAMESPACE",
    "DEVICE_PLUGIN_IMAGE",
    "GpuEnablement",
    "GpuEnablementArgs",
    "validate_gpu_enablement_args",
]

TYPE_TOKEN = "shardstack:k8s:GpuEnablement"

DEVICE_PLUGIN_NAME = "nvidia-device-plugin"
DCGM_EXPORTER_NAME = "dcgm-exporter"
DCGM_METRICS_PORT = 9400
"""dcgm-exporter's default listen port."""

DEVICE_PLUGIN_PROBES = (
    "the device plugin serves no health endpoint; the kubelet's device-plugin registration is its health signal "
    "(the plugin exits and restarts when the kubelet's socket goes away)"
)
DEVICE_PLUGIN_ROOT = (
    "the device plugin creates its socket in the kubelet's root-owned /var/lib/kubelet/device-plugins; it runs as "
    "root with every capability dropped and no privilege escalation"
)
DCGM_ROOT = (
    "DCGM's host engine opens the node's GPUs and the kubelet's root-only pod-resources socket; every capability is "
    "dropped (no SYS_ADMIN: profiling counters stay off)"
)
"""Why the GPU node agents cannot pass some of checkov's checks (annotated on their DaemonSets)."""

CRITICAL_POD_QUOTA = 1000
"""Pods of priority class system-node-critical allowed in the namespace. Some clusters (GKE) refuse
such pods outside kube-system unless a ResourceQuota scoped to the class admits them; 1000 covers
two DaemonSet pods on 500 GPU nodes."""

DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
POD_RESOURCES_DIR = "/var/lib/kubelet/pod-resources"


def _root_without_capabilities() -> k8s.core.v1.SecurityContextArgs:
    """Root for the root-owned kubelet files an agent must open, and nothing else: no capabilities,
    no privilege escalation, a read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_user=0,
        run_as_non_root=False,
        privileged=False,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=pod_security.RUNTIME_DEFAULT_SECCOMP,
    )


def validate_gpu_enablement_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GpuEnablement arguments (and its resource ``name``), one line each."""
    problems = as_arguments(GPU_ENABLEMENT.check(args))
    if name is not None:
        problem = names.dns_label_problem("name", name)
        if problem:
            problems.append(problem)
    return problems


class GpuEnablement(pulumi.ComponentResource):
    """Creates the NVIDIA device plugin and, optionally, the DCGM exporter on GPU nodes."""

    namespace: pulumi.Output[str]
    """Namespace of the add-ons."""
    device_plugin_name: pulumi.Output[str] | None
    """Name of the device plugin DaemonSet; None when ``device_plugin`` is False."""
    dcgm_exporter_service_name: pulumi.Output[str] | None
    """Name of the DCGM exporter metrics Service; None when ``dcgm_exporter`` is False."""
    dcgm_metrics_endpoint: pulumi.Output[str] | None
    """In-cluster URL of the DCGM metrics; None when ``dcgm_exporter`` is False."""

    def __init__(self, name: str, args: GpuEnablementArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_gpu_enablement_args(args, name=name)
        if problems:
            raise ArgumentError(f"GpuEnablement {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        namespace_name = args.get("namespace", DEFAULT_NAMESPACE)
        node_selector = dict(args.get("gpu_node_selector", DEFAULT_GPU_NODE_SELECTOR))
        tolerations = _tolerations(args.get("tolerations", []))
        selector, cidrs = args.get("monitoring_namespace_selector"), args.get("monitoring_cidrs")
        scraped_by = None if selector is None and cidrs is None else netpol.scrapers(selector, cidrs)

        def labels(app: str, component: str, version: str | None = None) -> dict[str, str]:
            return lbl.standard_labels(app, name, component, version=version)

        namespace = self._namespace(
            name, namespace_name, labels("shardstack-gpu", "namespace"), args.get("create_namespace", True)
        )
        self._critical_pod_quota(name, namespace, labels("shardstack-gpu", "quota"))
        self._default_deny(name, namespace, labels("shardstack-gpu", "network-policy"))

        self.device_plugin_name = None
        if args.get("device_plugin", True):
            image = args.get("device_plugin_image", DEVICE_PLUGIN_IMAGE)
            plugin = self._device_plugin(name, namespace, image, node_selector, tolerations, labels)
            self.device_plugin_name = plugin.metadata.apply(lambda m: m.name or DEVICE_PLUGIN_NAME)

        self.dcgm_exporter_service_name = None
        self.dcgm_metrics_endpoint = None
        if args.get("dcgm_exporter", False):
            image = args.get("dcgm_exporter_image", DCGM_EXPORTER_IMAGE)
            service = self._dcgm_exporter(name, namespace, image, node_selector, tolerations, scraped_by, labels)
            scrape = args.get("prometheus")
            if scrape is not None:
                self._prometheus(name, namespace_name, namespace, GPU_PROMETHEUS.resolved(scrape), labels)
            self.dcgm_exporter_service_name = service.metadata.apply(lambda m: m.name or DCGM_EXPORTER_NAME)
            self.dcgm_metrics_endpoint = pulumi.Output.concat(
                "http://",
                self.dcgm_exporter_service_name,
                ".",
                namespace,
                f".svc.cluster.local:{DCGM_METRICS_PORT}/metrics",
            )

        self.namespace = pulumi.Output.from_input(namespace)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "device_plugin_name": self.device_plugin_name,
                "dcgm_exporter_service_name": self.dcgm_exporter_service_name,
                "dcgm_metrics_endpoint": self.dcgm_metrics_endpoint,
            }
        )

    def _namespace(self, name: str, namespace_name: str, labels: dict[str, str], create: bool) -> pulumi.Input[str]:
        """Create the add-ons' privileged namespace when asked; return its name (an Output when created)."""
        if not create:
            return namespace_name
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace_name, labels={**labels, **pod_security.PRIVILEGED_NAMESPACE_LABELS}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return ns.metadata.apply(lambda m: m.name or namespace_name)

    def _critical_pod_quota(self, name: str, namespace: pulumi.Input[str], labels: dict[str, str]) -> None:
        """Create the ResourceQuota admitting system-node-critical pods in the namespace (see CRITICAL_POD_QUOTA)."""
        k8s.core.v1.ResourceQuota(
            f"{name}-critical-pods",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-critical-pods", namespace=namespace, labels=labels),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={"pods": str(CRITICAL_POD_QUOTA)},
                scope_selector=k8s.core.v1.ScopeSelectorArgs(
                    match_expressions=[
                        k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                            scope_name="PriorityClass", operator="In", values=["system-node-critical"]
                        )
                    ]
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _default_deny(self, name: str, namespace: pulumi.Input[str], labels: dict[str, str]) -> None:
        """Create the NetworkPolicy denying all ingress to the add-ons' pods."""
        # Nothing may connect to the add-ons' pods except, when allowed, Prometheus to DCGM.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-default-deny", namespace=namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={lbl.INSTANCE: name}),
                policy_types=["Ingress"],
                ingress=[],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _node_agent(
        self,
        resource_name: str,
        object_name: str,
        namespace: pulumi.Input[str],
        object_labels: dict[str, str],
        selector: dict[str, str],
        node_selector: dict[str, str],
        tolerations: list[k8s.core.v1.TolerationArgs],
        container: k8s.core.v1.ContainerArgs,
        host_volume: k8s.core.v1.VolumeArgs,
        *,
        cannot_pass: Mapping[str, str],
    ) -> k8s.apps.v1.DaemonSet:
        """Create a GPU-node agent: its service account and a DaemonSet of ``container`` on every GPU node.

        ``cannot_pass``: the scanner checks the agent cannot pass, with why (annotated on the DaemonSet).
        """
        child = pulumi.ResourceOptions(parent=self)
        service_account = k8s.core.v1.ServiceAccount(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=object_labels),
            automount_service_account_token=False,
            opts=child,
        )
        return k8s.apps.v1.DaemonSet(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=object_name,
                namespace=namespace,
                labels=object_labels,
                annotations=skip_annotations(cannot_pass) or None,
            ),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=object_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account.metadata.apply(lambda m: m.name or object_name),
                        automount_service_account_token=False,
                        enable_service_links=False,
                        # Without it a full node could evict the agent and lose every GPU at once.
                        priority_class_name="system-node-critical",
                        node_selector=node_selector,
                        tolerations=tolerations,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            seccomp_profile=pod_security.RUNTIME_DEFAULT_SECCOMP
                        ),
                        containers=[container],
                        volumes=[
                            host_volume,
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
                            ),
                        ],
                    ),
                ),
            ),
            opts=child,
        )

    def _device_plugin(
        self,
        name: str,
        namespace: pulumi.Input[str],
        image: str,
        node_selector: dict[str, str],
        tolerations: list[k8s.core.v1.TolerationArgs],
        labels: Callable[..., dict[str, str]],
    ) -> k8s.apps.v1.DaemonSet:
        version = lbl.version_from_image(image)
        object_labels = labels(DEVICE_PLUGIN_NAME, "device-plugin", version)
        selector = lbl.selector_labels(DEVICE_PLUGIN_NAME, name)
        container = k8s.core.v1.ContainerArgs(
            name="device-plugin",
            image=image,
            image_pull_policy="IfNotPresent",
            # Do not crash-loop on a node whose driver is still installing; it retries on restart.
            env=[k8s.core.v1.EnvVarArgs(name="FAIL_ON_INIT_ERROR", value="false")],
            # Root is needed to create its socket in the kubelet's root-owned directory.
            security_context=_root_without_capabilities(),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "64Mi"},
                limits={"cpu": "200m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="device-plugins", mount_path=DEVICE_PLUGIN_DIR),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
            termination_message_policy="FallbackToLogsOnError",
        )
        return self._node_agent(
            f"{name}-device-plugin",
            DEVICE_PLUGIN_NAME,
            namespace,
            object_labels,
            selector,
            node_selector,
            tolerations,
            container,
            k8s.core.v1.VolumeArgs(
                name="device-plugins",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=DEVICE_PLUGIN_DIR, type="Directory"),
            ),
            cannot_pass={
                **image_tag_reasons(image, THIRD_PARTY_TAG),
                "CKV_K8S_8": DEVICE_PLUGIN_PROBES,
                "CKV_K8S_9": DEVICE_PLUGIN_PROBES,
                "CKV_K8S_23": DEVICE_PLUGIN_ROOT,
                "CKV_K8S_40": DEVICE_PLUGIN_ROOT,
            },
        )

    def _dcgm_exporter(
        self,
        name: str,
        namespace: pulumi.Input[str],
        image: str,
        node_selector: dict[str, str],
        tolerations: list[k8s.core.v1.TolerationArgs],
        scraped_by: pulumi.Input[list[k8s.networking.v1.NetworkPolicyPeerArgs]] | None,
        labels: Callable[..., dict[str, str]],
    ) -> k8s.core.v1.Service:
        child = pulumi.ResourceOptions(parent=self)
        object_labels = labels(DCGM_EXPORTER_NAME, "gpu-metrics", lbl.version_from_image(image))
        selector = lbl.selector_labels(DCGM_EXPORTER_NAME, name)
        container = _dcgm_container(image)
        self._node_agent(
            f"{name}-dcgm-exporter",
            DCGM_EXPORTER_NAME,
            namespace,
            object_labels,
            selector,
            node_selector,
            tolerations,
            container,
            k8s.core.v1.VolumeArgs(
                name="pod-resources",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=POD_RESOURCES_DIR, type="Directory"),
            ),
            cannot_pass={
                **image_tag_reasons(image, THIRD_PARTY_TAG),
                "CKV_K8S_23": DCGM_ROOT,
                "CKV_K8S_40": DCGM_ROOT,
            },
        )
        service = k8s.core.v1.Service(
            f"{name}-dcgm-exporter",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DCGM_EXPORTER_NAME, namespace=namespace, labels=object_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="metrics", port=DCGM_METRICS_PORT, target_port="metrics", protocol="TCP"
                    )
                ],
            ),
            opts=child,
        )
        if scraped_by is not None:
            self._dcgm_metrics_access(name, namespace, object_labels, selector, scraped_by)
        return service

    def _prometheus(
        self,
        name: str,
        namespace_name: str,
        namespace: pulumi.Input[str],
        scrape: Mapping[str, Any],
        labels: Callable[..., dict[str, str]],
    ) -> None:
        """Create the PodMonitor scraping the DCGM exporter and, with ``alerts``, the PrometheusRule of the GPUs."""
        scrape_objects(
            self,
            resource_names=(f"{name}-dcgm-pod-monitor", f"{name}-gpu-alerts"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-{DCGM_EXPORTER_NAME}",
                namespace=namespace,
                labels={**labels(DCGM_EXPORTER_NAME, "monitoring"), **scrape.get("labels", {})},
            ),
            scrape=scrape,
            pods=(lbl.selector_labels(DCGM_EXPORTER_NAME, name), namespace_name, "metrics"),
            rule_group=(f"shardstack-{name}-gpus", monitoring.gpu_alerts()),
        )

    def _dcgm_metrics_access(
        self,
        name: str,
        namespace: pulumi.Input[str],
        object_labels: dict[str, str],
        selector: dict[str, str],
        scraped_by: pulumi.Input[list[k8s.networking.v1.NetworkPolicyPeerArgs]],
    ) -> None:
        """Create the NetworkPolicy letting the scrapers (``monitoring_namespace_selector``, ``monitoring_cidrs``)
        reach the DCGM metrics."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-dcgm-metrics-access",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{name}-dcgm-metrics", namespace=namespace, labels=object_labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=scraped_by,
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=DCGM_METRICS_PORT, protocol="TCP")],
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _dcgm_container(image: str) -> k8s.core.v1.ContainerArgs:
    """Return the DCGM exporter container: the default GPU counters on DCGM_METRICS_PORT, labelled by pod."""
    probe_action = k8s.core.v1.HTTPGetActionArgs(path="/health", port="metrics", scheme="HTTP")
    return k8s.core.v1.ContainerArgs(
        name="dcgm-exporter",
        image=image,
        image_pull_policy="IfNotPresent",
        # The default counters need no SYS_ADMIN; profiling (DCP) counters would.
        args=["-f", "/etc/dcgm-exporter/default-counters.csv"],
        env=[
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_KUBERNETES", value="true"),
            k8s.core.v1.EnvVarArgs(name="DCGM_EXPORTER_LISTEN", value=f":{DCGM_METRICS_PORT}"),
            k8s.core.v1.EnvVarArgs(
                name="NODE_NAME",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="spec.nodeName")
                ),
            ),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=DCGM_METRICS_PORT, protocol="TCP")],
        # DCGM's embedded host engine opens every GPU of the node and the kubelet's
        # pod-resources socket (to label metrics with pods): both are root-only.
        security_context=_root_without_capabilities(),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
            limits={"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "256Mi"},
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_action, initial_delay_seconds=45, period_seconds=10, timeout_seconds=5
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=probe_action, initial_delay_seconds=15, period_seconds=10, timeout_seconds=5
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="pod-resources", mount_path=POD_RESOURCES_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
        termination_message_policy="FallbackToLogsOnError",
    )


def _tolerations(extra: Sequence[Toleration]) -> list[k8s.core.v1.TolerationArgs]:
    tolerations = [
        k8s.core.v1.TolerationArgs(key=lbl.GPU_TAINT_KEY, operator="Exists", effect=lbl.GPU_TAINT_EFFECT),
        # Nodes reserved for critical add-ons (some clouds' system pools) still get the plugin.
        k8s.core.v1.TolerationArgs(key="CriticalAddonsOnly", operator="Exists"),
    ]
    tolerations.extend(toleration_args(t) for t in extra)
    return tolerations
