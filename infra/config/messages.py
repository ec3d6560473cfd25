"""One line per problem, naming the key as it is written in the YAML, the bad value and what is allowed."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_core import ErrorDetails

from shardstack.errors import did_you_mean, one_of
from shardstack.specs.problem import show

from .defaults import NAMESPACE
from .models import StackConfig
from .problems import RULE, listing
from .section import unwrap

# --- Messages ----------------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SECRET_LOCS = {("api_key",)}


def format_errors(error: ValidationError, *, namespace: str = NAMESPACE) -> list[str]:
    """Return one line per problem in ``error``: the key path as written in YAML, the value, what is allowed.

    ``error`` comes from validating a :class:`StackConfig`; its locations are read as stack config keys.
    """
    lines: list[str] = []
    for detail in error.errors():
        line = f"{_key_path(detail['loc'], namespace)}: {_describe(detail)}"
        if line not in lines:
            lines.append(line)
    return lines


def _key_path(loc: tuple[str | int, ...], namespace: str) -> str:
    path = f"{namespace}:"
    first = True
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for an error in a mapping's key, not its value
            continue
        elif _PLAIN_KEY.fullmatch(part):
            path += part if first else f".{part}"
        else:
            path += f"[{part!r}]"
        first = False
    return path.rstrip(":") if not loc else path


def _describe(detail: ErrorDetails) -> str:
    kind, loc = detail["type"], detail["loc"]
    ctx: dict[str, Any] = detail.get("ctx") or {}
    value = "'********'" if tuple(loc) in _SECRET_LOCS else show(detail["input"])
    if kind == RULE:
        return str(ctx.get("message", detail["msg"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    allowed = _literal_values(loc)
    if kind == "missing":
        return "is required" + (f"; {one_of(allowed)}" if allowed else "")
    if kind in ("literal_error", "enum"):
        if allowed:
            hint = did_you_mean(str(detail["input"]), allowed)
            return f"{value} is not allowed; allowed: {listing(allowed)}{hint}"
        return f"{value} is not allowed; allowed: {ctx.get('expected', '')}"
    simple = {
        "int_type": "is not a whole number",
        "int_parsing": "is not a whole number",
        "int_from_float": "is not a whole number",
        "float_type": "is not a number",
        "float_parsing": "is not a number",
        "bool_type": "is not true or false",
        "bool_parsing": "is not true or false",
        "string_type": "is not a string; quote it",
        "list_type": "is not a list; write a YAML list, e.g. [a, b]",
        "dict_type": "is not a mapping; write key: value pairs",
        "model_type": "is not a mapping; write key: value pairs",
        "model_attributes_type": "is not a mapping; write key: value pairs",
    }
    if kind in simple:
        return f"{value} {simple[kind]}"
    bounds = {
        "greater_than_equal": ("ge", "is less than {0}; must be ≥ {0}"),
        "greater_than": ("gt", "must be greater than {0}"),
        "less_than_equal": ("le", "is more than {0}; must be ≤ {0}"),
        "too_short": ("min_length", "has too few items; give at least {0}"),
        "string_too_short": ("min_length", "is too short; give at least {0} character(s)"),
        "too_long": ("max_length", "has too many items; give at most {0}"),
        "string_too_long": ("max_length", "is too long; give at most {0} character(s)"),
    }
    if kind in bounds:
        key, template = bounds[kind]
        return f"{value} {template.format(ctx.get(key))}"
    if kind == "value_error" and "error" in ctx:
        return f"{value}: {ctx['error']}"
    return f"{value} is not valid here ({kind.replace('_', ' ')})"


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    name = str(loc[-1])
    model = _annotation_at(loc[:-1])
    known = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    hint = did_you_mean(name, known)
    if hint or not known:
        return f"unknown key{hint}"
    return f"unknown key; known keys: {listing(known)}"


def _literal_values(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    annotation = _annotation_at(loc)
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    return ()


def _annotation_at(loc: tuple[str | int, ...]) -> Any:
    """Return the type the stack config expects at ``loc``, or None when the path leaves the models."""
    annotation: Any = StackConfig
    for part in loc:
        annotation = unwrap(annotation)
        if isinstance(part, int):
            annotation = get_args(annotation)[0] if get_origin(annotation) is list else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        else:
            return None
    return unwrap(annotation)
