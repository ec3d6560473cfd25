"""The kubeconfig of an AKS cluster: its user gets a Microsoft Entra token from kubelogin, no stored credential.

Its user runs ``kubelogin get-token --login azurecli``, which takes the token of the Azure CLI's signed-in
identity, so whoever uses it needs ``az`` (signed in) and ``kubelogin`` on its PATH (``az aks install-cli``).
"""

import base64
import json
from collections.abc import Sequence
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import containerservice

__all__ = ["AKS_SERVER_ID", "KUBELOGIN", "KUBELOGIN_INSTALL_HINT", "aks_kubeconfig"]

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The AKS Microsoft Entra server application: the audience of every token an AKS API server accepts."""
KUBELOGIN = "kubelogin"
KUBELOGIN_INSTALL_HINT = (
    "kubelogin is not installed; it gets Microsoft Entra tokens for AKS. Install it with `az aks install-cli` "
    "(https://azure.github.io/kubelogin/) and sign in with `az login`."
)


def aks_kubeconfig(
    resource_group: pulumi.Input[str], cluster: containerservice.ManagedCluster, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Return the cluster's kubeconfig (a secret) that takes its token from kubelogin, with AKS's CA certificate."""
    # Local accounts are off, so the user kubeconfig is the only one AKS hands out; only its CA is used.
    credentials = containerservice.list_managed_cluster_user_credentials_output(
        resource_group_name=resource_group,
        resource_name=cluster.name,
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    ca = credentials.kubeconfigs.apply(_certificate_authority)
    server = pulumi.Output.all(cluster.fqdn, cluster.private_fqdn).apply(lambda hosts: _api_server(*hosts))
    kubeconfig_parts = pulumi.Output.all(pulumi.Output.from_input(resource_group), cluster.name, server, ca)
    return pulumi.Output.secret(kubeconfig_parts.apply(lambda values: _kubeconfig(*values)))


def _certificate_authority(kubeconfigs: Sequence[Any]) -> str:
    """Return the base64 CA certificate from the kubeconfig listManagedClusterUserCredentials returns."""
    if not kubeconfigs:
        raise ValueError("AKS returned no user kubeconfig for the cluster")
    config = yaml.safe_load(base64.b64decode(kubeconfigs[0].value))
    return config["clusters"][0]["cluster"]["certificate-authority-data"]


def _api_server(fqdn: str | None, private_fqdn: str | None) -> str:
    """Return the API server URL: the FQDN (public DNS; for a private cluster it resolves to the private
    endpoint's address, so clients need only a route to the VNet, not its private DNS zone), else the
    private FQDN."""
    host = fqdn or private_fqdn
    if not host:
        raise ValueError("AKS reported neither an FQDN nor a private FQDN for the cluster")
    return f"https://{host}:443"


def _kubeconfig(resource_group: str, cluster_name: str, server: str, ca: str) -> str:
    """Return a kubeconfig whose user gets a Microsoft Entra token from kubelogin's Azure CLI login (no
    credential stored in it): what ``kubelogin convert-kubeconfig -l azurecli`` makes of AKS's own."""
    # The entry names `az aks get-credentials` uses, so that the config merges cleanly with its output.
    user = f"clusterUser_{resource_group}_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": user,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": KUBELOGIN,
                            "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID],
                            "installHint": KUBELOGIN_INSTALL_HINT,
                            "provideClusterInfo": False,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )
