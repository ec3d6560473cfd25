"""The kubeconfig of an EKS cluster, authenticated by the AWS CLI rather than by a stored credential."""

import json

__all__ = ["eks_kubeconfig"]


def eks_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
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
