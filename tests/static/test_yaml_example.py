"""examples/yaml-local: a Pulumi YAML program over the component package, checked against schema.json and planned
offline through the provider (provider_harness.py), each resource constructed in the order its references need,
its inputs sent as the engine sends them (values that read other resources or secrets as output values)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from provider_harness import Provider, running_provider
from pulumi.runtime import rpc

from shardstack.k8s.local_weights_store import CLIENT_CREDENTIALS_FILE
from shardstack.k8s.runtime_contract import SECRET_FILES_DIR

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "yaml-local"
PROGRAM = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
SCHEMA = json.loads((REPO / "schema.json").read_text())
CONFIG = {"weightsSecretAccessKey": "example-secret-key-0000000000000000000000"}
"""What `pulumi config set --secret` gives the keys without a default."""
REFERENCE = re.compile(r"\$\{([^}]+)\}")


def references(value: Any) -> Iterator[str]:
    """Every ``${name}`` or ``${name.property}`` in ``value``, by the name it starts with."""
    if isinstance(value, str):
        yield from (match.split(".")[0] for match in REFERENCE.findall(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def resolve(value: Any, scope: Mapping[str, Any], wire: Wire | None = None) -> Any:
    """``value`` with its references replaced, as Pulumi YAML does: a whole-string reference keeps its type.

    With ``wire``, as the engine sends it to Construct: a value that reads another resource's outputs or a secret
    config key is an output value, with its dependencies and secretness, where it sits in the structure.
    """
    if isinstance(value, str):
        references = [match.split(".")[0] for match in REFERENCE.findall(value)]
        if not references:
            return value
        if (whole := REFERENCE.fullmatch(value)) is not None:
            resolved = lookup(whole.group(1), scope)
        else:
            resolved = REFERENCE.sub(lambda match: str(lookup(match.group(1), scope)), value)
        if wire is None:
            return resolved
        dependencies = sorted({wire.urns[r] for r in references if r in wire.urns})
        secret = any(r in wire.secrets for r in references)
        if not dependencies and not secret:
            return resolved
        return {rpc._special_sig_key: rpc._special_output_value_sig, "value": resolved,
                "dependencies": dependencies, "secret": secret}  # fmt: skip
    if isinstance(value, Mapping):
        return {key: resolve(item, scope, wire) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope, wire) for item in value]
    return value


@dataclass
class Wire:
    """What the engine knows of a program's values: each constructed resource's URN, the secret config keys."""

    urns: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)


def lookup(path: str, scope: Mapping[str, Any]) -> Any:
    value = scope[path.split(".")[0]]
    for part in path.split(".")[1:]:
        value = value[part]
    return value


def test_every_type_and_property_is_the_schemas() -> None:
    problems = []
    for name, resource in PROGRAM["resources"].items():
        spec = SCHEMA["resources"].get(resource["type"])
        if spec is None:
            problems.append(f"{name}: no type {resource['type']} in schema.json")
            continue
        given = set(resource.get("properties", {}))
        problems += [
            f"{name}.{key}: not an input of {resource['type']}" for key in given - set(spec["inputProperties"])
        ]
        problems += [f"{name}: required {key} missing" for key in set(spec.get("requiredInputs", [])) - given]
        for reference in references(resource.get("properties", {})):
            if reference not in PROGRAM["resources"] and reference not in PROGRAM["config"]:
                problems.append(f"{name}: ${{{reference}}} names no resource or config key")
    for name, output in PROGRAM["outputs"].items():
        for match in REFERENCE.findall(output):
            owner, _, prop = match.partition(".")
            owner_type = PROGRAM["resources"].get(owner, {}).get("type")
            if owner_type and prop not in SCHEMA["resources"][owner_type]["properties"]:
                problems.append(f"output {name}: {match} is not an output of {owner}")
    assert problems == []


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Provider, dict[str, Any]]]:
    """The program planned through the provider: every resource constructed, references resolved from the config
    and from the states Construct returned; the registrations and the program's outputs."""
    config = {key: spec.get("default") for key, spec in PROGRAM["config"].items()} | CONFIG
    scope: dict[str, Any] = dict(config)
    wire = Wire(secrets={key for key, spec in PROGRAM["config"].items() if spec.get("secret")})
    pending = dict(PROGRAM["resources"])
    with running_provider(tmp_path_factory.mktemp("yaml-consumer")) as provider:
        registered = []
        while pending:
            ready = [n for n, r in pending.items() if set(references(r.get("properties", {}))) <= set(scope)]
            assert ready, f"references that never resolve: {pending}"
            for name in ready:
                resource = pending.pop(name)
                inputs = resolve(resource.get("properties", {}), scope, wire)
                response = provider.construct(resource["type"], name, inputs)
                registered += provider.monitor.registered
                scope[name] = json_format.MessageToDict(response.state)
                wire.urns[name] = response.urn
        provider.monitor.registered[:] = registered
        yield provider, resolve(PROGRAM["outputs"], scope)


def test_the_program_plans_through_the_provider(planned: tuple[Provider, dict[str, Any]]) -> None:
    provider, outputs = planned
    registered = provider.monitor.registered
    (store,) = [r for r in registered if r["type"] == "shardstack:k8s:LocalWeightsStore"]
    (statefulset,) = [r for r in registered if r["type"] == "kubernetes:apps/v1:StatefulSet"]
    (container,) = statefulset["inputs"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SHARDSTACK_WORLD_SIZE"] == "2"
    assert env["SHARDSTACK_MODEL_URI"] == outputs["modelUri"] == "s3://models/demo/smollm2-135m-instruct"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://weights.shardstack.svc.cluster.local:8333"
    # The credentials file is mounted where the environment says, under the name the store's own clients use.
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == f"{SECRET_FILES_DIR}/{CLIENT_CREDENTIALS_FILE}"
    assert CONFIG["weightsSecretAccessKey"] not in json.dumps(container["env"])
    files = [r for r in registered if r["type"] == "kubernetes:core/v1:Secret" and r["parent"] != store["urn"]]
    (secret,) = [r["inputs"]["stringData"] for r in files]
    assert set(secret) == {rpc._special_sig_key, "value"}  # a Pulumi secret, encrypted in the state
    assert list(secret["value"]) == [CLIENT_CREDENTIALS_FILE]
    assert outputs["endpoint"] == "http://llm-api.shardstack.svc.cluster.local:8000"
    namespaces = [r for r in registered if r["type"] == "kubernetes:core/v1:Namespace"]
    assert len(namespaces) == 1  # the store's; the inference is told not to make its own
