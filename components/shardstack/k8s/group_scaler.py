"""What scales a ShardedInference's replica groups with the load (its ``autoscaling``): KEDA custom resources.

A **ScaledObject** points KEDA at the LeaderWorkerSet's scale subresource, so the unit KEDA (and the HPA it drives)
adds or removes is a whole group, its leader and workers together. Its triggers read the leaders' metrics from
Prometheus:

- ``num_requests_waiting``: the queue adds groups, ``ceil(waiting / target)`` of them; the requests running keep the
  groups that hold them, ``ceil(running / slots per group)`` (the runtime exports its slots). The HPA takes the
  larger, so a queue that drains does not take away the groups that drained it.
- ``kv_cache_usage_perc``: ``ceil(groups * average usage / target)``, the HPA's proportional rule.

With ``min_groups`` 0, an **InterceptorRoute** of KEDA's HTTP add-on puts its interceptor in front of the leaders'
Service: the interceptor counts requests in flight (its trigger wakes the first group, which Prometheus cannot: no
group, no metrics) and holds each request until a leader is ready, up to ``wake_timeout_s``; then it hands the
request to the **cold-start** Deployment, which answers 503 with ``Retry-After``. Callers reach the interceptor
through an ExternalName Service in the model's namespace, which is the deployment's endpoint.

With ``prometheus_identity`` (a cloud's managed Prometheus), a **TriggerAuthentication** names the pod identity
KEDA's operator signs its queries with, and the Prometheus triggers refer to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from shardstack.k8s import charts
from shardstack.k8s.autoscaling_specs import DEFAULT_TARGETS, IDENTITY_AWS, METRIC_KV_CACHE

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_KIND = "LeaderWorkerSet"
KEDA_API_VERSION = "keda.sh/v1alpha1"
SCALED_OBJECT_KIND = "ScaledObject"
TRIGGER_AUTHENTICATION_KIND = "TriggerAuthentication"
HTTP_API_VERSION = "http.keda.sh/v1beta1"
INTERCEPTOR_ROUTE_KIND = "InterceptorRoute"

HTTP_ADD_ON_CHART = charts.HTTP_ADD_ON.name
"""The add-on chart's name: its Services are named after it."""
INTERCEPTOR_PROXY_SERVICE = f"{HTTP_ADD_ON_CHART}-interceptor-proxy"
INTERCEPTOR_PROXY_PORT = 8080
"""The chart's default ``interceptor.proxy.port``: callers of a model scaled to zero use this port."""
EXTERNAL_SCALER_SERVICE = f"{HTTP_ADD_ON_CHART}-external-scaler"
EXTERNAL_SCALER_PORT = 9090
INTERCEPTOR_SELECTOR = {"app.kubernetes.io/name": "http-add-on", "app.kubernetes.io/component": "interceptor"}
"""Labels of the interceptor's pods, which must reach the leaders' API port."""

POLLING_INTERVAL_S = 15
"""How often KEDA reads the triggers: a quarter of a Prometheus scrape minute, so a queue is seen within seconds."""
SCALE_DOWN_GROUPS_PER_MINUTE = 1
"""Groups removed at most per minute: each removal drains a group, and the load needs time to settle on the rest."""
ROUTE_CONCURRENCY_TARGET = 10_000
"""The interceptor's own signal (requests in flight per group) is there to wake the first group: its target is
far above any group's slots, so that the Prometheus signals alone size the groups once one serves."""


@dataclass(frozen=True)
class GroupScaling:
    """``autoscaling`` with its defaults applied."""

    min_groups: int
    max_groups: int
    metric: str
    target: float
    scale_up_stabilization_s: int
    scale_down_stabilization_s: int
    scale_to_zero_after_s: int
    wake_timeout_s: int
    prometheus_url: pulumi.Input[str]
    keda_namespace: str
    prometheus_identity: str | None = None
    aws_region: pulumi.Input[str] | None = None

    @property
    def scales_to_zero(self) -> bool:
        return self.min_groups == 0


def leader_series(metric: str, namespace: str, name: str, **labels: str) -> str:
    """The leaders' series of ``metric`` (with ``labels``): their pods are ``<lws>-<group>``, the workers'
    ``<lws>-<group>-<rank>``."""
    matchers = [f'namespace="{namespace}"', f'pod=~"{name}-[0-9]+"', *(f'{k}="{v}"' for k, v in labels.items())]
    return f"{metric}{{{','.join(matchers)}}}"


def trigger_authentication_spec(scaling: GroupScaling) -> dict[str, Any] | None:
    """The TriggerAuthentication's spec: KEDA's operator signs its queries as its own pod identity; None when the
    Prometheus takes unsigned queries."""
    if scaling.prometheus_identity is None:
        return None
    return {"podIdentity": {"provider": scaling.prometheus_identity}}


