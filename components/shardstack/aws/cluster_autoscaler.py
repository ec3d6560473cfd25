"""ClusterAutoscaler: the Kubernetes cluster-autoscaler for an EKS cluster, with its IAM role.

Usage::

    from shardstack.aws.cluster_autoscaler import ClusterAutoscaler

    ClusterAutoscaler("autoscaler", {"cluster_name": cluster.cluster_name, "kubernetes_version": "1.33"},
                      opts=pulumi.ResourceOptions(providers=[cluster.provider]))

A GPU node pool may start at zero nodes; only the cluster-autoscaler turns a pending GPU pod into a new
node. It finds the node groups to scale by the Auto Scaling group tags EKS puts on every managed node
group (``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>: owned``), and
learns what a node of an empty pool would offer from the node-template tags Shardstack's GpuNodePool
adds (labels, taints, ``nvidia.com/gpu``).

What it creates: an IAM role that only EKS Pod Identity may assume, for this cluster and the
autoscaler's service account, allowed to describe Auto Scaling groups, instance types and node groups and
to change the size of only this cluster's Auto Scaling groups; the Pod Identity association; the
service account, RBAC rules (from the upstream AWS example, tightened where noted), a NetworkPolicy
that admits no inbound traffic, and a one-replica Deployment on the system pool running the
cluster-autoscaler release of the cluster's minor version. Plain Kubernetes objects: no Helm chart
is fetched at deploy time.

The Kubernetes provider comes through ``opts`` (``providers=[...]`` or ``provider=...``); the AWS
resources use the default or inherited AWS provider. The cluster needs the ``eks-pod-identity-agent``
add-on (Shardstack's Cluster installs it) and a way out to the Auto Scaling, EC2 and EKS APIs (NAT, or
interface endpoints for ``autoscaling``, ``ec2`` and ``eks``).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from shardstack.aws.args import ClusterAutoscalerArgs
from shardstack.aws.cluster import SYSTEM_POOL_LABEL, SYSTEM_POOL_LABEL_VALUE
from shardstack.aws.pod_identity import PodIdentityRole, pod_identity_role, role_name_prefix
from shardstack.aws.specs import (
    AWS_UNSUPPORTED_EXPANDERS,
    CLUSTER_AUTOSCALER,
    DEFAULT_EXPANDER,
    DEFAULT_NAMESPACE,
    DEFAULT_SCALE_DOWN_UNNEEDED_TIME,
    EXPANDERS,
)
from shardstack.aws.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.k8s import labels as lbl
from shardstack.k8s import names, pod_security
from shardstack.k8s.scanner_skips import THIRD_PARTY_TAG, image_tag_reasons, skip_annotations
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:aws:ClusterAutoscaler"

__all__ = [
    "AWS_UNSUPPORTED_EXPANDERS",
    "DEFAULT_EXPANDER",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SCALE_DOWN_UNNEEDED_TIME",
    "EXPANDERS",
    "IMAGE_TAGS",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "autoscaler_command",
    "autoscaling_policy",
    "image_for",
    "validate_cluster_autoscaler_args",
]

IMAGE_REPOSITORY = "registry.k8s.io/autoscaling/cluster-autoscaler"
IMAGE_TAGS: Mapping[str, str] = {
    "1.30": "v1.30.7",
    "1.31": "v1.31.5",
    "1.32": "v1.32.7",
    "1.33": "v1.33.6",
    "1.34": "v1.34.5",
}
"""The newest cluster-autoscaler patch release of each supported Kubernetes minor version in the
kubernetes/autoscaler release tags (read 2026-11; 1.33.6 and 1.34.5 published 2026-07-23). Upstream tests
each release only against its own minor version and recommends the latest patch of that minor."""

APP = "cluster-autoscaler"
SERVICE_ACCOUNT_NAME = "cluster-autoscaler"
"""Name of the service account, the RBAC objects and the Deployment, as upstream names them: one
autoscaler per cluster, so a second one collides instead of fighting the first over node counts."""

METRICS_PORT = 8085
"""The autoscaler's --address default: /metrics and /health-check."""

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
"""EKS tags each managed node group's Auto Scaling group with ``<prefix>enabled`` and
``<prefix><cluster name>: owned``."""
OWNED_TAG_VALUE = "owned"

