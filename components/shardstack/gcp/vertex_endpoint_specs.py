"""VertexEndpoint's arguments: the managed endpoint every cloud shares, plus what is GCP's own."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shardstack.gcp.cluster_specs import REGION
from shardstack.gcp.labels import GCP_LABELS
from shardstack.specs.kinds import Input, Shaped, Text, Whole
from shardstack.specs.managed_endpoint import managed_endpoint_spec
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Values

PLATFORM = "vertex"

ARTIFACT_REGISTRY_IMAGE = re.compile(
    r"^(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repository>[^/]+)/[^:@]+[:@].+$"
)
"""An image in an Artifact Registry Docker repository, with its tag or digest; the Vertex AI service agent is
granted read on that repository."""
KMS_KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")

DEFAULT_TARGET_DUTY_CYCLE = 60
"""Percent of GPU duty cycle Vertex AI keeps each replica at between min and max instances (its own default)."""


def _artifact_registry_image(values: Values) -> Iterator[Problem]:
    image = values["image"]
    if isinstance(image, str) and not ARTIFACT_REGISTRY_IMAGE.match(image):
        yield Problem(
            ("image",),
            "is not an image in an Artifact Registry repository with a tag or digest "
            "('<location>-docker.pkg.dev/<project>/<repository>/<image>:<tag>'): push the runtime image to the "
            "Registry's repository",
            image,
        )


VERTEX_ENDPOINT = managed_endpoint_spec(PLATFORM).extend(
    "VertexEndpointArgs",
    "Arguments of VertexEndpoint: the managed endpoint every cloud shares, plus what is GCP's own.",
    (
        Arg(
            "project",
            Input(Text("a GCP project ID")),
            "Project of the endpoint and its service account.",
            default_doc="the provider's project",
        ),
        Arg(
            "region",
            Input(REGION),
            "Region of the endpoint, e.g. 'us-central1'; Vertex AI must offer the GPU there.",
            required=True,
        ),
        Arg(
            "kms_key_name",
            Input(
                Shaped(
                    "a Cloud KMS key name, 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>'",
                    KMS_KEY_NAME,
                    "is not a Cloud KMS key name: use 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>'",
                )
            ),
            "Cloud KMS key (in the endpoint's region) that encrypts the endpoint and the model resource.",
            default_doc="Google-managed encryption keys",
        ),
        Arg(
            "target_duty_cycle",
            Whole(1, 100, why="a percentage of the GPUs' duty cycle"),
            "GPU duty cycle, in percent, that autoscaling keeps each instance at between min_instances and "
            "max_instances.",
            default=DEFAULT_TARGET_DUTY_CYCLE,
        ),
        Arg("labels", GCP_LABELS, "GCP labels for the endpoint and the model.", default_doc="none"),
    ),
    rules=(Rule(("image",), _artifact_registry_image),),
)
"""VertexEndpoint's arguments."""
