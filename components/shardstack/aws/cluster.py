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
import re
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from shardstack import catalog
from shardstack.api_access import api_access_problems
from shardstack.aws.tags import COMPONENT_TAG, tag_problems
from shardstack.errors import ArgumentError, did_you_mean, one_of
from shardstack.kubernetes_versions import DEFAULT_KUBERNETES_VERSION, kubernetes_version_problem
from shardstack.system_pool import DEFAULT_DISK_SIZE_GIB, DEFAULT_MAX_NODES, DEFAULT_MIN_NODES, system_pool_problems

TYPE_TOKEN = "shardstack:aws:Cluster"


LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log EKS can send to CloudWatch."""
DEFAULT_LOG_TYPES = LOG_TYPES
DEFAULT_LOG_RETENTION_DAYS = 90
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""Retention periods CloudWatch Logs accepts (0, "never expire", is left out on purpose)."""

DEFAULT_SYSTEM_INSTANCE_TYPE = "m6i.large"
"""2 vCPU, 8 GiB, x86_64: room for CoreDNS, the add-ons' controllers and Shardstack's own services."""
"""AL2023's root volume plus the images of the system pods do not fit on less."""

SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
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


_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]*$")
_MAX_CLUSTER_NAME_LENGTH = 100
_INSTANCE_TYPE = re.compile(r"^([a-z][a-z0-9-]*)\.([a-z0-9]+)$")
# Graviton families carry a "g" right after the generation digit: m7g, c6gn, r8gd, t4g, g5g.
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]+$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]+$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/([\w+=,.@/-]*/)?([\w+=,.@-]+)$")


class SystemPool(TypedDict, total=False):
    """The managed node group of CPU nodes that runs cluster services (no GPUs)."""

    instance_type: str
    """EC2 instance type, x86_64 without GPUs. Default: 'm6i.large'."""
    min_nodes: int
    """Fewest nodes, ≥ 1 (CoreDNS and the controllers need somewhere to run). Default: 1."""
    max_nodes: int
    """Most nodes, ≥ min_nodes. Default: 3."""
    disk_size_gib: int
    """Root volume per node (gp3, encrypted), GiB, ≥ 20. Default: 50."""


class ClusterArgs(TypedDict, total=False):
    """Arguments of Cluster."""

    subnet_ids: Required[pulumi.Input[Sequence[str]]]
    """Private subnets, in at least two availability zones, for the control plane's network
    interfaces and the system nodes. Required; at least 2."""
    vpc_id: Required[pulumi.Input[str]]
    """The VPC of ``subnet_ids``: clients in it (a bastion, a VPN, a CI runner) may reach the
    Kubernetes API's private endpoint on port 443. Required."""
    kubernetes_version: str
    """Kubernetes minor version, '1.30' to '1.34'; EKS picks the patch release. Default: '1.33'."""
    private_endpoint: bool
    """Reach the Kubernetes API only from inside the cluster's VPC. When False the API also gets a
    public endpoint, open to ``authorized_networks`` only. Default: True."""
    authorized_networks: Sequence[str]
    """CIDR blocks allowed to reach the public Kubernetes API endpoint, e.g. ['203.0.113.0/24'].
    Required when private_endpoint is False, unused otherwise; 0.0.0.0/0 is refused. Default: none."""
    admin_role_arns: Sequence[str]
    """IAM role or user ARNs given cluster-admin through EKS access entries. The identity that runs
    ``pulumi up`` is made admin when the cluster is created: do not list it. Default: none."""
    system_pool: SystemPool
    """The CPU node group for cluster services. Default: 1 to 3 m6i.large nodes with 50 GiB disks."""
    log_types: Sequence[str]
    """Control-plane logs sent to CloudWatch: any of 'api', 'audit', 'authenticator',
    'controllerManager', 'scheduler'. Default: all five."""
    log_retention_days: int
    """Days CloudWatch keeps the control-plane logs, one of the periods CloudWatch accepts
    (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653). Default: 90."""
    tags: Mapping[str, str]
    """AWS tags added to every resource, next to ``shardstack:component: <name>``. Default: none."""


