"""Errors that carry every problem found in the user's input, each naming the field and the value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class InputError(ValueError):
    """Bad user input; ``problems`` lists every problem found, one line each.

    Raised with all problems at once so that one run shows everything to fix.
    """

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.what = what
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what}:\n{lines}")


class ArgumentError(InputError):
    """A component was called with arguments it cannot build; nothing was registered."""

    def __init__(self, component: str, problems: Sequence[str]) -> None:
        super().__init__(f"invalid arguments for {component}", problems)


class ConfigError(InputError):
    """The stack configuration is invalid; nothing was registered."""

    def __init__(self, stack: str, problems: Sequence[str]) -> None:
        super().__init__(f"invalid configuration for stack {stack!r}", problems)


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest allowed value, or ``""`` when none is close."""
    choices = list(allowed)
    # The same word in another case is the likeliest meaning ('latest' for 'LATEST').
    same = [a for a in choices if a.lower() == value.lower()]
    close = same or difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_of(allowed: Iterable[str]) -> str:
    """Format the allowed values for an error message: ``one of 'a', 'b', 'c'``."""
    return "one of " + ", ".join(repr(a) for a in allowed)
