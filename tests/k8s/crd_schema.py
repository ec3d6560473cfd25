"""Validate a custom resource against the condensed schema of its pinned CRD (tests/k8s/crds, made by
scripts/condense_crd.py), as strictly as the API server's structural schema with strict field validation would:
every field must be declared (unless the schema preserves unknown fields), of its type, within its enum and bounds,
and every required field present. A pod template or claim the CRD embeds is validated with the official schema of
its kind for the Kubernetes version at hand (kubernetes-validate).

Not evaluated: the CRDs' CEL rules (``x-kubernetes-validations``); the few our objects could break are asserted
where the objects are built (e.g. an InterceptorRoute's target names a port, not also a port name).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import yaml

CRDS = Path(__file__).parent / "crds"

EMBEDDED = {
    "PodTemplateSpec": lambda value: {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "embedded"},
                                      "template": value},
    "PersistentVolumeClaim": lambda value: {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **value},
}  # fmt: skip
"""How an embedded value becomes a whole object kubernetes-validate knows: a pod template inside a PodTemplate."""


def load_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Every condensed CRD, by (apiVersion, kind)."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        found[(crd["apiVersion"], crd["kind"])] = crd
    return found


def _structural(node: Any) -> Any:
    """The OpenAPI schema as JSON Schema: int-or-string, nullable, and no undeclared field."""
    if isinstance(node, list):
        return [_structural(v) for v in node]
    if not isinstance(node, dict):
        return node
    schema = {k: _structural(v) for k, v in node.items() if k not in ("x-kubernetes-validations", "default")}
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    preserve = schema.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in schema and "additionalProperties" not in schema and not preserve:
        schema["additionalProperties"] = False
    return schema


def problems(document: dict[str, Any], crd: dict[str, Any], kubernetes_version: str) -> list[str]:
    """Every way ``document`` breaks ``crd``'s schema, each with its path."""
    import kubernetes_validate

    def embedded(validator: Any, kind: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
        del validator, schema
        try:
            kubernetes_validate.validate(EMBEDDED[kind](instance), kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            yield jsonschema.ValidationError(f"{kind}: {error.message} at {'/'.join(map(str, error.path))}")

    validator_class = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-shardstack-kind": embedded})
    validator = validator_class(_structural(crd["schema"]))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
