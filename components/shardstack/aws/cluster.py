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

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from shardstack.aws import cluster_roles
from shardstack.aws.args import ClusterArgs, SystemPool

# The policy constants are re-exported: they were defined here before the roles moved to their own module.
from shardstack.aws.cluster_roles import CLUSTER_ROLE_POLICIES as CLUSTER_ROLE_POLICIES
from shardstack.aws.cluster_roles import NODE_ROLE_POLICIES as NODE_ROLE_POLICIES
from shardstack.aws.cluster_roles import SECRETS_KEY_ACTIONS as SECRETS_KEY_ACTIONS
from shardstack.aws.kubeconfig import eks_kubeconfig
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


class Cluster(pulumi.ComponentResource):
    """Creates an EKS cluster with a system node group, managed add-ons and a Kubernetes provider.

    ``provider`` (a plain attribute, not an output) is the ``pulumi_kubernetes.Provider`` for the
    cluster: pass it to the Kubernetes components. It is ready once the system nodes and the
    add-ons are, so workloads never wait on a cluster without nodes or networking.
    """

    cluster_name: pulumi.Output[str]
    """EKS cluster name (the component's name); Pod Identity associations refer to it."""
    cluster_arn: pulumi.Output[str]
    """ARN of the EKS cluster (Amazon Managed Service for Prometheus' scraper refers to it)."""
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
        invoke = pulumi.InvokeOutputOptions(parent=self)
        tags = {**dict(args.get("tags", {})), COMPONENT_TAG: name}
        pool: SystemPool = args.get("system_pool", {})
        partition = aws.get_partition_output(opts=invoke).partition

        secrets_key = self._secrets_key(name, tags)
        cluster_role = cluster_roles.cluster_role(name, tags, partition, secrets_key, parent=self)
        node_role, node_role_attachments = cluster_roles.node_role(name, tags, partition, parent=self)
        log_group = self._log_group(name, args, tags)
        api_access = self._api_access(name, args, tags)
        cluster = self._control_plane(
            name,
            args,
            tags,
            role=cluster_role,
            secrets_key=secrets_key,
            api_access=api_access,
            depends_on=[log_group, cluster_role.secrets_key_access, *cluster_role.attachments],
        )
        self._admin_access(name, args, tags, cluster, partition)

        # DaemonSets become healthy without nodes; the nodes then start with the managed CNI's settings.
        node_addons = [self._addon(name, cluster, a, tags) for a in ADDONS if a != "coredns"]
        launch_template = self._system_launch_template(name, pool, tags)
        system_nodes = self._system_nodes(
            name,
            args,
            pool,
            tags,
            cluster=cluster,
            node_role=node_role,
            launch_template=launch_template,
            # The node role must keep its policies while nodes exist, on create and on delete.
            depends_on=[*node_role_attachments, *node_addons],
        )
        coredns = self._addon(name, cluster, "coredns", tags, depends_on=[system_nodes])

        region = aws.get_region_output(opts=invoke).region
        certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, certificate_authority, region).apply(
                lambda values: eks_kubeconfig(*values)
            )
        )
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[system_nodes, *node_addons, coredns]),
        )

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
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
                "cluster_arn": self.cluster_arn,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "kubeconfig": self.kubeconfig,
                "node_role_arn": self.node_role_arn,
                "node_role_name": self.node_role_name,
                "cluster_security_group_id": self.cluster_security_group_id,
                "oidc_issuer": self.oidc_issuer,
            }
        )

    def _secrets_key(self, name: str, tags: Mapping[str, str]) -> aws.kms.Key:
        """Create the KMS key that envelope-encrypts the cluster's Kubernetes secrets."""
        # Secrets get a key of their own, so access to them can be audited and revoked apart from
        # everything else. No key policy is given: AWS's default one lets the account's IAM policies
        # govern the key, which is what lets the cluster role's policy (and the deployer's
        # kms:CreateGrant, used by EKS when it creates the cluster) take effect.
        return aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of the Kubernetes secrets of EKS cluster {name}",
            enable_key_rotation=True,
            # The longest wait AWS allows: a key deleted by mistake makes every secret unreadable.
            deletion_window_in_days=30,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _log_group(self, name: str, args: ClusterArgs, tags: Mapping[str, str]) -> aws.cloudwatch.LogGroup:
        """Create the CloudWatch log group of the control-plane logs."""
        # EKS writes control-plane logs to this group; created first, or EKS makes one that never expires.
        # CloudWatch encrypts it at rest with its own key (using ours would open the key to the logs service).
        return aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{name}/cluster",
            retention_in_days=args.get("log_retention_days", DEFAULT_LOG_RETENTION_DAYS),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _api_access(self, name: str, args: ClusterArgs, tags: Mapping[str, str]) -> aws.ec2.SecurityGroup:
        """Create the security group that admits HTTPS to the Kubernetes API from the whole VPC."""
        child = pulumi.ResourceOptions(parent=self)
        # EKS's own cluster security group admits only the cluster's nodes; this one lets the rest of
        # the VPC (a bastion, a VPN endpoint, a CI runner) reach the private API endpoint.
        vpc = aws.ec2.get_vpc_output(id=args["vpc_id"], opts=pulumi.InvokeOutputOptions(parent=self))
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
        return api_access

    def _control_plane(
        self,
        name: str,
        args: ClusterArgs,
        tags: Mapping[str, str],
        *,
        role: cluster_roles.ClusterRole,
        secrets_key: aws.kms.Key,
        api_access: aws.ec2.SecurityGroup,
        depends_on: Sequence[pulumi.Resource],
    ) -> aws.eks.Cluster:
        """Create the EKS control plane: its endpoints, access mode, secrets encryption and logs."""
        private = args.get("private_endpoint", True)
        return aws.eks.Cluster(
            f"{name}-cluster",
            # A fixed name: the log group must carry it before the cluster exists.
            name=name,
            role_arn=role.role.arn,
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _admin_access(
        self,
        name: str,
        args: ClusterArgs,
        tags: Mapping[str, str],
        cluster: aws.eks.Cluster,
        partition: pulumi.Output[str],
    ) -> None:
        """Create an access entry with cluster-admin rights for each of ``admin_role_arns``."""
        child = pulumi.ResourceOptions(parent=self)
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

    def _addon(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        addon_name: str,
        tags: Mapping[str, str],
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> aws.eks.Addon:
        """Create the EKS managed add-on ``addon_name``, at EKS's default version for the cluster."""
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

    def _system_launch_template(self, name: str, pool: SystemPool, tags: Mapping[str, str]) -> aws.ec2.LaunchTemplate:
        """Create the system nodes' launch template: encrypted gp3 root volume, IMDSv2 with one hop."""
        return aws.ec2.LaunchTemplate(
            f"{name}-system",
            description=f"System nodes of EKS cluster {name}",
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE_NAME,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.get("disk_size_gib", DEFAULT_DISK_SIZE_GIB),
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
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _system_nodes(
        self,
        name: str,
        args: ClusterArgs,
        pool: SystemPool,
        tags: Mapping[str, str],
        *,
        cluster: aws.eks.Cluster,
        node_role: aws.iam.Role,
        launch_template: aws.ec2.LaunchTemplate,
        depends_on: Sequence[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        """Create the managed node group of on-demand CPU "system" nodes, labelled as the system pool."""
        min_nodes = pool.get("min_nodes", DEFAULT_MIN_NODES)
        return aws.eks.NodeGroup(
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
                depends_on=list(depends_on),
                # An autoscaler owns the node count once the pool exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
