"""Reading the stack config: every key the user wrote, parsed and checked at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.runtime.config
from pydantic import (
    ValidationError,
)

from shardstack.errors import ConfigError
from shardstack.specs.kinds import MAX_ITEMS
from shardstack.specs.problem import show

from .defaults import NAMESPACE
from .messages import format_errors
from .models import StackConfig

# --- Loading -----------------------------------------------------------------------------------------

MAX_DEPTH = 16
"""Levels of mappings and lists a stack config value may have: the deepest setting (a GPU pool's label) is 3."""


def load(source: pulumi.Config | Mapping[str, Any], *, stack: str) -> StackConfig:
    """Return the validated stack config, or raise ConfigError listing every problem.

    ``source`` is the program's ``pulumi.Config("shardstack")``, or a mapping of already-parsed values
    keyed without the namespace (``{"cloud": "local", "model": {"uri": "demo"}}``).
    """
    unreadable: dict[str, str] = {}
    if isinstance(source, pulumi.Config):
        raw, unreadable = _read_pulumi_config(source)
        namespace = source.name
    else:
        raw, namespace = dict(source), NAMESPACE
    for key, value in raw.items():
        if key not in unreadable and (why := _too_big(value)):
            unreadable[key] = f"{namespace}:{key}: {why}"
    for key in unreadable:
        raw[key] = "(unreadable)"  # text, so that the checks and the rules skip the key instead of walking it
    problems = list(unreadable.values())
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        # An unreadable value stays in as text so that the rules skip its key; its type error says no more.
        keys = tuple(f"{namespace}:{key}" for key in unreadable)
        problems += [line for line in format_errors(exc, namespace=namespace) if not line.startswith(keys)]
        raise ConfigError(stack, problems) from None
    if problems:
        raise ConfigError(stack, problems)
    return config


def _read_pulumi_config(config: pulumi.Config) -> tuple[dict[str, Any], dict[str, str]]:
    """Return every key of ``config``'s namespace, parsed, and a problem line per unreadable key.

    ``pulumi.Config`` can only fetch a key by name, so a misspelled key would go unnoticed. The SDK keeps
    the whole map of the stack's config, which the language host passes to the program in the
    ``PULUMI_CONFIG`` environment variable (and tests and providers set in ``runtime.config.CONFIG``):
    listing its keys is the only way to see every key the user wrote. Keys given only as individual
    ``PULUMI_CONFIG_<KEY>`` variables are read when asked for but cannot be listed.
    """
    prefix = f"{config.name}:"
    names = {*pulumi.runtime.config.get_config_env(), *pulumi.runtime.config.CONFIG.get()}
    raw: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for full_key in sorted(name for name in names if name.startswith(prefix)):
        key = full_key.removeprefix(prefix)
        value: Any = config.get(key)
        # Structured values (mappings, lists) arrive as JSON text; scalars arrive as plain text.
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                reason = f"{exc.msg} at character {exc.pos}"
                unreadable[key] = f"{full_key}: {show(value)} is not valid JSON ({reason})"
            except RecursionError:
                unreadable[key] = _too_deep(full_key)
        raw[key] = value
    return raw, unreadable


def _too_big(value: Any) -> str | None:
    """Why ``value`` is too big to be a setting (nested too deep, a list or mapping too long), walked without
    recursion, or None."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list | tuple) else None
        if children is None:
            continue
        if level > MAX_DEPTH:
            return _too_deep_reason()
        if len(children) > MAX_ITEMS:
            return f"holds a list or mapping of {len(children)} entries; at most {MAX_ITEMS} (no setting needs more)"
        pending.extend((child, level + 1) for child in children)
    return None


def _too_deep(full_key: str) -> str:
    return f"{full_key}: {_too_deep_reason()}"


def _too_deep_reason() -> str:
    return f"is nested more than {MAX_DEPTH} levels deep; no setting of a stack config goes that deep"
