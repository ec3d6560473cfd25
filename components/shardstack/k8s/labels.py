"""Label keys, well-known node labels and taints, and the standard labels every object carries."""

from __future__ import annotations

import re
from collections.abc import Mapping

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
VERSION = "app.kubernetes.io/version"

PART_OF_VALUE = "shardstack"
MANAGED_BY_VALUE = "pulumi"

RESERVED_LABEL_PREFIXES = ("app.kubernetes.io/", "shardstack.dev/", "leaderworkerset.sigs.k8s.io/")
"""Label keys Shardstack sets itself; callers' extra labels may not use them."""

GROUP = "shardstack.dev/group"
"""Marks the pods (and per-group objects) of one replica group, e.g. ``g0``."""

WEIGHTS_LOADER = "shardstack.dev/weights-loader"
"""Pods labelled ``shardstack.dev/weights-loader: "true"`` may write to a LocalWeightsStore."""

GPU_NODE_LABEL = "shardstack.dev/gpu"
GPU_NODE_LABEL_VALUE = "true"
"""GPU node pools label their nodes ``shardstack.dev/gpu: "true"``; GPU workloads select on it.

A label of our own rather than a cloud's (``cloud.google.com/gke-accelerator``,
``eks.amazonaws.com/nodegroup``, ``kubernetes.azure.com/accelerator``) so that one selector works on
every cloud and on a local cluster whose nodes the user labels by hand.
"""

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
"""GPU node pools are tainted ``nvidia.com/gpu=present:NoSchedule`` (GKE adds this taint itself) so
that only pods that tolerate it, i.e. GPU workloads and the GPU add-ons, land on expensive nodes."""

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
NAMESPACE_NAME = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (Kubernetes ≥ 1.22); NetworkPolicies select on it."""

POD_INDEX = "apps.kubernetes.io/pod-index"
"""Set by the StatefulSet controller on each pod to its ordinal (beta 1.28, GA 1.32)."""

LWS_NAME = "leaderworkerset.sigs.k8s.io/name"
LWS_GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
LWS_GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
"""Labels the LeaderWorkerSet controller puts on every pod it creates."""

_VERSION_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def selector_labels(app: str, instance: str) -> dict[str, str]:
    """Return the immutable labels that select one component instance's pods."""
    return {NAME: app, INSTANCE: instance}


def standard_labels(
    app: str,
    instance: str,
    component: str,
    *,
    version: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the ``app.kubernetes.io/*`` labels (plus caller extras) for one object."""
    labels = dict(extra or {})
    labels.update(selector_labels(app, instance))
    labels.update({COMPONENT: component, PART_OF: PART_OF_VALUE, MANAGED_BY: MANAGED_BY_VALUE})
    if version:
        labels[VERSION] = version
    return labels


def version_from_image(image: str) -> str | None:
    """Return an image reference's tag when it is a valid label value (``repo:1.2`` → ``1.2``), else None.

    Digest-only references and tags a label cannot hold give None: the version label is left off
    rather than guessed.
    """
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    return tag if _VERSION_LABEL.match(tag) else None
