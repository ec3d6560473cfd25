"""The way in to a ShardedInference that scales to zero groups: KEDA's HTTP interceptor, and what answers when a
group does not wake in time.

- ``<name>-interceptor``: an ExternalName Service in the model's namespace for the interceptor's proxy (KEDA's
  namespace), which callers use as the endpoint: the interceptor holds each request until a leader is ready.
- ``<name>`` InterceptorRoute: the interceptor's route for those host names to the leaders' Service, its readiness
  bound (``wake_timeout_s``), and its cold-start fallback;
- ``<name>-cold-start``: the fallback, a small Deployment of the runtime image answering 503 with Retry-After
  (``shardstack-runtime cold-start``), its Service, and a NetworkPolicy letting only the interceptor reach it.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s import group_scaler as scaler
from shardstack.k8s import labels as lbl
from shardstack.k8s import network_policies as netpol
from shardstack.k8s import pod_security
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.group_scaler import GroupScaling
from shardstack.k8s.scanner_skips import skip_annotations
from shardstack.k8s.sharded_inference_args import ShardedInferenceSettings

COLD_START_APP = "shardstack-cold-start"
"""The fallback's app label: not the ranks' (their PDB, NetworkPolicies and Service must not select it)."""
COLD_START_CPU = "100m"
COLD_START_MEMORY = "256Mi"
"""One uvicorn process answering 503s: a tenth of a core and a quarter GiB hold it with room."""
CONTAINER_NAME = "cold-start"


def interceptor_service_name(name: str) -> str:
    return f"{name}-interceptor"


def cold_start_name(name: str) -> str:
    return f"{name}-cold-start"


def endpoint(name: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """The URL callers use: the interceptor's, through the ExternalName Service (its port is the proxy's)."""
    return pulumi.Output.concat(
        "http://", interceptor_service_name(name), ".", namespace, ".svc.cluster.local:",
        str(scaler.INTERCEPTOR_PROXY_PORT),
    )  # fmt: skip


def create(
    owner: pulumi.Resource,
    name: str,
    s: ShardedInferenceSettings,
    scaling: GroupScaling,
    namespace: pulumi.Input[str],
    *,
    leaders_service: str,
    labels: Callable[[str], dict[str, str]],
    scanner_reasons: dict[str, str],
) -> k8s.apiextensions.CustomResource:
    """Create the way in (see the module's doc); return the InterceptorRoute, which the ScaledObject names."""
    child = pulumi.ResourceOptions(parent=owner)
    interceptor = interceptor_service_name(name)
    k8s.core.v1.Service(
        interceptor,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=interceptor, namespace=namespace, labels=labels("interceptor")),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ExternalName",
            external_name=f"{scaler.INTERCEPTOR_PROXY_SERVICE}.{scaling.keda_namespace}.svc.cluster.local",
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=scaler.INTERCEPTOR_PROXY_PORT, protocol="TCP")],
        ),
        opts=child,
    )
    fallback = _cold_start(owner, name, s, scaling, namespace, scanner_reasons)
    return k8s.apiextensions.CustomResource(
        f"{name}-route",
        api_version=scaler.HTTP_API_VERSION,
        kind=scaler.INTERCEPTOR_ROUTE_KIND,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels("route")),
        spec=scaler.interceptor_route_spec(
            scaling,
            leaders=leaders_service,
            api_port=s.api_port,
            hosts=scaler.interceptor_hosts(interceptor, s.namespace),
            cold_start=fallback,
        ),
        opts=child,
    )


def _cold_start(
    owner: pulumi.Resource,
    name: str,
    s: ShardedInferenceSettings,
    scaling: GroupScaling,
    namespace: pulumi.Input[str],
    scanner_reasons: dict[str, str],
) -> str:
    """Create the fallback's Deployment, Service and NetworkPolicy; return the Service's name."""
    child = pulumi.ResourceOptions(parent=owner)
    object_name = cold_start_name(name)
    selector = lbl.selector_labels(COLD_START_APP, name)
    labels = lbl.standard_labels(COLD_START_APP, name, "cold-start", extra=s.labels)
    probe = k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=rc.READY_PATH, port=rc.API_PORT_NAME), period_seconds=10
    )
    container = k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=s.image,
        image_pull_policy="IfNotPresent",
        command=[
            "shardstack-runtime",
            "cold-start",
            "--port",
            str(s.api_port),
            "--wake-timeout",
            str(scaling.wake_timeout_s),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name=rc.API_PORT_NAME, container_port=s.api_port, protocol="TCP")],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": COLD_START_CPU, "memory": COLD_START_MEMORY},
            limits={"cpu": COLD_START_CPU, "memory": COLD_START_MEMORY},
        ),
        readiness_probe=probe,
        liveness_probe=probe,
        security_context=pod_security.restricted_container_security_context(),
    )
    k8s.apps.v1.Deployment(
        object_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=namespace, labels=labels, annotations=skip_annotations(scanner_reasons) or None
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    # It calls nothing: no token, no service links; and no GPU, so it runs on the system nodes.
                    automount_service_account_token=False,
                    enable_service_links=False,
                    security_context=pod_security.restricted_pod_security_context(),
                    containers=[container],
                ),
            ),
        ),
        opts=child,
    )
    k8s.core.v1.Service(
        object_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=selector,
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=s.api_port, target_port=rc.API_PORT_NAME)],
        ),
        opts=child,
    )
    netpol.from_interceptor(
        object_name,
        object_name,
        namespace=namespace,
        labels=labels,
        pod_selector=selector,
        keda_namespace=scaling.keda_namespace,
        port=s.api_port,
        opts=child,
    )
    return object_name
