"""The spec system: one declaration per argument gives the check, the defaults, the docs and the TypedDict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shardstack.specs import Arg, Choice, Flag, ListOf, Problem, Record, Rule, Spec, Text, Values, Whole
from shardstack.specs.render import typed_dict

TAINT = Spec("Taint", "A taint.", (Arg("key", Text("a key"), "Key.", required=True),))


def _range(values: Values) -> Iterator[Problem]:
    if values["high"] < values["low"]:
        yield Problem(("high",), f"is less than low={values['low']!r}", values["high"])


def _not_with_fixed(values: Values) -> Iterator[Problem]:
    if values.present("fixed") and values.given("low"):
        yield Problem(("low",), "cannot be combined with fixed", values["low"])


POOL = Spec(
    "Pool",
    "A pool.",
    (
        Arg("low", Whole(0), "Fewest.", default=0),
        Arg("high", Whole(1, 10), "Most.", default=1),
        Arg("mode", Choice(("fast", "slow")), "How.", default="fast"),
        Arg("fixed", Flag(), "Fixed size."),
        Arg("taints", ListOf(Record(TAINT), unique_by="key"), "Taints."),
    ),
    rules=(Rule(("low", "high"), _range), Rule(("low",), _not_with_fixed, present=("fixed",))),
)


def lines(values: object, spec: Spec = POOL) -> list[str]:
    return [p.as_argument() for p in spec.check(values)]


def test_every_problem_names_the_path_the_value_and_what_is_allowed() -> None:
    assert lines({"low": -1, "hihg": 2, "mode": "Fast", "taints": [{"key": "a"}, {"key": "a"}, {}]}) == [
        "unknown argument 'hihg' (did you mean 'high'?)",
        "low=-1 must be a whole number ≥ 0",
        "mode='Fast' must be one of 'fast', 'slow' (did you mean 'fast'?)",
        "taints[2].key is required: a key",
        "taints[1].key='a' is already used by taints[0]; give each key once",
    ]


def test_a_rule_reads_only_valid_arguments_and_runs_once() -> None:
    assert lines({"low": 3, "high": 2}) == ["high=2 is less than low=3"]
    # high is refused on its own: the rule across low and high stays silent rather than repeat it.
    assert lines({"low": 3, "high": 0}) == ["high=0 must be a whole number from 1 to 10"]
    # Defaults take part: high defaults to 1.
    assert lines({"low": 2}) == ["high=1 is less than low=2"]


def test_a_rule_that_asks_only_for_presence_speaks_even_when_that_argument_is_wrong() -> None:
    assert lines({"low": 1, "high": 2, "fixed": "yes"}) == [
        "fixed='yes' must be true or false",
        "low=1 cannot be combined with fixed",
    ]


def test_without_drops_the_arguments_and_the_rules_that_read_them() -> None:
    wired = POOL.without(("high",), name="Part", doc="A pool without high.")
    assert wired.names == ("low", "mode", "fixed", "taints")
    assert lines({"low": 5, "high": 1}, wired) == ["unknown argument 'high'"]
    with pytest.raises(ValueError, match="no arguments"):
        POOL.without(("nope",), name="x", doc="")


def test_the_stack_config_reads_text_and_words_the_same_problem_for_its_key() -> None:
    values = POOL.from_text({"low": "3", "fixed": "true", "taints": [{"key": "a"}]})
    assert values == {"low": 3, "fixed": True, "taints": [{"key": "a"}]}
    (problem,) = POOL.check({"high": 11}, ("gpu_pools", 0))
    assert problem.as_config("shardstack") == "shardstack:gpu_pools[0].high: 11 must be a whole number from 1 to 10"
    assert problem.as_argument() == "gpu_pools[0].high=11 must be a whole number from 1 to 10"


def test_defaults_and_docs_come_from_the_declaration() -> None:
    assert POOL.resolved({"high": 3}) == {"low": 0, "high": 3, "mode": "fast"}
    source = typed_dict(POOL)
    assert "class Pool(TypedDict, total=False):" in source
    assert "    taints: Sequence[Taint]" in source
    assert "\"\"\"How. One of 'fast', 'slow'. Default: 'fast'.\"\"\"" in source
    assert "Required[" not in source.split("taints")[0]


def test_a_spec_refuses_to_declare_an_argument_twice_or_a_rule_over_a_stranger() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Spec("S", "", (Arg("a", Flag(), ""), Arg("a", Flag(), "")))
    with pytest.raises(ValueError, match="not its arguments"):
        Spec("S", "", (Arg("a", Flag(), ""),), rules=(Rule(("b",), lambda v: ()),))
