"""The tags every Shardstack Azure resource carries, and the checks on the tags a caller adds."""

from collections.abc import Iterable, Mapping
from typing import Any

COMPONENT_TAG = "shardstack-component"
"""Set on every taggable resource to the name of the component that made it."""

MAX_TAGS = 50
"""Tags one Azure resource may carry."""
MAX_KEY_LENGTH = 128
"""Azure allows 512 characters for most resources, but only 128 on storage accounts, which carry these too."""
MAX_VALUE_LENGTH = 256
FORBIDDEN_KEY_CHARACTERS = "<>%&\\?/"
RESERVED_PREFIXES = ("microsoft", "azure", "windows")
"""Azure refuses tag keys starting with these (any case)."""


def tag_problems(tags: Any, reserved: Iterable[str] = (COMPONENT_TAG,), arg: str = "tags") -> list[str]:
    """Every problem with caller Azure ``tags`` (given as ``arg``), naming the key; ``reserved`` keys are ours."""
    if tags is None:
        return []
    if not isinstance(tags, Mapping):
        return [f"{arg} must be a mapping of Azure tag names to values; got {tags!r}"]
    reserved = tuple(reserved)
    problems: list[str] = []
    if len(tags) + len(reserved) > MAX_TAGS:
        problems.append(f"{arg} has {len(tags)} entries; Azure allows {MAX_TAGS} tags per resource and "
                        f"Shardstack sets {len(reserved)}, so give at most {MAX_TAGS - len(reserved)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            problems.append(f"{arg} key {key!r} must be a string of 1 to {MAX_KEY_LENGTH} characters")
        elif bad := sorted({c for c in key if c in FORBIDDEN_KEY_CHARACTERS}):
            problems.append(f"{arg} key {key!r} contains {''.join(bad)!r}; Azure tag names may not contain any of "
                            f"{FORBIDDEN_KEY_CHARACTERS!r}")
        elif key.lower().startswith(RESERVED_PREFIXES):
            problems.append(f"{arg} key {key!r} starts with a prefix Azure reserves "
                            f"({', '.join(repr(p) for p in RESERVED_PREFIXES)})")
        elif key in reserved:
            problems.append(f"{arg} key {key!r} is set by Shardstack itself; choose another key")
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            problems.append(f"{arg}[{key!r}]={value!r} must be a string of at most {MAX_VALUE_LENGTH} characters")
    return problems


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
