"""WeightStore's arguments, and the S3 bucket naming rules."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from shardstack.aws.specs.kinds import KMS_KEY
from shardstack.aws.tags import aws_tags
from shardstack.specs.kinds import Flag, Kind, Whole
from shardstack.specs.problem import Path, Problem
from shardstack.specs.spec import Arg, Spec

DEFAULT_NONCURRENT_VERSION_DAYS = 30
"""Long enough to roll back a bad checkpoint upload, short enough not to pay for every old copy."""

BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9.-]*$")
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class BucketName(Kind):
    """An S3 general purpose bucket name: each naming rule it breaks is a problem of its own."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return "an S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.'"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, f"must be {self.allowed}", value)]
        reasons: list[str] = []
        if not 3 <= len(value) <= 63:
            reasons.append(f"has {len(value)} characters; a bucket name has 3 to 63")
        if not BUCKET_NAME_CHARS.match(value):
            bad = sorted({c for c in value if not BUCKET_NAME_CHARS.match(c)})
            reasons.append(
                f"contains {', '.join(repr(c) for c in bad)}; a bucket name may contain only lowercase letters, "
                "digits, '-' and '.'"
            )
        if value and not (value[0].isalnum() and value[-1].isalnum()):
            reasons.append("must start and end with a lowercase letter or digit")
        if ".." in value:
            reasons.append("contains two adjacent periods, which bucket names may not")
        if _is_ipv4_address(value):
            reasons.append("is formatted as an IP address, which bucket names may not be")
        reasons += [f"starts with {p!r}, a prefix S3 reserves" for p in RESERVED_BUCKET_PREFIXES if value.startswith(p)]
        reasons += [f"ends with {s!r}, a suffix S3 reserves" for s in RESERVED_BUCKET_SUFFIXES if value.endswith(s)]
        return [Problem(path, reason, value) for reason in reasons]


def _is_ipv4_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


WEIGHT_STORE = Spec(
    "WeightStoreArgs",
    "Arguments of WeightStore.",
    (
        Arg(
            "bucket_name",
            BucketName(),
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
            Whole(1),
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
