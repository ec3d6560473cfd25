"""A rank's settings from its environment: precedence, defaults and errors naming the variable."""

from __future__ import annotations

import pytest

from shardstack_runtime.settings import SettingsError, from_env

URI = {"SHARDSTACK_MODEL_URI": "file:///models/demo"}


def test_defaults_describe_a_single_rank_leader_on_the_usual_ports() -> None:
    rank = from_env(URI)
    assert (rank.world_size, rank.rank, rank.is_leader) == (1, 0, True)
    assert (rank.api_port, rank.rendezvous_port, rank.metrics_port) == (8000, 29500, 9090)
    assert rank.dtype == "bf16" and rank.device == "auto" and rank.api_key is None


def test_shardstack_variables_win_over_leaderworkerset_ones() -> None:
    rank = from_env(
        {**URI, "SHARDSTACK_WORLD_SIZE": "4", "LWS_GROUP_SIZE": "2", "SHARDSTACK_RANK": "3", "LWS_WORKER_INDEX": "1"}
    )
    assert (rank.world_size, rank.rank) == (4, 3)


def test_the_rank_falls_back_to_the_statefulset_pod_ordinal() -> None:
    assert from_env({**URI, "SHARDSTACK_WORLD_SIZE": "3", "HOSTNAME": "llm-g1-2"}).rank == 2


def test_command_line_overrides_win_over_the_environment() -> None:
    assert from_env({**URI, "SHARDSTACK_API_PORT": "8000"}, api_port=8123).api_port == 8123


def test_fails_when_the_model_uri_is_missing() -> None:
    with pytest.raises(SettingsError, match="SHARDSTACK_MODEL_URI: is required"):
        from_env({})


def test_fails_when_the_rank_is_outside_the_group_naming_both() -> None:
    with pytest.raises(SettingsError, match="rank 3 is outside a group of 2 ranks"):
        from_env({**URI, "SHARDSTACK_WORLD_SIZE": "2", "SHARDSTACK_RANK": "3"})


def test_fails_with_every_bad_variable_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        from_env({**URI, "SHARDSTACK_DTYPE": "bf17", "SHARDSTACK_API_PORT": "http", "LWS_GROUP_SIZE": "0"})
    message = str(error.value)
    assert "SHARDSTACK_DTYPE" in message and "'bf17'" in message
    assert "SHARDSTACK_API_PORT" in message and "'http'" in message
    assert "LWS_GROUP_SIZE" in message


def test_the_api_key_never_appears_in_an_error() -> None:
    with pytest.raises(SettingsError) as error:
        from_env({**URI, "SHARDSTACK_API_KEY": "hunter2", "SHARDSTACK_DTYPE": "x"})
    assert "hunter2" not in str(error.value)
