"""The Kubernetes minor versions Shardstack's clusters run, the same on every cloud."""

import re
from typing import Any

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.30", "1.31", "1.32", "1.33", "1.34")
"""Kubernetes minor versions the components are tested against, oldest first."""

DEFAULT_KUBERNETES_VERSION = "1.33"
"""The newest minor version that EKS, GKE and AKS all offer in their standard support windows."""


_MINOR_VERSION = re.compile(r"^1\.\d+$")


def kubernetes_version_problem(version: Any, service: str) -> str | None:
    """Why ``version`` is not a supported ``MAJOR.MINOR`` version for ``service`` (e.g. 'EKS'), or None."""
    supported = f"supported: {SUPPORTED_KUBERNETES_VERSIONS[0]!r} to {SUPPORTED_KUBERNETES_VERSIONS[-1]!r}"
    if not isinstance(version, str) or not _MINOR_VERSION.match(version):
        hint = f" ({service} picks the patch release)" if isinstance(version, str) and version.count(".") >= 2 else ""
        return (
            f"kubernetes_version={version!r} is not a MAJOR.MINOR version string like "
            f"{DEFAULT_KUBERNETES_VERSION!r}{hint}; {supported}"
        )
    if version not in SUPPORTED_KUBERNETES_VERSIONS:
        return f"kubernetes_version={version!r} is not supported; {supported}"
    return None
