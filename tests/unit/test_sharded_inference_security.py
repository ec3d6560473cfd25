"""What keeps ShardedInference's ranks locked down: the restricted Pod Security Standard on the namespace
and every pod, a service account without a token, and no cloud credentials in the environment."""

from __future__ import annotations

from typing import Any

from sharded_inference_parts import NS, SA, container, env_of, pod_spec, render


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    ns = render().one(NS).inputs["metadata"]
    assert ns["name"] == "shardstack"
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert ns["labels"]["pod-security.kubernetes.io/audit"] == "restricted"


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


def test_default_puts_no_cloud_credentials_in_env() -> None:
    names = set(env_of(container(render())))
    assert not names & {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CLIENT_SECRET",
    }
