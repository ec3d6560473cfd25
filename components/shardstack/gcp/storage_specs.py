"""The arguments of the GCP stores, declared once (see :mod:`shardstack.specs`): the WeightStore's Cloud
Storage bucket and the Registry's Artifact Registry repository, which share their key and label arguments.

Generated into ``shardstack/gcp/args.py`` through :data:`shardstack.gcp.specs.ARGS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shardstack.bucket_names import GCS_BUCKET_NAME
from shardstack.gcp.labels import GCP_LABELS
from shardstack.limits import KEPT_IMAGES, RETENTION_DAYS
from shardstack.specs.kinds import Flag, Input, ListOf, Text, Whole
from shardstack.specs.spec import Arg, Spec

# --- Shared by both stores -------------------------------------------------------------------------------

KMS_KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


def _kms_key_name(value: str) -> str | None:
    if KMS_KEY_NAME.match(value):
        return None
    return (
        "is not a Cloud KMS key name: use "
        "'projects/<project>/locations/<location>/keyRings/<key ring>/cryptoKeys/<key>'"
    )


KMS_KEY = Input(Text("a Cloud KMS key name 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>'", _kms_key_name))

# --- WeightStore -----------------------------------------------------------------------------------------

DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""
DEFAULT_SOFT_DELETE_DAYS = 7
"""Cloud Storage's own default and its minimum: a deleted object can be restored for a week."""
MIN_SOFT_DELETE_DAYS = 7
MAX_SOFT_DELETE_DAYS = 90
"""The retention Cloud Storage accepts for soft delete, besides 0 (off)."""

GCS_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
GCS_MULTI_AND_DUAL_REGIONS = ("US", "EU", "ASIA", "NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1")
"""Cloud Storage's multi-regions and predefined dual-regions (regions such as 'us-central1' are accepted too)."""


def _gcs_location(value: str) -> str | None:
    if GCS_REGION.match(value.lower()) or value.upper() in GCS_MULTI_AND_DUAL_REGIONS:
        return None
    return (
        "is not a Cloud Storage location: use a region such as 'US-CENTRAL1', a multi-region or a predefined "
        f"dual-region ({', '.join(repr(r) for r in GCS_MULTI_AND_DUAL_REGIONS)})"
    )


