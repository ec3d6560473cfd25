"""Every component's ``validate_*_args``: arguments of the wrong shape are a problem to read, never a TypeError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import shardstack


def validators() -> dict[str, Callable[..., list[str]]]:
    found = {}
    for module_info in pkgutil.walk_packages(shardstack.__path__, "shardstack."):
        if ".offline" in module_info.name or module_info.name.endswith(".testing"):
            continue
        if module_info.name in ("shardstack.provider", "shardstack.__main__"):
            continue  # the component package's provider process (shardstack.package_components says why)
        module = importlib.import_module(module_info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("validate_") and name.endswith("_args") and function.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = function
    return found


VALIDATORS = validators()


def test_every_component_has_its_validator_here() -> None:
    assert len(VALIDATORS) >= 20, sorted(VALIDATORS)


@pytest.mark.parametrize("wrong", [None, "shards=2", 5, ["model_uri"]], ids=repr)
@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda name: name.removeprefix("shardstack."))
def test_arguments_that_are_not_a_mapping_are_one_problem(validator: str, wrong: Any) -> None:
    validate = VALIDATORS[validator]
    required = [p for p in list(inspect.signature(validate).parameters.values())[1:] if p.default is p.empty]
    extra = {p.name: "aws" for p in required}  # validate_gpu_pool_args(args, cloud)
    problems = validate(wrong, **extra)
    assert problems and all(isinstance(p, str) for p in problems), problems
