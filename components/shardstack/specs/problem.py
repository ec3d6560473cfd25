"""One problem with a user's value: where it is, what it is, and what is allowed instead.

A spec's checks return :class:`Problem` objects; each boundary renders them in its own words for the same
fact. A component names Python arguments (``gpu_pools[0]: min_nodes=-1 must be a whole number ≥ 0``), the
stack config names YAML keys (``shardstack:gpu_pools[0].min_nodes: -1 must be a whole number ≥ 0``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

Path = tuple[str | int, ...]


class Key(str):
    """A key of a mapping the user wrote (a label key), not an argument name: shown as ``['team']``."""


MAX_SHOWN = 80
"""Longer values are cut in stack config messages: the key path already says where the value is."""


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()
"""The value of a problem about something missing, which has no value to show."""


@dataclass(frozen=True)
class Problem:
    """``reason`` says what is wrong with ``value`` at ``path`` and what is allowed, e.g. 'must be ≥ 0'."""

    path: Path
    reason: str
    value: Any = NO_VALUE

    def within(self, *outer: str | int) -> Problem:
        """Return the same problem seen from a spec that holds this one's at ``outer``."""
        return Problem((*outer, *self.path), self.reason, self.value)

    def as_argument(self) -> str:
        """Render for a component's caller: ``taints[0].key='a b' is not a valid key: ...``."""
        where = dotted(self.path)
        if self.value is NO_VALUE:
            return f"{where} {self.reason}" if where else self.reason
        return f"{where}={self.value!r} {self.reason}"

    def as_config(self, namespace: str) -> str:
        """Render for a stack config: ``shardstack:gpu_pools[0].min_nodes: -1 must be ...``."""
        return f"{namespace}:{dotted(self.path)}: {self.as_config_text()}"

    def as_config_text(self) -> str:
        """Render what follows the key in a stack config message: ``-1 must be a whole number ≥ 0``."""
        return self.reason if self.value is NO_VALUE else f"{show(self.value)} {self.reason}"


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def dotted(path: Sequence[str | int]) -> str:
    """Return ``gpu_pools[0].labels['example.com/team']`` for ``("gpu_pools", 0, "labels", "example.com/team")``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, Key) or not _PLAIN_KEY.fullmatch(part):
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def show(value: Any) -> str:
    """Return a value as the user wrote it in YAML: strings quoted, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def as_arguments(problems: Sequence[Problem]) -> list[str]:
    """Render every problem for a component's caller, one line each."""
    return [p.as_argument() for p in problems]
