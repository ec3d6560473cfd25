"""The tags every Shardstack Azure resource carries, and the checks on the tags a caller adds."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import Kind
from shardstack.specs.problem import Key, Path, Problem, as_arguments

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


@dataclass(frozen=True)
class AzureTags(Kind):
    """Azure tags a caller adds, ``{name: value}``; the ``reserved`` names are Shardstack's own."""

    reserved: tuple[str, ...] = (COMPONENT_TAG,)

    @property
    def annotation(self) -> str:
        return "Mapping[str, str]"

    @property
    def allowed(self) -> str:
        return "a mapping of Azure tag names to values"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        if len(value) + len(self.reserved) > MAX_TAGS:
            most = MAX_TAGS - len(self.reserved)
            reason = (
                f"has {len(value)} entries; Azure allows {MAX_TAGS} tags per resource and Shardstack sets "
                f"{len(self.reserved)}, so give at most {most}"
            )
            problems.append(Problem(path, reason))
        for key, item in value.items():
            at = (*path, Key(str(key)))
            if reason := self._key_reason(key):
                problems.append(Problem(at, reason))
            if not isinstance(item, str) or len(item) > MAX_VALUE_LENGTH:
                problems.append(Problem(at, f"must be a string of at most {MAX_VALUE_LENGTH} characters", item))
        return problems

    def _key_reason(self, key: Any) -> str | None:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            return f"is not a tag name: use a string of 1 to {MAX_KEY_LENGTH} characters"
        if bad := sorted({c for c in key if c in FORBIDDEN_KEY_CHARACTERS}):
            return f"contains {''.join(bad)!r}; Azure tag names may not contain any of {FORBIDDEN_KEY_CHARACTERS!r}"
        if key.lower().startswith(RESERVED_PREFIXES):
            return f"starts with a prefix Azure reserves ({', '.join(repr(p) for p in RESERVED_PREFIXES)})"
        if key in self.reserved:
            return "is set by Shardstack itself; choose another key"
        return None


def tag_problems(tags: Any, reserved: Iterable[str] = (COMPONENT_TAG,), arg: str = "tags") -> list[str]:
    """Every problem with caller Azure ``tags`` (given as ``arg``), naming the key; ``reserved`` keys are ours."""
    return [] if tags is None else as_arguments(AzureTags(tuple(reserved)).problems(tags, (arg,)))


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
