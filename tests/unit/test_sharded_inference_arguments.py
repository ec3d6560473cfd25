"""ShardedInference's argument checks: each invalid argument is refused before anything is registered,
with a problem that names the value and the fix, and every problem is reported at once."""

from __future__ import annotations

from sharded_inference_parts import BASE, IMAGE, failure

from shardstack.errors import ArgumentError
from shardstack.k8s import ShardedInference, validate_sharded_inference_args
from shardstack.testing import run_program, run_refused

SHARDS_RULE = (
    "shards={} must be a whole number from 1 to 64 (more than 64 pipeline ranks would each hold a sliver of the model)"
)


def test_valid_arguments_have_no_problems() -> None:
    assert validate_sharded_inference_args(BASE, name="llm") == []


def test_fails_when_shards_is_below_one() -> None:
    error = failure(shards=0)
    assert SHARDS_RULE.format("0") in error.problems


def test_fails_when_shards_is_not_an_integer() -> None:
    assert SHARDS_RULE.format("'two'") in failure(shards="two").problems


def test_fails_when_replica_groups_is_below_one() -> None:
    assert (
        "replica_groups=0 must be a whole number from 1 to 256 (for more copies, use more installations)"
        in failure(replica_groups=0).problems
    )


def test_fails_when_gpus_per_shard_is_negative() -> None:
    assert (
        "gpus_per_shard=-1 must be a whole number from 0 to 16 (a rank's GPUs are on one node, and no node has "
        "more than 16)"
    ) in failure(gpus_per_shard=-1).problems


def test_fails_when_a_port_is_out_of_range() -> None:
    (problem,) = failure(api_port=70000).problems
    assert problem.startswith("api_port=70000 must be a whole number from 1024 to 65535")


def test_fails_when_a_port_is_privileged() -> None:
    (problem,) = failure(metrics_port=80).problems
    assert problem.startswith("metrics_port=80 must be") and "below 1024" in problem


def test_fails_when_ports_are_duplicated() -> None:
    (problem,) = failure(metrics_port=8000).problems
    assert problem == "metrics_port=8000 is the same as api_port: each port must be different"


def test_fails_when_public_has_no_allowed_cidrs() -> None:
    (problem,) = failure(public=True).problems
    assert problem.startswith("public=True needs allowed_cidrs")


def test_fails_when_allowed_cidrs_are_given_without_public() -> None:
    (problem,) = failure(allowed_cidrs=["203.0.113.0/24"]).problems
    assert "allowed_cidrs=['203.0.113.0/24']" in problem and "public=True" in problem


def test_fails_when_an_allowed_cidr_is_not_a_cidr() -> None:
    (problem,) = failure(public=True, allowed_cidrs=["203.0.113.0/24", "everyone"]).problems
    assert problem == "allowed_cidrs[1]='everyone' is not a CIDR block like '203.0.113.0/24'"


def test_fails_when_an_allowed_cidr_has_host_bits() -> None:
    (problem,) = failure(public=True, allowed_cidrs=["203.0.113.7/24"]).problems
    assert problem == "allowed_cidrs[0]='203.0.113.7/24' has host bits set; the network it is in is '203.0.113.0/24'"


def test_fails_when_mode_is_unknown() -> None:
    (problem,) = failure(mode="statefulsets").problems
    assert problem == (
        "mode='statefulsets' must be one of 'statefulset', 'leaderworkerset' (did you mean 'statefulset'?)"
    )


def test_fails_when_the_name_is_not_a_dns_label() -> None:
    (problem,) = failure(name="LLM_70b").problems
    assert problem.startswith("name='LLM_70b' is not a valid name")


def test_fails_when_the_name_is_too_long_for_its_group_objects() -> None:
    (problem,) = failure(name="a" * 50, replica_groups=10).problems
    assert f"name='{'a' * 50}' is too long" in problem and f"'{'a' * 50}-g9'" in problem


def test_fails_when_the_namespace_is_not_a_dns_label() -> None:
    (problem,) = failure(namespace="Shard Stack").problems
    assert problem.startswith("namespace='Shard Stack' is not a valid Kubernetes name")


def test_fails_when_an_allowed_namespace_is_not_a_dns_label() -> None:
    (problem,) = failure(api_allowed_namespaces=["ok", "Not_OK"]).problems
    assert "'Not_OK'" in problem and "api_allowed_namespaces" in problem


def test_fails_when_dtype_is_unknown() -> None:
    (problem,) = failure(dtype="bfloat16").problems
    assert problem.startswith("dtype='bfloat16' must be one of 'bf16', 'fp16', 'fp32'")


def test_fails_when_model_uri_has_an_unknown_scheme() -> None:
    (problem,) = failure(model_uri="ftp://host/model").problems
    assert problem.startswith("model_uri='ftp://host/model' must start with one of 's3://'")


def test_a_model_uri_with_credentials_is_refused_saying_where_they_belong() -> None:
    (problem,) = failure(model_uri="https://user:pass@host/model").problems
    assert problem.startswith("model_uri='https://user:pass@host/model' carries credentials")
    assert "read-only identity" in problem and "env_from_secrets" in problem


def test_arguments_that_are_not_a_mapping_are_an_argument_error_not_a_type_error() -> None:
    for wrong in (None, "model_uri=s3://b/m", 5):
        expected = [f"the arguments must be a mapping of argument names to values; got {wrong!r}"]
        assert validate_sharded_inference_args(wrong, name="llm") == expected  # type: ignore[arg-type]
        refused = run_refused(lambda wrong=wrong: ShardedInference("llm", wrong), ArgumentError)  # type: ignore[arg-type]
        assert refused.problems == expected


