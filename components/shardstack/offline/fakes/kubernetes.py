"""Fake outputs of the Kubernetes provider: object metadata as the API server fills it, Service addresses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shardstack.offline.fakes import ProviderFakes, stable_hash

__all__ = ["FAKES", "KubernetesFakes"]


def _object_name(type_token: str, name: str, inputs: Mapping[str, Any]) -> str:
    # Pulumi auto-names an object without metadata.name: the resource name plus a random suffix.
    meta = inputs.get("metadata") or {}
    return str(meta.get("name") or f"{name}-{stable_hash(type_token, name)}")


class KubernetesFakes(ProviderFakes):
    """Objects get the uid, resourceVersion and timestamps the API server sets; Services their addresses."""

    def resource_id(self, type_token: str, name: str, inputs: Mapping[str, Any]) -> str | None:
        namespace = (inputs.get("metadata") or {}).get("namespace")
        obj_name = _object_name(type_token, name, inputs)
        return f"{namespace}/{obj_name}" if namespace else obj_name

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        obj_name = _object_name(type_token, name, inputs)
        out: dict[str, Any] = {
            "metadata": {
                "name": obj_name,
                "uid": f"{stable_hash(type_token, name)}-0000-4000-8000-{stable_hash(name, type_token)}0000",
                "resourceVersion": "1",
                "generation": 1,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            }
        }
        if type_token == "kubernetes:core/v1:Service":
            spec = inputs.get("spec") or {}
            out["spec"] = {"clusterIP": "None" if spec.get("clusterIP") == "None" else "10.96.0.10"}
            if spec.get("type") == "LoadBalancer":
                out["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{obj_name}.lb.example.com"}]}}
        return out


FAKES = KubernetesFakes()
