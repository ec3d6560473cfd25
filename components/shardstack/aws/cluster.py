"""Cluster: an EKS cluster for Shardstack, with its system node pool and a Kubernetes provider.

Usage::

    from shardstack.aws.cluster import Cluster

    cluster = Cluster("shardstack", {"vpc_id": network.vpc_id, "subnet_ids": network.private_subnet_ids})
    GpuEnablement("gpu", {}, opts=pulumi.ResourceOptions(providers=[cluster.provider]))

What it creates: the control plane (Kubernetes API private by default, secrets envelope-encrypted
with a KMS key of its own, control-plane logs kept ``log_retention_days``), access through EKS
access entries only (no aws-auth ConfigMap), a managed node group of CPU "system" nodes, the
vpc-cni, kube-proxy, coredns and eks-pod-identity-agent add-ons, and a Kubernetes provider whose
kubeconfig gets a token from ``aws eks get-token`` (the AWS CLI must be on the deployer's PATH).

Pods get AWS access through EKS Pod Identity (associations on ``cluster_name``), never through
the node role: the nodes' instance metadata service is out of reach of pods (hop limit 1).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from shardstack.aws.args import ClusterArgs, SystemPool
from shardstack.aws.specs import (
    CLUSTER,
    DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_LOG_TYPES,
    DEFAULT_SYSTEM_INSTANCE_TYPE,
    LOG_RETENTION_DAYS,
    LOG_TYPES,
    SYSTEM_AMI_TYPE,
)
from shardstack.aws.specs.kinds import EKS_CLUSTER_NAME
from shardstack.aws.tags import COMPONENT_TAG
from shardstack.errors import ArgumentError
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION
from shardstack.specs.problem import as_arguments
from shardstack.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES

TYPE_TOKEN = "shardstack:aws:Cluster"

__all__ = [
    "DEFAULT_LOG_RETENTION_DAYS",
    "DEFAULT_LOG_TYPES",
    "DEFAULT_SYSTEM_INSTANCE_TYPE",
    "LOG_RETENTION_DAYS",
    "LOG_TYPES",
    "SYSTEM_AMI_TYPE",
    "SYSTEM_POOL_LABEL",
    "SYSTEM_POOL_LABEL_VALUE",
    "Cluster",
    "ClusterArgs",
    "SystemPool",
    "validate_cluster_args",
]

SYSTEM_POOL_LABEL = "shardstack.dev/pool"
SYSTEM_POOL_LABEL_VALUE = "system"
ROOT_DEVICE_NAME = "/dev/xvda"
"""The root volume's device name on the EKS-optimised Amazon Linux 2023 AMIs."""

ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")
"""EKS managed add-ons, in creation order; coredns needs nodes and is created after the system pool."""

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
CLUSTER_ROLE_POLICIES: tuple[str, ...] = ("AmazonEKSClusterPolicy",)
NODE_ROLE_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",  # join the cluster; also lets the Pod Identity agent hand out credentials
    "AmazonEC2ContainerRegistryReadOnly",  # pull images from ECR
    "AmazonEKS_CNI_Policy",  # the VPC CNI assigns pod IPs from the node's ENIs
)
SECRETS_KEY_ACTIONS: tuple[str, ...] = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")
"""What the control plane does with the secrets key (the set terraform-aws-eks grants the cluster role)."""


def validate_cluster_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Cluster arguments (and its name, the EKS cluster's, when given), one line each."""
    problems = as_arguments(CLUSTER.check(args))
    if name is not None and (problem := cluster_name_problem(name)):
        problems.append(problem)
    return problems


def cluster_name_problem(name: str) -> str | None:
    """Why the component's name cannot name an EKS cluster, or None."""
    if EKS_CLUSTER_NAME.reason(name) is None:
        return None
    return (
        f"name={name!r} cannot name an EKS cluster: use at most 100 letters, digits, '-' and '_', starting with "
        "a letter or digit"
    )


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _secrets_key_policy(key_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(SECRETS_KEY_ACTIONS), "Resource": key_arn}],
        }
    )


