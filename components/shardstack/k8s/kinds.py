"""Kinds of the values Kubernetes objects take (names, keys, quantities, variable names), for the k8s specs.

Each kind reuses the check of :mod:`shardstack.k8s.names`, so that a spec and the components that still check
by hand refuse the same values; the kind adds what it allows, in the words a problem shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.k8s import names
from shardstack.k8s import runtime_contract as rc
from shardstack.specs.kinds import MAX_ITEMS, Kind, Text, too_many
from shardstack.specs.problem import Key, Path, Problem


def _checked_by(noun: str, rule: str, problem: Callable[[str, Any], str | None]) -> Text:
    """Return a text kind refusing what ``problem`` (a :mod:`names` check) refuses: 'is not a valid <noun>: use
    <rule>'."""
    return Text(
        f"a {noun}: {rule}", lambda value: f"is not a valid {noun}: use {rule}" if problem("value", value) else None
    )


KUBERNETES_NAME = _checked_by(
    "Kubernetes name",
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    names.dns_label_problem,
)
"""A namespace, or an object name that must also be a DNS label."""

OBJECT_NAME = _checked_by(
    "Kubernetes object name",
    "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    names.subdomain_problem,
)
"""A Secret, PersistentVolumeClaim or storage class name (a DNS subdomain)."""

QUALIFIED_NAME = _checked_by(
    "key",
    "[prefix/]name like 'example.com/gpu', where prefix is a DNS subdomain and name at most 63 letters, digits, "
    "'-', '_' or '.', starting and ending with a letter or digit",
    names.qualified_name_problem,
)
"""A label or annotation key, a taint key, an extended resource name."""

LABEL_VALUE = _checked_by(
    "label value",
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    names.label_value_problem,
)


@dataclass(frozen=True)
class Quantity(Text):
    """A Kubernetes quantity; in a stack config a bare number (``cpu_per_shard: 4``) is read as its text."""

    def from_text(self, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _quantity_reason(value: str) -> str | None:
    match = names.QUANTITY.fullmatch(value)
    if match is None or float(match.group(1)) == 0:
        return "is not a positive Kubernetes quantity: use e.g. '500m', '4', '512Mi' or '16Gi'"
    return None


QUANTITY = Quantity("a positive Kubernetes quantity: e.g. '500m', '4', '512Mi' or '16Gi'", _quantity_reason)

SECRET_KEY = _checked_by("Secret key", "letters, digits, '-', '_' or '.'", names.secret_key_problem)
"""A key inside a Secret, which is also a file name when the Secret is mounted."""

IMAGE = Text(
    "an image reference such as 'registry/repo:tag'",
    lambda value: "is not an image reference: it has a space" if any(c.isspace() for c in value) else None,
)


def _namespace_reason(value: str) -> str | None:
    if value.startswith("kube-"):
        return "starts with 'kube-', which is reserved for Kubernetes: choose another namespace"
    return KUBERNETES_NAME.reason(value)


NAMESPACE = Text(KUBERNETES_NAME.description + ", not starting with 'kube-'", _namespace_reason)
"""A namespace Shardstack creates or deploys into: Kubernetes keeps the 'kube-' ones for itself."""


def _env_name_reason(value: str) -> str | None:
    if names.env_name_problem("value", value):
        return (
            "is not a valid environment variable name: use letters, digits, '_', '-' or '.', not starting with a digit"
        )
    if value.startswith(rc.RESERVED_ENV_PREFIXES):
        return (
            f"is reserved for the runtime contract (prefixes {', '.join(rc.RESERVED_ENV_PREFIXES)}): "
            "use the matching argument instead"
        )
    return None


ENV_NAME = Text("an environment variable name not starting with SHARDSTACK_ or LWS_", _env_name_reason)
"""A variable the caller sets on the ranks: the runtime contract's own names are refused."""


@dataclass(frozen=True)
class AnyText(Kind):
    """Any string, the empty one included (an environment variable's or annotation's value)."""

    @property
    def annotation(self) -> str:
        return "str"

    @property
    def allowed(self) -> str:
        return "a string"

    def reason(self, value: Any) -> str | None:
        return None if isinstance(value, str) else "must be a string"


@dataclass(frozen=True)
class OrEmpty(Kind):
    """A value of kind ``plain``, or '' where Kubernetes reads the empty string as 'any' (a toleration's key)."""

    plain: Kind

    @property
    def annotation(self) -> str:
        return self.plain.annotation

    @property
    def allowed(self) -> str:
        return f"{self.plain.allowed}, or ''"

    @property
    def documented(self) -> str:
        return self.plain.documented

    def problems(self, value: Any, path: Path) -> list[Problem]:
        return [] if value == "" else self.plain.problems(value, path)


@dataclass(frozen=True)
class MapOf(Kind):
    """A mapping of ``keys`` to ``values``, e.g. environment variable names to values; each key's and value's
    problems carry the key in their path (``env['1X']``)."""

    keys: Kind
    values: Kind
    description: str
    """What the mapping maps, e.g. 'variable names to values'."""

    @property
    def annotation(self) -> str:
        return f"Mapping[str, {self.values.annotation}]"

    @property
    def allowed(self) -> str:
        return f"a mapping of {self.description}"

    def problems(self, value: Any, path: Path) -> list[Problem]:
        if not isinstance(value, Mapping):
            return [Problem(path, f"must be {self.allowed}", value)]
        if len(value) > MAX_ITEMS:
            return [Problem(path, too_many(len(value)))]
        problems: list[Problem] = []
        for key, item in value.items():
            at = (*path, Key(str(key)))
            problems += [Problem(at, p.reason) for p in self.keys.problems(key, at)]
            problems += self.values.problems(item, at)
        return problems
