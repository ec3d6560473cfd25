"""MlOnlineEndpoint's arguments: the managed endpoint every cloud shares, plus what is Azure's own."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shardstack.azure.kinds import REGION, RESOURCE_GROUP, TAGS
from shardstack.specs.kinds import Choice, Input, Shaped, Text
from shardstack.specs.managed_endpoint import managed_endpoint_spec
from shardstack.specs.problem import Problem
from shardstack.specs.spec import Arg, Rule, Values

PLATFORM = "azureml"

AUTH_MODES = ("Key", "AMLToken", "AADToken")
"""How callers authenticate to the scoring URI: endpoint keys, Azure ML tokens, or Microsoft Entra tokens."""
DEFAULT_AUTH_MODE = "Key"
"""Keys work with every client and Azure ML's own invoke command; rotate them with `az ml online-endpoint
regenerate-keys`."""

_ARM_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
STORAGE_ACCOUNT_ID = re.compile(_ARM_ID + r"Microsoft\.Storage/storageAccounts/[^/]+$", re.IGNORECASE)
REGISTRY_ID = re.compile(_ARM_ID + r"Microsoft\.ContainerRegistry/registries/[^/]+$", re.IGNORECASE)
ACR_IMAGE = re.compile(r"^[a-z0-9]+\.azurecr\.(io|cn|us)/[^:@]+[:@].+$")
"""An image in an Azure Container Registry, with its tag or digest."""


def _arm_id(what: str, shape: re.Pattern[str], example: str) -> Input:
    return Input(Shaped(f"the resource ID of {what}, {example}", shape, f"is not the resource ID of {what}: {example}"))


def _weights_account(values: Values) -> Iterator[Problem]:
    uri = values["model_uri"]
    if isinstance(uri, str) and uri.startswith("az://") and not values.present("weights_account_id"):
        yield Problem(
            ("weights_account_id",),
            "is required with an az:// model_uri: the endpoint's identity is granted Storage Blob Data Reader on the "
            "model's container in that account (a WeightStore's account_id)",
        )


def _acr_image(values: Values) -> Iterator[Problem]:
    image = values["image"]
    if isinstance(image, str) and not ACR_IMAGE.match(image):
        yield Problem(
            ("image",),
            "is not an image in an Azure Container Registry with a tag or digest ('<registry>.azurecr.io/<repository>"
            ":<tag>'): the endpoint pulls with its identity from registry_id; push the runtime image there",
            image,
        )


ML_ONLINE_ENDPOINT = managed_endpoint_spec(PLATFORM).extend(
    "MlOnlineEndpointArgs",
    "Arguments of MlOnlineEndpoint: the managed endpoint every cloud shares, plus what is Azure's own.",
    (
        Arg("resource_group_name", RESOURCE_GROUP, "Resource group of the workspace and the endpoint.", required=True),
        Arg("location", Input(REGION), "Azure region of the workspace and the endpoint, e.g. 'eastus'.", required=True),
        Arg(
            "registry_id",
            _arm_id(
                "an Azure Container Registry",
                REGISTRY_ID,
                "'/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>'",
            ),
            "The registry the image is in (a Registry's ``registry_id``): the endpoint's identity gets AcrPull on it, "
            "and a workspace created here uses it.",
            required=True,
        ),
        Arg(
            "weights_account_id",
            _arm_id(
                "a storage account",
                STORAGE_ACCOUNT_ID,
                "'/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<name>'",
            ),
            "The storage account of an az:// model_uri (a WeightStore's ``account_id``): the endpoint's identity reads "
            "the model's container only, and a workspace created here reaches the account through a private "
            "endpoint of its managed network (the weight store's firewall admits no public caller).",
            default_doc="none; required with an az:// model_uri",
        ),
        Arg(
            "workspace_name",
            Input(Text("an Azure ML workspace name")),
            "An existing Azure ML workspace in resource_group_name to deploy into; it must reach the weights and the "
            "registry itself.",
            default_doc="a workspace created with its storage account and key vault, both private to it",
        ),
        Arg("auth_mode", Choice(AUTH_MODES), "How callers authenticate to the scoring URI.", default=DEFAULT_AUTH_MODE),
        Arg(
            "tags",
            TAGS,
            "Azure tags for every resource the endpoint creates.",
            default_doc="none (``shardstack-component`` is always set)",
        ),
    ),
    rules=(
        Rule(("model_uri",), _weights_account, present=("weights_account_id",)),
        Rule(("image",), _acr_image),
    ),
)
"""MlOnlineEndpoint's arguments."""
