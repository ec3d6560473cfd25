"""Fake outputs of the Azure Native provider: ARM ids, AKS endpoints and kubelogin credentials, identities."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from shardstack.offline.fakes import ProviderFakes, stable_hash

__all__ = ["FAKES", "MOCK_AZURE_SUBSCRIPTION", "MOCK_AZURE_TENANT", "AzureFakes"]

MOCK_AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_AZURE_TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT_CONFIG = {
    "subscriptionId": MOCK_AZURE_SUBSCRIPTION,
    "tenantId": MOCK_AZURE_TENANT,
    "clientId": "22222222-2222-2222-2222-222222222222",
    "objectId": "33333333-3333-3333-3333-333333333333",
}


class AzureFakes(ProviderFakes):
    """Every resource gets its ARM id and name; clusters, identities, accounts and registries what Azure adds."""

    def shape_inputs(self, type_token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return _azure_identity_shape(inputs)

    def resource_id(self, type_token: str, name: str, inputs: Mapping[str, Any]) -> str | None:
        return _arm_id(type_token, name, inputs)

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        return _azure_outputs(type_token, name, inputs, resource_id)

    def call(self, token: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        if token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return _aks_user_credentials(str(args["resourceGroupName"]), str(args["resourceName"]))
        if token == "azure-native:authorization:getClientConfig":
            return dict(CLIENT_CONFIG)
        return None


def _arm_child_id(typ: str, name: str, inputs: Mapping[str, Any]) -> str | None:
    """The ARM id of the storage, registry, identity and role assignment resources, as Azure shapes it."""
    group = f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName') or f'{name}-rg'}"
    account = f"{group}/providers/Microsoft.Storage/storageAccounts/{inputs.get('accountName') or name}"
    identities = f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    identity = f"{identities}/{inputs.get('resourceName') or name}"
    ids = {
        "azure-native:storage:BlobServiceProperties": f"{account}/blobServices/default",
        "azure-native:storage:BlobContainer": (
            f"{account}/blobServices/default/containers/{inputs.get('containerName') or name}"
        ),
        "azure-native:storage:ManagementPolicy": f"{account}/managementPolicies/default",
        "azure-native:containerregistry:Registry": (
            f"{group}/providers/Microsoft.ContainerRegistry/registries/{inputs.get('registryName') or name}"
        ),
        "azure-native:managedidentity:UserAssignedIdentity": identity,
        "azure-native:managedidentity:FederatedIdentityCredential": (
            f"{identity}/federatedIdentityCredentials/{inputs.get('federatedIdentityCredentialResourceName') or name}"
        ),
        "azure-native:authorization:RoleAssignment": (
            f"{inputs.get('scope') or group}/providers/Microsoft.Authorization/roleAssignments/"
            f"{inputs.get('roleAssignmentName') or name}"
        ),
        "azure-native:resources:ResourceGroup": (
            f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName') or name}"
        ),
        "azure-native:network:Subnet": (
            f"{group}/providers/Microsoft.Network/virtualNetworks/{inputs.get('virtualNetworkName') or name}"
            f"/subnets/{inputs.get('subnetName') or name}"
        ),
        "azure-native:containerservice:ManagedCluster": (
            f"{group}/providers/Microsoft.ContainerService/managedClusters/{inputs.get('resourceName') or name}"
        ),
        "azure-native:containerservice:AgentPool": (
            f"{group}/providers/Microsoft.ContainerService/managedClusters/{inputs.get('resourceName') or name}"
            f"/agentPools/{inputs.get('agentPoolName') or name}"
        ),
    }
    return ids.get(typ)


def _arm_id(typ: str, name: str, inputs: Mapping[str, Any]) -> str:
    if child_id := _arm_child_id(typ, name, inputs):
        return child_id
    module, _, kind = typ.removeprefix("azure-native:").partition(":")
    group = inputs.get("resourceGroupName") or f"{name}-rg"
    obj_name = inputs.get("resourceName") or inputs.get("accountName") or inputs.get("name") or name
    if kind == "ResourceGroup":
        return f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/{obj_name}"
    return (
        f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourceGroups/{group}/providers/"
        f"Microsoft.{module.split('/')[0].capitalize()}/{kind[0].lower()}{kind[1:]}s/{obj_name}"
    )


def _azure_outputs(typ: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": resource_id.rsplit("/", 1)[-1], "azureApiVersion": "2024-01-01"}
    if typ == "azure-native:containerservice:ManagedCluster":
        out.update(_aks_outputs(out["name"], inputs))
    elif typ == "azure-native:managedidentity:UserAssignedIdentity":
        out.update(clientId=f"{stable_hash(name)}-client", principalId=f"{stable_hash(name)}-principal")
    elif typ == "azure-native:storage:StorageAccount":
        account = out["name"]
        out.update(
            primaryEndpoints={
                service: f"https://{account}.{service}.core.windows.net/"
                for service in ("blob", "dfs", "file", "queue", "table")
            }
            | {"web": f"https://{account}.z13.web.core.windows.net/"},
            primaryLocation=inputs.get("location"),
            provisioningState="Succeeded",
        )
    elif typ == "azure-native:containerregistry:Registry":
        out.update(loginServer=f"{out['name'].lower()}.azurecr.io", provisioningState="Succeeded")
    elif typ == "azure-native:monitor:AzureMonitorWorkspace":
        # The workspace's query endpoint: its name, a short hash Azure adds, and its region.
        workspace = out["name"].lower()
        out["metrics"] = {
            "internalId": f"mac_{stable_hash(name)}",
            "prometheusQueryEndpoint": f"https://{workspace}-{stable_hash(name)[:4]}.{inputs.get('location')}"
            ".prometheus.monitor.azure.com",
        }
    return out


def _azure_identity_shape(inputs: dict[str, Any]) -> dict[str, Any]:
    """azure-native takes user-assigned identities as a list of their ids and returns a map from each id to
    its client and principal ids; the outputs must have the returned shape for the SDK to read them."""
    identity = inputs.get("identity")
    if not isinstance(identity, Mapping) or not isinstance(identity.get("userAssignedIdentities"), list):
        return inputs
    assigned = {
        str(i): {"clientId": _mock_guid("client", str(i)), "principalId": _mock_guid("principal", str(i))}
        for i in identity["userAssignedIdentities"]
    }
    return {**inputs, "identity": {**identity, "userAssignedIdentities": assigned}}


def _mock_guid(*parts: str) -> str:
    """A stable, GUID-shaped id (Entra object and client ids, AKS issuer ids) derived from ``parts``."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def _aks_outputs(cluster: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What AKS computes for a managed cluster: API server FQDNs, OIDC issuer, kubelet identity, node group."""
    location = inputs.get("location") or "eastus"
    group = inputs.get("resourceGroupName") or f"{cluster}-rg"
    node_group = inputs.get("nodeResourceGroup") or f"MC_{group}_{cluster}_{location}"
    access = inputs.get("apiServerAccessProfile") or {}
    private = bool(access.get("enablePrivateCluster"))
    host = f"{inputs.get('dnsPrefix') or cluster}-{stable_hash(cluster)}"
    out: dict[str, Any] = {
        "oidcIssuerProfile": {
            "enabled": True,
            "issuerURL": (
                f"https://{location}.oic.prod-aks.azure.com/{MOCK_AZURE_TENANT}/{_mock_guid('oidc', cluster)}/"
            ),
        },
        "identityProfile": {
            "kubeletidentity": {
                "resourceId": f"/subscriptions/{MOCK_AZURE_SUBSCRIPTION}/resourcegroups/{node_group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{cluster}-agentpool",
                "clientId": _mock_guid("kubelet-client", cluster),
                "objectId": _mock_guid("kubelet-object", cluster),
            }
        },
        "nodeResourceGroup": node_group,
        "provisioningState": "Succeeded",
    }
    # A private cluster keeps a public FQDN (resolving to the private IP) unless it is turned off.
    if not private or access.get("enablePrivateClusterPublicFQDN", True):
        out["fqdn"] = f"{host}.hcp.{location}.azmk8s.io"
    if private:
        out["privateFQDN"] = f"{host}.{_mock_guid('private-dns', cluster)}.privatelink.{location}.azmk8s.io"
    return out


def _aks_user_credentials(group: str, cluster: str) -> dict[str, Any]:
    """listManagedClusterUserCredentials of an Entra ID cluster: one base64 kubeconfig whose user runs kubelogin
    with device code login (the location is not among the call's arguments, so the server says eastus)."""
    user = f"clusterUser_{group}_{cluster}"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "certificate-authority-data": base64.b64encode(f"mock-ca-{cluster}".encode()).decode(),
                    "server": f"https://{cluster}-{stable_hash(cluster)}.hcp.eastus.azmk8s.io:443",
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
        "preferences": {},
        "users": [
            {
                "name": user,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": [
                            "get-token",
                            "--environment",
                            "AzurePublicCloud",
                            "--server-id",
                            "6dae42f8-4368-4678-94ff-3960e28e3630",
                            "--client-id",
                            "80faf920-1908-4b52-b5ef-a8e7bedfc67a",
                            "--tenant-id",
                            MOCK_AZURE_TENANT,
                            "--login",
                            "devicecode",
                        ],
                        "env": None,
                        "interactiveMode": "IfAvailable",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
    }
    value = base64.b64encode(yaml.safe_dump(kubeconfig, sort_keys=False).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


FAKES = AzureFakes()
