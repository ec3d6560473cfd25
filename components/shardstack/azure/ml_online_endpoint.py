"""MlOnlineEndpoint: the runtime image on an Azure Machine Learning managed online endpoint, one replica group per
instance.

Usage::

    from shardstack.azure import MlOnlineEndpoint, Registry, WeightStore

    endpoint = MlOnlineEndpoint("llm", {
        "gpu": "a100-80gb",
        "resource_group_name": group.name,
        "location": "eastus",
        "image": pulumi.Output.concat(registry.login_server, "/shardstack/runtime:0.1.0"),
        "registry_id": registry.registry_id,
        "model_uri": pulumi.Output.concat(store.model_uri_prefix, "llama-3.1-70b/"),
        "weights_account_id": store.account_id,
        "params": 70e9,
    })
    # az ml online-endpoint invoke -n <endpoint_name> -w <workspace_name> -g <group> --request-file chat.json

It creates, unless ``workspace_name`` names one, a workspace with what it requires: a storage account that takes
Microsoft Entra ID only (no shared keys, nothing public) and a key vault with RBAC and purge protection; the
workspace's managed network allows internet outbound (the registry, the runtime's downloads) and reaches the weight
store through a private endpoint, as its firewall admits no public caller. Then a user-assigned identity with
AcrPull on ``registry_id`` and Storage Blob Data Reader on the model's container only; an environment version with
the image and its routes; the endpoint (that identity, ``auth_mode``); the deployment on the catalogue's instance
type with probes sized from the checkpoint; all traffic to it; and, when ``max_instances`` > ``min_instances``,
autoscale on the deployment's GPU utilization.

What stays as Azure has it, and why: the scoring URI is public (with ``auth_mode``'s authentication), as disabling
it needs private endpoints into the caller's network; the workspace and disks are encrypted with Microsoft-managed
keys (a customer-managed key is a workspace-creation-time choice this component does not make for you).
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity, monitor, storage
from pulumi_azure_native import machinelearningservices as ml

from shardstack.azure import roles
from shardstack.azure.args import MlOnlineEndpointArgs
from shardstack.azure.arm import unique_name
from shardstack.azure.ml_endpoint_specs import ML_ONLINE_ENDPOINT, PLATFORM
from shardstack.azure.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.k8s import runtime_contract as rc
from shardstack.managed_endpoint import container_env, shape_outputs
from shardstack.specs.managed_endpoint import managed_shape
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Values, arguments_first

TYPE_TOKEN = "shardstack:azure:MlOnlineEndpoint"

DEPLOYMENT_NAME = "primary"
"""The endpoint's one deployment, which takes all of its traffic."""
SCORING_ROUTE = "/"
"""Azure ML's conventional scoring path; the runtime answers an OpenAI body there."""
PROBE_PERIOD_S = 10
REQUEST_TIMEOUT = "PT3M"
"""The longest request Azure ML's front end lets run (180 s): long generations should stream."""
MAX_CONCURRENT_REQUESTS_PER_INSTANCE = 64
"""Requests Azure ML forwards to one instance at once; the runtime queues and batches them (its own bound is a
503 with Retry-After)."""
SCALE_OUT_GPU_PERCENT = 70
SCALE_IN_GPU_PERCENT = 20
"""Average GPU utilization over the window above which an instance is added, and below which one is removed."""
WORKSPACE_NAME_LENGTH = 33
"""Azure ML workspace names: 3 to 33 characters."""
KEY_VAULT_NAME_LENGTH = 24
WORKSPACE_SOFT_DELETE_DAYS = 30
ACCOUNT_NAME_LENGTH = 24

__all__ = ["MlOnlineEndpoint", "MlOnlineEndpointArgs", "validate_ml_online_endpoint_args"]


@arguments_first
def validate_ml_online_endpoint_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with MlOnlineEndpoint arguments, one line each."""
    return as_arguments(ML_ONLINE_ENDPOINT.check(args))


def container_scope(account_id: str, model_uri: str) -> str:
    """The resource ID of the blob container an ``az://container@account/...`` model URI is in."""
    container = urlsplit(model_uri).netloc.split("@")[0]
    return f"{account_id}/blobServices/default/containers/{container}"


def _seconds(seconds: int) -> str:
    return f"PT{seconds}S"


