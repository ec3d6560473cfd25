"""GpuEnablement under recording mocks: device plugin, DCGM exporter, defaults and validation."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.k8s import GpuEnablement, validate_gpu_enablement_args
from shardstack.k8s.gpu_enablement import DCGM_EXPORTER_IMAGE, DEVICE_PLUGIN_IMAGE
from shardstack.testing import Graph, Resource, run_program, run_refused

DS = "kubernetes:apps/v1:DaemonSet"
SVC = "kubernetes:core/v1:Service"
NS = "kubernetes:core/v1:Namespace"
SA = "kubernetes:core/v1:ServiceAccount"
QUOTA = "kubernetes:core/v1:ResourceQuota"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

GPU_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
]


def render(**args: Any) -> Graph:
    return run_program(lambda: GpuEnablement("gpu", args))  # type: ignore[arg-type]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: GpuEnablement("gpu", args), ArgumentError)  # type: ignore[arg-type]


def pod(ds: Resource) -> dict[str, Any]:
    return ds.inputs["spec"]["template"]["spec"]


def device_plugin(graph: Graph) -> Resource:
    return graph.one(DS, "gpu-device-plugin")


def dcgm(graph: Graph) -> Resource:
    return graph.one(DS, "gpu-dcgm-exporter")


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one("shardstack:k8s:GpuEnablement")
    children = graph.children(component)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("gpu-") for r in children)


def test_default_creates_the_device_plugin_only() -> None:
    assert render().count_by_type() == {DS: 1, NS: 1, NETPOL: 1, QUOTA: 1, SA: 1}


def test_provider_passed_to_the_component_reaches_every_child() -> None:
    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        GpuEnablement("gpu", {"dcgm_exporter": True}, opts=pulumi.ResourceOptions(providers=[provider]))

    objects = [r for r in run_program(program) if r.custom and r.inputs.get("apiVersion")]
    assert objects and all(r.provider and "::cluster::" in r.provider for r in objects)


def test_default_namespace_allows_the_host_path_the_plugin_needs() -> None:
    ns = render().one(NS).inputs["metadata"]
    assert ns["name"] == "shardstack-gpu"
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert ns["labels"]["pod-security.kubernetes.io/audit"] == "baseline"


def test_existing_namespace_is_used_when_create_namespace_is_false() -> None:
    graph = render(namespace="kube-system", create_namespace=False)
    assert graph.of_type(NS) == []
    assert {r.inputs["metadata"]["namespace"] for r in graph if r.custom} == {"kube-system"}


def test_device_plugin_image_is_a_pinned_017_release() -> None:
    (c,) = pod(device_plugin(render()))["containers"]
    assert c["image"] == DEVICE_PLUGIN_IMAGE
    assert c["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v0.17.")
    assert c["imagePullPolicy"] == "IfNotPresent"


def test_device_plugin_runs_only_on_gpu_nodes_and_tolerates_the_gpu_taint() -> None:
    spec = pod(device_plugin(render()))
    assert spec["nodeSelector"] == {"shardstack.dev/gpu": "true"}
    assert spec["tolerations"] == GPU_TOLERATIONS
    assert spec["priorityClassName"] == "system-node-critical"


def test_gpu_node_selector_and_extra_tolerations_apply_to_both_daemonsets() -> None:
    graph = render(
        dcgm_exporter=True,
        gpu_node_selector={"kubernetes.azure.com/accelerator": "nvidia"},
        tolerations=[{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    )
    for ds in (device_plugin(graph), dcgm(graph)):
        spec = pod(ds)
        assert spec["nodeSelector"] == {"kubernetes.azure.com/accelerator": "nvidia"}
        assert spec["tolerations"] == [
            *GPU_TOLERATIONS,
            {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        ]


def test_device_plugin_mounts_only_the_kubelet_device_plugin_directory() -> None:
    spec = pod(device_plugin(render()))
    host_paths = [v["hostPath"] for v in spec["volumes"] if "hostPath" in v]
    assert host_paths == [{"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}]
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts == {"/var/lib/kubelet/device-plugins", "/tmp"}


def test_device_plugin_security_context_is_as_tight_as_the_socket_allows() -> None:
    spec = pod(device_plugin(render()))
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    assert spec["containers"][0]["securityContext"] == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_device_plugin_requests_and_limits_resources() -> None:
    resources = pod(device_plugin(render()))["containers"][0]["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory", "ephemeral-storage"}


def test_device_plugin_service_account_has_no_token() -> None:
    sa = render().one(SA).inputs
    assert sa["metadata"]["name"] == "nvidia-device-plugin"
    assert sa["automountServiceAccountToken"] is False
    assert pod(device_plugin(render()))["serviceAccountName"] == "nvidia-device-plugin"


def test_critical_pods_are_admitted_by_a_scoped_quota() -> None:
    quota = render().one(QUOTA).inputs["spec"]
    assert quota["hard"] == {"pods": "1000"}
    assert quota["scopeSelector"] == {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["system-node-critical"]}]
    }


def test_ingress_to_the_add_ons_is_denied_by_default() -> None:
    (deny,) = render().of_type(NETPOL)
    assert deny.inputs["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "gpu"}},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }


def test_every_object_carries_the_recommended_labels() -> None:
    for r in render(dcgm_exporter=True):
        if r.custom:
            labels = r.inputs["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "gpu"
            assert labels["app.kubernetes.io/part-of"] == "shardstack"
            assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert device_plugin(render()).inputs["metadata"]["labels"]["app.kubernetes.io/version"] == "v0.17.4"


def test_device_plugin_can_be_left_to_the_cloud() -> None:
    graph = render(device_plugin=False, dcgm_exporter=True)
    assert [r.name for r in graph.of_type(DS)] == ["gpu-dcgm-exporter"]


def test_dcgm_exporter_is_off_by_default() -> None:
    graph = render()
    assert graph.of_type(SVC) == []
    assert [r.name for r in graph.of_type(DS)] == ["gpu-device-plugin"]


def test_dcgm_exporter_runs_on_gpu_nodes_with_a_metrics_service() -> None:
    graph = render(dcgm_exporter=True)
    spec = pod(dcgm(graph))
    assert spec["nodeSelector"] == {"shardstack.dev/gpu": "true"}
    assert spec["tolerations"] == GPU_TOLERATIONS
    (c,) = spec["containers"]
    assert c["image"] == DCGM_EXPORTER_IMAGE
    assert c["image"].startswith("nvcr.io/nvidia/k8s/dcgm-exporter:")
    assert c["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "metrics", "scheme": "HTTP"}
    assert c["args"] == ["-f", "/etc/dcgm-exporter/default-counters.csv"]
    assert set(c["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    svc = graph.one(SVC).inputs
    assert svc["metadata"]["name"] == "dcgm-exporter"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/name": "dcgm-exporter",
        "app.kubernetes.io/instance": "gpu",
    }
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9400, "targetPort": "metrics", "protocol": "TCP"}]


def test_dcgm_exporter_has_no_extra_capabilities_and_a_read_only_pod_resources_mount() -> None:
    spec = pod(dcgm(render(dcgm_exporter=True)))
    ctx = spec["containers"][0]["securityContext"]
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["allowPrivilegeEscalation"] is False and ctx["privileged"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/var/lib/kubelet/pod-resources"]["readOnly"] is True


def test_dcgm_metrics_are_open_to_the_monitoring_namespaces_only() -> None:
    graph = render(dcgm_exporter=True, monitoring_namespace_selector={"kubernetes.io/metadata.name": "monitoring"})
    (allow,) = [r for r in graph.of_type(NETPOL) if r.name == "gpu-dcgm-metrics-access"]
    assert allow.inputs["spec"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"port": 9400, "protocol": "TCP"}],
        }
    ]
    assert len(render(dcgm_exporter=True).of_type(NETPOL)) == 1  # only the default deny


def test_outputs() -> None:
    def program() -> None:
        gpu = GpuEnablement("gpu", {"dcgm_exporter": True})
        pulumi.export("namespace", gpu.namespace)
        pulumi.export("device_plugin_name", gpu.device_plugin_name)
        pulumi.export("dcgm_exporter_service_name", gpu.dcgm_exporter_service_name)
        pulumi.export("dcgm_metrics_endpoint", gpu.dcgm_metrics_endpoint)

    assert run_program(program).outputs == {
        "namespace": "shardstack-gpu",
        "device_plugin_name": "nvidia-device-plugin",
        "dcgm_exporter_service_name": "dcgm-exporter",
        "dcgm_metrics_endpoint": "http://dcgm-exporter.shardstack-gpu.svc.cluster.local:9400/metrics",
    }


def test_images_can_be_pinned_by_digest() -> None:
    digest = "nvcr.io/nvidia/k8s-device-plugin@sha256:" + "b" * 64
    (c,) = pod(device_plugin(render(device_plugin_image=digest)))["containers"]
    assert c["image"] == digest


# -- validation -----------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_gpu_enablement_args({"dcgm_exporter": True}, name="gpu") == []


def test_fails_when_nothing_is_enabled() -> None:
    (problem,) = failure(device_plugin=False).problems
    assert problem.startswith("device_plugin=False and dcgm_exporter=False leave nothing to create")


def test_fails_when_a_flag_is_not_a_boolean() -> None:
    assert "dcgm_exporter='yes' must be true or false" in failure(dcgm_exporter="yes").problems


def test_fails_when_the_namespace_is_not_a_dns_label() -> None:
    (problem,) = failure(namespace="GPU").problems
    assert problem.startswith("namespace='GPU' is not a valid Kubernetes name")


def test_fails_when_the_gpu_node_selector_is_empty() -> None:
    (problem,) = failure(gpu_node_selector={}).problems
    assert problem.startswith("gpu_node_selector={} would run the GPU add-ons on every node")


def test_fails_when_a_toleration_operator_is_unknown() -> None:
    (problem,) = failure(tolerations=[{"key": "sku", "operator": "In", "value": "gpu"}]).problems
    assert problem == "tolerations[0].operator='In' must be one of 'Exists', 'Equal'"


def test_fails_when_a_toleration_effect_is_unknown() -> None:
    (problem,) = failure(tolerations=[{"key": "sku", "operator": "Exists", "effect": "NoScedule"}]).problems
    assert problem.startswith("tolerations[0].effect='NoScedule' must be one of")
    assert "(did you mean 'NoSchedule'?)" in problem


def test_fails_when_an_exists_toleration_has_a_value() -> None:
    (problem,) = failure(tolerations=[{"key": "sku", "operator": "Exists", "value": "gpu"}]).problems
    assert problem == (
        "tolerations[0].value='gpu' is given with operator 'Exists', which matches every value: drop the value"
    )


def test_fails_when_an_argument_is_unknown() -> None:
    (problem,) = failure(dcgm_exporters=True).problems
    assert problem == "unknown argument 'dcgm_exporters' (did you mean 'dcgm_exporter'?)"


def test_fails_when_an_image_is_empty() -> None:
    (problem,) = failure(device_plugin_image="").problems
    assert problem.startswith("device_plugin_image='' must be an image reference")


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("GpuEnablement")
    (resource,) = schema["resources"].values()
    assert resource.get("requiredInputs", []) == []
    assert sorted(resource["properties"]) == [
        "dcgmExporterServiceName",
        "dcgmMetricsEndpoint",
        "devicePluginName",
        "namespace",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