def triggers(
    scaling: GroupScaling, namespace: str, name: str, interceptor_route: str | None, authentication: str | None
) -> list[dict[str, Any]]:
    """The ScaledObject's triggers for ``scaling`` (see the module's doc), signed by the TriggerAuthentication
    ``authentication`` when there is one; the interceptor's when scaled to zero."""
    signed: dict[str, Any] = {}
    if scaling.prometheus_identity == IDENTITY_AWS:
        # SigV4 for the workspace's region, as KEDA's operator (its own Pod Identity), not the scaled pods.
        signed = {"awsRegion": scaling.aws_region, "identityOwner": "operator"}

    def prometheus(trigger: str, query: str, threshold: float, metric_type: str) -> dict[str, Any]:
        return {
            "type": "prometheus",
            "name": trigger,
            "metricType": metric_type,
            "metadata": {
                "serverAddress": scaling.prometheus_url,
                "query": query,
                "threshold": f"{threshold:g}",
                **signed,
            },
            **({"authenticationRef": {"name": authentication}} if authentication is not None else {}),
        }

    if scaling.metric == METRIC_KV_CACHE:
        found = [prometheus("kv-cache", f"avg({leader_series('vllm:kv_cache_usage_perc', namespace, name)})",
                            scaling.target, "Value")]  # fmt: skip
    else:
        running = f"sum({leader_series('vllm:num_requests_running', namespace, name)})"
        slots = f"max({leader_series('shardstack_engine_stat', namespace, name, stat='max_slots')})"
        found = [
            prometheus("queue", f"sum({leader_series('vllm:num_requests_waiting', namespace, name)})",
                       scaling.target, "AverageValue"),
            # The groups whose slots the running requests fill; 0 (no series) when none runs.
            prometheus("running", f"{running} / {slots}", 1, "AverageValue"),
        ]  # fmt: skip
    if interceptor_route is not None:
        found.append(
            {
                "type": "external-push",
                "name": "interceptor",
                "metadata": {
                    "scalerAddress": f"{EXTERNAL_SCALER_SERVICE}.{scaling.keda_namespace}:{EXTERNAL_SCALER_PORT}",
                    "interceptorRoute": interceptor_route,
                },
            }
        )
    return found


def scaled_object_spec(
    scaling: GroupScaling, namespace: str, name: str, interceptor_route: str | None, authentication: str | None
) -> dict[str, Any]:
    """The ScaledObject's spec: the LeaderWorkerSet ``name`` between min and max groups, by ``triggers``."""
    return {
        "scaleTargetRef": {"apiVersion": LWS_API_VERSION, "kind": LWS_KIND, "name": name},
        "minReplicaCount": scaling.min_groups,
        "maxReplicaCount": scaling.max_groups,
        "pollingInterval": POLLING_INTERVAL_S,
        **({"cooldownPeriod": scaling.scale_to_zero_after_s} if scaling.scales_to_zero else {}),
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "name": name,
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": scaling.scale_up_stabilization_s},
                    "scaleDown": {
                        "stabilizationWindowSeconds": scaling.scale_down_stabilization_s,
                        "policies": [{"type": "Pods", "value": SCALE_DOWN_GROUPS_PER_MINUTE, "periodSeconds": 60}],
                    },
                },
            }
        },
        "triggers": triggers(scaling, namespace, name, interceptor_route, authentication),
    }


def interceptor_hosts(service: str, namespace: str) -> list[str]:
    """Every name a caller in the cluster may use for ``service`` (the interceptor routes by the Host header)."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def interceptor_route_spec(
    scaling: GroupScaling, *, leaders: str, api_port: int, hosts: list[str], cold_start: str
) -> dict[str, Any]:
    """The InterceptorRoute's spec: requests for ``hosts`` go to the ``leaders`` Service, held while a group wakes,
    then to the ``cold_start`` Service."""
    return {
        "target": {"service": leaders, "port": api_port},
        "rules": [{"hosts": hosts}],
        "scalingMetric": {"concurrency": {"targetValue": ROUTE_CONCURRENCY_TARGET}},
        "coldStart": {"fallback": {"service": {"name": cold_start, "port": api_port}}},
        "timeouts": {
            "readiness": f"{scaling.wake_timeout_s}s",
            # A long completion sends its headers only when done: no bound of the interceptor's may cut it.
            "responseHeader": "0s",
        },
    }


def resolve_group_scaling(values: dict[str, Any]) -> GroupScaling:
    """``autoscaling`` (already checked, defaults applied by its spec) as :class:`GroupScaling`."""
    target = values.get("target")
    return GroupScaling(
        min_groups=values["min_groups"],
        max_groups=values["max_groups"],
        metric=values["metric"],
        target=float(target if target is not None else DEFAULT_TARGETS[values["metric"]]),
        scale_up_stabilization_s=values["scale_up_stabilization_s"],
        scale_down_stabilization_s=values["scale_down_stabilization_s"],
        scale_to_zero_after_s=values["scale_to_zero_after_s"],
        wake_timeout_s=values["wake_timeout_s"],
        prometheus_url=values["prometheus_url"],
        keda_namespace=values["keda_namespace"],
        prometheus_identity=values.get("prometheus_identity"),
        aws_region=values.get("aws_region"),
    )
