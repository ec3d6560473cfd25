"""LocalWeightsStore under recording mocks, alone and wired into ShardedInference."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.k8s import LocalWeightsStore, ShardedInference, validate_local_weights_store_args
from shardstack.k8s import runtime_contract as rc
from shardstack.k8s.local_weights_store import SEAWEEDFS_IMAGE, _credentials_file, _s3_config
from shardstack.testing import Graph, Resource, run_program, run_refused

DEPLOY = "kubernetes:apps/v1:Deployment"
SVC = "kubernetes:core/v1:Service"
NS = "kubernetes:core/v1:Namespace"
SA = "kubernetes:core/v1:ServiceAccount"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SECRET = "kubernetes:core/v1:Secret"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STS = "kubernetes:apps/v1:StatefulSet"

KEYS: dict[str, Any] = {"access_key_id": "AKIASHARDSTACKTEST01", "secret_access_key": "s3cr3t-s3cr3t-s3cr3t"}


def render(**args: Any) -> Graph:
    return run_program(lambda: LocalWeightsStore("weights", {**KEYS, **args}))  # type: ignore[typeddict-item]


def failure(**args: Any) -> ArgumentError:
    return run_refused(lambda: LocalWeightsStore("weights", args), ArgumentError)  # type: ignore[arg-type]


def server(graph: Graph) -> Resource:
    return graph.one(DEPLOY, "weights-server")


def pod(graph: Graph) -> dict[str, Any]:
    return server(graph).inputs["spec"]["template"]["spec"]


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one("shardstack:k8s:LocalWeightsStore")
    assert len(graph.children(component)) == len(graph) - 1


def test_creates_server_volume_service_credentials_and_policies() -> None:
    assert render().count_by_type() == {DEPLOY: 1, NETPOL: 2, PVC: 1, SECRET: 1, SVC: 1, SA: 1}


def test_default_namespace_is_shared_with_sharded_inference_and_not_created() -> None:
    graph = render()
    assert graph.of_type(NS) == []
    assert {r.inputs["metadata"]["namespace"] for r in graph if r.custom} == {"shardstack"}


def test_namespace_can_be_created_restricted() -> None:
    ns = render(namespace="weights", create_namespace=True).one(NS).inputs["metadata"]
    assert ns["name"] == "weights"
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_server_is_one_seaweedfs_replica_replaced_by_recreate() -> None:
    deployment = server(render()).inputs
    assert deployment["metadata"]["name"] == "weights"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (c,) = pod(render())["containers"]
    assert c["image"] == SEAWEEDFS_IMAGE
    assert c["imagePullPolicy"] == "IfNotPresent"


def test_server_creates_the_bucket_and_reads_credentials_from_a_file() -> None:
    (c,) = pod(render(bucket="weights"))["containers"]
    assert c["args"][:2] == ["mini", "-dir=/data"]
    assert "-bucket=weights" in c["args"]
    assert "-s3.config=/etc/shardstack-weights/s3.json" in c["args"]
    assert "-master.telemetry=false" in c["args"]
    assert not {e["name"] for e in c["env"]} & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    volumes = {v["name"]: v for v in pod(render())["volumes"]}
    assert volumes["config"]["secret"] == {
        "secretName": "weights-credentials",
        "items": [{"key": "s3.json", "path": "s3.json"}],
        "defaultMode": 0o440,
    }


def test_server_probes_the_s3_gateway() -> None:
    (c,) = pod(render())["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "s3", "scheme": "HTTP"}


def test_server_runs_restricted() -> None:
    spec = pod(render())
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["fsGroup"] == 10001
    assert spec["automountServiceAccountToken"] is False
    ctx = spec["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = spec["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"]
    assert set(resources["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts == {"/data", "/etc/shardstack-weights", "/tmp"}


def test_data_volume_defaults_to_20_gib_of_the_default_class() -> None:
    spec = render().one(PVC).inputs["spec"]
    assert spec == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}
    spec = render(storage_gib=5, storage_class="standard").one(PVC).inputs["spec"]
    assert spec["storageClassName"] == "standard"
    assert spec["resources"] == {"requests": {"storage": "5Gi"}}


def test_service_is_cluster_internal_on_the_s3_port() -> None:
    spec = render().one(SVC).inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "s3", "port": 8333, "targetPort": "s3", "protocol": "TCP"}]


def test_credentials_are_recorded_only_as_a_secret() -> None:
    secret = render().one(SECRET).inputs
    assert secret["metadata"]["name"] == "weights-credentials"
    # Recorded as a secret: the keys of the map stay, the values never appear in plain text.
    assert set(secret["stringData"]) >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert set(secret["stringData"].values()) == {"<secret>"}


def test_identities_file_and_credentials_file_hold_the_keys() -> None:
    config = json.loads(_s3_config("AK", "SK"))
    (identity,) = config["identities"]
    assert identity["credentials"] == [{"accessKey": "AK", "secretKey": "SK"}]
    assert {"Read", "List", "Write"} <= set(identity["actions"])
    assert _credentials_file("AK", "SK") == "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n"


def test_only_inference_ranks_and_loaders_of_the_client_namespaces_reach_the_store() -> None:
    graph = render(client_namespaces=["serving"])
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in graph.of_type(NETPOL)}
    selector = {
        "matchLabels": {
            "app.kubernetes.io/name": "shardstack-weights-store",
            "app.kubernetes.io/instance": "weights",
        }
    }
    assert policies["weights-default-deny"] == {
        "podSelector": selector,
        "policyTypes": ["Ingress"],
        "ingress": [],
    }
    namespaces = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shardstack", "serving"]}
        ]
    }
    assert policies["weights-s3-clients"]["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": namespaces,
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/part-of": "shardstack",
                            "app.kubernetes.io/component": "inference",
                        }
                    },
                },
                {
                    "namespaceSelector": namespaces,
                    "podSelector": {"matchLabels": {"shardstack.dev/weights-loader": "true"}},
                },
            ],
            "ports": [{"port": 8333, "protocol": "TCP"}],
        }
    ]


def test_outputs() -> None:
    def program() -> None:
        store = LocalWeightsStore("weights", {**KEYS, "bucket": "models"})  # type: ignore[typeddict-item]
        for name in ("endpoint", "bucket", "model_uri_prefix", "credentials_secret_name", "namespace"):
            pulumi.export(name, getattr(store, name))

    assert run_program(program).outputs == {
        "endpoint": "http://weights.shardstack.svc.cluster.local:8333",
        "bucket": "models",
        "model_uri_prefix": "s3://models/",
        "credentials_secret_name": "weights-credentials",
        "namespace": "shardstack",
    }


# -- wired into ShardedInference -------------------------------------------------------------------------


def inference_with_store(**wiring: Any) -> Graph:
    def program() -> None:
        store = LocalWeightsStore("weights", {**KEYS})  # type: ignore[typeddict-item]
        extra = {key: getattr(store, attr) for key, attr in wiring.items() if key != "env"}
        env = {k: v for attr in wiring.get("env", ()) for k, v in getattr(store, attr).items()}
        ShardedInference(
            "inference",
            {
                "image": "ghcr.io/shardstack/runtime:0.1.0",
                "model_uri": pulumi.Output.concat(store.model_uri_prefix, "demo/"),
                "shards": 2,
                "gpus_per_shard": 0,
                "create_namespace": False,
                "env": env,
                **extra,
            },  # type: ignore[typeddict-item]
        )

    return run_program(program)


def rank_container(graph: Graph) -> dict[str, Any]:
    return graph.one(STS).inputs["spec"]["template"]["spec"]["containers"][0]


def test_inference_reads_the_keys_from_the_store_secret() -> None:
    graph = inference_with_store(env=("inference_env",), env_from_secrets="inference_env_from_secrets")
    env = {e["name"]: e for e in rank_container(graph)["env"]}
    assert env[rc.ENV_MODEL_URI]["value"] == "s3://models/demo/"
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://weights.shardstack.svc.cluster.local:8333"
    assert env["AWS_REGION"]["value"] == "us-east-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {
            "name": "weights-credentials",
            "key": key,
            "optional": False,
        }


def test_inference_can_read_the_keys_from_a_mounted_credentials_file_instead() -> None:
    graph = inference_with_store(env=("inference_env", "credentials_file_env"), secret_files="inference_secret_files")
    env = {e["name"]: e for e in rank_container(graph)["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"]["value"] == f"{rc.SECRET_FILES_DIR}/aws-credentials"
    assert "AWS_ACCESS_KEY_ID" not in env
    files = [r for r in graph.of_type(SECRET) if r.inputs["metadata"]["name"] == "inference-files"]
    assert len(files) == 1 and files[0].inputs["stringData"] == {"aws-credentials": "<secret>"}
    mounts = {m["mountPath"] for m in rank_container(graph)["volumeMounts"]}
    assert rc.SECRET_FILES_DIR in mounts


def test_inference_ranks_match_the_store_policy_selector() -> None:
    graph = inference_with_store(env=("inference_env",), env_from_secrets="inference_env_from_secrets")
    pod_labels = graph.one(STS).inputs["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/part-of"] == "shardstack"
    assert pod_labels["app.kubernetes.io/component"] == "inference"


def test_loader_labels_match_the_store_policy_selector() -> None:
    store_policy: dict[str, Any] = {}

    def program() -> None:
        store = LocalWeightsStore("weights", {**KEYS})  # type: ignore[typeddict-item]
        store_policy["labels"] = store.loader_labels

    graph = run_program(program)
    (allow,) = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == "weights-s3-clients"]
    selectors = [peer["podSelector"]["matchLabels"] for peer in allow.inputs["spec"]["ingress"][0]["from"]]
    assert store_policy["labels"] in selectors


# -- validation -----------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_local_weights_store_args(KEYS, name="weights") == []


def test_fails_when_the_keys_are_missing() -> None:
    assert failure().problems == [
        "access_key_id is required: a key generated in the program (e.g. with pulumi_random)",
        "secret_access_key is required: a key generated in the program (e.g. with pulumi_random)",
    ]


def test_fails_when_a_key_is_empty() -> None:
    (problem,) = failure(**{**KEYS, "secret_access_key": " "}).problems
    assert problem == "secret_access_key=' ' must be a key generated in the program (e.g. with pulumi_random)"


def test_fails_when_the_bucket_name_is_invalid() -> None:
    (problem,) = failure(**KEYS, bucket="My_Models").problems
    assert problem == (
        "bucket='My_Models' contains 'M', '_'; a bucket name may contain only lowercase letters, digits, '-' and '.'"
    )
    # The store speaks S3: S3's own naming rules hold, as for an AWS bucket.
    assert failure(**KEYS, bucket="models--x-s3").problems == [
        "bucket='models--x-s3' ends with '--x-s3', a suffix S3 reserves"
    ]


def test_fails_when_the_namespace_is_invalid() -> None:
    (problem,) = failure(**KEYS, namespace="Weights").problems
    assert problem.startswith("namespace='Weights' is not a valid Kubernetes name")


def test_fails_when_the_storage_size_is_zero() -> None:
    assert (
        "storage_gib=0 must be a whole number from 1 to 65536 (64 TiB is the largest volume the clouds offer)"
        in failure(**KEYS, storage_gib=0).problems
    )


def test_fails_when_a_client_namespace_is_invalid() -> None:
    (problem,) = failure(**KEYS, client_namespaces=["ok", "Not OK"]).problems
    assert problem.startswith("client_namespaces[1]='Not OK' is not a valid Kubernetes name")


def test_fails_when_an_argument_is_unknown() -> None:
    (problem,) = failure(**KEYS, buckets="x").problems
    assert problem == "unknown argument 'buckets' (did you mean 'bucket'?)"


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("LocalWeightsStore")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["accessKeyId", "secretAccessKey"]
    assert sorted(resource["properties"]) == [
        "bucket",
        "credentialsSecretName",
        "endpoint",
        "modelUriPrefix",
        "namespace",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())
