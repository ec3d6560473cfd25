"""VertexEndpoint: the runtime image on a Vertex AI online prediction endpoint, one replica group per instance.

Usage::

    from shardstack.gcp import VertexEndpoint

    endpoint = VertexEndpoint("llm", {
        "project": "my-project",
        "region": "us-central1",
        "gpu": "l4",
        "image": "us-central1-docker.pkg.dev/my-project/shardstack/runtime:0.1.0",
        "model_uri": pulumi.Output.concat("gs://", store.bucket_name, "/models/llama-3.1-8b/"),
        "params": 8.0e9,
        "max_instances": 4,
    })
    # POST https://<region>-aiplatform.googleapis.com/v1/<endpoint>:rawPredict with an OpenAI body,
    # or :predict with {"instances": [...]}, authorised by a Google access token.

It creates a service account the deployed model runs as, with ``roles/storage.objectViewer`` on the model's bucket
only; read on the image's Artifact Registry repository for the Vertex AI service agent, which pulls it; a dedicated
endpoint (its own DNS name, streaming and long requests); and the model uploaded from the image and deployed to the
endpoint (:class:`~shardstack.gcp.vertex_deployment.VertexModelDeployment`, as pulumi-gcp has no resource for a
custom container), with machine and accelerators from the catalogue, a deployment timeout and startup probe sized
from the checkpoint, and autoscaling on GPU duty cycle between ``min_instances`` and ``max_instances``.

Encryption at rest uses ``kms_key_name`` when given (Google-managed keys otherwise). Calls need IAM
(``aiplatform.endpoints.predict``); the endpoint stays on Google's public API front end, as a Private Service
Connect endpoint needs the caller's VPC.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from shardstack import catalog
from shardstack.errors import ArgumentError
from shardstack.gcp.args import VertexEndpointArgs
from shardstack.gcp.cluster import service_account_id
from shardstack.gcp.labels import COMPONENT_LABEL
from shardstack.gcp.vertex_deployment import VertexModelDeployment, VertexModelDeploymentArgs
from shardstack.gcp.vertex_endpoint_specs import ARTIFACT_REGISTRY_IMAGE, PLATFORM, VERTEX_ENDPOINT
from shardstack.k8s.inference_specs import DEFAULT_SHM_SIZE_GIB
from shardstack.managed_endpoint import container_env, shape_outputs
from shardstack.specs.managed_endpoint import managed_shape
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Values, arguments_first

TYPE_TOKEN = "shardstack:gcp:VertexEndpoint"

PORT = 8080
"""The container port Vertex AI sends to, and passes to the container as AIP_HTTP_PORT."""
HEALTH_ROUTE = "/health"
PREDICT_ROUTE = "/predict"
"""The routes Vertex AI sends health checks and predictions to, and passes as AIP_HEALTH_ROUTE/AIP_PREDICT_ROUTE."""
READ_ROLE = "roles/storage.objectViewer"
PULL_ROLE = "roles/artifactregistry.reader"

__all__ = ["VertexEndpoint", "VertexEndpointArgs", "validate_vertex_endpoint_args"]


@arguments_first
def validate_vertex_endpoint_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with VertexEndpoint arguments, one line each."""
    return as_arguments(VERTEX_ENDPOINT.check(args))


def accelerator_type(gpu: catalog.GpuModel) -> str:
    """Vertex AI's name of the GPU's Compute Engine accelerator: 'nvidia-l4' is NVIDIA_L4."""
    assert gpu.gcp_accelerator is not None  # Vertex AI serves only on GPUs Compute Engine rents
    return gpu.gcp_accelerator.upper().replace("-", "_")


def _bucket(model_uri: str) -> str:
    parts = urlsplit(model_uri)
    if parts.scheme != "gs":
        raise ArgumentError("VertexEndpoint", [f"model_uri: {model_uri!r} is not a gs:// URI the endpoint can read"])
    return parts.netloc