class MlOnlineEndpoint(pulumi.ComponentResource):
    """Creates an Azure ML managed online endpoint running the runtime image under a least-privilege identity."""

    endpoint_name: pulumi.Output[str]
    """Name of the online endpoint."""
    endpoint_id: pulumi.Output[str]
    """Resource ID of the online endpoint (its keys: ``POST <endpoint_id>/listKeys``)."""
    scoring_uri: pulumi.Output[str]
    """Where callers POST an OpenAI body, with the endpoint's key or token."""
    workspace_name: pulumi.Output[str]
    """The workspace the endpoint is in."""
    identity_principal_id: pulumi.Output[str]
    """Object ID of the endpoint's user-assigned identity."""
    instance_type: pulumi.Output[str]
    """The VM size of each instance (``Standard_NC24ads_A100_v4``)."""
    shards: pulumi.Output[int]
    """Ranks on each instance (one replica group)."""
    startup_timeout_s: pulumi.Output[int]
    """How long an instance may take to become ready."""
    hourly_usd_min: float
    """Approximate list price per hour of ``min_instances`` instances (see shardstack.catalog)."""
    hourly_usd_max: float
    """Approximate list price per hour of ``max_instances`` instances."""

    def __init__(self, name: str, args: MlOnlineEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_ml_online_endpoint_args(args)
        if problems:
            raise ArgumentError(f"MlOnlineEndpoint {name!r}", problems)
        values = Values(ML_ONLINE_ENDPOINT, args)
        shape = managed_shape(PLATFORM, values)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        self._name = name
        self._group = args["resource_group_name"]
        self._location = args["location"]
        self._tags = component_tags(name, args.get("tags"))
        child = pulumi.ResourceOptions(parent=self)

        workspace_name, workspace_storage_id = self._workspace(args, child)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_group_name=self._group, location=self._location, tags=self._tags, opts=child
        )
        grants = self._grants(args, identity, workspace_storage_id, child)

        api_port = rc.DEFAULT_API_PORT
        environment = ml.EnvironmentVersion(
            f"{name}-environment",
            resource_group_name=self._group,
            workspace_name=workspace_name,
            name=f"{name}-runtime",
            # Versions are immutable: a new image is a new version, created before the old one goes.
            version=pulumi.Output.from_input(args["image"]).apply(
                lambda image: hashlib.sha256(image.encode()).hexdigest()[:12]
            ),
            properties=ml.EnvironmentVersionPropertiesArgs(
                image=args["image"],
                os_type=ml.OperatingSystemType.LINUX,
                inference_config=ml.InferenceContainerPropertiesArgs(
                    liveness_route=ml.RouteArgs(path=rc.HEALTH_PATH, port=api_port),
                    readiness_route=ml.RouteArgs(path=rc.READY_PATH, port=api_port),
                    scoring_route=ml.RouteArgs(path=SCORING_ROUTE, port=api_port),
                ),
            ),
            opts=child,
        )
        endpoint_properties: dict[str, Any] = {
            "auth_mode": values["auth_mode"],
            "public_network_access": ml.PublicNetworkAccessType.ENABLED,
            "description": f"Shardstack endpoint {name}",
        }
        endpoint_identity = ml.ManagedServiceIdentityArgs(
            type=ml.ManagedServiceIdentityType.USER_ASSIGNED, user_assigned_identities=[identity.id]
        )
        endpoint_name = unique_name(f"{name}-endpoint-name", name, 32, child)
        endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            resource_group_name=self._group,
            workspace_name=workspace_name,
            endpoint_name=endpoint_name,
            location=self._location,
            identity=endpoint_identity,
            properties=ml.OnlineEndpointPropertiesArgs(**endpoint_properties),
            tags=self._tags,
            opts=child,
        )
        probe_count = -(-shape.startup_timeout_s // PROBE_PERIOD_S)
        deployment = ml.OnlineDeployment(
            f"{name}-deployment",
            resource_group_name=self._group,
            workspace_name=workspace_name,
            endpoint_name=endpoint.name,
            deployment_name=DEPLOYMENT_NAME,
            location=self._location,
            sku=ml.SkuArgs(name="Default", capacity=values["min_instances"]),
            properties=ml.ManagedOnlineDeploymentArgs(
                endpoint_compute_type="Managed",
                instance_type=shape.offer.instance_type,
                environment_id=environment.id,
                environment_variables=container_env(PLATFORM, args, shape, **{rc.ENV_API_PORT: str(api_port)}),
                startup_probe=ml.ProbeSettingsArgs(
                    period=_seconds(PROBE_PERIOD_S), timeout="PT5S", failure_threshold=probe_count
                ),
                readiness_probe=ml.ProbeSettingsArgs(period=_seconds(PROBE_PERIOD_S), timeout="PT5S"),
                liveness_probe=ml.ProbeSettingsArgs(period=_seconds(PROBE_PERIOD_S), timeout="PT5S"),
                request_settings=ml.OnlineRequestSettingsArgs(
                    request_timeout=REQUEST_TIMEOUT,
                    max_concurrent_requests_per_instance=MAX_CONCURRENT_REQUESTS_PER_INSTANCE,
                ),
                scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                app_insights_enabled=False,
            ),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        # ARM sends traffic to a deployment only once it exists: the endpoint is written again with all traffic
        # to it (Microsoft's templates do the same). Kept on delete: deleting it would delete the endpoint, which
        # its first resource does after the deployment is gone.
        ml.OnlineEndpoint(
            f"{name}-traffic",
            resource_group_name=self._group,
            workspace_name=workspace_name,
            endpoint_name=endpoint.name,
            location=self._location,
            identity=endpoint_identity,
            properties=ml.OnlineEndpointPropertiesArgs(**endpoint_properties, traffic={DEPLOYMENT_NAME: 100}),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment], retain_on_delete=True),
        )
        if values["max_instances"] > values["min_instances"]:
            self._autoscale(deployment, values["min_instances"], values["max_instances"], child)

        self.endpoint_name = endpoint.name
        self.endpoint_id = endpoint.id
        self.scoring_uri = endpoint.properties.apply(lambda p: p.scoring_uri or "")
        self.workspace_name = pulumi.Output.from_input(workspace_name)
        self.identity_principal_id = identity.principal_id
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_id": self.endpoint_id,
                "scoring_uri": self.scoring_uri,
                "workspace_name": self.workspace_name,
                "identity_principal_id": self.identity_principal_id,
                **shape_outputs(self, shape, values),
            }
        )

    def _workspace(
        self, args: MlOnlineEndpointArgs, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Input[str], pulumi.Output[str] | None]:
        """The workspace to deploy into, and the ID of its storage account when created here."""
        if "workspace_name" in args:
            return args["workspace_name"], None
        name = self._name
        account = storage.StorageAccount(
            f"{name}-workspace-storage",
            account_name=unique_name(f"{name}-workspace-storage-name", name, ACCOUNT_NAME_LENGTH, child),
            resource_group_name=self._group,
            location=self._location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=storage.SkuName.STANDARD_ZRS),
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            # Entra ID only: the workspace reaches its datastores with its identity (system_datastores_auth_mode).
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            tags=self._tags,
            opts=child,
        )
        # Versions and soft delete keep what the workspace stores (its deployments' records) recoverable.
        storage.BlobServiceProperties(
            f"{name}-workspace-blob-service",
            account_name=account.name,
            resource_group_name=self._group,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=WORKSPACE_SOFT_DELETE_DAYS),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=WORKSPACE_SOFT_DELETE_DAYS
            ),
            opts=child,
        )
        vault = keyvault.Vault(
            f"{name}-workspace-vault",
            vault_name=unique_name(f"{name}-workspace-vault-name", name, KEY_VAULT_NAME_LENGTH, child),
            resource_group_name=self._group,
            location=self._location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=authorization.get_client_config_output(
                    opts=pulumi.InvokeOutputOptions(parent=self)
                ).tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=True,
            ),
            tags=self._tags,
            opts=child,
        )
        outbound: dict[str, Any] = {}
        if "weights_account_id" in args:
            outbound["shardstack-weights"] = ml.PrivateEndpointOutboundRuleArgs(
                type="PrivateEndpoint",
                category=ml.RuleCategory.USER_DEFINED,
                destination=ml.PrivateEndpointDestinationArgs(
                    service_resource_id=args["weights_account_id"], subresource_target="blob", spark_enabled=False
                ),
            )
        workspace = ml.Workspace(
            f"{name}-workspace",
            workspace_name=unique_name(f"{name}-workspace-name", name, WORKSPACE_NAME_LENGTH, child),
            resource_group_name=self._group,
            location=self._location,
            identity=ml.ManagedServiceIdentityArgs(type=ml.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            storage_account=account.id,
            key_vault=vault.id,
            container_registry=args["registry_id"],
            system_datastores_auth_mode="identity",
            public_network_access=ml.PublicNetworkAccessType.ENABLED,
            managed_network=ml.ManagedNetworkSettingsArgs(
                isolation_mode=ml.IsolationMode.ALLOW_INTERNET_OUTBOUND, outbound_rules=outbound or None
            ),
            sku=ml.SkuArgs(name="Basic", tier=ml.SkuTier.BASIC),
            tags=self._tags,
            opts=child,
        )
        return workspace.name, account.id

    def _grants(
        self,
        args: MlOnlineEndpointArgs,
        identity: managedidentity.UserAssignedIdentity,
        workspace_storage_id: pulumi.Output[str] | None,
        child: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """The identity's roles: pull the image, read the model's container (and the workspace's storage)."""
        principal = identity.principal_id
        grants: list[pulumi.Resource] = [
            roles.role_assignment(
                f"{self._name}-pull",
                scope=args["registry_id"],
                principal_id=principal,
                role=roles.ACR_PULL,
                principal_type="ServicePrincipal",
                opts=child,
            )
        ]
        if "weights_account_id" in args:
            scope = pulumi.Output.all(args["weights_account_id"], args["model_uri"]).apply(
                lambda values: container_scope(values[0], values[1])
            )
            grants.append(
                roles.role_assignment(
                    f"{self._name}-read-weights",
                    scope=scope,
                    principal_id=principal,
                    role=roles.STORAGE_BLOB_DATA_READER,
                    principal_type="ServicePrincipal",
                    opts=child,
                )
            )
        if workspace_storage_id is not None:
            # Azure ML reads the deployment's metadata from the workspace's storage as the endpoint's identity.
            grants.append(
                roles.role_assignment(
                    f"{self._name}-read-workspace",
                    scope=workspace_storage_id,
                    principal_id=principal,
                    role=roles.STORAGE_BLOB_DATA_READER,
                    principal_type="ServicePrincipal",
                    opts=child,
                )
            )
        return grants

    def _autoscale(
        self, deployment: ml.OnlineDeployment, min_instances: int, max_instances: int, child: pulumi.ResourceOptions
    ) -> None:
        def rule(
            direction: monitor.ScaleDirection,
            operator: monitor.ComparisonOperationType,
            threshold: int,
            window: str,
            cooldown: str,
        ) -> monitor.ScaleRuleArgs:
            return monitor.ScaleRuleArgs(
                metric_trigger=monitor.MetricTriggerArgs(
                    metric_name="GpuUtilizationPercentage",
                    metric_namespace="Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
                    metric_resource_uri=deployment.id,
                    operator=operator,
                    statistic=monitor.MetricStatisticType.AVERAGE,
                    threshold=threshold,
                    time_aggregation=monitor.TimeAggregationType.AVERAGE,
                    time_grain="PT1M",
                    time_window=window,
                ),
                scale_action=monitor.ScaleActionArgs(
                    direction=direction, type=monitor.ScaleType.CHANGE_COUNT, value="1", cooldown=cooldown
                ),
            )

        monitor.AutoscaleSetting(
            f"{self._name}-autoscale",
            resource_group_name=self._group,
            location=self._location,
            target_resource_uri=deployment.id,
            enabled=True,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="gpu-utilization",
                    capacity=monitor.ScaleCapacityArgs(
                        minimum=str(min_instances), maximum=str(max_instances), default=str(min_instances)
                    ),
                    rules=[
                        # A new instance takes minutes to load; a removed one drops a warm copy of the model.
                        rule(
                            monitor.ScaleDirection.INCREASE,
                            monitor.ComparisonOperationType.GREATER_THAN,
                            SCALE_OUT_GPU_PERCENT,
                            "PT5M",
                            "PT5M",
                        ),
                        rule(
                            monitor.ScaleDirection.DECREASE,
                            monitor.ComparisonOperationType.LESS_THAN,
                            SCALE_IN_GPU_PERCENT,
                            "PT15M",
                            "PT15M",
                        ),
                    ],
                )
            ],
            tags=self._tags,
            opts=child,
        )
