"""Pod and container security settings that pass the ``restricted`` Pod Security Standard."""

from __future__ import annotations

import pulumi_kubernetes as k8s

NON_ROOT_UID = 10001
"""User and group the workloads run as: above 10000 so it never maps to a host user or a distro's
system account (the check scanners such as checkov's CKV_K8S_40 apply), and the same in every image."""

RESTRICTED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
"""Namespaces holding only Shardstack's own workloads enforce the ``restricted`` standard."""

PRIVILEGED_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/enforce-version": "latest",
    # Still report what breaks baseline, so the exceptions stay visible in audit logs.
    "pod-security.kubernetes.io/audit": "baseline",
}
"""For node agents (the NVIDIA device plugin) that must mount a host path: ``baseline`` forbids it."""

RUNTIME_DEFAULT_SECCOMP = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")


def restricted_pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """Return a pod security context that runs as UID/GID 10001 and owns its volumes through fsGroup."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=NON_ROOT_UID,
        run_as_group=NON_ROOT_UID,
        fs_group=NON_ROOT_UID,
        # Large weight caches: only re-own the volume when its root has the wrong owner.
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=RUNTIME_DEFAULT_SECCOMP,
    )


def restricted_container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """Return a container security context: non-root, read-only root, no capabilities, no escalation."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=NON_ROOT_UID,
        run_as_group=NON_ROOT_UID,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=RUNTIME_DEFAULT_SECCOMP,
    )