def _kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """Return a kubeconfig that authenticates with ``aws eks get-token`` (no credential stored in it)."""
    # --output json, as `aws eks update-kubeconfig` writes it: with a user's default output format
    # (text, table) the CLI would not print an ExecCredential.
    token_args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": token_args,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


class Cluster(pulumi.ComponentResource):
    """Creates an EKS cluster with a system node group, managed add-ons and a Kubernetes provider.

    ``provider`` (a plain attribute, not an output) is the ``pulumi_kubernetes.Provider`` for the
    cluster: pass it to the Kubernetes components. It is ready once the system nodes and the
    add-ons are, so workloads never wait on a cluster without nodes or networking.
    """

    cluster_name: pulumi.Output[str]
    """EKS cluster name (the component's name); Pod Identity associations refer to it."""
    endpoint: pulumi.Output[str]
    """HTTPS URL of the Kubernetes API."""
    certificate_authority: pulumi.Output[str]
    """Base64-encoded certificate of the cluster's certificate authority."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (JSON) that gets a token with ``aws eks get-token``; a secret."""
    node_role_arn: pulumi.Output[str]
    """ARN of the IAM role of the nodes; GPU node pools reuse it."""
    node_role_name: pulumi.Output[str]
    """Name of the IAM role of the nodes."""
    cluster_security_group_id: pulumi.Output[str]
    """Security group EKS created for the control plane and the managed nodes."""
    oidc_issuer: pulumi.Output[str]
    """URL of the cluster's OIDC issuer (for IAM roles for service accounts)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_cluster_args(args, name=name)
        if problems:
            raise ArgumentError(f"Cluster {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = {**dict(args.get("tags", {})), COMPONENT_TAG: name}
        private = args.get("private_endpoint", True)
        pool: SystemPool = args.get("system_pool", {})
        partition = aws.get_partition_output(opts=invoke).partition

        def managed_policy(policy: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy)

        # Secrets get a key of their own, so access to them can be audited and revoked apart from
        # everything else. No key policy is given: AWS's default one lets the account's IAM policies
        # govern the key, which is what lets the cluster role's policy below (and the deployer's
        # kms:CreateGrant, used by EKS when it creates the cluster) take effect.
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of the Kubernetes secrets of EKS cluster {name}",
            enable_key_rotation=True,
            # The longest wait AWS allows: a key deleted by mistake makes every secret unreadable.
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            description=f"EKS control plane of cluster {name}",
            assume_role_policy=_assume_role_policy("eks.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        cluster_role_attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-{policy}", role=cluster_role.id, policy_arn=managed_policy(policy), opts=child
            )
            for policy in CLUSTER_ROLE_POLICIES
        ]
        secrets_key_access = aws.iam.RolePolicy(
            f"{name}-cluster-secrets-key",
            role=cluster_role.id,
            policy=secrets_key.arn.apply(_secrets_key_policy),
            opts=child,
        )

        node_role = aws.iam.Role(
            f"{name}-node-role",
            description=f"Nodes of EKS cluster {name}; pods get AWS access through Pod Identity instead",
            assume_role_policy=_assume_role_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        node_role_attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.id, policy_arn=managed_policy(policy), opts=child
            )
            for policy in NODE_ROLE_POLICIES
        ]

        # EKS writes control-plane logs to this group; created first, or EKS makes one that never expires.
        # CloudWatch encrypts it at rest with its own key (using ours would open the key to the logs service).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{name}/cluster",
            retention_in_days=args.get("log_retention_days", DEFAULT_LOG_RETENTION_DAYS),
            tags=tags,
            opts=child,
        )

        # EKS's own cluster security group admits only the cluster's nodes; this one lets the rest of
        # the VPC (a bastion, a VPN endpoint, a CI runner) reach the private API endpoint.
        vpc = aws.ec2.get_vpc_output(id=args["vpc_id"], opts=invoke)
        api_access = aws.ec2.SecurityGroup(
            f"{name}-api-access",
            description=f"Kubernetes API of EKS cluster {name}, from inside its VPC",
            vpc_id=args["vpc_id"],
            tags=tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-vpc",
            security_group_id=api_access.id,
            description="HTTPS to the Kubernetes API from the VPC",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=vpc.cidr_block,
            tags=tags,
            opts=child,
        )

        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            # A fixed name: the log group above must carry it before the cluster exists.
            name=name,
            role_arn=cluster_role.arn,
            version=args.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION),
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args["subnet_ids"],
                security_group_ids=[api_access.id],
                # Nodes and in-VPC clients always use the private endpoint, even when a public one exists.
                endpoint_private_access=True,
                endpoint_public_access=not private,
                public_access_cidrs=None if private else list(args.get("authorized_networks", [])),
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                # Access entries only: who may do what is an AWS API resource, not an editable ConfigMap.
                authentication_mode="API",
                # The deployer needs admin to create the Kubernetes objects in the same `pulumi up`.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(args.get("log_types", DEFAULT_LOG_TYPES)),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[log_group, secrets_key_access, *cluster_role_attachments]
            ),
        )

        for arn in args.get("admin_role_arns", []):
            principal = arn.rsplit("/", 1)[-1]
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{principal}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                tags=tags,
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{principal}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=pulumi.Output.concat(
                    "arn:", partition, ":eks::aws:cluster-access-policy/", CLUSTER_ADMIN_POLICY
                ),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )

        def addon(addon_name: str, depends_on: Sequence[pulumi.Resource] = ()) -> aws.eks.Addon:
            # No addon_version: EKS installs its default for the cluster's Kubernetes version.
            # OVERWRITE takes over the copies EKS installs itself when it creates the cluster.
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

        # DaemonSets become healthy without nodes; the nodes then start with the managed CNI's settings.
        node_addons = [addon(a) for a in ADDONS if a != "coredns"]

        disk_size_gib = pool.get("disk_size_gib", DEFAULT_DISK_SIZE_GIB)
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-system",
            description=f"System nodes of EKS cluster {name}",
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE_NAME,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                # IMDSv2 only, and one hop: the node's credentials stay out of reach of pods,
                # which get theirs from Pod Identity.
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            update_default_version=True,
            tags=tags,
            opts=child,
        )

        min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
        system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=args["subnet_ids"],
            # Follows the control plane, so that an upgrade of the cluster upgrades its nodes after it.
            version=cluster.version,
            ami_type=SYSTEM_AMI_TYPE,
            capacity_type="ON_DEMAND",
            instance_types=[pool.get("instance_type", DEFAULT_SYSTEM_INSTANCE_TYPE)],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=min_nodes,
                desired_size=min_nodes,
                max_size=pool.get("max_nodes", DEFAULT_MAX_NODES),
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            labels={SYSTEM_POOL_LABEL: SYSTEM_POOL_LABEL_VALUE},
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The node role must keep its policies while nodes exist, on create and on delete.
                depends_on=[*node_role_attachments, *node_addons],
                # An autoscaler owns the node count once the pool exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        coredns = addon("coredns", depends_on=[system_nodes])

        region = aws.get_region_output(opts=invoke).region
        certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, certificate_authority, region).apply(
                lambda values: _kubeconfig(*values)
            )
        )
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[system_nodes, *node_addons, coredns]),
        )

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = certificate_authority
        self.node_role_arn = node_role.arn
        self.node_role_name = node_role.id  # an IAM role's id is its name
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id or "")
        self.oidc_issuer = cluster.identities.apply(
            lambda identities: next((o.issuer or "" for i in identities for o in (i.oidcs or [])), "")
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "kubeconfig": self.kubeconfig,
                "node_role_arn": self.node_role_arn,
                "node_role_name": self.node_role_name,
                "cluster_security_group_id": self.cluster_security_group_id,
                "oidc_issuer": self.oidc_issuer,
            }
        )
