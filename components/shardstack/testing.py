"""Run a Pulumi program in-process under recording mocks and return the resource graph.

For your own tests, with no Pulumi CLI and no cloud account::

    from shardstack.testing import run_program
    from shardstack.k8s import ShardedInference

    def test_one_group_per_replica():
        graph = run_program(lambda: ShardedInference("llm", {"image": "img:1", "model_uri": "s3://b/m",
                                                             "shards": 2, "replica_groups": 2}))
        assert len(graph.of_type("kubernetes:apps/v1:StatefulSet")) == 2

Every registered resource is recorded with its urn, type, name, parent, inputs, outputs,
dependencies and provider. Mock outputs are realistic (ids, ARNs, self-links, endpoints,
kubeconfigs) so that values derived from them are known and can be asserted on.

With ``preview=True`` the run behaves like ``pulumi preview``: what the cloud computes on
create (ids, ARNs, endpoints, ...) stays unknown, and shows up in the graph as :data:`UNKNOWN`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.sync_await import _sync_await

from shardstack.errors import InputError

__all__ = [
    "SECRET",
    "UNKNOWN",
    "Graph",
    "RecordingMocks",
    "RecordingMonitor",
    "Resource",
    "run_program",
    "run_refused",
]

InputErrorT = TypeVar("InputErrorT", bound=InputError)

UNKNOWN = "<known after apply>"
"""How a value that only the cloud can compute (in preview) appears in recorded inputs and outputs."""

SECRET = "<secret>"
"""How a secret value appears in recorded inputs and outputs; the plaintext is never recorded."""

MOCK_ACCOUNT_ID = "123456789012"
MOCK_AWS_REGION = "us-east-1"
MOCK_GCP_PROJECT = "shardstack-test"
MOCK_GCP_REGION = "us-central1"
MOCK_AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_AZURE_TENANT = "11111111-1111-1111-1111-111111111111"


@dataclass
class Resource:
    """One registered resource (custom or component) as the engine would have seen it."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    provider: str | None
    custom: bool
    id: str | None = None
    protect: bool = False
    retain_on_delete: bool = False


@dataclass
class Graph:
    """The resources one program run registered, in registration order, plus the stack outputs."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, type_token: str) -> list[Resource]:
        """Return every resource of the given type token, e.g. ``kubernetes:apps/v1:StatefulSet``."""
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Resource:
        """Return the single resource of a type (and Pulumi name); fail listing what is there otherwise."""
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            have = sorted(r.name for r in self.of_type(type_token))
            raise AssertionError(
                f"expected exactly one {type_token}{f' named {name!r}' if name else ''}, "
                f"found {len(found)}; resources of that type: {have}"
            )
        return found[0]

    def named(self, name: str) -> Resource:
        """Return the resource with this Pulumi name (names are unique within a type, usually overall)."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected exactly one resource named {name!r}, found {len(found)}")
        return found[0]

    def children(self, resource: Resource) -> list[Resource]:
        """Return the resources whose parent is ``resource``."""
        return [r for r in self.resources if r.parent == resource.urn]

    def descendants(self, resource: Resource) -> list[Resource]:
        """Return every resource below ``resource`` in the parent tree."""
        out: list[Resource] = []
        for child in self.children(resource):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def roots(self) -> list[Resource]:
        """Return the resources with no parent other than the stack."""
        urns = {r.urn for r in self.resources}
        return [r for r in self.resources if r.parent is None or r.parent not in urns]

    def count_by_type(self) -> dict[str, int]:
        """Return ``{type token: count}`` over custom resources (components excluded), sorted by type."""
        counts = Counter(r.type for r in self.resources if r.custom)
        return dict(sorted(counts.items()))

    def k8s_objects(self) -> list[dict[str, Any]]:
        """Return every Kubernetes object as a manifest (apiVersion, kind, metadata, ...).

        Providers and Pulumi-side helpers (charts, YAML groups) are not objects and are left out.
        """
        objects = []
        for r in self.resources:
            if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs:
                objects.append({k: v for k, v in r.inputs.items() if k != "__defaults"})
        return objects

    def to_json(self, stack: str) -> dict[str, Any]:
        """Return the JSON document ``shardstack plan --out`` writes as graph.json."""
        return {
            "stack": stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "custom": r.custom,
                    "provider": r.provider,
                    "dependencies": r.dependencies,
                    "inputs": r.inputs,
                    "outputs": r.outputs,
                }
                for r in self.resources
            ],
            "outputs": self.outputs,
        }


