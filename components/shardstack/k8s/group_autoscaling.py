"""GroupAutoscaling: what a cluster needs for ShardedInference to scale whole replica groups with the load.

Usage::

    from shardstack.k8s import GroupAutoscaling, ShardedInference

    scaling = GroupAutoscaling("autoscaling", {}, opts=pulumi.ResourceOptions(providers=[k8s_provider]))
    ShardedInference("llm", {..., "mode": "leaderworkerset",
                             "autoscaling": {"min_groups": 0, "max_groups": 4, "prometheus_url": PROMETHEUS}},
                     opts=pulumi.ResourceOptions(providers=[k8s_provider], depends_on=[scaling]))

Three pinned Helm releases (:mod:`shardstack.k8s.charts`), each optional: the LeaderWorkerSet controller (the
groups' workload and its scale subresource), KEDA (ScaledObjects: an HPA fed by Prometheus queries, and scaling
from and to zero) and KEDA's HTTP add-on (the interceptor that holds requests while a group wakes). Their custom
resource definitions come with them, so a ShardedInference that uses them must depend on this component.

The charts run their own pods with their projects' defaults (non-root, no privilege escalation); they need a way
out to their chart repositories only while ``pulumi up`` installs them (Helm runs in the Pulumi provider).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.errors import ArgumentError
from shardstack.k8s import charts, names
from shardstack.k8s.args import GroupAutoscalingArgs
from shardstack.k8s.helm import release
from shardstack.k8s.specs import GROUP_AUTOSCALING
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import arguments_first

__all__ = ["GroupAutoscaling", "GroupAutoscalingArgs", "validate_group_autoscaling_args"]

TYPE_TOKEN = "shardstack:k8s:GroupAutoscaling"


@arguments_first
def validate_group_autoscaling_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with GroupAutoscaling arguments (and its resource ``name``), one line each."""
    problems = as_arguments(GROUP_AUTOSCALING.check(args))
    if name is not None and (problem := names.dns_label_problem("name", name)):
        problems.append(problem)
    return problems


def keda_values(args: Mapping[str, Any]) -> dict[str, Any]:
    """KEDA's chart values: the Azure Workload Identity its operator's service account gets (``keda_azure_*``), for
    Azure Monitor managed Prometheus; none otherwise."""
    if "keda_azure_client_id" in args:
        return {
            "podIdentity": {
                "azureWorkload": {
                    "enabled": True,
                    "clientId": args["keda_azure_client_id"],
                    "tenantId": args["keda_azure_tenant_id"],
                }
            }
        }
    return {}


class GroupAutoscaling(pulumi.ComponentResource):
    """Installs the LeaderWorkerSet controller, KEDA and KEDA's HTTP add-on as pinned Helm releases."""

    keda_namespace: pulumi.Output[str]
    """Namespace of KEDA and its HTTP add-on: ShardedInference's ``autoscaling.keda_namespace``."""
    release_names: pulumi.Output[list[str]]
    """Names of the Helm releases installed."""

    def __init__(self, name: str, args: GroupAutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_group_autoscaling_args(args, name=name)
        if problems:
            raise ArgumentError(f"GroupAutoscaling {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        values = GROUP_AUTOSCALING.resolved(args)
        releases: list[k8s.helm.v3.Release] = []
        if values["leaderworkerset"]:
            releases.append(release(self, f"{name}-lws", charts.LEADERWORKERSET, values["leaderworkerset_namespace"]))
        keda: list[k8s.helm.v3.Release] = []
        if values["keda"]:
            keda.append(release(self, f"{name}-keda", charts.KEDA, values["keda_namespace"], values=keda_values(args)))
            releases.extend(keda)
        if values["http_add_on"]:
            # The add-on's operator registers with KEDA's CRDs: KEDA first.
            releases.append(release(self, f"{name}-http", charts.HTTP_ADD_ON, values["keda_namespace"], after=keda))
        self.keda_namespace = pulumi.Output.from_input(values["keda_namespace"])
        self.release_names = pulumi.Output.all(*(r.name for r in releases)).apply(lambda n: [str(x) for x in n])
        self.register_outputs({"keda_namespace": self.keda_namespace, "release_names": self.release_names})
