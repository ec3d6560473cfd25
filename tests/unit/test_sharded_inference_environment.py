"""ShardedInference's rank environment under recording mocks: the runtime contract's variables, each
group's leader, the API key, extra variables and secret files."""

from __future__ import annotations

import pulumi
from sharded_inference_parts import BASE, SECRET, container, env_of, pod_spec, render

from shardstack.k8s import ShardedInference
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import run_program


def test_env_follows_the_runtime_contract() -> None:
    env = env_of(container(render(shards=4, dtype="fp16")))
    assert env[rc.ENV_MODEL_URI] == {"name": rc.ENV_MODEL_URI, "value": "s3://weights/llama/"}
    assert env[rc.ENV_WORLD_SIZE]["value"] == "4"
    assert env[rc.ENV_RANK]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    assert env[rc.ENV_POD_NAME]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env[rc.ENV_LEADER_ADDR]["value"] == "llm-g0-0.llm-g0.shardstack.svc.cluster.local"
    assert env[rc.ENV_API_PORT]["value"] == "8000"
    assert env[rc.ENV_RENDEZVOUS_PORT]["value"] == "29500"
    assert env[rc.ENV_METRICS_PORT]["value"] == "9090"
    assert env[rc.ENV_DTYPE]["value"] == "fp16"
    assert env[rc.ENV_CACHE_DIR]["value"] == rc.CACHE_DIR
    assert set(rc.CONTRACT_ENV) - {rc.ENV_API_KEY} <= set(env)


def test_default_dtype_is_bf16() -> None:
    assert env_of(container(render()))[rc.ENV_DTYPE]["value"] == "bf16"


def test_each_group_has_its_own_leader() -> None:
    graph = render(replica_groups=2, namespace="serving")
    for g in (0, 1):
        leader = env_of(container(graph, g))[rc.ENV_LEADER_ADDR]["value"]
        assert leader == f"llm-g{g}-0.llm-g{g}.serving.svc.cluster.local"


def test_model_uri_may_be_an_output() -> None:
    def program() -> None:
        ShardedInference("llm", {**BASE, "model_uri": pulumi.Output.from_input("s3://bucket/m/")})  # type: ignore[typeddict-item]

    graph = run_program(program)
    assert env_of(container(graph))[rc.ENV_MODEL_URI]["value"] == "s3://bucket/m/"


def test_home_points_at_the_writable_tmp() -> None:
    assert env_of(container(render()))["HOME"]["value"] == rc.TMP_DIR


def test_default_has_no_api_key() -> None:
    assert rc.ENV_API_KEY not in env_of(container(render()))


def test_api_key_comes_from_the_given_secret() -> None:
    env = env_of(container(render(api_key_secret={"name": "llm-api-key", "key": "token"})))
    assert env[rc.ENV_API_KEY]["valueFrom"] == {
        "secretKeyRef": {"name": "llm-api-key", "key": "token", "optional": False}
    }


def test_extra_env_and_env_from_secrets_are_added() -> None:
    env = env_of(
        container(
            render(
                env={"HF_HUB_OFFLINE": "1"},
                env_from_secrets={"HF_TOKEN": {"name": "hf", "key": "token"}},
            )
        )
    )
    assert env["HF_HUB_OFFLINE"]["value"] == "1"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "token", "optional": False}


def test_secret_files_are_written_to_a_secret_and_mounted_read_only() -> None:
    graph = render(secret_files={"aws-credentials": "[default]\n"})
    secret = graph.one(SECRET).inputs
    assert secret["metadata"]["name"] == "llm-files"
    assert secret["type"] == "Opaque"
    # Recorded as a secret, never in plain text: only the file names are visible.
    assert set(secret["stringData"].values()) == {"<secret>"}
    spec = pod_spec(graph)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["secret-files"]["secret"] == {"secretName": "llm-files", "defaultMode": 0o440}
    mounts = {m["name"]: m for m in container(graph)["volumeMounts"]}
    assert mounts["secret-files"] == {
        "name": "secret-files",
        "mountPath": rc.SECRET_FILES_DIR,
        "readOnly": True,
    }


def test_no_secret_is_created_without_secret_files() -> None:
    assert render().of_type(SECRET) == []