def _plain(value: Any) -> Any:
    """Turn deserialized RPC values into plain JSON-able data with explicit secret/unknown markers."""
    if rpc.is_rpc_secret(value):
        # Keep a secret mapping's keys (a Secret's stringData must stay a map to be a valid object).
        inner = rpc.unwrap_rpc_secret(value)
        return {str(k): SECRET for k in inner} if isinstance(inner, Mapping) else SECRET
    if isinstance(value, pulumi.output.Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if k != "__defaults"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        # The RPC layer turns every number into a float; Kubernetes schemas want integers back.
        return int(value)
    return value


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


def _mock_kubeconfig(name: str, server: str) -> str:
    ca = base64.b64encode(f"mock-ca-{name}".encode()).decode()
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {"token": "mock-token"}}],
        }
    )


class RecordingMocks(pulumi_mocks.Mocks):
    """Mocks that give every resource realistic cloud-computed outputs.

    Outputs are the inputs plus what the cloud would add: an id, and per provider an ARN (AWS),
    a self-link (GCP), an ARM id (Azure) or Kubernetes metadata (uid, status). In preview mode
    the added values are left unknown, as ``pulumi preview`` would show them.
    """

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _azure_identity_shape(dict(args.inputs)) if args.typ.startswith("azure-native:") else dict(args.inputs)
        resource_id = args.resource_id or self._id_for(args.typ, args.name, inputs)
        computed = self._computed_outputs(args.typ, args.name, inputs, resource_id)
        if self.preview:
            unknown = {k: rpc.UNKNOWN for k in computed if k not in inputs}
            return "", {**inputs, **unknown}
        return resource_id, _deep_merge(inputs, computed)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # The second item lists failed checks; the mock monitor iterates it, so it must be a list, never None.
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/mock",
                "userId": "AIDAMOCK",
                "id": MOCK_ACCOUNT_ID,
            }, []
        if token in ("aws:index/getRegion:getRegion", "aws:index/region:Region"):
            return {"name": MOCK_AWS_REGION, "region": MOCK_AWS_REGION, "id": MOCK_AWS_REGION}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{MOCK_AWS_REGION}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 4)], "id": MOCK_AWS_REGION}, []
        if token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"project": MOCK_GCP_PROJECT, "region": MOCK_GCP_REGION, "accessToken": "mock"}, []
        if token == "gcp:organizations/getProject:getProject":
            return {"projectId": MOCK_GCP_PROJECT, "number": "123456789", "name": MOCK_GCP_PROJECT}, []
        if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            # Cloud Storage's service agent of the project (the one CMEK keys must trust).
            agent = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": agent, "member": f"serviceAccount:{agent}", "project": MOCK_GCP_PROJECT,
                    "id": MOCK_GCP_PROJECT}, []
        if token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return _aks_user_credentials(str(args.args["resourceGroupName"]), str(args.args["resourceName"])), []
        if token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": MOCK_AZURE_SUBSCRIPTION,
                "tenantId": MOCK_AZURE_TENANT,
                "clientId": "22222222-2222-2222-2222-222222222222",
                "objectId": "33333333-3333-3333-3333-333333333333",
            }, []
        return dict(args.args), []

    @staticmethod
    def _id_for(typ: str, name: str, inputs: Mapping[str, Any]) -> str:
        if typ.startswith("kubernetes:"):
            meta = inputs.get("metadata") or {}
            obj_name = meta.get("name") or f"{name}-{_short_hash(typ, name)}"
            ns = meta.get("namespace")
            return f"{ns}/{obj_name}" if ns else str(obj_name)
        if typ.startswith("azure-native:"):
            return _azure_id(typ, name, inputs)
        return f"{name}-{_short_hash(typ, name)}"

    @staticmethod
    def _computed_outputs(typ: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        if typ.startswith("pulumi:providers:"):
            return {}
        if typ.startswith("kubernetes:"):
            return _k8s_outputs(typ, name, inputs)
        if typ.startswith("aws:"):
            return _aws_outputs(typ, name, inputs, resource_id)
        if typ.startswith("gcp:"):
            return _gcp_outputs(typ, name, inputs, resource_id)
        if typ.startswith("azure-native:"):
            return _azure_outputs(typ, name, inputs, resource_id)
        if typ == "random:index/randomString:RandomString":
            return {"result": _random_string(typ, name, inputs)}
        return {}


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        elif key not in merged or merged[key] is None:
            merged[key] = value
    return merged


def _k8s_outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    meta = inputs.get("metadata") or {}
    obj_name = meta.get("name") or f"{name}-{_short_hash(typ, name)}"
    out: dict[str, Any] = {
        "metadata": {
            "name": obj_name,
            "uid": f"{_short_hash(typ, name)}-0000-4000-8000-{_short_hash(name, typ)}0000",
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }
    }
    if typ == "kubernetes:core/v1:Service":
        spec = inputs.get("spec") or {}
        out["spec"] = {"clusterIP": "None" if spec.get("clusterIP") == "None" else "10.96.0.10"}
        if spec.get("type") == "LoadBalancer":
            out["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{obj_name}.lb.example.com"}]}}
    return out


