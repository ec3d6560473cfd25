"""The stack config reference (docs/CONFIG.md), rendered from the sections themselves: each key's type and
description come from its model field, which for spec-backed sections comes from the spec."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from .defaults import NAMESPACE
from .models import StackConfig

TITLE = "# Stack config reference"
INTRO = (
    "Every key of `stacks/Pulumi.<stack>.yaml` sits under the `shardstack:` namespace. Mistakes are reported all "
    "at once, each naming the key, the bad value and what is allowed. Values set with `pulumi config set` arrive "
    'as text; `"3"` and `"true"` are read as the number and the boolean wherever a key expects one.'
)


def type_name(annotation: Any) -> str:
    """Return a key's type as the YAML reader sees it: `whole number`, `list of text`, `'a' or 'b'`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is Literal:
        return " or ".join(f"`{a!r}`" for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    names = {str: "text", int: "whole number", float: "number", bool: "true or false", SecretStr: "secret text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _section_of(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """Return the section a key holds and the suffix of its path (`[]` for a list of sections)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _section_of(args[0])
    if origin in (Union, types.UnionType):
        found = [s for a in args if (s := _section_of(a)) is not None]
        return found[0] if found else None
    if origin is list:
        inner = _section_of(args[0])
        return (inner[0], "[]") if inner else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None


def _rows(model: type[BaseModel], key: str) -> tuple[list[str], list[tuple[str, type[BaseModel]]]]:
    """Return a section's table rows (keys written as ``key.format(name)``) and the sections it holds."""
    rows = ["| key | type | meaning |", "| --- | --- | --- |"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{key.format(name)}` | {type_name(field.annotation)} | {description} |")
        if (section := _section_of(field.annotation)) is not None:
            nested.append((name + section[1], section[0]))
    return rows, nested


def render() -> str:
    """Return docs/CONFIG.md: the whole namespace, then one table per section, in the order of the YAML."""
    rows, nested = _rows(StackConfig, f"{NAMESPACE}:{{}}")
    parts = ["\n".join([TITLE, "", INTRO, "", *rows])]
    pending = [(f"{NAMESPACE}:{name}", model) for name, model in nested]
    while pending:
        path, model = pending.pop(0)
        rows, inner = _rows(model, "{}")
        summary = (model.__doc__ or "").strip().splitlines()[0]
        parts.append("\n".join([f"## `{path}`", "", summary, "", *rows]))
        pending[:0] = [(f"{path}.{name}", m) for name, m in inner]
    return "\n\n".join(parts) + "\n"
