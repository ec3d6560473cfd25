"""Names and defaults the stack config refers to: the config namespace, the clouds and their region shapes (the
default image is the package's, :data:`shardstack.defaults.DEFAULT_IMAGE`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from shardstack.k8s.inference_specs import INFERENCE_NAMESPACE
from shardstack.k8s.runtime_contract import MODEL_URI_SCHEMES as MODEL_URI_PREFIXES

NAMESPACE = "shardstack"
"""The Pulumi config namespace of every key: ``shardstack:cloud``."""

DEFAULT_NAMESPACE = INFERENCE_NAMESPACE
"""Kubernetes namespace of the inference deployment: ShardedInference's default."""

DEMO_MODEL_URI = "demo"
"""The ``model.uri`` that selects the small demo model shipped with the runtime."""

DEFAULT_API_KEY_SECRET_KEY = "api-key"
"""Key of the API key in its Secret's data, unless ``serving.api_key_secret.key`` says otherwise."""

Cloud = Literal["local", "aws", "gcp", "azure"]

# Model URI schemes each cloud can read with the pod's workload identity; https is a public download
# and works everywhere. For local, s3 is the in-cluster object store and file a host path.
MODEL_URI_SCHEMES: Mapping[str, tuple[str, ...]] = {
    "aws": ("s3", "http", "https"),
    "gcp": ("gs", "http", "https"),
    "azure": ("az", "http", "https"),
    "local": ("s3", "file", "http", "https"),
}
ALL_MODEL_URI_SCHEMES = tuple(scheme.removesuffix("://") for scheme in MODEL_URI_PREFIXES)
"""Every scheme the runtime reads (the runtime contract's)."""

CLOUD_NAMES: Mapping[str, str] = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
REGION_EXAMPLES: Mapping[str, str] = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
REGION_SHAPES: Mapping[str, re.Pattern[str]] = {
    "aws": re.compile(r"[a-z]{2}(-[a-z]+)+-\d+"),  # us-east-1, us-gov-west-1, ap-southeast-5
    "gcp": re.compile(r"[a-z]+-[a-z]+\d+"),  # us-central1, northamerica-northeast2
    "azure": re.compile(r"[a-z][a-z0-9]*"),  # eastus, westus3, switzerlandnorth
}
AZURE_ZONES = ("1", "2", "3")