def _aws_outputs(typ: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
    module, _, kind = typ.removeprefix("aws:").partition(":")
    service = module.split("/")[0]
    out: dict[str, Any] = {
        "arn": f"arn:aws:{service}:{MOCK_AWS_REGION}:{MOCK_ACCOUNT_ID}:{kind.lower()}/{resource_id}",
        "tagsAll": inputs.get("tags") or {},
    }
    if typ == "aws:eks/cluster:Cluster":
        out.update(
            endpoint=f"https://{_short_hash(name).upper()}.gr7.{MOCK_AWS_REGION}.eks.amazonaws.com",
            certificateAuthority={"data": base64.b64encode(f"mock-ca-{name}".encode()).decode()},
            identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{MOCK_AWS_REGION}.amazonaws.com/id/MOCK"}]}],
            name=inputs.get("name") or resource_id,
            status="ACTIVE",
        )
    elif typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or resource_id
        out.update(
            bucket=bucket,
            arn=f"arn:aws:s3:::{bucket}",
            bucketRegionalDomainName=f"{bucket}.s3.{MOCK_AWS_REGION}.amazonaws.com",
            region=MOCK_AWS_REGION,
        )
    elif typ == "aws:ecr/repository:Repository":
        repo = inputs.get("name") or resource_id
        out.update(repositoryUrl=f"{MOCK_ACCOUNT_ID}.dkr.ecr.{MOCK_AWS_REGION}.amazonaws.com/{repo}")
    elif typ == "aws:iam/role:Role":
        out.update(arn=f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{inputs.get('name') or resource_id}")
    elif typ == "aws:eks/nodeGroup:NodeGroup":
        # EKS names a prefixed node group with a timestamp suffix and gives it an Auto Scaling group.
        group = inputs.get("nodeGroupName") or f"{inputs.get('nodeGroupNamePrefix') or name}20260101000000000000000001"
        out.update(nodeGroupName=group,
                   resources=[{"autoscalingGroups": [{"name": f"eks-{group}-{_short_hash(group)[:8]}"}]}])
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        out.update(latestVersion=1, defaultVersion=1)
    elif typ == "aws:ec2/placementGroup:PlacementGroup":
        out.update(name=inputs.get("name") or resource_id)
    return out


def _gcp_outputs(typ: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
    obj_name = inputs.get("name") or resource_id
    location = inputs.get("location") or inputs.get("region") or MOCK_GCP_REGION
    module = typ.removeprefix("gcp:").split("/")[0]
    out: dict[str, Any] = {
        "selfLink": f"https://www.googleapis.com/{module}/v1/projects/{MOCK_GCP_PROJECT}/"
        f"locations/{location}/{obj_name}",
        "project": inputs.get("project") or MOCK_GCP_PROJECT,
        "name": obj_name,
    }
    if typ == "gcp:container/cluster:Cluster":
        out.update(
            endpoint="34.0.0.1",
            masterAuth={"clusterCaCertificate": base64.b64encode(f"mock-ca-{name}".encode()).decode()},
        )
    elif typ == "gcp:storage/bucket:Bucket":
        out.update(url=f"gs://{obj_name}")
    elif typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId') or obj_name}@{MOCK_GCP_PROJECT}.iam.gserviceaccount.com"
        out.update(email=email, member=f"serviceAccount:{email}")
    return out


def _random_string(typ: str, name: str, inputs: Mapping[str, Any]) -> str:
    """A RandomString's result: stable per resource, of the requested length and character classes."""
    alphabet = "".join(
        chars
        for flag, chars in (("lower", "abcdefghijklmnopqrstuvwxyz"), ("numeric", "0123456789"),
                            ("upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), ("special", "!@#$%&*()-_=+[]{}<>:?"))
        if inputs.get(flag, True)
    ) or "abcdefghijklmnopqrstuvwxyz"
    digest = hashlib.sha256(f"{typ}/{name}".encode()).digest()
    return "".join(alphabet[digest[i % len(digest)] % len(alphabet)] for i in range(int(inputs.get("length", 16))))


def _azure_child_id(typ: str, name: str, inputs: Mapping[str, Any]) -> str | None:
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


def _azure_id(typ: str, name: str, inputs: Mapping[str, Any]) -> str:
    if child_id := _azure_child_id(typ, name, inputs):
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
        out.update(clientId=f"{_short_hash(name)}-client", principalId=f"{_short_hash(name)}-principal")
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
    host = f"{inputs.get('dnsPrefix') or cluster}-{_short_hash(cluster)}"
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
                    "server": f"https://{cluster}-{_short_hash(cluster)}.hcp.eastus.azmk8s.io:443",
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
                        "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id",
                                 "6dae42f8-4368-4678-94ff-3960e28e3630", "--client-id",
                                 "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", MOCK_AZURE_TENANT,
                                 "--login", "devicecode"],
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


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps the whole graph: parents, dependencies and providers included.

    ``MockResourceArgs`` carries no parent, so the recording happens at the monitor.
    """

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Resource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        outputs = rpc.deserialize_properties(response.object, keep_unknowns=True)
        self.recorded.append(
            Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=_parent_urn(request.parent),
                inputs=_plain(inputs),
                outputs=_plain(outputs),
                dependencies=list(request.dependencies),
                provider=request.provider or None,
                custom=bool(request.custom),
                id=response.id or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
            )
        )
        return response


def _parent_urn(parent: str) -> str | None:
    # Resources at the top of the program hang off the implicit Stack; report them as roots.
    if not parent or parent.split("::")[-2].endswith("pulumi:pulumi:Stack"):
        return None
    return parent


def _stack_config(config: Mapping[str, Any], project: str) -> tuple[dict[str, str], list[str]]:
    """Return Pulumi's flat config (``ns:key`` → string, JSON for structured values) and its secret keys."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            # A Pulumi-encrypted value: planning has no passphrase, so it stays an opaque secret.
            secret_keys.append(full_key)
            value = SECRET
        flat[full_key] = value if isinstance(value, str) else json.dumps(value)
    return flat, secret_keys


def run_program(
    program: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    *,
    project: str = "shardstack",
    stack: str = "test",
    preview: bool = False,
    secret_keys: list[str] | None = None,
) -> Graph:
    """Run ``program`` under recording mocks and return every resource it registered.

    ``config`` is the stack's ``config:`` mapping as written in ``Pulumi.<stack>.yaml``: keys are
    ``namespace:key`` (a bare key gets the project's namespace) and values plain or structured.
    Each call starts from a fresh event loop, fresh global config and a fresh root stack, so
    runs never see each other's state. An exception raised by the program propagates unchanged.
    """
    flat, encrypted_keys = _stack_config(config or {}, project)
    pulumi.runtime.set_all_config(flat, [*encrypted_keys, *(secret_keys or [])])

    # Pulumi keeps its event loop and root stack resource in globals; a previous run
    # (or an asyncio test) may have closed the loop or left its stack behind.
    asyncio.set_event_loop(asyncio.new_event_loop())
    settings.ROOT.set(None)

    mocks = RecordingMocks(preview=preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)

    graph = Graph(resources=monitor.recorded)
    try:
        # run_pulumi_func returns once every registration has finished, as the engine would see it.
        _sync_await(pulumi.runtime.stack.run_pulumi_func(lambda: _run_sync(program)))
        root = settings.get_root_resource()
        for key, value in (getattr(root, "outputs", None) or {}).items():
            graph.outputs[key] = _sync_await(_resolve(value))
    finally:
        pulumi.runtime.set_all_config({}, [])
    return graph


def run_refused(program: Callable[[], Any], error: type[InputErrorT]) -> InputErrorT:
    """Run ``program`` expecting it to refuse its input with ``error`` before registering anything.

    Returns the error, so that a test can assert on its problems::

        error = run_refused(lambda: ShardedInference("llm", {"shards": 0}), ArgumentError)
        assert "shards" in error.problems[0]
    """
    raised: list[InputErrorT] = []

    def guarded() -> None:
        try:
            program()
        except error as refused:
            raised.append(refused)

    graph = run_program(guarded)
    if not raised:
        raise AssertionError(f"expected the program to raise {error.__name__}; it registered {len(graph)} resources")
    if len(graph):
        raise AssertionError(f"the program raised {error.__name__} after registering {[r.name for r in graph]}")
    return raised[0]


def _run_sync(program: Callable[[], Any]) -> None:
    # Programs return nothing; older SDKs call this without awaiting, so it must not be a coroutine.
    program()


async def _resolve(value: Any) -> Any:
    """Resolve an exported value to plain data, keeping secret and unknown markers."""
    output = pulumi.Output.from_input(value)
    if not await output.is_known():
        return UNKNOWN
    resolved = await output.future(with_unknowns=True)
    if await output.is_secret():
        return SECRET
    return _plain(resolved)
