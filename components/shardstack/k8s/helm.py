"""A pinned chart of :mod:`shardstack.k8s.charts` as a Helm release: how every component installs one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from shardstack.k8s.charts import Chart

RELEASE_TIMEOUT_S = 600
"""How long `pulumi up` waits for a release's pods to be ready: image pulls on a fresh system node included."""


def release(
    owner: pulumi.Resource,
    resource_name: str,
    chart: Chart,
    namespace: str,
    *,
    values: Mapping[str, Any] | None = None,
    after: Sequence[pulumi.Resource] = (),
    provider: k8s.Provider | None = None,
) -> k8s.helm.v3.Release:
    """``chart`` released under its own name (so its objects have the names its documentation gives) in
    ``namespace``, after ``after``, through ``provider`` (the owner's when None)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart.name.rsplit("/", 1)[-1],
        chart=chart.name,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None,
        namespace=namespace,
        create_namespace=True,
        values=dict(values) if values else None,
        # A failed install is rolled back instead of left half-applied.
        atomic=True,
        timeout=RELEASE_TIMEOUT_S,
        opts=pulumi.ResourceOptions(parent=owner, depends_on=list(after) or None, provider=provider),
    )
