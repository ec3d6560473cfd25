"""Stack config: the model, serving, local settings and the API key."""

from __future__ import annotations

import pytest
from config_cases import AWS, LOCAL, config, problem_at, problems_of, stack

# --- model ------------------------------------------------------------------------------------------


def test_fails_when_model_uri_scheme_unknown() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "ftp://host/m"}), "shardstack:model.uri")
    assert "'ftp://host/m'" in line and "s3://" in line and "'demo'" in line


def test_fails_when_model_uri_scheme_does_not_match_cloud() -> None:
    line = problem_at(stack(AWS, model={"uri": "gs://bucket/m", "shards": 1}), "shardstack:model.uri")
    assert "'gs://bucket/m'" in line and "'aws'" in line and "s3://" in line


def test_fails_when_local_model_uri_is_another_clouds_store() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "az://container/m", "shards": 1}), "shardstack:model.uri")
    assert "'az://container/m'" in line and "file://" in line


def test_fails_when_local_file_uri_without_host_path_store() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "file:///srv/m", "shards": 1}), "shardstack:model.uri")
    assert "'file:///srv/m'" in line and "'host-path'" in line


def test_fails_when_model_uri_has_no_bucket() -> None:
    line = problem_at(stack(AWS, model={"uri": "s3:///m", "shards": 1}), "shardstack:model.uri")
    assert "'s3:///m'" in line and "bucket" in line


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://user:pass@weights.example.com/llama", "carries credentials (user:password@host)"),
        ("https://acct.blob.core.windows.net/c/llama?sv=2024&sig=abc", "carries credentials in its query (sig)"),
        ("s3://bucket/llama?X-Amz-Signature=f00", "carries credentials in its query (X-Amz-Signature)"),
        ("s3://bucket/models/../secrets", "has a '..' segment"),
        ("s3://bucket/llama\nEVIL=1", "holds a control character"),
    ],
)
def test_a_model_uri_never_carries_secrets_or_tricks_into_the_pods(uri: str, reason: str) -> None:
    # The URI is written as it is into every rank's environment and the Pulumi state.
    line = problem_at(stack(AWS, model={"uri": uri, "shards": 1}), "shardstack:model.uri")
    assert reason in line, line


def test_fails_when_file_uri_not_absolute() -> None:
    line = problem_at(stack(LOCAL, model={"uri": "file://srv/m", "shards": 1}), "shardstack:model.uri")
    assert "'file://srv/m'" in line and "file:///" in line


def test_fails_when_dtype_unknown() -> None:
    line = problem_at(stack(LOCAL, model={"dtype": "bf8"}), "shardstack:model.dtype")
    assert "'bf8'" in line and "'bf16', 'fp16', 'fp32'" in line


@pytest.mark.parametrize("shards", [0, "many", 1.5, True])
def test_fails_when_shards_not_auto_or_positive(shards: object) -> None:
    line = problem_at(stack(LOCAL, model={"shards": shards}), "shardstack:model.shards")
    assert "must be 'auto' or a whole number from 1 to 64" in line


def test_fails_when_params_missing_for_auto_shards() -> None:
    line = problem_at(stack(AWS, model={"uri": "s3://bucket/m"}), "shardstack:model.params")
    assert "required when shards is 'auto'" in line and "7.0e9" in line


def test_fails_when_params_not_positive() -> None:
    line = problem_at(stack(LOCAL, model={"params": 0}), "shardstack:model.params")
    assert "0" in line and "greater than 0" in line


def test_fails_when_model_not_a_mapping() -> None:
    line = problem_at(stack(LOCAL, model="demo"), "shardstack:model")
    assert "'demo' is not a mapping" in line


# --- serving ----------------------------------------------------------------------------------------


def test_fails_when_replica_groups_zero() -> None:
    line = problem_at(stack(LOCAL, serving={"replica_groups": 0}), "shardstack:serving.replica_groups")
    assert "0 must be a whole number from 1 to 256" in line


def test_fails_when_public_without_allowed_cidrs() -> None:
    line = problem_at(stack(LOCAL, serving={"public": True}), "shardstack:serving.public")
    assert "needs allowed_cidrs" in line and "203.0.113.0/24" in line


def test_fails_when_public_to_whole_internet_without_api_key() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["0.0.0.0/0"]})
    line = problem_at(values, "shardstack:serving.allowed_cidrs[0]")
    assert "'0.0.0.0/0'" in line and "shardstack:api_key" in line


@pytest.mark.parametrize(
    ("cidrs", "coverage"),
    [
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], "all of IPv4"),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2"], "75% of IPv4"),
        (["::/2", "4000::/2", "8000::/2", "c000::/2"], "all of IPv6"),
    ],
)
def test_blocks_that_together_cover_the_internet_are_the_whole_internet(cidrs: list[str], coverage: str) -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": cidrs})
    line = problem_at(values, "shardstack:serving.allowed_cidrs")
    assert f"together these blocks open the API to the whole internet ({coverage})" in line
    assert "shardstack:api_key" in line
    # Half the internet in one block is refused at that block: [0.0.0.0/1, 128.0.0.0/1] twice over.
    one = problem_at(
        stack(LOCAL, serving={"public": True, "allowed_cidrs": ["10.0.0.0/8", "0.0.0.0/1"]}),
        "shardstack:serving.allowed_cidrs[1]",
    )
    assert "(50% of IPv4)" in one


