"""AWS's kinds of value, each checked once: resource IDs, key ARNs, cluster names, Kubernetes versions."""

from __future__ import annotations

import re

from shardstack.kubernetes_versions import KubernetesVersion
from shardstack.specs.kinds import Input, Shaped

_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")

SUBNET_ID = Input(
    Shaped(
        "a subnet ID like 'subnet-0123456789abcdef0'",
        _SUBNET_ID,
        "is not a subnet ID such as 'subnet-0123456789abcdef0'",
    )
)
"""A subnet, by ID."""

VPC_ID = Input(
    Shaped("a VPC ID like 'vpc-0123456789abcdef0'", _VPC_ID, "is not a VPC ID such as 'vpc-0123456789abcdef0'")
)
"""A VPC, by ID."""

KMS_KEY = Input(
    Shaped(
        "a KMS key ARN like 'arn:aws:kms:<region>:<account>:key/<key id>'",
        _KMS_KEY_ARN,
        "is not a KMS key ARN: use 'arn:aws:kms:<region>:<account>:key/<key id>' "
        "(an alias cannot be granted in IAM policies)",
    )
)
"""A KMS key, by ARN (IAM policies grant keys by ARN, never by alias)."""


_EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")

EKS_CLUSTER_NAME = Shaped(
    "an EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
    _EKS_CLUSTER_NAME,
    "is not an EKS cluster name: use 1 to 100 letters, digits, '-' and '_', starting with a letter or digit",
)
"""The name of an EKS cluster, as EKS takes it."""


KUBERNETES_VERSION = KubernetesVersion(service="EKS")
"""A Kubernetes minor version Shardstack supports on EKS."""