@dataclass(frozen=True)
class WholeOrOff(Whole):
    """A whole number within bounds, or 0 to turn the feature off."""

    off: str = "to turn it off"

    @property
    def allowed(self) -> str:
        return f"{super().allowed}, or 0 {self.off}"

    def reason(self, value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return None
        return super().reason(value)


WEIGHT_STORE = Spec(
    "WeightStoreArgs",
    "Arguments of WeightStore.",
    (
        Arg(
            "location",
            Text("a Cloud Storage location: a region, a multi-region or a predefined dual-region", _gcs_location),
            "Where the bucket stores the weights: a region such as 'US-CENTRAL1' (best next to the cluster: no "
            "cross-region egress and the lowest latency when shards load), a multi-region ('US', 'EU', 'ASIA') "
            "or a predefined dual-region ('NAM4', 'EUR4', ...). Case does not matter.",
            required=True,
        ),
        Arg(
            "bucket_name",
            GCS_BUCKET_NAME,
            "Globally unique bucket name: 3 to 63 lowercase letters, digits, '-', '_' and '.' (up to 222 with "
            "dots, 63 between dots; dotted names need a verified domain), starting and ending with a letter or "
            "digit, not starting with 'goog' and not containing 'google'.",
            default_doc="Pulumi names it ``<component name>-bucket-<random suffix>``",
        ),
        Arg(
            "kms_key_name",
            KMS_KEY,
            "Cloud KMS key to encrypt the objects with (CMEK), as "
            "'projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>', in the bucket's "
            "location. The project's Cloud Storage service agent is granted "
            "'roles/cloudkms.cryptoKeyEncrypterDecrypter' on it.",
            default_doc="Google-managed encryption",
        ),
        Arg(
            "noncurrent_version_days",
            RETENTION_DAYS,
            "Days an overwritten or deleted object version is kept before Cloud Storage deletes it; at least 1.",
            default=DEFAULT_NONCURRENT_VERSION_DAYS,
        ),
        Arg(
            "soft_delete_days",
            WholeOrOff(MIN_SOFT_DELETE_DAYS, MAX_SOFT_DELETE_DAYS, off="to turn soft delete off"),
            "Days a deleted object stays restorable (soft delete): 7 to 90, or 0 to turn soft delete off.",
            default=DEFAULT_SOFT_DELETE_DAYS,
        ),
        Arg(
            "protect",
            Flag(),
            "Protect the bucket from deletion and keep it, with the key binding, when the stack is destroyed. "
            "False lets ``pulumi destroy`` delete them (the bucket only when empty, unless ``force_destroy``).",
            default=True,
        ),
        Arg("force_destroy", Flag(), "Let deleting the bucket delete every object in it first.", default=False),
        Arg(
            "labels",
            GCP_LABELS,
            "Labels added to the bucket, next to ``shardstack-component: <name>``: keys of 1 to 63 lowercase "
            "letters, digits, '_' and '-' starting with a letter; values of at most 63 of the same.",
            default_doc="none",
        ),
    ),
)
"""WeightStore's arguments."""

INSTALLATION_WEIGHT_STORE = (
    WEIGHT_STORE.without(
        (),
        name="InstallationWeightStore",
        doc="WeightStore arguments (see :class:`~shardstack.gcp.weight_store.WeightStore`); the location defaults to "
        "the installation's region.",
    )
    .with_arg("location", required=False, default_doc="the installation's ``region``")
    .with_arg("bucket_name", default_doc="Pulumi names it ``<name>-weights-bucket-<random suffix>``")
)
"""A GcpInstallation's weight store: its location defaults to the installation's region."""

# --- Registry --------------------------------------------------------------------------------------------

DEFAULT_REPOSITORY_ID = "shardstack"
DEFAULT_KEEP_IMAGES = 30
"""Enough to roll back through weeks of releases; older images only cost storage and scan noise."""

REPOSITORY_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
AR_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
AR_MULTI_REGIONS = ("us", "europe", "asia")
SERVICE_ACCOUNT_EMAIL = re.compile(r"^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.:-]*\.gserviceaccount\.com$")


def _ar_location(value: str) -> str | None:
    if AR_REGION.match(value.lower()) or value.lower() in AR_MULTI_REGIONS:
        return None
    return (
        "is not an Artifact Registry location: use a region such as 'us-central1' or a multi-region "
        f"({', '.join(repr(r) for r in AR_MULTI_REGIONS)})"
    )


def _repository_id(value: str) -> str | None:
    if REPOSITORY_ID.match(value):
        return None
    return (
        "is not an Artifact Registry repository ID: use 1 to 63 lowercase letters, digits and '-', starting "
        "with a letter and ending with a letter or digit"
    )


def _reader(value: str) -> str | None:
    if SERVICE_ACCOUNT_EMAIL.match(value):
        return None
    hint = " (give the email without 'serviceAccount:')" if value.startswith("serviceAccount:") else ""
    return f"is not a service account email such as 'gke-nodes@my-project.iam.gserviceaccount.com'{hint}"


REGISTRY = Spec(
    "RegistryArgs",
    "Arguments of Registry.",
    (
        Arg(
            "location",
            Text("an Artifact Registry location: a region or 'us', 'europe', 'asia'", _ar_location),
            "Region ('us-central1', best the cluster's: pulls stay in-region) or multi-region ('us', 'europe', "
            "'asia') of the repository. Case does not matter.",
            required=True,
        ),
        Arg(
            "repository_id",
            Text("an Artifact Registry repository ID", _repository_id),
            "Repository ID: 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'.",
            default=DEFAULT_REPOSITORY_ID,
        ),
        Arg(
            "kms_key_name",
            KMS_KEY,
            "Cloud KMS key to encrypt the images with (CMEK), as "
            "'projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>', in the repository's "
            "location. The project's Artifact Registry service agent is granted "
            "'roles/cloudkms.cryptoKeyEncrypterDecrypter' on it.",
            default_doc="Google-managed encryption",
        ),
        Arg(
            "keep_images",
            KEPT_IMAGES,
            "Versions of each image kept from deletion, newest first: older tagged versions are deleted (and "
            "untagged ones after 7 days). At least 1.",
            default=DEFAULT_KEEP_IMAGES,
        ),
        Arg(
            "reader_service_accounts",
            ListOf(Input(Text("a service account email", _reader)), unique=True),
            "Emails of the Google service accounts that may pull (e.g. the GKE nodes' service account), each "
            "given 'roles/artifactregistry.reader' on this repository.",
            default_doc="none",
        ),
        Arg(
            "labels",
            GCP_LABELS,
            "Labels added to the repository, next to ``shardstack-component: <name>``: keys of 1 to 63 "
            "lowercase letters, digits, '_' and '-' starting with a letter; values of at most 63 of the same.",
            default_doc="none",
        ),
    ),
)
"""Registry's arguments."""

INSTALLATION_REGISTRY = (
    REGISTRY.without(
        (),
        name="InstallationRegistry",
        doc="Registry arguments (see :class:`~shardstack.gcp.registry.Registry`); the location defaults to the "
        "installation's region.",
    )
    .with_arg("location", required=False, default_doc="the installation's ``region``")
    .with_arg(
        "reader_service_accounts",
        doc="Emails of the Google service accounts that may pull besides the nodes' service account, which always "
        "may; each is given 'roles/artifactregistry.reader' on this repository.",
    )
)
"""A GcpInstallation's registry: its location defaults to the installation's region; the nodes' service account
is always among its readers."""
