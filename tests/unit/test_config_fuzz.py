"""Every stack of stacks/, mutated thousands of ways: the config either loads or names each key it refuses.

Seeded and bounded: each stack gets ``MUTATIONS`` mutants from a fixed seed, one change each, along the axes a
user's slip takes (types, bounds, unknown keys at every level, CIDR unions, URIs, nesting, unicode). For each,
``config.load`` must return a config or raise ConfigError whose every line names a ``shardstack:`` key: never
another exception, never a traceback.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_cases import ROOT, config

from shardstack.errors import ConfigError

MUTATIONS = 1000
STACKS = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))

Location = tuple[Any, Any]  # (container, key or index)

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e30,
    -1e30,
    float("nan"),
    10**30,
    "",
    " ",
    "true",
    "1e30",
    "💥",
    "a" * 10_000,
    "\u202etxet",
    "line\nbreak",
    "nul\x00byte",
    "s3://user:pass@bucket/m",
    "file:///models/../etc",
    "https://h/m?sig=abc",
    "0.0.0.0/0",
    "::/0",
    [],
    [None],
    ["0.0.0.0/1", "128.0.0.0/1"],
    ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
    {},
    {"": 1},
    {"💥": "💥"},
]


def stack_values(path: Path) -> dict[str, Any]:
    settings = yaml.safe_load(path.read_text())["config"]
    values = {k.removeprefix("shardstack:"): v for k, v in settings.items() if k.startswith("shardstack:")}
    if isinstance(values.get("api_key"), dict):  # an encrypted secret in the file
        values["api_key"] = "stand-in"
    return values


def locations(value: Any) -> Iterator[Location]:
    """Every (container, key) in ``value``: where a mutation can land."""
    if isinstance(value, dict):
        for key in list(value):
            yield value, key
            yield from locations(value[key])
    elif isinstance(value, list):
        for index in range(len(value)):
            yield value, index
            yield from locations(value[index])


def containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict | list):
        yield value
        for child in value.values() if isinstance(value, dict) else value:
            yield from containers(child)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


KINDS = ("replace", "unknown key", "remove", "nest", "wrap", "number")


def mutate(values: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """Change ``values`` in place in one way; return the kind of change and what was done, for the failure message."""
    where = list(locations(values))
    kind = rng.choice([*KINDS, "replace"])
    if kind == "unknown key":
        container = rng.choice([c for c in containers(values) if isinstance(c, dict)])
        key = rng.choice(["modle", "", "💥", "zones ", "x" * 300, "__class__"])
        container[key] = rng.choice(ODD_VALUES)
        return kind, f"unknown key {key!r}"
    container, key = rng.choice(where)
    if kind == "replace":
        container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif kind == "remove":
        del container[key]
    elif kind == "nest":
        container[key] = nested(rng.choice([20, 500, 3000]))
    elif kind == "wrap":
        container[key] = rng.choice([[container[key]], {"value": container[key]}, str(container[key])])
    else:
        container[key] = rng.choice([2**63, -(2**63), 10**100, 0.1, 7])
    return kind, f"{kind} at {key!r}"


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name.removeprefix("Pulumi.").removesuffix(".yaml"))
def test_a_mutated_stack_config_loads_or_names_every_key_it_refuses(path: Path) -> None:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    base = stack_values(path)
    rng = random.Random(f"{stack}-fuzz")
    refused = 0
    for round_ in range(MUTATIONS):
        values = copy.deepcopy(base)
        _, change = mutate(values, rng)
        try:
            config.load(values, stack=stack)
        except ConfigError as error:
            refused += 1
            assert error.problems, change
            for line in error.problems:
                assert line.startswith("shardstack:"), f"mutation {round_} ({change}): {line[:300]!r}"
                assert "Traceback" not in line and "object at 0x" not in line, line[:300]
        except Exception as error:
            pytest.fail(f"mutation {round_} ({change}) raised {type(error).__name__}: {str(error)[:300]}")
    assert refused > MUTATIONS // 4  # the mutations do reach the checks


def test_the_mutations_cover_every_axis() -> None:
    rng = random.Random(0)
    assert {mutate(stack_values(STACKS[0]), rng)[0] for _ in range(200)} == set(KINDS)