DESCRIBE_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)
"""Read-only calls of auto-discovery, of --aws-use-static-instance-list=false (instance types from the EC2
API) and of scale-from-zero (labels and taints of an empty EKS node group)."""
SCALE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
"""The only calls that change anything: grow a group, or remove one drained node from it."""


def image_for(kubernetes_version: str) -> str:
    """Return the pinned cluster-autoscaler image for a supported Kubernetes minor version ('1.33')."""
    return f"{IMAGE_REPOSITORY}:{IMAGE_TAGS[kubernetes_version]}"


def validate_cluster_autoscaler_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with ClusterAutoscaler arguments (and its name, when given), one line each."""
    problems = as_arguments(CLUSTER_AUTOSCALER.check(args))
    # The name is the pods' app.kubernetes.io/instance label.
    if name is not None and (problem := names.label_value_problem("name", name)):
        problems.append(problem)
    return problems


def autoscaling_policy(cluster_name: str) -> str:
    """Return the role's permissions: describe what the autoscaler must see, resize only this cluster's groups."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DescribeNodeGroups",
                    "Effect": "Allow",
                    "Action": list(DESCRIBE_ACTIONS),
                    # AWS supports no resource-level permissions for these Describe/Get calls: they are
                    # granted on "*" or not at all. They read configuration only, never change it.
                    "Resource": "*",
                },
                {
                    "Sid": "ScaleThisClustersNodeGroups",
                    "Effect": "Allow",
                    "Action": list(SCALE_ACTIONS),
                    # Auto Scaling group ARNs carry a random ID and EKS creates the groups, so they are
                    # selected by the tag EKS puts on every managed node group's group of this cluster:
                    # the autoscaler cannot resize any other group in the account.
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/{AUTOSCALER_TAG_PREFIX}{cluster_name}": OWNED_TAG_VALUE}
                    },
                },
            ],
        }
    )


def autoscaler_command(namespace: str, cluster_name: str, expander: str, scale_down_unneeded_time: str) -> list[str]:
    """Return the autoscaler's command line."""
    return [
        "./cluster-autoscaler",
        "--cloud-provider=aws",
        f"--namespace={namespace}",
        # Every Auto Scaling group with both tags, i.e. every managed node group of this cluster.
        f"--node-group-auto-discovery=asg:tag={AUTOSCALER_TAG_PREFIX}enabled,{AUTOSCALER_TAG_PREFIX}{cluster_name}",
        f"--expander={expander}",
        # Spreads a scale-up over GPU pools of the same shape in different zones.
        "--balance-similar-node-groups",
        # Lets system nodes go too when their pods (CoreDNS, ...) fit elsewhere.
        "--skip-nodes-with-system-pods=false",
        f"--scale-down-unneeded-time={scale_down_unneeded_time}",
        # Instance types come from the EC2 API, so new GPU instance types work without a new release.
        "--aws-use-static-instance-list=false",
        "--stderrthreshold=info",
        "--v=4",
    ]


def _rule(
    api_groups: list[str], resources: list[str], verbs: list[str], resource_names: list[str] | None = None
) -> k8s.rbac.v1.PolicyRuleArgs:
    return k8s.rbac.v1.PolicyRuleArgs(
        api_groups=api_groups, resources=resources, verbs=verbs, resource_names=resource_names
    )


READ = ["watch", "list", "get"]

CLUSTER_RULES = [
    # The upstream AWS example's ClusterRole (cluster-autoscaler-autodiscover.yaml), except:
    # - no "endpoints" rules: they served the Endpoints leader-election lock, and the autoscaler has used
    #   a Lease since long before 1.30; creating Endpoints anywhere would let it redirect Service traffic;
    # - the Lease rules are in the namespaced Role below: the lease lives in --namespace.
    _rule([""], ["events"], ["create", "patch"]),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule([""], ["pods/status"], ["update"]),
    # Taints a node it is about to remove, so that nothing new lands on it.
    _rule([""], ["nodes"], ["watch", "list", "get", "update"]),
    _rule(
        [""],
        ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"],
        READ,
    ),
    _rule(["extensions"], ["replicasets", "daemonsets"], READ),
    _rule(["policy"], ["poddisruptionbudgets"], ["watch", "list"]),
    _rule(["apps"], ["statefulsets", "replicasets", "daemonsets"], READ),
    # Dynamic Resource Allocation objects, read only: the scheduler simulation needs them where DRA is on.
    _rule(["resource.k8s.io"], ["deviceclasses", "resourceslices", "resourceclaims"], READ),
    _rule(
        ["storage.k8s.io"],
        ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"],
        READ,
    ),
    _rule(["batch", "extensions"], ["jobs"], ["get", "list", "watch", "patch"]),
]

