"""The rules of the Shardstack policy pack: what Shardstack does by default, enforced on any Pulumi program.

Each policy is configurable as CrossGuard allows (``pulumi up --policy-pack policy --policy-pack-config FILE``, or
``shardstack plan STACK --policy policy --policy-config FILE`` offline): its enforcement level, and the parameters
its ``config_schema`` declares. Messages name the resource, the property and what is expected.

Resource policies see a resource's inputs; stack policies see every resource of the stack, for the rules that span
resources (an S3 bucket's encryption, versioning and public access block are resources of their own, each
depending on the bucket). Values are the engine's property names (camelCase).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from shardstack.catalog import GPUS, PRICES_AS_OF
from shardstack.cidr import INTERNET_SHARE, internet_coverage
from shardstack.k8s.specs import GPU_ENABLEMENT_NAMESPACE

Report = Callable[..., None]
"""The SDK's ``ReportViolation``: ``report(message)``, or ``report(message, urn)`` from a stack policy."""

# --- the resource types the rules read ---------------------------------------------------------------------------

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
BUCKETS = (S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET, STORAGE_ACCOUNT)

EKS_CLUSTER = "aws:eks/cluster:Cluster"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
AKS_AGENT_POOL = "azure-native:containerservice:AgentPool"

REGION = re.compile(r"[a-z]+-[a-z]+\d+")
"""A GCP region (us-central1); a zone has a suffix (us-central1-a)."""
REGION_ZONES = 3
"""The zones GKE spreads a regional node pool over when it names none."""

PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")

# --- helpers -----------------------------------------------------------------------------------------------------


