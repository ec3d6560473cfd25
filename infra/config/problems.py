"""A problem found by a check of the stack config, at a key path, and how it travels in a pydantic error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import (
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

RULE = "shardstack_rule"
"""Error type of every check written here, as opposed to pydantic's own (``int_parsing`` ...)."""


# --- Problems ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem found by a check of this module, at ``loc`` relative to the model being checked."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None

    def details(self) -> InitErrorDetails:
        return InitErrorDetails(type=rule_error(self.message), loc=self.loc, input=self.value)


def rule_error(message: str) -> PydanticCustomError:
    # The message travels in the context so that braces in it are never read as a template.
    return PydanticCustomError(RULE, "{message}", {"message": message})


def raise_problems(title: str, problems: Sequence[Problem]) -> None:
    """Raise every problem at once as one ValidationError (pydantic prefixes the locations)."""
    if problems:
        raise ValidationError.from_exception_data(title, [p.details() for p in problems])


def listing(values: Iterable[object]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