NAMESPACE_RULES = [
    _rule([""], ["configmaps"], ["create", "list", "watch"]),
    _rule(
        [""],
        ["configmaps"],
        ["delete", "get", "update", "watch"],
        ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"],
    ),
    # Leader election: one lease, named after the autoscaler, in its namespace.
    _rule(["coordination.k8s.io"], ["leases"], ["create"]),
    _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], ["cluster-autoscaler"]),
]


API_TOKEN_NEEDED = (
    "the autoscaler reads and scales the cluster through the Kubernetes API with its service account's token; its "
    "RBAC grants only what it needs"
)
"""Why the autoscaler's pods mount a service account token (checkov's CKV_K8S_38)."""


def _metadata(namespace: str | None, labels: Mapping[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
    """Return the metadata every autoscaler object carries; ``namespace`` None for cluster-scoped ones."""
    return k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT_NAME, namespace=namespace, labels=labels)


class ClusterAutoscaler(pulumi.ComponentResource):
    """Creates the cluster-autoscaler Deployment, its RBAC and an IAM role it gets through EKS Pod Identity."""

    role_arn: pulumi.Output[str]
    """ARN of the IAM role the autoscaler's pods assume."""
    service_account_name: pulumi.Output[str]
    """Name of the autoscaler's Kubernetes service account."""

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_cluster_autoscaler_args(args, name=name)
        if problems:
            raise ArgumentError(f"ClusterAutoscaler {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)

        namespace = args.get("namespace", DEFAULT_NAMESPACE)
        expander = args.get("expander", DEFAULT_EXPANDER)
        unneeded_time = args.get("scale_down_unneeded_time", DEFAULT_SCALE_DOWN_UNNEEDED_TIME)
        image = args.get("image", image_for(args["kubernetes_version"]))
        cluster_name = pulumi.Output.from_input(args["cluster_name"])

        access = self._aws_access(name, args, cluster_name, namespace)
        object_labels = lbl.standard_labels(APP, name, "autoscaler", version=lbl.version_from_image(image))
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=_metadata(namespace, object_labels),
            # Only the autoscaler's pods get a token, and they ask for it themselves.
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        bindings = self._rbac(name, namespace, object_labels)

        command = cluster_name.apply(lambda c: autoscaler_command(namespace, c, expander, unneeded_time))
        container = self._container(image, command)
        selector = lbl.selector_labels(APP, name)
        self._network_policy(name, namespace, object_labels, selector)
        self._deployment(
            name,
            namespace,
            object_labels,
            selector,
            service_account=service_account,
            container=container,
            cannot_pass={**image_tag_reasons(image, THIRD_PARTY_TAG), "CKV_K8S_38": API_TOKEN_NEEDED},
            # EKS injects the Pod Identity credentials into pods created after the association exists;
            # and with its RBAC in place the first pod starts cleanly instead of crash-looping.
            depends_on=[access.association, *bindings],
        )

        self.role_arn = access.role.arn
        self.service_account_name = service_account.metadata.apply(lambda m: m.name or SERVICE_ACCOUNT_NAME)
        self.register_outputs({"role_arn": self.role_arn, "service_account_name": self.service_account_name})

    def _aws_access(
        self, name: str, args: ClusterAutoscalerArgs, cluster_name: pulumi.Output[str], namespace: str
    ) -> PodIdentityRole:
        """Create the IAM role the autoscaler's service account assumes through EKS Pod Identity."""
        return pod_identity_role(
            name,
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=SERVICE_ACCOUNT_NAME,
            policy=cluster_name.apply(autoscaling_policy),
            role_name_prefix=role_name_prefix(name, "cluster-autoscaler"),
            description=pulumi.Output.concat("Cluster autoscaler of EKS cluster ", cluster_name),
            tags=component_tags(name, args.get("tags")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _rbac(self, name: str, namespace: str, labels: Mapping[str, str]) -> list[pulumi.Resource]:
        """Create the cluster-wide and namespaced RBAC roles of the autoscaler; return their two bindings."""
        child = pulumi.ResourceOptions(parent=self)
        subject = k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SERVICE_ACCOUNT_NAME, namespace=namespace)
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-role", metadata=_metadata(None, labels), rules=CLUSTER_RULES, opts=child
        )
        cluster_binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-role-binding",
            metadata=_metadata(None, labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=cluster_role.metadata.apply(lambda m: m.name or SERVICE_ACCOUNT_NAME),
            ),
            subjects=[subject],
            opts=child,
        )
        namespace_role = k8s.rbac.v1.Role(
            f"{name}-namespace-role", metadata=_metadata(namespace, labels), rules=NAMESPACE_RULES, opts=child
        )
        namespace_binding = k8s.rbac.v1.RoleBinding(
            f"{name}-namespace-role-binding",
            metadata=_metadata(namespace, labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="Role",
                name=namespace_role.metadata.apply(lambda m: m.name or SERVICE_ACCOUNT_NAME),
            ),
            subjects=[subject],
            opts=child,
        )
        return [cluster_binding, namespace_binding]

    def _container(self, image: str, command: pulumi.Output[list[str]]) -> k8s.core.v1.ContainerArgs:
        """Return the autoscaler's container: its command, region, probes, resources and security context."""
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        health_check = k8s.core.v1.HTTPGetActionArgs(path="/health-check", port=METRICS_PORT, scheme="HTTP")
        return k8s.core.v1.ContainerArgs(
            name=APP,
            image=image,
            image_pull_policy="IfNotPresent",
            command=command,
            # Pods cannot read the region from instance metadata: IMDS answers the node only (hop limit 1).
            env=[k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=region)],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT, protocol="TCP")],
            # /health-check answers once the process serves, and fails when its loop has stalled or kept
            # failing for many minutes (--max-inactivity, --max-failing-time).
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=health_check, period_seconds=10, timeout_seconds=5),
            # Readiness gives `pulumi up` a real signal that the autoscaler started.
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=health_check, period_seconds=10, timeout_seconds=5),
            # Memory as upstream sizes it, limited to the request so that it is never the first pod
            # killed when a system node runs short; CPU may burst for the scale-down simulation.
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "600Mi"},
                limits={"cpu": "1", "memory": "600Mi"},
            ),
            # The image is distroless with CA certificates included: unlike the upstream example, no
            # host path is mounted, and nothing is written to disk.
            security_context=pod_security.restricted_container_security_context(),
            termination_message_policy="FallbackToLogsOnError",
        )

    def _network_policy(
        self, name: str, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str]
    ) -> None:
        """Create the NetworkPolicy that admits no inbound traffic to the autoscaler's pods."""
        # Nothing needs to connect to the autoscaler (the kubelet's probes come from its node, which
        # NetworkPolicies always admit); it only calls out, to the Kubernetes and AWS APIs.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=_metadata(namespace, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _deployment(
        self,
        name: str,
        namespace: str,
        labels: Mapping[str, str],
        selector: Mapping[str, str],
        *,
        service_account: k8s.core.v1.ServiceAccount,
        container: k8s.core.v1.ContainerArgs,
        cannot_pass: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource],
    ) -> None:
        """Create the one-replica Deployment of the autoscaler on the system pool; ``cannot_pass``: the scanner
        checks it cannot pass, with why (annotated on it)."""
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT_NAME,
                namespace=namespace,
                labels=labels,
                annotations=skip_annotations(cannot_pass) or None,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # One replica: the autoscaler elects a leader anyway, a second one would only wait. No
                # PodDisruptionBudget: with one replica it would have to allow zero disruptions and would
                # block every drain of its node; a restart elsewhere loses nothing (its state is
                # rebuilt from the cluster).
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # Never remove the node the autoscaler runs on itself (EKS's guidance).
                        annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account.metadata.apply(lambda m: m.name or SERVICE_ACCOUNT_NAME),
                        # It talks to the Kubernetes API.
                        automount_service_account_token=True,
                        enable_service_links=False,
                        # Scale-ups must not wait behind the workloads they are for.
                        priority_class_name="system-cluster-critical",
                        # On the always-on system nodes, never on a GPU pool it may scale to zero.
                        node_selector={SYSTEM_POOL_LABEL: SYSTEM_POOL_LABEL_VALUE},
                        security_context=pod_security.restricted_pod_security_context(),
                        containers=[container],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
