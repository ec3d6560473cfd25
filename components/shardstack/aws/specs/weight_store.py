"""WeightStore's arguments (the S3 bucket naming rules are :mod:`shardstack.bucket_names`)."""

from __future__ import annotations

from shardstack.aws.specs.kinds import KMS_KEY
from shardstack.aws.tags import aws_tags
from shardstack.bucket_names import S3_BUCKET_NAME
from shardstack.bucket_names import S3_BUCKET_NAME_CHARS as BUCKET_NAME_CHARS
from shardstack.bucket_names import S3_RESERVED_PREFIXES as RESERVED_BUCKET_PREFIXES
from shardstack.bucket_names import S3_RESERVED_SUFFIXES as RESERVED_BUCKET_SUFFIXES
from shardstack.limits import RETENTION_DAYS
from shardstack.specs.kinds import Flag
from shardstack.specs.spec import Arg, Spec

DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""

WEIGHT_STORE = Spec(
    "WeightStoreArgs",
    "Arguments of WeightStore.",
    (
        Arg(
            "bucket_name",
            S3_BUCKET_NAME,
            "Globally unique S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.', starting and ending "
            "with a letter or digit.",
            default_doc="Pulumi names it ``<component name>-bucket-<random suffix>``",
        ),
        Arg(
            "kms_key_arn",
            KMS_KEY,
            "ARN of an existing KMS key to encrypt the objects with; its key policy must let IAM policies in this "
            "account grant ``kms:Decrypt`` (the default key policy does).",
            default_doc="a customer managed key with yearly rotation and an alias is created for this bucket",
        ),
        Arg(
            "noncurrent_version_days",
            RETENTION_DAYS,
            "Days an overwritten or deleted object version is kept before S3 expires it; at least 1.",
            default=DEFAULT_NONCURRENT_VERSION_DAYS,
        ),
        Arg(
            "protect",
            Flag(),
            "Protect the bucket and its KMS key from deletion and keep them, with their settings, when the stack is "
            "destroyed. False lets ``pulumi destroy`` delete them (the bucket only when empty, unless "
            "``force_destroy``).",
            default=True,
        ),
        Arg("force_destroy", Flag(), "Let deleting the bucket delete every object in it first.", default=False),
        Arg("tags", aws_tags(), "Tags added to every taggable resource, next to ``shardstack:component: <name>``."),
    ),
)
"""WeightStore's arguments."""

__all__ = [  # the naming rules, still importable from here
    "BUCKET_NAME_CHARS",
    "DEFAULT_NONCURRENT_VERSION_DAYS",
    "RESERVED_BUCKET_PREFIXES",
    "RESERVED_BUCKET_SUFFIXES",
    "WEIGHT_STORE",
]