def test_fails_when_image_is_empty() -> None:
    (problem,) = failure(image="").problems
    assert problem.startswith("image='' must be an image reference")


def test_fails_when_required_arguments_are_missing() -> None:
    errors: list[ArgumentError] = []

    def program() -> None:
        try:
            ShardedInference("llm", {"image": IMAGE})  # type: ignore[typeddict-item]
        except ArgumentError as error:
            errors.append(error)

    assert len(run_program(program)) == 0
    assert errors[0].problems == [
        "model_uri is required: a URI starting with one of 's3://', 'gs://', 'az://', 'file://', 'http://', 'https://'",
        "shards is required: a whole number from 1 to 64",
    ]


def test_fails_when_an_argument_is_unknown() -> None:
    (problem,) = failure(replica_group=2).problems
    assert problem == "unknown argument 'replica_group' (did you mean 'replica_groups'?)"


def test_fails_when_env_uses_a_contract_name() -> None:
    (problem,) = failure(env={"SHARDSTACK_RANK": "0"}).problems
    assert problem.startswith("env['SHARDSTACK_RANK'] is reserved for the runtime contract")


def test_fails_when_env_name_is_invalid() -> None:
    (problem,) = failure(env={"1BAD": "x"}).problems
    assert problem.startswith("env['1BAD'] is not a valid environment variable name")


def test_fails_when_env_and_env_from_secrets_set_the_same_variable() -> None:
    (problem,) = failure(env={"TOKEN": "x"}, env_from_secrets={"TOKEN": {"name": "s", "key": "k"}}).problems
    assert problem == "env_from_secrets['TOKEN'] is already set by env: set each variable once"


def test_fails_when_a_secret_reference_is_malformed() -> None:
    (problem,) = failure(api_key_secret={"name": "api"}).problems
    assert problem.startswith("api_key_secret.key is required: a Secret key")


def test_fails_when_a_secret_file_name_is_invalid() -> None:
    (problem,) = failure(secret_files={"a/b": "x"}).problems
    assert problem.startswith("secret_files['a/b'] is not a valid Secret key")


def test_fails_when_a_label_uses_a_reserved_key() -> None:
    (problem,) = failure(labels={"app.kubernetes.io/name": "mine"}).problems
    assert problem.startswith("labels['app.kubernetes.io/name'] is not allowed")
    assert "set by Shardstack itself" in problem


def test_fails_when_a_node_selector_value_is_invalid() -> None:
    (problem,) = failure(node_selector={"pool": "gpu pool"}).problems
    assert "node_selector['pool']='gpu pool' is not a valid label value" in problem


def test_fails_when_cpu_is_not_a_quantity() -> None:
    (problem,) = failure(cpu="four").problems
    assert problem.startswith("cpu='four' is not a positive Kubernetes quantity")


def test_fails_when_memory_is_zero() -> None:
    (problem,) = failure(memory="0Gi").problems
    assert problem.startswith("memory='0Gi' is not a positive Kubernetes quantity")


def test_fails_when_the_namespace_is_kubernetes_own() -> None:
    (problem,) = failure(namespace="kube-system").problems
    assert problem.startswith("namespace='kube-system' starts with 'kube-', which is reserved for Kubernetes")


def test_fails_when_the_image_has_a_space() -> None:
    (problem,) = failure(image="ghcr.io/org/runtime 0.1").problems
    assert problem == "image='ghcr.io/org/runtime 0.1' is not an image reference: it has a space"


def test_fails_when_the_weights_cache_is_malformed() -> None:
    assert failure(weights_cache={"size": 10}).problems == [
        "weights_cache has unknown argument 'size' (did you mean 'size_gib'?)",
        "weights_cache.size_gib is required: a whole number from 1 to 65536",
    ]


def test_fails_when_the_weights_cache_size_is_zero() -> None:
    assert (
        "weights_cache.size_gib=0 must be a whole number from 1 to 65536 (64 TiB is the largest volume the "
        "clouds offer)"
    ) in failure(weights_cache={"size_gib": 0}).problems


def test_fails_when_a_flag_is_not_a_boolean() -> None:
    assert "public='yes' must be true or false" in failure(public="yes").problems


def test_fails_with_every_problem_at_once() -> None:
    error = failure(shards=0, replica_groups=0, mode="ray", metrics_port=8000, public=True)
    assert len(error.problems) == 5
    assert str(error).startswith("invalid arguments for ShardedInference 'llm':\n  - ")


def test_fails_when_the_weights_volume_claim_is_not_a_valid_name() -> None:
    message = str(failure(weights_volume_claim="Bad_Claim"))
    assert "weights_volume_claim" in message and "'Bad_Claim'" in message


def test_tolerations_are_checked_with_the_rest() -> None:
    error = failure(tolerations=[{"key": "dedicated", "effect": "NoSchedul"}, {"operator": "Equal"}])
    assert any(p.startswith("tolerations[0].effect='NoSchedul'") for p in error.problems), error.problems
    assert any(p.startswith("tolerations[1].key is missing") for p in error.problems), error.problems


def test_lists_and_mappings_have_an_upper_bound() -> None:
    env = {f"VAR_{i}": "x" for i in range(300)}
    assert "env has 300 entries; at most 256 (no setting needs more)" in failure(env=env).problems
    cidrs = [f"203.0.{i // 256}.{i % 256}/32" for i in range(300)]
    assert (
        "allowed_cidrs has 300 entries; at most 256 (no setting needs more)"
        in failure(public=True, allowed_cidrs=cidrs).problems
    )
