"""The tags every Shardstack Azure resource carries, and the kind of the tags a caller adds."""

from collections.abc import Mapping
from typing import Any

from shardstack.specs.kinds import TagMap

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


def _key_reason(key: str) -> str | None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"is not a tag name: use a string of 1 to {MAX_KEY_LENGTH} characters"
    if bad := sorted({c for c in key if c in FORBIDDEN_KEY_CHARACTERS}):
        return f"contains {''.join(bad)!r}; Azure tag names may not contain any of {FORBIDDEN_KEY_CHARACTERS!r}"
    if key.lower().startswith(RESERVED_PREFIXES):
        return f"starts with a prefix Azure reserves ({', '.join(repr(p) for p in RESERVED_PREFIXES)})"
    return None


def _value_reason(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_VALUE_LENGTH:
        return None
    return f"must be a string of at most {MAX_VALUE_LENGTH} characters"


AZURE_TAGS = TagMap("Azure tag", _key_reason, _value_reason, (COMPONENT_TAG,), MAX_TAGS)
"""The kind of the Azure tags a caller adds (``shardstack-component`` is Shardstack's)."""


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
