"""The tags every Shardstack AWS resource carries, and the kind of the tags a caller adds."""

from collections.abc import Mapping
from typing import Any

from shardstack.specs.kinds import TagMap

COMPONENT_TAG = "shardstack:component"
"""Set on every resource to the name of the component that made it."""

MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RESERVED_PREFIX = "aws:"
"""AWS keeps tag keys starting with this for itself."""


def _key_reason(key: str) -> str | None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"is not a tag key: use a string of 1 to {MAX_KEY_LENGTH} characters"
    if key.lower().startswith(RESERVED_PREFIX):
        return f"is not allowed: AWS reserves keys starting with {RESERVED_PREFIX!r}"
    return None


def _value_reason(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_VALUE_LENGTH:
        return None
    return f"must be a string of at most {MAX_VALUE_LENGTH} characters"


def aws_tags(reserved: tuple[str, ...] = (COMPONENT_TAG,)) -> TagMap:
    """Return the kind of AWS tags a caller adds; the ``reserved`` keys are set by the component itself."""
    return TagMap("AWS tag", _key_reason, _value_reason, reserved)


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
