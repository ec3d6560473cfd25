"""Stack config: unknown keys, how problems are reported, and loading from pulumi.Config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from config_cases import AWS, LOCAL, aws_pool, config, problem_at, problems_of, stack
from pulumi.runtime.config import CONFIG
from pydantic import BaseModel, ValidationError

from shardstack.errors import ConfigError

# --- Unknown keys -----------------------------------------------------------------------------------


def test_fails_when_top_level_key_unknown() -> None:
    assert "shardstack:modle: unknown key (did you mean 'model'?)" in problems_of(stack(LOCAL, modle={}))


def test_fails_when_nested_key_unknown() -> None:
    values = stack(LOCAL, model={"dtyp": "bf16"})
    assert "shardstack:model.dtyp: unknown key (did you mean 'dtype'?)" in problems_of(values)


def test_fails_when_key_in_list_item_unknown() -> None:
    line = problem_at(aws_pool(max_node=3), "shardstack:gpu_pools[0].max_node")
    assert line.endswith("unknown key (did you mean 'max_nodes'?)")


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    line = problem_at(stack(LOCAL, serving={"xyzzy": 1}), "shardstack:serving.xyzzy")
    assert "unknown key; known keys:" in line and "'replica_groups'" in line


# --- Reporting --------------------------------------------------------------------------------------


def test_reports_every_problem_at_once() -> None:
    values = {
        "cloud": "aws",  # region missing: a rule across keys
        "modle": {},  # unknown key
        "gpu_pools": [
            {"name": "a", "gpu": "h100", "min_nodes": 2, "max_nodes": 1},  # bad gpu and bad range
            {"name": "a", "gpu": "t4", "gpus_per_node": 3},  # repeated name, size not offered
        ],
        "serving": {"replica_groups": 0, "mode": "lws"},
    }
    problems = problems_of(values)
    keys = {line.split(": ", 1)[0] for line in problems}
    assert keys == {
        "shardstack:region",
        "shardstack:modle",
        "shardstack:gpu_pools[0].gpu",
        "shardstack:gpu_pools[0].max_nodes",
        "shardstack:gpu_pools[1].name",
        "shardstack:gpu_pools[1].gpus_per_node",
        "shardstack:serving.replica_groups",
        "shardstack:serving.mode",
    }


def test_rules_across_keys_read_the_valid_keys_of_an_invalid_section() -> None:
    values = stack(AWS, model={"uri": "gs://bucket/m", "dtype": "fp8", "shards": 1})
    keys = [line.split(": ", 1)[0] for line in problems_of(values)]
    assert keys == ["shardstack:model.dtype", "shardstack:model.uri"]


def test_messages_carry_no_pydantic_text() -> None:
    values = {"cloud": "aws", "zones": "a", "gpu_pools": [{"gpu": "l4", "max_nodes": "x", "spot": []}]}
    with pytest.raises(ConfigError) as info:
        config.load(values, stack="aws-dev")
    text = str(info.value)
    assert text.startswith("invalid configuration for stack 'aws-dev':")
    for pydantic_text in ("Input should", "pydantic", "errors.pydantic.dev", "validation error"):
        assert pydantic_text not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_model_validate_alone_applies_rules_across_keys() -> None:
    with pytest.raises(ValidationError) as info:
        config.StackConfig.model_validate({"cloud": "aws", "gpu_pools": [{"gpu": "l4"}]})
    assert config.format_errors(info.value) == ["shardstack:region: is required for cloud 'aws', e.g. 'us-east-1'"]


def test_format_errors_writes_odd_keys_in_brackets() -> None:
    with pytest.raises(ValidationError) as info:
        config.StackConfig.model_validate(aws_pool(labels={"example.com/team": 1}))
    assert config.format_errors(info.value) == [
        "shardstack:gpu_pools[0].labels['example.com/team']: 1 is not a string; quote it"
    ]


def _sections() -> list[type[BaseModel]]:
    return [
        config.StackConfig,
        config.ClusterConfig,
        config.SystemPoolConfig,
        config.GpuPoolConfig,
        config.ModelConfig,
        config.ServingConfig,
        config.ApiKeySecretRef,
        config.LocalConfig,
        config.LocalWeightsConfig,
    ]


@pytest.mark.parametrize("section", _sections(), ids=lambda s: s.__name__)
def test_every_key_is_documented(section: type[BaseModel]) -> None:
    undocumented = [name for name, field in section.model_fields.items() if not field.description]
    assert undocumented == []
    assert section.model_json_schema()["additionalProperties"] is False


# --- Loading from pulumi.Config ---------------------------------------------------------------------


@pytest.fixture
def pulumi_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The stack's config map as the SDK holds it; filled by the test, emptied afterwards."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    settings: dict[str, Any] = {}
    token = CONFIG.set(settings)
    yield settings
    CONFIG.reset(token)


def test_loads_from_pulumi_config(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update(
        {
            "shardstack:cloud": "aws",
            "shardstack:region": "us-east-1",
            "shardstack:kubernetes_version": "1.30",
            "shardstack:gpu_pools": json.dumps([{"gpu": "l4", "max_nodes": 2}]),
            "shardstack:serving": json.dumps({"replica_groups": "2"}),
            "shardstack:api_key": "s3cret",
            "aws:region": "us-east-1",
        }
    )
    cfg = config.load(pulumi.Config("shardstack"), stack="aws-dev")
    assert cfg.kubernetes_version == "1.30"
    assert cfg.gpu_pools[0].max_nodes == 2
    assert cfg.serving.replica_groups == 2
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "s3cret"


def test_loads_from_pulumi_config_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # How the language host hands the stack's config to the program.
    settings = {"shardstack:cloud": "local", "shardstack:model": json.dumps({"dtype": "fp16"})}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(settings))
    token = CONFIG.set({})
    try:
        cfg = config.load(pulumi.Config("shardstack"), stack="local")
    finally:
        CONFIG.reset(token)
    assert cfg.model.dtype == "fp16"


def test_fails_when_pulumi_config_has_unknown_key(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update({"shardstack:cloud": "local", "shardstack:modle": "{}"})
    with pytest.raises(ConfigError) as info:
        config.load(pulumi.Config("shardstack"), stack="local")
    assert info.value.problems == ["shardstack:modle: unknown key (did you mean 'model'?)"]


def test_fails_when_pulumi_config_value_is_broken_json(pulumi_settings: dict[str, Any]) -> None:
    pulumi_settings.update({"shardstack:cloud": "aws", "shardstack:gpu_pools": "[{gpu: l4"})
    with pytest.raises(ConfigError) as info:
        config.load(pulumi.Config("shardstack"), stack="aws-dev")
    assert any(p.startswith("shardstack:gpu_pools: '[{gpu: l4' is not valid JSON") for p in info.value.problems)
    assert any(p.startswith("shardstack:region: is required") for p in info.value.problems)


def test_gpu_pool_taints_and_instance_type_and_reserved_labels() -> None:
    pool = {
        "name": "l4",
        "gpu": "l4",
        "instance_type": "g6.4xlarge",
        "taints": [{"key": "dedicated", "value": "llm", "effect": "NoExecute"}],
    }
    loaded = config.load(stack(AWS, gpu_pools=[pool]), stack="t").gpu_pools[0]
    assert loaded.instance_type == "g6.4xlarge"
    assert [(t.key, t.value, t.effect) for t in loaded.taints] == [("dedicated", "llm", "NoExecute")]
    bad = {"name": "l4", "gpu": "l4", "taints": [{"key": "dedicated", "effect": "NoSchedul"}]}
    assert "NoSchedule" in problem_at(stack(AWS, gpu_pools=[bad]), "shardstack:gpu_pools[0].taints[0].effect")
    line = problem_at(
        stack(AWS, gpu_pools=[{"name": "l4", "gpu": "l4", "labels": {"shardstack.dev/x": "y"}}]),
        "shardstack:gpu_pools[0].labels['shardstack.dev/x']",
    )
    assert "set by Shardstack itself" in line


def test_fails_when_pulumi_config_value_is_json_nested_too_deep(pulumi_settings: dict[str, Any]) -> None:
    # What `pulumi up` hands the program for a YAML value nested thousands of levels deep: JSON text.
    pulumi_settings.update({"shardstack:cloud": "local", "shardstack:model": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ConfigError) as info:
        config.load(pulumi.Config("shardstack"), stack="local")
    assert info.value.problems == [
        "shardstack:model: is nested more than 16 levels deep; no setting of a stack config goes that deep"
    ]
