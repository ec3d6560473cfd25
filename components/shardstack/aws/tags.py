"""The tags every Shardstack AWS resource carries, and the checks on the tags a caller adds."""

from collections.abc import Iterable, Mapping
from typing import Any

COMPONENT_TAG = "shardstack:component"
"""Set on every resource to the name of the component that made it."""

MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RESERVED_PREFIX = "aws:"
"""AWS keeps tag keys starting with this for itself."""


def tag_problems(tags: Any, reserved: Iterable[str] = (COMPONENT_TAG,)) -> list[str]:
    """Every problem with caller ``tags``, naming the key; ``reserved`` keys are set by the component itself."""
    if tags is None:
        return []
    if not isinstance(tags, Mapping):
        return [f"tags must be a mapping of tag keys to values; got {tags!r}"]
    reserved = tuple(reserved)
    problems: list[str] = []
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            problems.append(f"tags key {key!r} must be a string of 1 to {MAX_KEY_LENGTH} characters")
        elif key.lower().startswith(RESERVED_PREFIX):
            problems.append(f"tags key {key!r} starts with {RESERVED_PREFIX!r}, which AWS reserves for its own tags")
        elif key in reserved:
            problems.append(f"tags key {key!r} is set by Shardstack itself; choose another key")
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            problems.append(f"tags[{key!r}]={value!r} must be a string of at most {MAX_VALUE_LENGTH} characters")
    return problems


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
