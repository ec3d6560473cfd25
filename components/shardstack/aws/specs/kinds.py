"""AWS's kinds of value, each checked once: resource IDs, key ARNs, cluster names, Kubernetes versions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shardstack.kubernetes_versions import SUPPORTED_KUBERNETES_VERSIONS
from shardstack.specs.kinds import Choice, Input, Text


def shaped(pattern: re.Pattern[str], reason: str) -> Callable[[str], str | None]:
    """Return a check for :class:`Text` that refuses, with ``reason``, a value not matching ``pattern``."""
    return lambda value: None if pattern.match(value) else reason


_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")

SUBNET_ID = Input(
    Text(
        "a subnet ID like 'subnet-0123456789abcdef0'",
        shaped(_SUBNET_ID, "is not a subnet ID such as 'subnet-0123456789abcdef0'"),
    )
)
"""A subnet, by ID."""

VPC_ID = Input(
    Text(
        "a VPC ID like 'vpc-0123456789abcdef0'",
        shaped(_VPC_ID, "is not a VPC ID such as 'vpc-0123456789abcdef0'"),
    )
)
"""A VPC, by ID."""

KMS_KEY = Input(
    Text(
        "a KMS key ARN like 'arn:aws:kms:<region>:<account>:key/<key id>'",
        shaped(
            _KMS_KEY_ARN,
            "is not a KMS key ARN: use 'arn:aws:kms:<region>:<account>:key/<key id>' "
            "(an alias cannot be granted in IAM policies)",
        ),
    )
)
"""A KMS key, by ARN (IAM policies grant keys by ARN, never by alias)."""


_EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")

EKS_CLUSTER_NAME = Text(
    "an EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
    shaped(
        _EKS_CLUSTER_NAME,
        "is not an EKS cluster name: use 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
    ),
)
"""The name of an EKS cluster, as EKS takes it."""


@dataclass(frozen=True)
class KubernetesVersion(Choice):
    """A supported Kubernetes minor version; a patch version is refused with a hint, as EKS picks the patch."""

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in self.values:
            return None
        if isinstance(value, str) and value.count(".") >= 2:
            return f"must be {self.allowed} (give the minor version only: EKS picks the patch release)"
        return f"must be {self.allowed}"


KUBERNETES_VERSION = KubernetesVersion(SUPPORTED_KUBERNETES_VERSIONS)
"""A Kubernetes minor version Shardstack supports on EKS."""