def validate_cluster_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Cluster arguments, one line each."""
    problems: list[str] = []
    known = ClusterArgs.__annotations__
    for key in sorted(set(args) - set(known)):
        problems.append(f"unknown argument {key!r}{did_you_mean(key, known)}")
    if name is not None and (not _CLUSTER_NAME.match(name) or len(name) > _MAX_CLUSTER_NAME_LENGTH):
        problems.append(
            f"name={name!r} cannot name an EKS cluster: use at most {_MAX_CLUSTER_NAME_LENGTH} letters, "
            "digits, '-' and '_', starting with a letter or digit"
        )
    problems.extend(_network_problems(args))
    problems.extend(_version_problems(args))
    problems.extend(api_access_problems(args))
    problems.extend(_admin_problems(args.get("admin_role_arns")))
    problems.extend(_system_pool_problems(args.get("system_pool")))
    problems.extend(_log_problems(args))
    problems.extend(tag_problems(args.get("tags")))
    return problems


def _is_plain_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _network_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "vpc_id" not in args:
        problems.append("vpc_id is required: the ID of the VPC the cluster's subnets are in, e.g. 'vpc-0abc123'")
    elif isinstance(args["vpc_id"], str) and not _VPC_ID.match(args["vpc_id"]):
        problems.append(f"vpc_id={args['vpc_id']!r} is not a VPC ID like 'vpc-0abc123'")
    if "subnet_ids" not in args:
        problems.append("subnet_ids is required: at least 2 private subnets in different availability zones")
        return problems
    subnets = args["subnet_ids"]
    if isinstance(subnets, str | Mapping):
        problems.append(f"subnet_ids must be a list of subnet IDs; got {subnets!r}")
    elif _is_plain_list(subnets):
        if len(subnets) < 2:
            problems.append(
                f"subnet_ids={list(subnets)!r} has {len(subnets)}; EKS needs at least 2 subnets in "
                "different availability zones"
            )
        for i, subnet in enumerate(subnets):
            if isinstance(subnet, str) and not _SUBNET_ID.match(subnet):
                problems.append(f"subnet_ids[{i}]={subnet!r} is not a subnet ID like 'subnet-0abc123'")
        plain = [s for s in subnets if isinstance(s, str)]
        for subnet in sorted({s for s in plain if plain.count(s) > 1}):
            problems.append(f"subnet_ids lists {subnet!r} more than once")
    return problems


def _version_problems(args: Mapping[str, Any]) -> list[str]:
    if "kubernetes_version" not in args:
        return []
    problem = kubernetes_version_problem(args["kubernetes_version"], "EKS")
    return [problem] if problem else []


def _admin_problems(arns: Any) -> list[str]:
    if arns is None:
        return []
    if not _is_plain_list(arns):
        return [f"admin_role_arns must be a list of IAM role or user ARNs; got {arns!r}"]
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, arn in enumerate(arns):
        match = _PRINCIPAL_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            problems.append(
                f"admin_role_arns[{i}]={arn!r} is not an IAM role or user ARN like "
                "'arn:aws:iam::123456789012:role/platform-admin'"
            )
            continue
        # The principal's name names the access entry, so it must be unique among the admins.
        principal = match.group(4)
        if principal in seen:
            problems.append(
                f"admin_role_arns[{i}]={arn!r} has the same role or user name as admin_role_arns[{seen[principal]}]"
            )
        seen.setdefault(principal, i)
    return problems


def _instance_type_problem(instance_type: Any) -> str | None:
    match = _INSTANCE_TYPE.match(instance_type) if isinstance(instance_type, str) else None
    if match is None:
        return (
            f"system_pool['instance_type']={instance_type!r} is not an EC2 instance type like "
            f"{DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    if instance_type in _gpu_instance_types():
        return (
            f"system_pool['instance_type']={instance_type!r} has GPUs; the system pool runs cluster services "
            f"on CPU nodes: use a type like {DEFAULT_SYSTEM_INSTANCE_TYPE!r} and a GPU node pool for GPUs"
        )
    if _ARM_FAMILY.match(match.group(1)):
        return (
            f"system_pool['instance_type']={instance_type!r} is an Arm (Graviton) type; the system pool "
            f"uses the x86_64 AMI ({SYSTEM_AMI_TYPE}): use a type like {DEFAULT_SYSTEM_INSTANCE_TYPE!r}"
        )
    return None


def _system_pool_problems(pool: Any) -> list[str]:
    return system_pool_problems(pool, SystemPool.__annotations__, DEFAULT_SYSTEM_INSTANCE_TYPE,
                                _instance_type_problem)


def _gpu_instance_types() -> set[str]:
    return {o.instance_type for model in catalog.GPUS.values() for o in model.offers_on("aws")}


def _log_problems(args: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    log_types = args.get("log_types", DEFAULT_LOG_TYPES)
    if not _is_plain_list(log_types):
        problems.append(f"log_types must be a list of control-plane log types; got {log_types!r}")
    else:
        for i, log_type in enumerate(log_types):
            if log_type not in LOG_TYPES:
                problems.append(
                    f"log_types[{i}]={log_type!r} is not a control-plane log type; use {one_of(LOG_TYPES)}"
                    f"{did_you_mean(str(log_type), LOG_TYPES)}"
                )
        for log_type in sorted({t for t in log_types if isinstance(t, str) and list(log_types).count(t) > 1}):
            problems.append(f"log_types lists {log_type!r} more than once")
    retention = args.get("log_retention_days", DEFAULT_LOG_RETENTION_DAYS)
    if isinstance(retention, bool) or retention not in LOG_RETENTION_DAYS:
        problems.append(
            f"log_retention_days={retention!r} is not a retention period CloudWatch accepts; use one of "
            f"{', '.join(str(d) for d in LOG_RETENTION_DAYS)}"
        )
    return problems


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
