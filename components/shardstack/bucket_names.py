"""Bucket names, as S3 (and S3-compatible stores) and Cloud Storage take them: each naming rule a name breaks is
one problem, so that a caller fixes them all at once."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import Kind
from shardstack.specs.problem import Path, Problem

S3_BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9.-]*$")
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
GCS_BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9._-]*$")


@dataclass(frozen=True)
class BucketName(Kind):
    """A bucket name of ``store``: ``reasons`` returns every naming rule a name breaks."""

    store: str
    """'an S3', 'a Cloud Storage'."""
    reasons: Callable[[str], list[str]]

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return f"{self.store} bucket name"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, f"must be {self.allowed}", value)]
        return [Problem(path, reason, value) for reason in self.reasons(value)]


def _shared_reasons(value: str, chars: re.Pattern[str], allowed_chars: str) -> list[str]:
    """The rules S3 and Cloud Storage share: the characters, the ends, and no IP address."""
    reasons: list[str] = []
    if not chars.match(value):
        bad = sorted({c for c in value if not chars.match(c)})
        reasons.append(f"contains {', '.join(repr(c) for c in bad)}; a bucket name may contain only {allowed_chars}")
    if value and not (value[0].isalnum() and value[-1].isalnum()):
        reasons.append("must start and end with a lowercase letter or digit")
    try:
        ipaddress.IPv4Address(value)
        reasons.append("is formatted as an IP address, which bucket names may not be")
    except ValueError:
        pass
    return reasons


def s3_bucket_name_reasons(value: str) -> list[str]:
    """Return every S3 general purpose bucket naming rule ``value`` breaks."""
    reasons: list[str] = []
    if not 3 <= len(value) <= 63:
        reasons.append(f"has {len(value)} characters; a bucket name has 3 to 63")
    reasons += _shared_reasons(value, S3_BUCKET_NAME_CHARS, "lowercase letters, digits, '-' and '.'")
    if ".." in value:
        reasons.append("contains two adjacent periods, which bucket names may not")
    reasons += [f"starts with {p!r}, a prefix S3 reserves" for p in S3_RESERVED_PREFIXES if value.startswith(p)]
    reasons += [f"ends with {s!r}, a suffix S3 reserves" for s in S3_RESERVED_SUFFIXES if value.endswith(s)]
    return reasons


def gcs_bucket_name_reasons(value: str) -> list[str]:
    """Return every Cloud Storage bucket naming rule ``value`` breaks."""
    reasons: list[str] = []
    if not 3 <= len(value) <= (222 if "." in value else 63):
        reasons.append(f"has {len(value)} characters; a bucket name has 3 to 63 (222 when it contains dots)")
    if "." in value and any(len(part) > 63 for part in value.split(".")):
        reasons.append("has a dot-separated part longer than 63 characters")
    reasons += _shared_reasons(value, GCS_BUCKET_NAME_CHARS, "lowercase letters, digits, '-', '_' and '.'")
    if value.startswith("goog"):
        reasons.append("starts with 'goog', a prefix Cloud Storage reserves")
    if "google" in value or "g00gle" in value:
        reasons.append("contains 'google' (or a look-alike), which Cloud Storage refuses")
    return reasons


S3_BUCKET_NAME = BucketName("an S3", s3_bucket_name_reasons)
"""An S3 bucket name (AWS, and the in-cluster S3-compatible store)."""

GCS_BUCKET_NAME = BucketName("a Cloud Storage", gcs_bucket_name_reasons)
"""A Cloud Storage bucket name."""