def test_an_office_and_every_private_range_are_not_the_internet() -> None:
    cidrs = ["203.0.113.0/24", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"]
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": cidrs})
    assert config.load(values, stack="t").serving.allowed_cidrs == cidrs


def test_public_to_whole_internet_is_allowed_with_api_key() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["0.0.0.0/0"]}, api_key="k")
    assert config.load(values, stack="t").serving.allowed_cidrs == ["0.0.0.0/0"]


def test_fails_when_allowed_cidr_has_host_bits() -> None:
    values = stack(LOCAL, serving={"public": True, "allowed_cidrs": ["10.1.2.3/8"]})
    line = problem_at(values, "shardstack:serving.allowed_cidrs[0]")
    assert "'10.1.2.3/8'" in line and "'10.0.0.0/8'" in line


def test_fails_when_api_key_and_api_key_secret_both_set() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "keys"}}, api_key="k")
    line = problem_at(values, "shardstack:serving.api_key_secret")
    assert "'keys'" in line and "only one" in line


def test_fails_when_api_key_secret_name_invalid() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "My Keys"}})
    line = problem_at(values, "shardstack:serving.api_key_secret.name")
    assert "'My Keys'" in line and "is not a valid Kubernetes object name" in line


def test_fails_when_api_key_secret_key_invalid() -> None:
    values = stack(LOCAL, serving={"api_key_secret": {"name": "keys", "key": "a/b"}})
    line = problem_at(values, "shardstack:serving.api_key_secret.key")
    assert "'a/b'" in line


def test_fails_when_namespace_not_dns_label() -> None:
    line = problem_at(stack(LOCAL, serving={"namespace": "Inference"}), "shardstack:serving.namespace")
    assert "'Inference'" in line and "lowercase letters, digits and '-'" in line


def test_fails_when_namespace_reserved() -> None:
    line = problem_at(stack(LOCAL, serving={"namespace": "kube-system"}), "shardstack:serving.namespace")
    assert "'kube-system'" in line and "reserved" in line


def test_fails_when_mode_unknown() -> None:
    line = problem_at(stack(LOCAL, serving={"mode": "deployment"}), "shardstack:serving.mode")
    assert "'deployment'" in line and "'statefulset', 'leaderworkerset'" in line


def test_fails_when_image_has_spaces() -> None:
    line = problem_at(stack(LOCAL, serving={"image": "my image"}), "shardstack:serving.image")
    assert "'my image'" in line


# --- local ------------------------------------------------------------------------------------------


def test_fails_when_local_given_for_cloud() -> None:
    line = problem_at(stack(AWS, local={"kube_context": "kind"}), "shardstack:local")
    assert "cloud 'local'" in line and "'aws'" in line


def test_fails_when_host_path_store_has_no_host_path() -> None:
    values = stack(LOCAL, local={"weights": {"store": "host-path"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "required when store is 'host-path'" in line


def test_fails_when_host_path_given_for_in_cluster_store() -> None:
    values = stack(LOCAL, local={"weights": {"host_path": "/srv/m"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "'/srv/m'" in line and "'in-cluster-s3'" in line


def test_fails_when_host_path_relative() -> None:
    values = stack(LOCAL, local={"weights": {"store": "host-path", "host_path": "models"}})
    line = problem_at(values, "shardstack:local.weights.host_path")
    assert "'models'" in line and "absolute" in line


def test_fails_when_weights_store_unknown() -> None:
    line = problem_at(stack(LOCAL, local={"weights": {"store": "minio"}}), "shardstack:local.weights.store")
    assert "'minio'" in line and "'in-cluster-s3', 'host-path'" in line


@pytest.mark.parametrize(("key", "value"), [("cpu_per_shard", "two"), ("memory_per_shard", "0Gi")])
def test_fails_when_resource_quantity_invalid(key: str, value: str) -> None:
    line = problem_at(stack(LOCAL, local={key: value}), f"shardstack:local.{key}")
    assert repr(value) in line and "quantity" in line


def test_numeric_quantity_is_read_as_text() -> None:
    assert config.load(stack(LOCAL, local={"cpu_per_shard": 4}), stack="t").local.cpu_per_shard == "4"


# --- api_key ----------------------------------------------------------------------------------------


def test_fails_when_api_key_empty() -> None:
    line = problem_at(stack(LOCAL, api_key=" "), "shardstack:api_key")
    assert "empty" in line and "--secret" in line


def test_api_key_value_never_appears_in_messages() -> None:
    problems = problems_of(stack(LOCAL, api_key=12345678))
    assert problems == ["shardstack:api_key: '********' is not a string; quote it"]


@pytest.mark.parametrize(
    ("key", "section", "value", "bound"),
    [
        ("shardstack:serving.replica_groups", "serving", {"replica_groups": 100000}, "from 1 to 256"),
        ("shardstack:model.shards", "model", {"shards": 1e30}, "from 1 to 64"),
        ("shardstack:model.shards", "model", {"shards": True}, "from 1 to 64"),
    ],
)
def test_counts_have_upper_bounds_and_booleans_are_not_counts(key: str, section: str, value: dict, bound: str) -> None:
    # A typo must be a refusal, not a plan that runs for minutes or a cloud call for 10^30 of something.
    assert bound in problem_at(stack(AWS, **{section: value}), key)


def test_a_container_at_an_account_is_no_credential() -> None:
    uri = "az://weights@acct.blob.core.windows.net/llama/"
    values = stack(AWS, cloud="azure", region="eastus", model={"uri": uri, "shards": 1})
    assert not [p for p in problems_of(values) if p.startswith("shardstack:model.uri")]
