"""ShardedInference's rank pods under recording mocks: GPUs, tolerations and node selection, CPU and memory,
the weights cache and the other volumes, ports, probes, the image, and placement across zones."""

from __future__ import annotations

from sharded_inference_parts import IMAGE, INSTANCE_SELECTOR, STS, container, pod_spec, render, spec_of

from shardstack.k8s import runtime_contract as rc

# -- resources and nodes -------------------------------------------------------------------------------


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


# -- volumes -------------------------------------------------------------------------------------------


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


def test_writable_volumes_back_the_cache_tmp_and_shared_memory() -> None:
    graph = render(shm_size_gib=4)
    volumes = {v["name"]: v for v in pod_spec(graph)["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    mounts = {m["mountPath"]: m["name"] for m in container(graph)["volumeMounts"]}
    assert mounts == {rc.CACHE_DIR: "weights-cache", rc.TMP_DIR: "tmp", rc.SHM_DIR: "shm"}


# -- ports, probes, image ------------------------------------------------------------------------------


def test_default_ports() -> None:
    ports = {p["name"]: p for p in container(render())["ports"]}
    assert {n: p["containerPort"] for n, p in ports.items()} == {
        "api": 8000,
        "rendezvous": 29500,
        "metrics": 9090,
    }
    assert {p["protocol"] for p in ports.values()} == {"TCP"}


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


def test_image_is_pulled_if_not_present_and_ranks_get_time_to_leave() -> None:
    graph = render()
    assert container(graph)["image"] == IMAGE
    assert container(graph)["imagePullPolicy"] == "IfNotPresent"
    assert pod_spec(graph)["terminationGracePeriodSeconds"] == 60


# -- placement -----------------------------------------------------------------------------------------


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
