"""ClusterAutoscaler's arguments."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.aws.specs.kinds import EKS_CLUSTER_NAME, KUBERNETES_VERSION
from shardstack.aws.tags import aws_tags
from shardstack.specs.gpu_pool import POOL_NAME
from shardstack.specs.kinds import Choice, Input, Text
from shardstack.specs.spec import Arg, Spec

DEFAULT_NAMESPACE = "kube-system"

EXPANDERS = ("least-waste", "priority", "random", "most-pods")
"""How the autoscaler picks among node groups that fit a pending pod."""
DEFAULT_EXPANDER = "least-waste"
AWS_UNSUPPORTED_EXPANDERS: Mapping[str, str] = {
    "price": (
        "it works only on GCE, GKE and Equinix Metal: the AWS cloud provider has no pricing model, and "
        "the autoscaler fails at its first scale-up with it"
    ),
}

DEFAULT_SCALE_DOWN_UNNEEDED_TIME = "10m"
"""The autoscaler's own default: a GPU node must be unneeded this long before it is removed."""

_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(?:ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Expander(Choice):
    """An expander the AWS cloud provider supports; one it does not is refused with the reason."""

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in AWS_UNSUPPORTED_EXPANDERS:
            return f"cannot be used on AWS: {AWS_UNSUPPORTED_EXPANDERS[value]}; use {self.allowed}"
        return super().reason(value)


def _duration(value: str) -> str | None:
    if not _DURATION.match(value):
        return "is not a duration: use a Go duration such as '10m', '90s' or '1h30m'"
    if all(float(amount) == 0 for amount in _DURATION_PART.findall(value)):
        return "must be longer than zero, or every node would be removed as soon as it is idle"
    return None


CLUSTER_AUTOSCALER = Spec(
    "ClusterAutoscalerArgs",
    "Arguments of ClusterAutoscaler.",
    (
        Arg(
            "cluster_name",
            Input(EKS_CLUSTER_NAME),
            "Name of the EKS cluster. The autoscaler manages the Auto Scaling groups tagged "
            "``k8s.io/cluster-autoscaler/<cluster_name>: owned`` (EKS tags every managed node group's group so) and "
            "may change the size of no other.",
            required=True,
        ),
        Arg(
            "kubernetes_version",
            KUBERNETES_VERSION,
            "The cluster's Kubernetes minor version; the autoscaler release of the same minor version is deployed "
            "(e.g. '1.33' gives v1.33.6).",
            required=True,
        ),
        Arg(
            "namespace",
            POOL_NAME.kind,
            "Existing namespace the autoscaler runs in and keeps its status ConfigMap and leader lease in.",
            default=DEFAULT_NAMESPACE,
        ),
        Arg(
            "expander",
            Expander(EXPANDERS),
            "How to choose among node groups that could take a pending pod: 'least-waste' (least idle CPU and "
            "memory after the scale-up), 'priority' (by the ConfigMap ``cluster-autoscaler-priority-expander`` you "
            "create in the namespace), 'random' or 'most-pods'.",
            default=DEFAULT_EXPANDER,
        ),
        Arg(
            "scale_down_unneeded_time",
            Text("a Go duration such as '10m' or '1h30m'", _duration),
            "How long a node must be unneeded before it is removed, as a Go duration such as '10m' or '1h30m'.",
            default=DEFAULT_SCALE_DOWN_UNNEEDED_TIME,
        ),
        Arg(
            "image",
            Text("an image reference such as 'registry/repo:tag'"),
            "Autoscaler image, e.g. a mirror in your own registry or a digest-pinned reference.",
            default_doc="registry.k8s.io/autoscaling/cluster-autoscaler at the release matching kubernetes_version",
        ),
        Arg(
            "tags",
            aws_tags(),
            "AWS tags for the IAM role and the Pod Identity association.",
            default_doc="none (``shardstack:component`` is always set)",
        ),
    ),
)
"""ClusterAutoscaler's arguments."""

WIRED_AUTOSCALER_ARGS = ("cluster_name", "kubernetes_version")
"""What AwsInstallation sets on its autoscaler itself: its cluster's name and version."""

INSTALLATION_AUTOSCALER = CLUSTER_AUTOSCALER.without(
    WIRED_AUTOSCALER_ARGS,
    name="InstallationAutoscaler",
    doc="ClusterAutoscaler arguments (see :class:`~shardstack.aws.cluster_autoscaler.ClusterAutoscaler`) without "
    "``cluster_name`` and ``kubernetes_version``.",
)
"""An AwsInstallation's cluster autoscaler."""
