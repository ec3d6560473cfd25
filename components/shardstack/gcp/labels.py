"""The GCP labels every Shardstack GCP resource carries, and the kind of the labels a caller adds."""

import re
from collections.abc import Mapping
from typing import Any

from shardstack.specs.kinds import TagMap

COMPONENT_LABEL = "shardstack-component"
"""Set on every labelled resource to the name of the component that made it."""

MAX_LABELS = 64
"""Labels one GCP resource may carry."""
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def _key_reason(key: str) -> str | None:
    if not LABEL_KEY.match(key):
        return "is not a GCP label key: use 1 to 63 lowercase letters, digits, '_' and '-', starting with a letter"
    if key.startswith("goog"):
        return "starts with 'goog', which Google reserves for its own labels"
    return None


def _value_reason(value: Any) -> str | None:
    if isinstance(value, str) and LABEL_VALUE.match(value):
        return None
    return "is not a GCP label value: use at most 63 lowercase letters, digits, '_' and '-'"


GCP_LABELS = TagMap("GCP label", _key_reason, _value_reason, (COMPONENT_LABEL,), MAX_LABELS)
"""The kind of a labels argument of a GCP component: labels a caller adds (``shardstack-component`` is ours)."""


def component_labels(name: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's labels plus the component's own."""
    return {**dict(labels or {}), COMPONENT_LABEL: name}
