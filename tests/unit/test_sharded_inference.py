"""ShardedInference under recording mocks: every object, default and validation rule."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from component_schema import component_schema

from shardstack.errors import ArgumentError
from shardstack.k8s import ShardedInference, validate_sharded_inference_args
from shardstack.k8s import runtime_contract as rc
from shardstack.testing import Graph, Resource, run_program, run_refused

STS = "kubernetes:apps/v1:StatefulSet"
SVC = "kubernetes:core/v1:Service"
NS = "kubernetes:core/v1:Namespace"
SA = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LWS = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"

IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
BASE: dict[str, Any] = {"image": IMAGE, "model_uri": "s3://weights/llama/", "shards": 2}
INSTANCE_SELECTOR = {"app.kubernetes.io/name": "shardstack-inference", "app.kubernetes.io/instance": "llm"}


def render(name: str = "llm", **overrides: Any) -> Graph:
    return run_program(lambda: ShardedInference(name, {**BASE, **overrides}))  # type: ignore[typeddict-item]


def render_with_outputs(**overrides: Any) -> Graph:
    def program() -> None:
        llm = ShardedInference("llm", {**BASE, **overrides})  # type: ignore[typeddict-item]
        for output in ("namespace", "service_name", "endpoint", "service_account_name", "group_names"):
            pulumi.export(output, getattr(llm, output))

    return run_program(program)


def failure(name: str = "llm", **overrides: Any) -> ArgumentError:
    """Return the ArgumentError the arguments raise, checking that nothing at all was registered."""
    return run_refused(lambda: ShardedInference(name, {**BASE, **overrides}), ArgumentError)  # type: ignore[typeddict-item]


def spec_of(resource: Resource) -> dict[str, Any]:
    return resource.inputs["spec"]


def pod_spec(graph: Graph, group: int = 0) -> dict[str, Any]:
    return spec_of(graph.one(STS, f"llm-g{group}"))["template"]["spec"]


def container(graph: Graph, group: int = 0) -> dict[str, Any]:
    (only,) = pod_spec(graph, group)["containers"]
    return only


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c["env"]}


def policy(graph: Graph, object_name: str) -> dict[str, Any]:
    found = [r for r in graph.of_type(NETPOL) if r.inputs["metadata"]["name"] == object_name]
    assert len(found) == 1, [r.inputs["metadata"]["name"] for r in graph.of_type(NETPOL)]
    return spec_of(found[0])


# -- shape ------------------------------------------------------------------------------------------


def test_component_has_the_fixed_type_token_and_parents_every_child() -> None:
    graph = render()
    component = graph.one("shardstack:k8s:ShardedInference")
    assert component.name == "llm"
    children = graph.children(component)
    assert children and all(r.custom for r in children)
    assert len(children) == len(graph) - 1
    assert all(r.name.startswith("llm-") for r in children)


def test_creates_the_expected_objects_for_two_groups() -> None:
    graph = render(replica_groups=2)
    assert graph.count_by_type() == {
        STS: 2,
        NS: 1,
        SVC: 3,  # two headless + the API Service
        SA: 1,
        NETPOL: 4,  # default deny, one per group, API
        PDB: 1,
    }


def test_provider_passed_to_the_component_reaches_every_child() -> None:
    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        ShardedInference("llm", {**BASE}, opts=pulumi.ResourceOptions(providers=[provider]))  # type: ignore[typeddict-item]

    graph = run_program(program)
    children = [r for r in graph if r.custom and r.type.startswith("kubernetes:") and r.inputs.get("apiVersion")]
    assert children
    assert all(r.provider and "::cluster::" in r.provider for r in children)


def test_statefulset_per_group_runs_shards_ranks_in_parallel_behind_its_headless_service() -> None:
    graph = render(shards=4, replica_groups=2)
    for g in (0, 1):
        sts = graph.one(STS, f"llm-g{g}").inputs
        assert sts["metadata"] == {
            "name": f"llm-g{g}",
            "namespace": "shardstack",
            "labels": sts["metadata"]["labels"],
        }
        spec = sts["spec"]
        assert spec["replicas"] == 4
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["serviceName"] == f"llm-g{g}"
        assert spec["selector"]["matchLabels"] == {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}
        assert spec["template"]["metadata"]["labels"]["shardstack.dev/group"] == f"g{g}"
        assert spec["updateStrategy"] == {"type": "RollingUpdate"}


def test_headless_service_per_group_publishes_ranks_before_they_are_ready() -> None:
    graph = render(replica_groups=2)
    for g in (0, 1):
        svc = graph.one(SVC, f"llm-g{g}-headless").inputs
        assert svc["metadata"]["name"] == f"llm-g{g}"
        spec = svc["spec"]
        assert spec["clusterIP"] == "None"
        assert spec["publishNotReadyAddresses"] is True
        assert spec["selector"] == {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}
        assert {p["name"]: p["port"] for p in spec["ports"]} == {
            "api": 8000,
            "rendezvous": 29500,
            "metrics": 9090,
        }


def test_api_service_selects_the_leader_of_every_group() -> None:
    graph = render(replica_groups=3)
    svc = graph.one(SVC, "llm-api").inputs
    assert svc["metadata"]["name"] == "llm-api"
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    # No group label: rank 0 of every group; rank 0 only: the leaders serve the API.
    assert spec["selector"] == {**INSTANCE_SELECTOR, "apps.kubernetes.io/pod-index": "0"}
    assert spec["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "api", "protocol": "TCP", "appProtocol": "http"}
    ]
    assert "loadBalancerSourceRanges" not in spec


def test_public_api_is_a_load_balancer_limited_to_the_allowed_cidrs() -> None:
    graph = render(public=True, allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    spec = spec_of(graph.one(SVC, "llm-api"))
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerSourceRanges"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert spec["externalTrafficPolicy"] == "Local"


def test_api_service_annotations_are_passed_through() -> None:
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}
    graph = render(public=True, allowed_cidrs=["203.0.113.0/24"], api_service_annotations=annotations)
    assert graph.one(SVC, "llm-api").inputs["metadata"]["annotations"] == annotations


def test_service_account_has_no_token_and_carries_the_identity_annotations() -> None:
    annotations = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/weights-read"}
    graph = render(
        service_account_annotations=annotations,
        service_account_labels={"azure.workload.identity/use": "true"},
    )
    sa = graph.one(SA).inputs
    assert sa["metadata"]["name"] == "llm"
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"]["annotations"] == annotations
    assert sa["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert sa["metadata"]["labels"]["app.kubernetes.io/instance"] == "llm"
    spec = pod_spec(graph)
    assert spec["serviceAccountName"] == "llm"
    assert spec["automountServiceAccountToken"] is False


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    ns = render().one(NS).inputs["metadata"]
    assert ns["name"] == "shardstack"
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert ns["labels"]["pod-security.kubernetes.io/audit"] == "restricted"


def test_existing_namespace_is_used_when_create_namespace_is_false() -> None:
    graph = render(namespace="serving", create_namespace=False)
    assert graph.of_type(NS) == []
    assert {r.inputs["metadata"]["namespace"] for r in graph if r.custom} == {"serving"}


# -- defaults -------------------------------------------------------------------------------------


def test_default_is_one_replica_group() -> None:
    assert [r.name for r in render().of_type(STS)] == ["llm-g0"]


def test_default_namespace_is_shardstack() -> None:
    assert {r.inputs["metadata"]["namespace"] for r in render() if r.custom and r.type != NS} == {"shardstack"}


def test_default_dtype_is_bf16() -> None:
    assert env_of(container(render()))[rc.ENV_DTYPE]["value"] == "bf16"


def test_default_is_one_gpu_per_rank_requested_and_limited() -> None:
    resources = container(render())["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == "1"
    assert resources["limits"]["nvidia.com/gpu"] == "1"


def test_default_gpu_ranks_tolerate_the_gpu_taint_and_select_gpu_nodes() -> None:
    spec = pod_spec(render(gpus_per_shard=8))
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["nodeSelector"] == {"shardstack.dev/gpu": "true"}
    assert container(render(gpus_per_shard=8))["resources"]["limits"]["nvidia.com/gpu"] == "8"


def test_extra_tolerations_join_the_gpu_one_on_every_rank() -> None:
    spot = {
        "key": "kubernetes.azure.com/scalesetpriority",
        "operator": "Equal",
        "value": "spot",
        "effect": "NoSchedule",
    }
    graph = render(replica_groups=2, tolerations=[spot])
    for group in (0, 1):
        assert pod_spec(graph, group)["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            spot,
        ]
    # On CPU, only the extra ones.
    assert pod_spec(render(gpus_per_shard=0, tolerations=[spot]))["tolerations"] == [spot]


def test_tolerations_are_checked_with_the_rest() -> None:
    error = failure(tolerations=[{"key": "dedicated", "effect": "NoSchedul"}, {"operator": "Equal"}])
    assert any(p.startswith("tolerations[0].effect='NoSchedul'") for p in error.problems), error.problems
    assert any(p.startswith("tolerations[1].key is missing") for p in error.problems), error.problems


def test_gpu_resource_name_can_be_changed() -> None:
    resources = container(render(gpu_resource_name="amd.com/gpu"))["resources"]
    assert resources["limits"]["amd.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in resources["limits"]


def test_cpu_ranks_have_no_gpu_requests_tolerations_or_gpu_node_selector() -> None:
    graph = render(gpus_per_shard=0)
    spec = pod_spec(graph)
    assert "tolerations" not in spec
    assert "nodeSelector" not in spec
    assert set(container(graph)["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}


def test_node_selector_replaces_the_default() -> None:
    spec = pod_spec(render(node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}))
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}


def test_default_cpu_and_memory_are_requested_and_limited_alike() -> None:
    resources = container(render())["resources"]
    assert resources["requests"] == resources["limits"]
    assert resources["limits"]["cpu"] == "4"
    assert resources["limits"]["memory"] == "16Gi"


def test_cpu_and_memory_can_be_set() -> None:
    resources = container(render(cpu="1", memory="2Gi"))["resources"]
    assert (resources["limits"]["cpu"], resources["limits"]["memory"]) == ("1", "2Gi")
    assert resources["requests"] == resources["limits"]


def test_default_weights_cache_is_a_20_gib_empty_dir_counted_in_ephemeral_storage() -> None:
    graph = render()
    volumes = {v["name"]: v for v in pod_spec(graph)["volumes"]}
    assert volumes["weights-cache"] == {"name": "weights-cache", "emptyDir": {"sizeLimit": "20Gi"}}
    # Cache + 1 GiB /tmp + 2 GiB logs and writable layer.
    assert container(graph)["resources"]["limits"]["ephemeral-storage"] == "23Gi"
    assert "volumeClaimTemplates" not in spec_of(graph.one(STS))


def test_weights_cache_with_a_storage_class_is_a_claim_per_rank() -> None:
    graph = render(weights_cache={"size_gib": 100, "storage_class": "gp3"})
    spec = spec_of(graph.one(STS))
    assert spec["volumeClaimTemplates"] == [
        {
            "metadata": {"name": "weights-cache"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "gp3",
                "resources": {"requests": {"storage": "100Gi"}},
            },
        }
    ]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Delete"}
    assert "weights-cache" not in {v["name"] for v in spec["template"]["spec"]["volumes"]}
    assert container(graph)["resources"]["limits"]["ephemeral-storage"] == "3Gi"


def test_default_ports() -> None:
    ports = {p["name"]: p for p in container(render())["ports"]}
    assert {n: p["containerPort"] for n, p in ports.items()} == {
        "api": 8000,
        "rendezvous": 29500,
        "metrics": 9090,
    }
    assert {p["protocol"] for p in ports.values()} == {"TCP"}


def test_ports_can_be_moved_and_follow_into_env_services_and_policies() -> None:
    graph = render(api_port=8080, rendezvous_port=23456, metrics_port=9400)
    env = env_of(container(graph))
    assert env[rc.ENV_API_PORT]["value"] == "8080"
    assert env[rc.ENV_RENDEZVOUS_PORT]["value"] == "23456"
    assert env[rc.ENV_METRICS_PORT]["value"] == "9400"
    assert spec_of(graph.one(SVC, "llm-api"))["ports"][0]["port"] == 8080
    assert policy(graph, "llm-api")["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_default_api_is_private() -> None:
    assert spec_of(render().one(SVC, "llm-api"))["type"] == "ClusterIP"


def test_default_mode_is_statefulset() -> None:
    graph = render()
    assert graph.of_type(STS) and not graph.of_type(LWS)


def test_default_has_no_api_key() -> None:
    assert rc.ENV_API_KEY not in env_of(container(render()))


def test_default_puts_no_cloud_credentials_in_env() -> None:
    names = set(env_of(container(render())))
    assert not names & {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CLIENT_SECRET",
    }


def test_default_lets_no_other_namespace_scrape_metrics() -> None:
    names = {r.inputs["metadata"]["name"] for r in render().of_type(NETPOL)}
    assert "llm-metrics" not in names


# -- the runtime contract ----------------------------------------------------------------------------


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


def test_home_points_at_the_writable_tmp() -> None:
    assert env_of(container(render()))["HOME"]["value"] == rc.TMP_DIR


# -- probes, security, volumes, labels ---------------------------------------------------------------


def test_probes_hit_every_rank_on_the_metrics_port() -> None:
    c = container(render())
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "metrics", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics", "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics", "scheme": "HTTP"}


def test_startup_probe_allows_half_an_hour_for_weights_to_load() -> None:
    startup = container(render())["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 30 * 60
    liveness = container(render())["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] == 60
    assert container(render())["readinessProbe"]["periodSeconds"] == 5


def test_pod_security_context_is_restricted() -> None:
    assert pod_spec(render())["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_container_security_context_is_restricted() -> None:
    assert container(render())["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    # The checks of https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
    # that a pod spec can fail; the namespace enforces them, so a miss would stop every rank.
    allowed_volume_sources = {
        "emptyDir",
        "secret",
        "configMap",
        "persistentVolumeClaim",
        "projected",
        "ephemeral",
    }
    cases: list[dict[str, Any]] = [
        {},
        {"secret_files": {"f": "x"}},
        {"weights_cache": {"size_gib": 5, "storage_class": "s"}},
    ]
    for overrides in cases:
        spec = pod_spec(render(**overrides))
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key)
        for volume in spec["volumes"]:
            assert set(volume) - {"name"} <= allowed_volume_sources, volume
        for c in spec["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["runAsNonRoot"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
            assert "hostPort" not in str(c["ports"])


def test_writable_volumes_back_the_cache_tmp_and_shared_memory() -> None:
    graph = render(shm_size_gib=4)
    volumes = {v["name"]: v for v in pod_spec(graph)["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    mounts = {m["mountPath"]: m["name"] for m in container(graph)["volumeMounts"]}
    assert mounts == {rc.CACHE_DIR: "weights-cache", rc.TMP_DIR: "tmp", rc.SHM_DIR: "shm"}


def test_image_is_pulled_if_not_present_and_ranks_get_time_to_leave() -> None:
    graph = render()
    assert container(graph)["image"] == IMAGE
    assert container(graph)["imagePullPolicy"] == "IfNotPresent"
    assert pod_spec(graph)["terminationGracePeriodSeconds"] == 60


def test_every_object_carries_the_recommended_labels() -> None:
    graph = render(labels={"team": "ml"})
    for r in graph:
        if not r.custom:
            continue
        labels = r.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "shardstack-inference", r.name
        assert labels["app.kubernetes.io/instance"] == "llm"
        assert labels["app.kubernetes.io/part-of"] == "shardstack"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["app.kubernetes.io/component"]
        assert labels["team"] == "ml"
    pod_labels = spec_of(graph.one(STS))["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/component"] == "inference"
    assert pod_labels["team"] == "ml"


def test_version_label_is_left_off_for_a_digest_only_image() -> None:
    graph = render(image="ghcr.io/shardstack/runtime@sha256:" + "a" * 64)
    assert "app.kubernetes.io/version" not in graph.one(STS).inputs["metadata"]["labels"]


# -- placement ---------------------------------------------------------------------------------------


def test_each_group_is_kept_in_one_zone() -> None:
    affinity = pod_spec(render(replica_groups=2), 1)["affinity"]
    assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {
            "topologyKey": "topology.kubernetes.io/zone",
            "labelSelector": {"matchLabels": {**INSTANCE_SELECTOR, "shardstack.dev/group": "g1"}},
        }
    ]


def test_groups_prefer_different_zones() -> None:
    spec = pod_spec(render(replica_groups=2), 1)
    (term,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"] == {
        "topologyKey": "topology.kubernetes.io/zone",
        "labelSelector": {
            "matchLabels": INSTANCE_SELECTOR,
            "matchExpressions": [{"key": "shardstack.dev/group", "operator": "NotIn", "values": ["g1"]}],
        },
    }
    assert spec["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": INSTANCE_SELECTOR},
        }
    ]


def test_zone_spread_can_be_turned_off_for_single_zone_clusters() -> None:
    spec = pod_spec(render(zone_spread=False))
    assert "affinity" not in spec
    assert "topologySpreadConstraints" not in spec


# -- disruption budget ---------------------------------------------------------------------------------


def test_one_disruption_budget_lets_at_most_one_rank_of_all_groups_go_at_a_time() -> None:
    pdb = render(replica_groups=3).one(PDB).inputs
    assert pdb["metadata"]["name"] == "llm"
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": INSTANCE_SELECTOR},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


# -- network policies -----------------------------------------------------------------------------------


def test_ingress_to_every_rank_is_denied_by_default() -> None:
    assert policy(render(), "llm-default-deny") == {
        "podSelector": {"matchLabels": INSTANCE_SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }


def test_ranks_accept_connections_only_from_their_own_group() -> None:
    graph = render(replica_groups=2)
    for g in (0, 1):
        selector = {"matchLabels": {**INSTANCE_SELECTOR, "shardstack.dev/group": f"g{g}"}}
        assert policy(graph, f"llm-g{g}-ranks") == {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": selector}]}],
        }


def test_api_port_is_open_to_the_same_namespace_only_by_default() -> None:
    assert policy(render(), "llm-api") == {
        "podSelector": {"matchLabels": {**INSTANCE_SELECTOR, "apps.kubernetes.io/pod-index": "0"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/metadata.name",
                                    "operator": "In",
                                    "values": ["shardstack"],
                                }
                            ]
                        }
                    }
                ],
                "ports": [{"port": 8000, "protocol": "TCP"}],
            }
        ],
    }


def test_api_port_is_open_to_the_allowed_namespaces() -> None:
    (rule,) = policy(render(api_allowed_namespaces=["gateway", "shardstack"]), "llm-api")["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchExpressions"][0]["values"] == ["shardstack", "gateway"]


def test_public_api_port_is_open_to_the_allowed_cidrs() -> None:
    (rule,) = policy(render(public=True, allowed_cidrs=["203.0.113.0/24"]), "llm-api")["ingress"]
    assert rule["from"][1:] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]


def test_metrics_port_is_open_to_the_monitoring_namespaces() -> None:
    selector = {"kubernetes.io/metadata.name": "monitoring"}
    assert policy(render(monitoring_namespace_selector=selector), "llm-metrics") == {
        "podSelector": {"matchLabels": INSTANCE_SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": selector}}],
                "ports": [{"port": 9090, "protocol": "TCP"}],
            }
        ],
    }


# -- outputs -----------------------------------------------------------------------------------------------


def test_outputs_of_a_private_deployment() -> None:
    outputs = render_with_outputs(replica_groups=2).outputs
    assert outputs == {
        "namespace": "shardstack",
        "service_name": "llm-api",
        "endpoint": "http://llm-api.shardstack.svc.cluster.local:8000",
        "service_account_name": "llm",
        "group_names": ["llm-g0", "llm-g1"],
    }


def test_public_endpoint_is_the_load_balancer_address() -> None:
    outputs = render_with_outputs(public=True, allowed_cidrs=["203.0.113.0/24"]).outputs
    assert outputs["endpoint"] == "http://llm-api.lb.example.com:8000"


# -- LeaderWorkerSet mode ------------------------------------------------------------------------------------


def lws_spec(graph: Graph) -> dict[str, Any]:
    return spec_of(graph.one(LWS))


def test_leaderworkerset_mode_creates_one_lws_and_no_statefulsets() -> None:
    graph = render(mode="leaderworkerset", shards=4, replica_groups=2)
    assert graph.of_type(STS) == []
    lws = graph.one(LWS).inputs
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    assert lws["kind"] == "LeaderWorkerSet"
    assert lws["metadata"]["name"] == "llm"
    spec = lws["spec"]
    assert spec["replicas"] == 2
    assert spec["leaderWorkerTemplate"]["size"] == 4
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert spec["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["startupPolicy"] == "LeaderCreated"
    assert spec["networkConfig"] == {"subdomainPolicy": "Shared"}
    # LWS makes its own headless Service (named after the LWS); ours is only the API Service.
    assert [r.inputs["metadata"]["name"] for r in graph.of_type(SVC)] == ["llm-api"]


def test_leaderworkerset_ranks_read_the_variables_lws_injects() -> None:
    template = lws_spec(render(mode="leaderworkerset", shards=4))["leaderWorkerTemplate"]["workerTemplate"]
    env = env_of(template["spec"]["containers"][0])
    assert env[rc.ENV_LEADER_ADDR]["value"] == "$(LWS_LEADER_ADDRESS)"
    assert env[rc.ENV_RANK]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"}
    }
    assert env[rc.ENV_WORLD_SIZE]["value"] == "4"


def test_leaderworkerset_pod_template_matches_the_statefulset_one_otherwise() -> None:
    sts_pod = pod_spec(render())
    lws_pod = lws_spec(render(mode="leaderworkerset"))["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    for key in (
        "securityContext",
        "volumes",
        "tolerations",
        "nodeSelector",
        "serviceAccountName",
        "terminationGracePeriodSeconds",
        "automountServiceAccountToken",
    ):
        assert lws_pod[key] == sts_pod[key], key
    sts_c, lws_c = sts_pod["containers"][0], lws_pod["containers"][0]
    for key in (
        "image",
        "ports",
        "resources",
        "securityContext",
        "startupProbe",
        "readinessProbe",
        "livenessProbe",
        "volumeMounts",
        "imagePullPolicy",
    ):
        assert lws_c[key] == sts_c[key], key


def test_leaderworkerset_groups_stay_in_one_zone_by_group_key() -> None:
    affinity = lws_spec(render(mode="leaderworkerset"))["leaderWorkerTemplate"]["workerTemplate"]["spec"]["affinity"]
    (same,) = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert same["matchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]
    assert same["topologyKey"] == "topology.kubernetes.io/zone"
    (other,) = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert other["podAffinityTerm"]["mismatchLabelKeys"] == ["leaderworkerset.sigs.k8s.io/group-key"]


def test_leaderworkerset_services_and_policies_use_lws_labels() -> None:
    graph = render(mode="leaderworkerset", replica_groups=2)
    assert spec_of(graph.one(SVC, "llm-api"))["selector"] == {
        **INSTANCE_SELECTOR,
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    for g in (0, 1):
        selector = {"matchLabels": {**INSTANCE_SELECTOR, "leaderworkerset.sigs.k8s.io/group-index": str(g)}}
        assert policy(graph, f"llm-{g}-ranks")["ingress"] == [{"from": [{"podSelector": selector}]}]


def test_leaderworkerset_claims_per_rank_for_a_persistent_cache() -> None:
    graph = render(mode="leaderworkerset", weights_cache={"size_gib": 50, "storage_class": "premium"})
    (claim,) = lws_spec(graph)["leaderWorkerTemplate"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "premium"


def test_leaderworkerset_outputs_name_groups_after_their_leaders() -> None:
    outputs = render_with_outputs(mode="leaderworkerset", replica_groups=2).outputs
    assert outputs["group_names"] == ["llm-0", "llm-1"]
    assert outputs["service_name"] == "llm-api"


# -- validation ---------------------------------------------------------------------------------------


def test_valid_arguments_have_no_problems() -> None:
    assert validate_sharded_inference_args(BASE, name="llm") == []


def test_fails_when_shards_is_below_one() -> None:
    error = failure(shards=0)
    assert "shards=0 must be a whole number ≥ 1" in error.problems


def test_fails_when_shards_is_not_an_integer() -> None:
    assert "shards='two' must be a whole number ≥ 1" in failure(shards="two").problems


def test_fails_when_replica_groups_is_below_one() -> None:
    assert "replica_groups=0 must be a whole number ≥ 1" in failure(replica_groups=0).problems


def test_fails_when_gpus_per_shard_is_negative() -> None:
    assert "gpus_per_shard=-1 must be a whole number ≥ 0" in failure(gpus_per_shard=-1).problems


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
    assert problem.startswith("allowed_cidrs[1]='everyone' is not a valid CIDR block")


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
        "shards is required: a whole number ≥ 1",
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
    assert problem.startswith("cpu='four' is not a valid Kubernetes quantity")


def test_fails_when_the_weights_cache_is_malformed() -> None:
    assert failure(weights_cache={"size": 10}).problems == [
        "weights_cache has unknown argument 'size' (did you mean 'size_gib'?)",
        "weights_cache.size_gib is required: a whole number ≥ 1",
    ]


def test_fails_when_the_weights_cache_size_is_zero() -> None:
    assert "weights_cache.size_gib=0 must be a whole number ≥ 1" in failure(weights_cache={"size_gib": 0}).problems


def test_fails_when_a_flag_is_not_a_boolean() -> None:
    assert "public='yes' must be true or false" in failure(public="yes").problems


def test_fails_with_every_problem_at_once() -> None:
    error = failure(shards=0, replica_groups=0, mode="ray", metrics_port=8000, public=True)
    assert len(error.problems) == 5
    assert str(error).startswith("invalid arguments for ShardedInference 'llm':\n  - ")


def test_args_and_outputs_give_a_multi_language_schema() -> None:
    schema = component_schema("ShardedInference")
    (resource,) = schema["resources"].values()
    assert sorted(resource["requiredInputs"]) == ["image", "modelUri", "shards"]
    assert sorted(resource["properties"]) == [
        "endpoint",
        "groupNames",
        "namespace",
        "serviceAccountName",
        "serviceName",
    ]
    assert all(p.get("description") for p in resource["inputProperties"].values())


def test_weights_come_from_object_storage_by_default() -> None:
    pod = spec_of(render().one(STS))["template"]["spec"]
    (container,) = pod["containers"]
    assert not any(v.get("persistentVolumeClaim") for v in pod["volumes"])
    assert rc.WEIGHTS_DIR not in [m["mountPath"] for m in container["volumeMounts"]]


def test_a_weights_volume_claim_is_mounted_read_only_at_the_weights_dir() -> None:
    pod = spec_of(render(weights_volume_claim="checkpoints", model_uri="file:///models/llama").one(STS))
    spec = pod["template"]["spec"]
    (container,) = spec["containers"]
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "checkpoints", "readOnly": True}} in spec[
        "volumes"
    ]
    assert {"name": "weights", "mountPath": rc.WEIGHTS_DIR, "readOnly": True} in container["volumeMounts"]


def test_fails_when_the_weights_volume_claim_is_not_a_valid_name() -> None:
    message = str(failure(weights_volume_claim="Bad_Claim"))
    assert "weights_volume_claim" in message and "'Bad_Claim'" in message


def test_pulumi_up_waits_for_the_ranks_unless_the_weights_come_later() -> None:
    waiting = render(replica_groups=2).of_type(STS)
    assert all(
        "annotations" not in (s.inputs["metadata"] or {})
        or "pulumi.com/skipAwait" not in s.inputs["metadata"]["annotations"]
        for s in waiting
    )
    later = render(replica_groups=2, wait_until_ready=False).of_type(STS)
    assert [s.inputs["metadata"]["annotations"] for s in later] == [{"pulumi.com/skipAwait": "true"}] * 2
    assert "wait_until_ready='no' must be true or false" in str(failure(wait_until_ready="no"))
