"""Fake outputs of the Google Cloud provider: self-links, the GKE endpoint, bucket URLs, service account emails."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from shardstack.offline.fakes import ProviderFakes

__all__ = ["FAKES", "MOCK_GCP_PROJECT", "MOCK_GCP_REGION", "GcpFakes"]

MOCK_GCP_PROJECT = "shardstack-test"
MOCK_GCP_REGION = "us-central1"
# Cloud Storage's service agent of the project (the one CMEK keys must trust).
STORAGE_SERVICE_AGENT = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"

CALLS: dict[str, dict[str, Any]] = {
    "gcp:organizations/getClientConfig:getClientConfig": {
        "project": MOCK_GCP_PROJECT,
        "region": MOCK_GCP_REGION,
        "accessToken": "mock",
    },
    "gcp:organizations/getProject:getProject": {
        "projectId": MOCK_GCP_PROJECT,
        "number": "123456789",
        "name": MOCK_GCP_PROJECT,
    },
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": {
        "emailAddress": STORAGE_SERVICE_AGENT,
        "member": f"serviceAccount:{STORAGE_SERVICE_AGENT}",
        "project": MOCK_GCP_PROJECT,
        "id": MOCK_GCP_PROJECT,
    },
}


class GcpFakes(ProviderFakes):
    """Every resource gets a self-link, project and name; clusters, buckets and service accounts what GCP adds."""

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        obj_name = inputs.get("name") or resource_id
        location = inputs.get("location") or inputs.get("region") or MOCK_GCP_REGION
        module = type_token.removeprefix("gcp:").split("/")[0]
        out: dict[str, Any] = {
            "selfLink": f"https://www.googleapis.com/{module}/v1/projects/{MOCK_GCP_PROJECT}/"
            f"locations/{location}/{obj_name}",
            "project": inputs.get("project") or MOCK_GCP_PROJECT,
            "name": obj_name,
        }
        if type_token == "gcp:container/cluster:Cluster":
            out.update(
                endpoint="34.0.0.1",
                masterAuth={"clusterCaCertificate": base64.b64encode(f"mock-ca-{name}".encode()).decode()},
            )
        elif type_token == "gcp:storage/bucket:Bucket":
            out.update(url=f"gs://{obj_name}")
        elif type_token == "gcp:vertex/aiEndpoint:AiEndpoint":
            # A dedicated endpoint's own DNS name: <endpoint id>.<region>-<project number>.prediction.vertexai.goog
            out.update(dedicatedEndpointDns=f"{obj_name}.{location}-123456789.prediction.vertexai.goog")
        elif type_token == "gcp:projects/serviceIdentity:ServiceIdentity":
            # A Google-managed service agent of the project, e.g. Vertex AI's.
            agent = inputs["service"].split(".")[0]
            email = f"service-123456789@gcp-sa-{agent}.iam.gserviceaccount.com"
            out.update(email=email, member=f"serviceAccount:{email}")
        elif type_token == "gcp:serviceaccount/account:Account":
            email = f"{inputs.get('accountId') or obj_name}@{MOCK_GCP_PROJECT}.iam.gserviceaccount.com"
            out.update(email=email, member=f"serviceAccount:{email}")
        return out

    def call(self, token: str, args: Mapping[str, Any]) -> dict[str, Any] | None:
        result = CALLS.get(token)
        return dict(result) if result is not None else None


FAKES = GcpFakes()
