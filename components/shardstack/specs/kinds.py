"""What kind of value an argument takes: each kind checks its own values, names its Python type and says
what it allows, so that the type hint, the check and the documentation of an argument come from one place.

Checks never raise: they return every :class:`Problem`, with paths relative to the argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from shardstack.errors import did_you_mean, one_of
from shardstack.k8s import names
from shardstack.specs.problem import Key, Path, Problem

if TYPE_CHECKING:
    from shardstack.specs.spec import Spec


class Kind:
    """A kind of value: its Python type as a TypedDict writes it, what it allows, and its check."""

    @property
    def annotation(self) -> str:
        """The Python type, as written in a generated TypedDict, e.g. ``Sequence[str]``."""
        return "Any"

    @property
    def allowed(self) -> str:
        """What a value must be, as a message or the docs say it: 'a whole number ≥ 0'."""
        return "any value"

    @property
    def documented(self) -> str:
        """What the documentation of an argument of this kind adds to its doc (the choices), or ''."""
        return ""

    def problems(self, value: Any, path: Path) -> list[Problem]:
        """Return every problem with ``value``, an argument at ``path``."""
        reason = self.reason(value)
        return [] if reason is None else [Problem(path, reason, value)]

    def reason(self, value: Any) -> str | None:
        """Return what is wrong with ``value`` and what is allowed, or None when it is fine."""
        del value
        return None

    def from_text(self, value: Any) -> Any:
        """Return ``value`` read from a stack config, where `pulumi config set` stores scalars as text."""
        return value


MAX_ITEMS = 256
"""Entries in any list or mapping argument: no setting needs more (GPU pools, zones, networks, labels), and a longer
one is a slip that would plan for minutes."""
MAX_TEXT = 4096
"""Characters in any text argument: more than any name, URI, address or key a setting takes."""
GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
"""A GUID (Entra object IDs, subscription IDs, role definition names), to compose into other patterns."""


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number from ``minimum`` (to ``maximum``); booleans are not numbers here."""

    minimum: int
    maximum: int | None = None
    why: str = ""
    """Why the bounds are what they are, said with the problem: 'CUDA images need the room'."""

    @property
    def annotation(self) -> str:
        return "int"

    @property
    def allowed(self) -> str:
        if self.maximum is None:
            return f"a whole number ≥ {self.minimum}"
        return f"a whole number from {self.minimum} to {self.maximum}"

    def reason(self, value: Any) -> str | None:
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and value >= self.minimum and (self.maximum is None or value <= self.maximum):
            return None
        return f"must be {self.allowed}" + (f" ({self.why})" if self.why else "")

    def from_text(self, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        return value


@dataclass(frozen=True)
class Count(Kind):
    """A number greater than 0, e.g. a parameter count written 7.0e9."""

    example: str = "7.0e9"

    @property
    def annotation(self) -> str:
        return "float"

    @property
    def allowed(self) -> str:
        return f"a number greater than 0, e.g. {self.example}"

    def reason(self, value: Any) -> str | None:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and value > 0 else f"must be {self.allowed}"

    def from_text(self, value: Any) -> Any:
        try:
            return float(value) if isinstance(value, str) else value
        except ValueError:
            return value


@dataclass(frozen=True)
class Flag(Kind):
    """True or False."""

    @property
    def annotation(self) -> str:
        return "bool"

    @property
    def allowed(self) -> str:
        return "true or false"

    def reason(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"

    def from_text(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value


@dataclass(frozen=True)
class Choice(Kind):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return one_of(self.values)

    @property
    def documented(self) -> str:
        return f"O{one_of(self.values)[1:]}."

    def reason(self, value: Any) -> str | None:
        if isinstance(value, str) and value in self.values:
            return None
        return f"must be {self.allowed}{did_you_mean(str(value), self.values)}"


@dataclass(frozen=True)
class Text(Kind):
    """A string, checked by ``check`` (returns the reason it is refused, or None)."""

    description: str
    """What the check takes, e.g. "an IAM role ARN like 'arn:aws:iam::123456789012:role/nodes'"."""
    check: Callable[[str], str | None] | None = None

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return self.description

    def reason(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return f"must be {self.allowed}"
        if len(value) > MAX_TEXT:
            return f"has {len(value)} characters; at most {MAX_TEXT} (no setting takes a longer text)"
        return self.check(value) if self.check is not None else None


@dataclass(frozen=True)
class Shaped(Kind):
    """A string of a fixed shape (``pattern``, matched whole); anything else is refused with ``refusal``."""

    description: str
    pattern: re.Pattern[str]
    refusal: str
    """Why a value is refused and what to use instead: "is not a subnet resource ID: use '/subscriptions/...'"."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return self.description

    def reason(self, value: Any) -> str | None:
        return None if isinstance(value, str) and self.pattern.fullmatch(value) else self.refusal


@dataclass(frozen=True)
class TagMap(Kind):
    """A cloud's tags or labels that a caller adds, ``{key: value}``: each key and value checked by the cloud's
    rules, the ``reserved`` keys refused (Shardstack sets them), and at most ``most`` per resource, Shardstack's
    own included."""

    noun: str
    """What a key names, e.g. 'AWS tag', 'GCP label'."""
    key_reason: Callable[[str], str | None]
    """Why a key is refused by the cloud, or None."""
    value_reason: Callable[[Any], str | None]
    """Why a value is refused by the cloud, or None."""
    reserved: tuple[str, ...] = ()
    most: int | None = None

    @property
    def annotation(self) -> str:
        return "Mapping[str, str]"

    @property
    def allowed(self) -> str:
        return f"a mapping of {self.noun} keys to values"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        if self.most is not None and len(value) + len(self.reserved) > self.most:
            reason = (
                f"has {len(value)} entries; a resource carries at most {self.most} {self.noun}s and Shardstack sets "
                f"{len(self.reserved)}, so give at most {self.most - len(self.reserved)}"
            )
            problems.append(Problem(path, reason))
        for key, item in value.items():
            at = (*path, Key(str(key)))
            if not isinstance(key, str):
                problems.append(Problem(at, f"is not a {self.noun} key: use a string"))
            elif key in self.reserved:
                problems.append(Problem(at, "is set by Shardstack itself; choose another key"))
            elif reason := self.key_reason(key):
                problems.append(Problem(at, reason))
            if reason := self.value_reason(item):
                problems.append(Problem(at, reason, item))
        return problems


@dataclass(frozen=True)
class Labels(Kind):
    """Kubernetes labels, ``{key: value}``, with keys that are someone else's refused."""

    reserved_prefixes: tuple[str, ...] = ()
    """Key prefixes set by Shardstack itself."""
    reserved_domains: tuple[str, ...] = ()
    """Key domains (and their subdomains) Kubernetes keeps for itself."""

    @property
    def annotation(self) -> str:
        return "Mapping[str, str]"

    @property
    def allowed(self) -> str:
        return "a mapping of label keys to label values"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [Problem(path, f"must be {self.allowed}", value)]
        problems: list[Problem] = []
        for key, item in value.items():
            at = (*path, Key(str(key)))
            domain = str(key).rpartition("/")[0]
            if names.qualified_name_problem("key", key):
                problems.append(Problem(at, f"is not a valid label key: {_LABEL_KEY_RULE}"))
            elif any(str(key).startswith(p) for p in self.reserved_prefixes):
                problems.append(
                    Problem(
                        at,
                        f"is not allowed: keys starting with {_listing(self.reserved_prefixes)} "
                        "are set by Shardstack itself; choose another key",
                    )
                )
            elif any(domain == d or domain.endswith("." + d) for d in self.reserved_domains):
                problems.append(
                    Problem(
                        at,
                        f"is not allowed: the domains {_listing(self.reserved_domains)} are "
                        "reserved for Kubernetes; choose another key",
                    )
                )
            if not isinstance(item, str):
                problems.append(Problem(at, "is not a string; quote it", item))
            elif names.label_value_problem("value", item):
                problems.append(Problem(at, f"is not a valid label value: {_LABEL_VALUE_RULE}", item))
        return problems


_LABEL_KEY_RULE = (
    "use [prefix/]name where prefix is a DNS subdomain and name at most 63 letters, digits, '-', "
    "'_' or '.', starting and ending with a letter or digit"
)
_LABEL_VALUE_RULE = "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of ``item`` values; ``unique_by`` names the field (of record items) that must not repeat."""

    item: Kind
    min_items: int = 0
    unique_by: str | None = None
    unique: bool = False
    """Refuse an item that repeats an earlier one (for items that are plain values)."""

    @property
    def annotation(self) -> str:
        return f"Sequence[{self.item.annotation}]"

    @property
    def allowed(self) -> str:
        least = f" of at least {self.min_items} item{'s' if self.min_items > 1 else ''}" if self.min_items else ""
        return f"a list{least}, each item {self.item.allowed}"

    def from_text(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.item.from_text(item) for item in value]
        return value

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            return [Problem(path, f"must be {self.allowed}", value)]
        if len(value) < self.min_items:
            return [Problem(path, f"must be {self.allowed}", list(value))]
        if len(value) > MAX_ITEMS:
            return [Problem(path, too_many(len(value)))]
        problems = [p for i, item in enumerate(value) for p in self.item.problems(item, (*path, i))]
        if self.unique:
            seen: set[str | int] = set()
            for i, item in enumerate(value):
                if not isinstance(item, str | int):
                    continue
                if item in seen:
                    problems.append(Problem((*path, i), "is listed twice; give each item once", item))
                seen.add(item)
        if self.unique_by is not None:
            first: dict[str, int] = {}
            for i, item in enumerate(value):
                key = item.get(self.unique_by) if isinstance(item, Mapping) else None
                if not isinstance(key, str):
                    continue
                if key in first:
                    problems.append(
                        Problem(
                            (*path, i, self.unique_by),
                            f"is already used by {path[-1]}[{first[key]}]; give each {self.unique_by} once",
                            key,
                        )
                    )
                first.setdefault(key, i)
        return problems


@dataclass(frozen=True)
class Record(Kind):
    """A mapping checked by its own spec (a nested TypedDict, e.g. a taint)."""

    spec: Spec

    @property
    def annotation(self) -> str:
        return self.spec.name

    @property
    def allowed(self) -> str:
        return f"a mapping with {', '.join(arg.name for arg in self.spec.args)}"

    def from_text(self, value: Any) -> Any:
        return self.spec.from_text(value)

    def problems(self, value: Any, path: Path) -> list[Problem]:
        return self.spec.check(value, path)


@dataclass(frozen=True)
class Input(Kind):
    """A value that may also be another resource's output (``pulumi.Input``): outputs are checked by the
    cloud when they resolve, plain values here."""

    plain: Kind

    @property
    def annotation(self) -> str:
        return f"pulumi.Input[{self.plain.annotation}]"

    @property
    def allowed(self) -> str:
        return self.plain.allowed

    def problems(self, value: Any, path: Path) -> list[Problem]:
        return [] if isinstance(value, pulumi.Output) else self.plain.problems(value, path)


@dataclass(frozen=True)
class Worded(Kind):
    """A value checked by an existing function that words its own lines (``check(name, value)``); its
    problems carry no path of their own. For arguments no boundary but the component's sees."""

    python_type: str
    description: str
    check: Callable[[str, Any], Sequence[str]]

    @property
    def annotation(self) -> str:
        return self.python_type

    @property
    def allowed(self) -> str:
        return self.description

    def problems(self, value: Any, path: Path) -> list[Problem]:
        return [Problem((), line) for line in self.check(str(path[-1]), value)]


def _listing(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)


def too_many(count: int) -> str:
    """Why a list or mapping of ``count`` entries is refused (more than :data:`MAX_ITEMS`)."""
    return f"has {count} entries; at most {MAX_ITEMS} (no setting needs more)"