class VertexEndpoint(pulumi.ComponentResource):
    """Creates a Vertex AI endpoint serving the runtime image, under a service account that reads only the weights."""

    endpoint: pulumi.Output[str]
    """The endpoint's resource name, ``projects/<p>/locations/<r>/endpoints/<id>``: what :predict and :rawPredict
    are called on."""
    raw_predict_url: pulumi.Output[str]
    """Where callers POST an OpenAI body: the dedicated endpoint's own DNS name, ``...:rawPredict`` (a dedicated
    endpoint answers there only, not on the regional API)."""
    service_account_email: pulumi.Output[str]
    """The service account the deployed model runs as."""
    model: pulumi.Output[str]
    """The uploaded model's resource name."""
    deployed_model_id: pulumi.Output[str]
    """The deployed model's ID on the endpoint."""
    instance_type: pulumi.Output[str]
    """The machine type of each replica (``g2-standard-48``)."""
    shards: pulumi.Output[int]
    """Ranks on each replica (one replica group)."""
    startup_timeout_s: pulumi.Output[int]
    """How long a replica may take to become healthy."""
    hourly_usd_min: float
    """Approximate list price per hour of ``min_instances`` replicas (see shardstack.catalog)."""
    hourly_usd_max: float
    """Approximate list price per hour of ``max_instances`` replicas."""

    def __init__(self, name: str, args: VertexEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_vertex_endpoint_args(args)
        if problems:
            raise ArgumentError(f"VertexEndpoint {name!r}", problems)
        values = Values(VERTEX_ENDPOINT, args)
        shape = managed_shape(PLATFORM, values)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = args["region"]
        project = (
            args.get("project")
            or gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self)).project
        )
        labels = {**dict(args.get("labels") or {}), COMPONENT_LABEL: name}

        account = gcp.serviceaccount.Account(
            f"{name}-serving",
            project=project,
            account_id=service_account_id(name, "-serving"),
            display_name=f"Shardstack endpoint {name}: reads its model's weights",
            opts=child,
        )
        grants = [self._pull_grant(name, project, args["image"], child)]
        # A public https:// model needs no grant; an output is the bucket's, as a WeightStore gives it.
        if not isinstance(args["model_uri"], str) or args["model_uri"].startswith("gs://"):
            grants.append(
                gcp.storage.BucketIAMMember(
                    f"{name}-read-weights",
                    bucket=pulumi.Output.from_input(args["model_uri"]).apply(_bucket),
                    role=READ_ROLE,
                    member=account.member,
                    opts=child,
                )
            )

        endpoint_id = random.RandomInteger(f"{name}-endpoint-id", min=1_000_000_000, max=9_999_999_999, opts=child)
        endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            project=project,
            region=region,
            location=region,
            name=endpoint_id.result.apply(str),
            display_name=name,
            description=f"Shardstack endpoint {name}",
            dedicated_endpoint_enabled=True,
            encryption_spec=(
                gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=args["kms_key_name"])
                if "kms_key_name" in args
                else None
            ),
            labels=labels,
            # The deployment below sets the traffic; this resource must not reset it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["trafficSplit"]),
        )
        resource_name = pulumi.Output.concat("projects/", project, "/locations/", region, "/endpoints/", endpoint.name)
        deployment_args = VertexModelDeploymentArgs(
            project=project,
            region=region,
            endpoint=resource_name,
            display_name=name,
            image_uri=args["image"],
            env=container_env(PLATFORM, args, shape),
            port=PORT,
            predict_route=PREDICT_ROUTE,
            health_route=HEALTH_ROUTE,
            # NCCL and torch's shared-memory transport between the ranks on the machine.
            shared_memory_size_mb=DEFAULT_SHM_SIZE_GIB * 1024 * shape.shards,
            deployment_timeout_s=shape.startup_timeout_s,
            machine_type=shape.offer.instance_type,
            accelerator_type=accelerator_type(shape.gpu),
            accelerator_count=shape.gpus_per_instance,
            min_replica_count=values["min_instances"],
            max_replica_count=values["max_instances"],
            autoscaling_target_duty_cycle=values["target_duty_cycle"],
            service_account=account.email,
            labels=labels,
        )
        if "kms_key_name" in args:
            deployment_args["kms_key_name"] = args["kms_key_name"]
        deployment = VertexModelDeployment(
            f"{name}-deployment",
            deployment_args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

        self.endpoint = resource_name
        self.raw_predict_url = pulumi.Output.concat(
            "https://", endpoint.dedicated_endpoint_dns, "/v1/", resource_name, ":rawPredict"
        )
        self.service_account_email = account.email
        self.model = deployment.model
        self.deployed_model_id = deployment.deployed_model_id
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "raw_predict_url": self.raw_predict_url,
                "service_account_email": self.service_account_email,
                "model": self.model,
                "deployed_model_id": self.deployed_model_id,
                **shape_outputs(self, shape, values),
            }
        )

    def _pull_grant(
        self, name: str, project: pulumi.Input[str], image: pulumi.Input[str], child: pulumi.ResourceOptions
    ) -> pulumi.Resource:
        """Read on the image's repository for the Vertex AI service agent, which pulls images for every model."""
        agent = gcp.projects.ServiceIdentity(
            f"{name}-vertex-agent", project=project, service="aiplatform.googleapis.com", opts=child
        )
        repository = pulumi.Output.from_input(image).apply(ARTIFACT_REGISTRY_IMAGE.match)
        return gcp.artifactregistry.RepositoryIamMember(
            f"{name}-pull",
            project=repository.apply(lambda m: m["project"] if m else ""),
            location=repository.apply(lambda m: m["location"] if m else ""),
            repository=repository.apply(lambda m: m["repository"] if m else ""),
            role=PULL_ROLE,
            member=agent.member,
            opts=child,
        )
