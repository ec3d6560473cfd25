"""`shardstack:serving.platform: managed`: a weight store, a registry and the cloud's managed endpoint (SageMaker,
Vertex AI, Azure ML) serving the model; no cluster.

The endpoint runs the runtime image from the stack's own registry (the platforms pull from their cloud's registry
only): push the image there under the tag of ``serving.image`` before the endpoint can start, or name an image
already there with ``serving.image``.
"""

from __future__ import annotations

from typing import Any

import config
import pulumi
from model_sizing import ModelSizing

from shardstack.defaults import DEFAULT_IMAGE, DEMO_MODEL_PATH


def image_tag(cfg: config.StackConfig) -> str:
    """The tag the endpoint's image has in the stack's registry: ``serving.image``'s."""
    return cfg.serving.image.rsplit(":", 1)[1] if ":" in cfg.serving.image.rsplit("/", 1)[-1] else "latest"


def runtime_image(cfg: config.StackConfig, registry_image: pulumi.Output[str]) -> pulumi.Input[str]:
    """``serving.image`` when the stack names one, else the runtime's image pushed to the stack's registry."""
    given = "image" in cfg.serving.model_fields_set and cfg.serving.image != DEFAULT_IMAGE
    return cfg.serving.image if given else registry_image


def model_uri(cfg: config.StackConfig, model_uri_prefix: pulumi.Output[str]) -> pulumi.Input[str]:
    """``model.uri``, or the demo model's place in the stack's weight store."""
    if cfg.model.uri == config.DEMO_MODEL_URI:
        return pulumi.Output.concat(model_uri_prefix, f"{DEMO_MODEL_PATH}/")
    return cfg.model.uri


def endpoint_args(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """The endpoint's arguments every platform shares: the stack config's endpoint keys by name, and the model."""
    assert cfg.endpoint is not None  # config requires it with serving.platform 'managed'
    args: dict[str, Any] = cfg.endpoint.model_dump(exclude_none=True)
    args.update(dtype=cfg.model.dtype, shards=sizing.shards)
    if cfg.model.params is not None:
        args["params"] = cfg.model.params
    return args


def outputs(
    component: Any,
    store_prefix: pulumi.Output[str],
    uri: pulumi.Input[str],
    registry_url: pulumi.Output[str],
    image: pulumi.Input[str],
    **more: Any,
) -> dict[str, Any]:
    """The stack outputs: where the weights and the image go, the endpoint, its shape and its price."""
    return {
        "bucket_uri": store_prefix,
        "model_uri": uri,
        "registry_url": registry_url,
        "image": image,
        "instance_type": component.instance_type,
        "gpu_usd_per_hour": {
            "at_min_instances": component.hourly_usd_min,
            "at_max_instances": component.hourly_usd_max,
        },
        **more,
    }


def install(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    """The stack's weight store, registry and managed endpoint; its outputs."""
    install_cloud = {"aws": _aws, "gcp": _gcp, "azure": _azure}[cfg.cloud]
    return {**install_cloud(cfg, sizing), "sizing": sizing.report}


def _aws(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    from aws_installation import provider

    from shardstack.aws import Registry, SageMakerEndpoint, WeightStore

    stack = pulumi.get_stack()
    opts = pulumi.ResourceOptions(providers={"aws": provider(cfg)})
    store = WeightStore(f"{stack}-weights", {}, opts=opts)
    registry = Registry(f"{stack}-registry", {}, opts=opts)
    uri = model_uri(cfg, store.model_uri_prefix)
    image = runtime_image(cfg, pulumi.Output.concat(registry.repository_url, ":", image_tag(cfg)))
    endpoint = SageMakerEndpoint(
        f"{stack}-endpoint",
        {
            **endpoint_args(cfg, sizing),  # type: ignore[typeddict-item]
            "image": image,
            "model_uri": uri,
            "weights_kms_key_arn": store.kms_key_arn,
        },
        opts=opts,
    )
    return outputs(
        endpoint, store.model_uri_prefix, uri, registry.repository_url, image, endpoint=endpoint.endpoint_name
    )


def _gcp(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    from gcp_installation import provider

    from shardstack.gcp import Registry, VertexEndpoint, WeightStore

    assert cfg.region is not None  # config requires a region for every cloud
    stack = pulumi.get_stack()
    opts = pulumi.ResourceOptions(providers={"gcp": provider(cfg)})
    store = WeightStore(f"{stack}-weights", {"location": cfg.region.upper()}, opts=opts)
    registry = Registry(f"{stack}-registry", {"location": cfg.region}, opts=opts)
    uri = model_uri(cfg, store.model_uri_prefix)
    image = runtime_image(cfg, pulumi.Output.concat(registry.repository_url, "/runtime:", image_tag(cfg)))
    endpoint = VertexEndpoint(
        f"{stack}-endpoint",
        {
            **endpoint_args(cfg, sizing),  # type: ignore[typeddict-item]
            "region": cfg.region,
            "image": image,
            "model_uri": uri,
        },
        opts=opts,
    )
    return outputs(
        endpoint,
        store.model_uri_prefix,
        uri,
        registry.repository_url,
        image,
        endpoint=endpoint.endpoint,
        raw_predict_url=endpoint.raw_predict_url,
    )


def _azure(cfg: config.StackConfig, sizing: ModelSizing) -> dict[str, Any]:
    import pulumi_azure_native as azure_native
    from azure_installation import provider

    from shardstack.azure import MlOnlineEndpoint, Registry, WeightStore

    assert cfg.region is not None  # config requires a region for every cloud
    stack = pulumi.get_stack()
    opts = pulumi.ResourceOptions(providers={"azure-native": provider(cfg)})
    group = azure_native.resources.ResourceGroup(f"{stack}-rg", location=cfg.region, opts=opts)
    # azure-native has no default tags: every part gets them.
    placed = {"resource_group_name": group.name, "location": cfg.region, "tags": {"shardstack-stack": stack}}
    firewall = {
        "allowed_ip_ranges": [str(c) for c in cfg.weight_store.allowed_networks],
        "allowed_subnet_ids": list(cfg.weight_store.allowed_subnet_ids),
    }
    store = WeightStore(f"{stack}-weights", {**placed, **firewall}, opts=opts)  # type: ignore[typeddict-item]
    registry = Registry(f"{stack}-registry", placed, opts=opts)  # type: ignore[arg-type]
    uri = model_uri(cfg, store.model_uri_prefix)
    image = runtime_image(cfg, pulumi.Output.concat(registry.registry_url, "/shardstack/runtime:", image_tag(cfg)))
    endpoint = MlOnlineEndpoint(
        f"{stack}-endpoint",
        {
            **endpoint_args(cfg, sizing),  # type: ignore[typeddict-item]
            **placed,
            "image": image,
            "registry_id": registry.registry_id,
            "model_uri": uri,
            "weights_account_id": store.account_id,
        },
        opts=opts,
    )
    return outputs(
        endpoint,
        store.model_uri_prefix,
        uri,
        registry.registry_url,
        image,
        endpoint=endpoint.endpoint_name,
        endpoint_id=endpoint.endpoint_id,
        scoring_uri=endpoint.scoring_uri,
        workspace_name=endpoint.workspace_name,
        resource_group_name=group.name,
    )