def _get(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``, or None where a step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _depending_on(resources: Iterable[PolicyResource], types: Iterable[str], owner: PolicyResource) -> list[Any]:
    """The props of the resources of ``types`` that depend on ``owner`` (a bucket's configuration resources)."""
    wanted = set(types)
    return [r.props for r in resources if r.resource_type in wanted and owner in r.dependencies]


def _gpu_offers(cloud: str) -> dict[str, Any]:
    """The catalogue's GPU instance types on ``cloud``, by instance type: their offers (GPU count, price)."""
    return {o.instance_type: o for gpu in GPUS.values() for o in gpu.offers_on(cloud)}  # type: ignore[arg-type]


AWS_GPU, GCP_GPU, AZURE_GPU = _gpu_offers("aws"), _gpu_offers("gcp"), _gpu_offers("azure")


def _gpu_pool(resource_type: str, props: Mapping[str, Any]) -> tuple[str, Any, int | None] | None:
    """``(instance type, its catalogue offer, the pool's most nodes)`` for a pool of GPU nodes, else None.

    The most nodes is None when the pool sets no bound (an autoscaled pool without a maximum).
    """
    if resource_type == EKS_NODE_GROUP:
        types = [t for t in props.get("instanceTypes") or [] if t in AWS_GPU]
        if not types:
            return None
        return types[0], AWS_GPU[types[0]], _get(props, "scalingConfig", "maxSize")
    if resource_type == GKE_NODE_POOL:
        machine = str(_get(props, "nodeConfig", "machineType"))
        # n1 machine types carry GPUs only when guestAccelerators attach them; a2/a3/g2 types come with theirs.
        built_in = machine in GCP_GPU and not machine.startswith("n1-")
        if not built_in and not _get(props, "nodeConfig", "guestAccelerators"):
            return None
        # Counts are per zone, except the totals; a regional pool without nodeLocations spans the region's zones.
        regional = REGION.fullmatch(str(props.get("location") or "")) is not None
        zones = len(props.get("nodeLocations") or []) or (REGION_ZONES if regional else 1)
        autoscaling = props.get("autoscaling")
        if isinstance(autoscaling, Mapping):
            total, per_zone = autoscaling.get("totalMaxNodeCount"), autoscaling.get("maxNodeCount")
            most = total if total is not None else (per_zone * zones if per_zone is not None else None)
        else:
            fixed = props.get("nodeCount") if props.get("nodeCount") is not None else props.get("initialNodeCount")
            most = fixed * zones if fixed is not None else None
        return machine, GCP_GPU.get(machine), most
    if resource_type == AKS_AGENT_POOL:
        size = props.get("vmSize")
        if size not in AZURE_GPU:
            return None
        return (
            str(size),
            AZURE_GPU[size],
            props.get("maxCount") if props.get("enableAutoScaling") else props.get("count"),
        )
    return None


# --- weight buckets ----------------------------------------------------------------------------------------------


def _buckets_private(args: StackValidationArgs, report: Report) -> None:
    for bucket in args.resources:
        props = bucket.props
        if bucket.resource_type in (S3_BUCKET, S3_BUCKET_V2):
            if props.get("acl") in PUBLIC_ACLS:
                report(f"{bucket.name}: acl is {props.get('acl')!r}; expected private", bucket.urn)
            flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            blocks = _depending_on(args.resources, [S3_PUBLIC_ACCESS_BLOCK], bucket)
            if not any(all(block.get(flag) is True for flag in flags) for block in blocks):
                report(f"{bucket.name}: no BucketPublicAccessBlock with {', '.join(flags)} all true", bucket.urn)
        elif bucket.resource_type == GCS_BUCKET and props.get("publicAccessPrevention") != "enforced":
            report(
                f"{bucket.name}: publicAccessPrevention is {props.get('publicAccessPrevention')!r}; expected "
                "'enforced'",
                bucket.urn,
            )
        elif bucket.resource_type == STORAGE_ACCOUNT and props.get("allowBlobPublicAccess") is not False:
            report(
                f"{bucket.name}: allowBlobPublicAccess is {props.get('allowBlobPublicAccess')!r}; expected false",
                bucket.urn,
            )


def _buckets_encrypted(args: StackValidationArgs, report: Report) -> None:
    customer_keys = bool(args.get_config().get("requireCustomerManagedKeys"))
    for bucket in args.resources:
        props = bucket.props
        if bucket.resource_type in (S3_BUCKET, S3_BUCKET_V2):
            configs = _depending_on(args.resources, S3_ENCRYPTION, bucket)
            defaults = [
                rule.get("applyServerSideEncryptionByDefault") or {}
                for config in configs
                for rule in config.get("rules") or []
            ]
            if not defaults:
                report(f"{bucket.name}: no BucketServerSideEncryptionConfiguration for it", bucket.urn)
            elif customer_keys and not any(
                str(d.get("sseAlgorithm")).startswith("aws:kms") and d.get("kmsMasterKeyId") for d in defaults
            ):
                # aws:kms without a key id is AWS's own aws/s3 key, not a customer key.
                report(f"{bucket.name}: no rule uses aws:kms with a kmsMasterKeyId (a customer key)", bucket.urn)
        elif (
            bucket.resource_type == GCS_BUCKET and customer_keys and not _get(props, "encryption", "defaultKmsKeyName")
        ):
            report(f"{bucket.name}: encryption.defaultKmsKeyName is not set; a customer key is required", bucket.urn)
        elif bucket.resource_type == STORAGE_ACCOUNT and customer_keys:
            source = _get(props, "encryption", "keySource")
            if str(source).casefold() != "microsoft.keyvault":  # the API takes it in any case
                report(f"{bucket.name}: encryption.keySource is {source!r}; expected 'Microsoft.Keyvault'", bucket.urn)


def _buckets_versioned(args: StackValidationArgs, report: Report) -> None:
    for bucket in args.resources:
        props = bucket.props
        if bucket.resource_type in (S3_BUCKET, S3_BUCKET_V2):
            versioning = _depending_on(args.resources, S3_VERSIONING, bucket)
            if not any(_get(v, "versioningConfiguration", "status") == "Enabled" for v in versioning):
                report(f"{bucket.name}: no BucketVersioning with status 'Enabled' for it", bucket.urn)
        elif bucket.resource_type == GCS_BUCKET and _get(props, "versioning", "enabled") is not True:
            report(f"{bucket.name}: versioning.enabled is not true", bucket.urn)
        elif bucket.resource_type == STORAGE_ACCOUNT:
            services = _depending_on(args.resources, [BLOB_SERVICE], bucket)
            if not any(service.get("isVersioningEnabled") is True for service in services):
                report(f"{bucket.name}: no BlobServiceProperties with isVersioningEnabled true for it", bucket.urn)


WORKSPACE_STORAGE = "shardstack:azure:MlOnlineEndpoint$"
"""In the URN of the storage an Azure ML workspace requires, which holds the workspace's own records, not weights:
deleting it with its workspace is what `pulumi destroy` should do."""


def _buckets_protected(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type in BUCKETS and not args.opts.protect and WORKSPACE_STORAGE not in args.urn:
        report(f"{args.name}: protect is not set; a `pulumi destroy` or a replacement would delete the weights")


# --- the Kubernetes API and the nodes -----------------------------------------------------------------------------


def _api_access(resource_type: str, props: Mapping[str, Any]) -> tuple[bool, list[Any], str, str] | None:
    """A managed cluster's API access: (private, the blocks admitted, where they are set, how to make it private)."""
    if resource_type == EKS_CLUSTER:
        vpc = props.get("vpcConfig") or {}
        cidrs = list(vpc.get("publicAccessCidrs") or [])
        private = vpc.get("endpointPublicAccess") is False
        return private, cidrs, "vpcConfig.publicAccessCidrs", "turn off vpcConfig.endpointPublicAccess"
    if resource_type == GKE_CLUSTER:
        private = _get(props, "privateClusterConfig", "enablePrivateEndpoint") is True
        blocks = [b.get("cidrBlock") for b in _get(props, "masterAuthorizedNetworksConfig", "cidrBlocks") or []]
        return private, blocks, "masterAuthorizedNetworksConfig.cidrBlocks", "set enablePrivateEndpoint"
    if resource_type == AKS_CLUSTER:
        access = props.get("apiServerAccessProfile") or {}
        ranges = list(access.get("authorizedIPRanges") or [])
        private = access.get("enablePrivateCluster") is True
        return private, ranges, "apiServerAccessProfile.authorizedIPRanges", "set enablePrivateCluster"
    return None


def _api_not_open(args: ResourceValidationArgs, report: Report) -> None:
    access = _api_access(args.resource_type, args.props)
    if access is None:
        return
    private, blocks, where, instead = access
    if not private and (not blocks or internet_coverage(blocks)):
        coverage = internet_coverage(blocks)
        report(
            f"{args.name}: the Kubernetes API is public and {where} is {blocks!r}"
            f"{f' (they admit {coverage})' if coverage else ''}; list the networks that need it, or {instead}"
        )


def _aws_imdsv2(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    options = args.props.get("metadataOptions") or {}
    most = args.get_config().get("maxHopLimit", 1)
    if options.get("httpTokens") != "required":
        report(f"{args.name}: metadataOptions.httpTokens is {options.get('httpTokens')!r}; expected 'required'")
    hops = options.get("httpPutResponseHopLimit")
    if options.get("httpEndpoint") != "disabled" and (hops is None or hops > most):
        report(
            f"{args.name}: metadataOptions.httpPutResponseHopLimit is {hops!r}; expected at most {most}, so that "
            "pods cannot reach the node's credentials"
        )


def _gcp_workload_identity(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in (GKE_CLUSTER, GKE_NODE_POOL):
        return
    props = args.props
    if args.resource_type == GKE_CLUSTER and not _get(props, "workloadIdentityConfig", "workloadPool"):
        report(f"{args.name}: workloadIdentityConfig.workloadPool is not set; pods would use the nodes' identity")
    mode = _get(props, "nodeConfig", "workloadMetadataConfig", "mode")
    if mode != "GKE_METADATA" and (args.resource_type == GKE_NODE_POOL or _get(props, "nodeConfig")):
        report(f"{args.name}: nodeConfig.workloadMetadataConfig.mode is {mode!r}; expected 'GKE_METADATA'")


def _azure_no_local_accounts(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == AKS_CLUSTER and args.props.get("disableLocalAccounts") is not True:
        report(f"{args.name}: disableLocalAccounts is {args.props.get('disableLocalAccounts')!r}; expected true")


# --- pods --------------------------------------------------------------------------------------------------------

POD_TEMPLATES: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "kubernetes:core/v1:Pod": (("spec",),),
    "kubernetes:apps/v1:Deployment": (("spec", "template", "spec"),),
    "kubernetes:apps/v1:StatefulSet": (("spec", "template", "spec"),),
    "kubernetes:apps/v1:DaemonSet": (("spec", "template", "spec"),),
    "kubernetes:apps/v1:ReplicaSet": (("spec", "template", "spec"),),
    "kubernetes:batch/v1:Job": (("spec", "template", "spec"),),
    "kubernetes:batch/v1:CronJob": (("spec", "jobTemplate", "spec", "template", "spec"),),
    "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet": (
        ("spec", "leaderWorkerTemplate", "leaderTemplate", "spec"),
        ("spec", "leaderWorkerTemplate", "workerTemplate", "spec"),
    ),
}
"""Where each workload kind keeps its pod spec (or specs)."""

EXEMPT_NAMESPACES = ["kube-system", GPU_ENABLEMENT_NAMESPACE]
"""The namespaces of node add-ons that need the host (the GPU device plugin mounts the kubelet's socket directory):
Kubernetes' own, and the one Shardstack's GpuEnablement makes, labelled to enforce the 'privileged' profile."""

RESTRICTED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret")  # fmt: skip
"""The volume types the 'restricted' Pod Security Standard allows."""


def _restricted_problems(pod: Mapping[str, Any]) -> list[str]:
    """Where ``pod`` breaks the 'restricted' Pod Security Standard, each naming the field."""
    problems = [f"spec.{f} is true" for f in ("hostNetwork", "hostPID", "hostIPC") if pod.get(f) is True]
    for volume in pod.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        if not set(kinds) <= set(RESTRICTED_VOLUMES):
            problems.append(f"volume {volume.get('name')!r} is {kinds}; allowed: {', '.join(RESTRICTED_VOLUMES)}")
    pod_context = pod.get("securityContext") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    for container in containers:
        where = f"container {container.get('name')!r}"
        context = container.get("securityContext") or {}
        if context.get("privileged") is True:
            problems.append(f"{where}: securityContext.privileged is true")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: securityContext.allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: securityContext.capabilities.drop does not include ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: securityContext.capabilities.add is {capabilities.get('add')}")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot is not true (in its or the pod's securityContext)")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{where}: runAsUser is 0")
        seccomp = _get(context, "seccompProfile", "type") or _get(pod_context, "seccompProfile", "type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile.type is {seccomp!r}; expected RuntimeDefault or Localhost")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{where}: a port sets hostPort")
    return problems


def _pods_restricted(args: ResourceValidationArgs, report: Report) -> None:
    namespace = _get(args.props, "metadata", "namespace") or "default"
    if namespace in (args.get_config().get("exemptNamespaces") or []):
        return
    for path in POD_TEMPLATES.get(args.resource_type, ()):
        pod = _get(args.props, *path)
        if isinstance(pod, Mapping):
            for problem in _restricted_problems(pod):
                report(f"{args.name}: {'.'.join(path)}: {problem}")


# --- GPU pools and their cost --------------------------------------------------------------------------------------


def _gpu_pools_bounded(args: ResourceValidationArgs, report: Report) -> None:
    pool = _gpu_pool(args.resource_type, args.props)
    if pool is None:
        return
    instance_type, _, most = pool
    limit = args.get_config().get("maxNodes", 100)
    if most is None:
        report(f"{args.name}: a pool of {instance_type} GPU nodes sets no maximum size; set one (at most {limit})")
    elif most > limit:
        report(
            f"{args.name}: a pool of {instance_type} GPU nodes may grow to {most} nodes; the most allowed is {limit}"
        )


def _gpu_cost_ceiling(args: StackValidationArgs, report: Report) -> None:
    ceiling = args.get_config().get("maxUsdPerHour", 1000)
    total, parts = 0.0, []
    for resource in args.resources:
        pool = _gpu_pool(resource.resource_type, resource.props)
        if pool is None or pool[1] is None or pool[2] is None:
            continue
        instance_type, offer, most = pool
        total += most * offer.usd_per_hour
        parts.append(f"{resource.name}: {most} x {instance_type} at ${offer.usd_per_hour:.2f}")
    if total > ceiling:
        report(
            f"the GPU nodes at their pools' maximum sizes cost ${total:,.2f}/hour at list prices ({PRICES_AS_OF}), "
            f"over the ceiling of ${ceiling:,.2f}/hour: {'; '.join(parts)}"
        )


# --- the pack ------------------------------------------------------------------------------------------------------

BUCKET_SCHEMA = PolicyConfigSchema(
    {"requireCustomerManagedKeys": {"type": "boolean", "default": False,
                                    "description": "Require a customer-managed key (KMS, Cloud KMS, Key Vault)."}}
)  # fmt: skip

POLICIES = [
    StackValidationPolicy(
        name="buckets-private",
        description="Buckets and storage accounts are not public: no public ACL, every S3 public access block on, "
        "GCS public access prevention enforced, Azure blob public access off.",
        validate=_buckets_private,
    ),
    StackValidationPolicy(
        name="buckets-encrypted",
        description="Buckets are encrypted at rest: S3 buckets have a default encryption configuration; with "
        "requireCustomerManagedKeys, every bucket uses a customer-managed key.",
        validate=_buckets_encrypted,
        config_schema=BUCKET_SCHEMA,
    ),
    StackValidationPolicy(
        name="buckets-versioned",
        description="Buckets keep earlier versions of their objects (S3 versioning, GCS versioning, Azure blob "
        "versioning), so that an overwritten checkpoint can be recovered.",
        validate=_buckets_versioned,
    ),
    ResourceValidationPolicy(
        name="buckets-protected",
        description="Buckets and storage accounts are protected from deletion (the `protect` resource option).",
        validate=_buckets_protected,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="kubernetes-api-not-open",
        description="A managed Kubernetes API (EKS, GKE, AKS) is private, or public only to listed networks that "
        f"together cover less than {INTERNET_SHARE:.0%} of IPv4 or IPv6.",
        validate=_api_not_open,
    ),
    ResourceValidationPolicy(
        name="aws-imdsv2",
        description="EC2 launch templates require IMDSv2 tokens with a hop limit of 1, so that pods cannot read "
        "the node's credentials.",
        validate=_aws_imdsv2,
        config_schema=PolicyConfigSchema(
            {
                "maxHopLimit": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 1,
                    "description": "The largest httpPutResponseHopLimit allowed.",
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="gcp-workload-identity",
        description="GKE clusters have Workload Identity and their nodes the GKE metadata server, so that pods use "
        "their own identity, never the nodes'.",
        validate=_gcp_workload_identity,
    ),
    ResourceValidationPolicy(
        name="azure-no-local-accounts",
        description="AKS clusters have local accounts off: access goes through Entra ID and Azure RBAC.",
        validate=_azure_no_local_accounts,
    ),
    ResourceValidationPolicy(
        name="pods-restricted",
        description="Pods (and the pod templates of workloads) meet the 'restricted' Pod Security Standard, outside "
        "the exempt namespaces.",
        validate=_pods_restricted,
        config_schema=PolicyConfigSchema(
            {
                "exemptNamespaces": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": EXEMPT_NAMESPACES,
                    "description": "Namespaces whose pods are not checked (cluster add-ons).",
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="gpu-pools-bounded",
        description="Pools of GPU nodes (EKS node groups, GKE node pools, AKS agent pools of the catalogue's GPU "
        "types) have a maximum size, at most maxNodes.",
        validate=_gpu_pools_bounded,
        config_schema=PolicyConfigSchema(
            {
                "maxNodes": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 100,
                    "description": "The most nodes one GPU pool may grow to.",
                }
            }
        ),
    ),
    StackValidationPolicy(
        name="gpu-cost-ceiling",
        description="The stack's GPU nodes, every pool at its maximum size, cost at most maxUsdPerHour at the "
        "catalogue's list prices.",
        validate=_gpu_cost_ceiling,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(
            {
                "maxUsdPerHour": {
                    "type": "number",
                    "minimum": 0,
                    "default": 1000,
                    "description": "The ceiling, US dollars per hour.",
                }
            }
        ),
    ),
]
"""Every policy of the pack, in the order they run."""
