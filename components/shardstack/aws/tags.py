"""The tags every Shardstack AWS resource carries, and the checks on the tags a caller adds."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.specs.kinds import Kind
from shardstack.specs.problem import Key, Path, Problem

COMPONENT_TAG = "shardstack:component"
"""Set on every resource to the name of the component that made it."""

MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RESERVED_PREFIX = "aws:"
"""AWS keeps tag keys starting with this for itself."""


@dataclass(frozen=True)
class Tags(Kind):
    """AWS tags, ``{key: value}``; ``reserved`` keys are set by the component itself."""

    reserved: tuple[str, ...] = (COMPONENT_TAG,)

    @property
    def annotation(self) -> str:
        return "Mapping[str, str]"

    @property
    def allowed(self) -> str:
        return "a mapping of tag keys to values"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        for key, item in value.items():
            at = (*path, Key(str(key)))
            if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
                problems.append(Problem(at, f"is not a tag key: use a string of 1 to {MAX_KEY_LENGTH} characters"))
            elif key.lower().startswith(RESERVED_PREFIX):
                problems.append(Problem(at, f"is not allowed: AWS reserves keys starting with {RESERVED_PREFIX!r}"))
            elif key in self.reserved:
                problems.append(Problem(at, "is not allowed: Shardstack sets this key itself; choose another key"))
            if not isinstance(item, str) or len(item) > MAX_VALUE_LENGTH:
                problems.append(Problem(at, f"must be a string of at most {MAX_VALUE_LENGTH} characters", item))
        return problems


def tag_problems(tags: Any, reserved: Iterable[str] = (COMPONENT_TAG,)) -> list[str]:
    """Every problem with caller ``tags``, naming the key; ``reserved`` keys are set by the component itself."""
    if tags is None:
        return []
    return [p.as_argument() for p in Tags(tuple(reserved)).problems(tags, ("tags",))]


def component_tags(name: str, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's tags plus the component's own."""
    return {**dict(tags or {}), COMPONENT_TAG: name}
