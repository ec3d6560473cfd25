"""The Kubernetes minor versions Shardstack's clusters run, the same on every cloud."""

from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import Choice
from shardstack.specs.spec import Arg

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.30", "1.31", "1.32", "1.33", "1.34")
"""Kubernetes minor versions the components are tested against, oldest first."""

DEFAULT_KUBERNETES_VERSION = "1.33"
"""The newest minor version that EKS, GKE and AKS all offer in their standard support windows."""


@dataclass(frozen=True)
class KubernetesVersion(Choice):
    """A supported Kubernetes minor version; a patch version is refused with a hint, as ``service`` picks it."""

    values: tuple[str, ...] = SUPPORTED_KUBERNETES_VERSIONS
    service: str = "the cloud"
    """Who picks the patch release: 'EKS', 'GKE', 'AKS'."""

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in self.values:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML and Python read an unquoted 1.30 as the number 1.3: the version the user meant is already lost.
            return (
                f"is a number; write the version as a quoted string, e.g. {DEFAULT_KUBERNETES_VERSION!r} (as a "
                "number, 1.30 is 1.3)"
            )
        if isinstance(value, str) and value.count(".") >= 2:
            return f"must be {self.allowed} (give the minor version only: {self.service} picks the patch release)"
        return f"must be {self.allowed}"


KUBERNETES_VERSION = Arg(
    "kubernetes_version",
    KubernetesVersion(),
    "Kubernetes MAJOR.MINOR version of the managed cluster; the cloud picks the patch release.",
    default=DEFAULT_KUBERNETES_VERSION,
)
"""A cluster's ``kubernetes_version``, as every cloud takes it (each cloud's own spec names its service)."""
