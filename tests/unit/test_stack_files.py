"""Stack files and config values the user can write badly: each ends in a clear error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_cases import AWS, LOCAL, problem_at, stack

from shardstack.errors import InputError
from shardstack.plan import find_project


def project(tmp_path: Path, stack_file: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: shardstack\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config:\n  shardstack:cloud: [local\n", "line 3, column 1: expected ',' or ']'"),
        ("- a\n- b\n", "expected a mapping at the top, got list"),
        ("config:\n  shardstack:model: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("config:\n  shardstack:model: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
        ("config: [1, 2]\n", "config: expected a mapping, got list"),
    ],
    ids=["unclosed list", "a list", "deep lists", "deep mappings", "config a list"],
)
def test_a_bad_stack_file_is_an_input_error_saying_what_and_where(tmp_path: Path, text: str, problem: str) -> None:
    found = find_project(project(tmp_path, text))
    with pytest.raises(InputError) as error:
        found.stack_config("dev")
    assert str(found.stack_file("dev")) in str(error.value)
    assert any(problem in line for line in error.value.problems), error.value.problems


def test_a_config_value_nested_thousands_deep_is_refused_at_its_key() -> None:
    deep: object = "s3://bucket/model"
    for _ in range(5000):
        deep = {"uri": deep}
    line = problem_at(stack(LOCAL, model=deep), "shardstack:model")
    assert "nested more than 16 levels deep" in line


def test_lists_mappings_and_texts_have_upper_bounds_too() -> None:
    pools = [{"name": f"p{i}", "gpu": "l4", "max_nodes": 1} for i in range(300)]
    line = problem_at(stack(AWS, gpu_pools=pools), "shardstack:gpu_pools")
    assert "holds a list or mapping of 300 entries; at most 256" in line
    uri = "s3://bucket/" + "m" * 5000
    assert "has 5012 characters; at most 4096" in problem_at(stack(AWS, model={"uri": uri}), "shardstack:model.uri")
