"""One run of scripts/e2e_cloud.py against a managed stack (``shardstack:serving.platform: managed``).

The endpoint pulls an image and reads weights that a fresh stack does not hold yet, so the run goes in two
steps: `pulumi up` of everything but the endpoint (the weight store, the registry: the resources the offline
plan lists outside the endpoint's component), then the demo weights and the runtime image pushed to the places
the stack outputs name, then `pulumi up` of the whole stack, which waits until the platform says the endpoint
serves. Then one chat question through the platform's own invoke API (SageMaker's InvokeEndpoint, Vertex AI's
rawPredict on the dedicated endpoint, Azure ML's scoring URI with the endpoint's key).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from e2e_cloud_api import MAX_TOKENS, PROMPT
from e2e_cloud_outcomes import StepFailed, tail
from e2e_cloud_seams import Run, Seams

CHAT: dict[str, Any] = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS}
"""The one question asked: an OpenAI chat body, which every platform's invoke route takes as it is."""

ENDPOINT_COMPONENTS = (
    "shardstack:aws:SageMakerEndpoint",
    "shardstack:gcp:VertexEndpoint",
    "shardstack:azure:MlOnlineEndpoint",
)

SOURCE_IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
"""The released runtime image, copied into the stack's registry (the platforms pull from their cloud's only)."""


@dataclass(frozen=True)
class Platform:
    """How to log in to a cloud's registry and how to ask its managed endpoint."""

    registry_login: Callable[[Mapping[str, Any], Run], None]
    """Let `docker push` write to the registry the stack outputs name, running commands with the given runner."""
    invoke: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]]
    """Send a body to the endpoint the stack outputs name; return the JSON answer."""


def is_managed(stack_config: Mapping[str, Any]) -> bool:
    serving = stack_config.get("shardstack:serving") or {}
    return isinstance(serving, dict) and serving.get("platform") == "managed"


def urns_outside_endpoint(stack_name: str) -> list[str]:
    """The URNs of the stack's resources that are not the endpoint or under it, from the offline plan."""
    from e2e_cloud_run import REPO

    from shardstack.plan import plan_stack

    graph = plan_stack(stack_name, REPO).graph
    endpoint = {r.urn for r in graph if r.type in ENDPOINT_COMPONENTS}
    by_urn = {r.urn: r for r in graph}

    def under_endpoint(urn: str | None) -> bool:
        while urn is not None:
            if urn in endpoint:
                return True
            urn = by_urn[urn].parent if urn in by_urn else None
        return False

    return [r.urn for r in graph if not under_endpoint(r.urn)]


def exercise_managed(stack: Any, args: argparse.Namespace, seams: Seams, platform: Platform) -> str:
    """Up the store and registry, push the weights and the image, up the endpoint, ask; return the answer."""
    seams.log(f"== up, without the endpoint: {args.stack}")
    try:
        first = stack.up(on_output=seams.log, target=seams.targets_outside_endpoint(args.stack))
    except Exception as error:
        raise StepFailed("up the store and the registry", tail(str(error))) from error
    outputs = {name: output.value for name, output in first.outputs.items()}
    seams.log(f"== push the demo weights: {outputs['model_uri']}")
    try:
        seams.push_weights(str(outputs["model_uri"]))
    except Exception as error:
        raise StepFailed("push the weights", tail(str(error))) from error
    seams.log(f"== push the runtime image: {outputs['image']}")
    try:
        platform.registry_login(outputs, seams.run)
        for command in copy_image(SOURCE_IMAGE, str(outputs["image"])):
            seams.run(command, None)
    except Exception as error:
        raise StepFailed("push the image", tail(str(error))) from error
    seams.log(f"== up, with the endpoint: {args.stack}")
    try:
        result = stack.up(on_output=seams.log)
    except Exception as error:
        raise StepFailed("up the endpoint", tail(str(error))) from error
    outputs = {name: output.value for name, output in result.outputs.items()}
    seams.log(f"== chat: {PROMPT!r}, max_tokens {MAX_TOKENS}, through the platform's invoke API")
    try:
        answer = platform.invoke(outputs, CHAT)
    except Exception as error:
        raise StepFailed("ask the endpoint", tail(str(error))) from error
    try:
        text = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as error:
        raise StepFailed("ask the endpoint", f"not a chat completion: {json.dumps(answer)[:500]}") from error
    if not isinstance(text, str) or not text.strip():
        raise StepFailed("ask the endpoint", f"an empty answer: {json.dumps(answer)[:500]}")
    seams.log(f"answer: {text!r}")
    return text


def copy_image(source: str, destination: str) -> list[list[str]]:
    """Copy an image from one registry to another with docker."""
    return [["docker", "pull", source], ["docker", "tag", source, destination], ["docker", "push", destination]]


# --- The platforms -------------------------------------------------------------------------------------


def _ecr_login(outputs: Mapping[str, Any], run: Run) -> None:
    host = str(outputs["registry_url"]).split("/", 1)[0]  # <account>.dkr.ecr.<region>.amazonaws.com
    password = run(["aws", "ecr", "get-login-password", "--region", host.split(".")[3]], None)
    run(["docker", "login", "--username", "AWS", "--password-stdin", host], password)


def _artifact_registry_login(outputs: Mapping[str, Any], run: Run) -> None:
    host = str(outputs["registry_url"]).split("/", 1)[0]  # <location>-docker.pkg.dev
    run(["gcloud", "auth", "configure-docker", host, "--quiet"], None)


def _acr_login(outputs: Mapping[str, Any], run: Run) -> None:
    run(["az", "acr", "login", "--name", str(outputs["registry_url"]).split(".", 1)[0]], None)


def invoke_sagemaker(outputs: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
    import boto3

    runtime = boto3.client("sagemaker-runtime")
    response = runtime.invoke_endpoint(
        EndpointName=str(outputs["endpoint"]), ContentType="application/json", Body=json.dumps(body)
    )
    return json.loads(response["Body"].read())


def invoke_vertex(outputs: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    response = AuthorizedSession(credentials).post(str(outputs["raw_predict_url"]), json=body, timeout=300)
    response.raise_for_status()
    return response.json()


AZURE_ML_API_VERSION = "2024-10-01"


def invoke_azureml(outputs: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
    import urllib.request

    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token("https://management.azure.com/.default").token
    keys_url = f"https://management.azure.com{outputs['endpoint_id']}/listKeys?api-version={AZURE_ML_API_VERSION}"
    request = urllib.request.Request(keys_url, method="POST", headers={"Authorization": f"Bearer {token}"}, data=b"")
    with urllib.request.urlopen(request, timeout=60) as response:
        key = json.loads(response.read())["primaryKey"]
    request = urllib.request.Request(
        str(outputs["scoring_uri"]),
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


PLATFORMS: dict[str, Platform] = {
    "aws": Platform(_ecr_login, invoke_sagemaker),
    "gcp": Platform(_artifact_registry_login, invoke_vertex),
    "azure": Platform(_acr_login, invoke_azureml),
}
"""Each cloud's managed platform, as a managed stack of that cloud runs it."""

MANAGED_TOOLS: dict[str, tuple[str, ...]] = {
    "aws": ("docker", "aws"),
    "gcp": ("docker", "gcloud"),
    "azure": ("docker", "az"),
}
"""What a managed stack's run needs on PATH: docker to copy the image, the cloud's CLI to log in to its registry."""
