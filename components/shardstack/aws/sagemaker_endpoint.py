"""SageMakerEndpoint: the runtime image on a SageMaker real-time endpoint, one replica group per instance.

Usage::

    from shardstack.aws import Registry, SageMakerEndpoint, WeightStore

    store = WeightStore("weights", {})
    registry = Registry("registry", {})
    endpoint = SageMakerEndpoint("llm", {
        "gpu": "l4",
        "image": pulumi.Output.concat(registry.repository_url, ":0.1.0"),
        "model_uri": pulumi.Output.concat("s3://", store.bucket_name, "/models/llama-3.1-8b/"),
        "weights_kms_key_arn": store.kms_key_arn,
        "params": 8.0e9,
        "max_instances": 4,
    })
    # aws sagemaker-runtime invoke-endpoint --endpoint-name <endpoint_name> --content-type application/json \
    #     --body '{"messages": [{"role": "user", "content": "Hi"}]}' --cli-binary-format raw-in-base64-out out.json

It creates an execution role that reads exactly the model's prefix in its bucket (and decrypts it through S3 with
``weights_kms_key_arn``), pulls exactly the image's ECR repository and writes the endpoint's logs and metrics; a
Model running the image with the runtime's environment; an EndpointConfiguration with the catalogue's instance
type and startup timeouts sized from the checkpoint; the Endpoint; and, when ``max_instances`` > ``min_instances``,
Application Auto Scaling that tracks invocations per instance.

What stays off, and why:

- Network isolation: the ranks read their layers straight from S3, which an isolated container cannot reach.
- A KMS key for the ML storage volume: SageMaker refuses one for instance types with local NVMe instance storage,
  which every catalogue GPU shape has; those disks are encrypted by the instance's hardware.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_aws as aws

from shardstack.aws.args import SageMakerEndpointArgs
from shardstack.aws.specs import ECR_IMAGE, SAGEMAKER_ENDPOINT
from shardstack.aws.tags import component_tags
from shardstack.errors import ArgumentError
from shardstack.managed_endpoint import container_env, shape_outputs
from shardstack.specs.managed_endpoint import managed_shape
from shardstack.specs.problem import as_arguments
from shardstack.specs.spec import Values, arguments_first

TYPE_TOKEN = "shardstack:aws:SageMakerEndpoint"
PLATFORM = "sagemaker"

VARIANT_NAME = "primary"
"""The endpoint's one production variant; autoscaling addresses it by this name."""
SCALE_OUT_COOLDOWN_S = 300
"""A new instance needs minutes to pull the image and load the weights: wait that long before adding another."""
SCALE_IN_COOLDOWN_S = 900
"""Removing an instance drops a warm copy of the model; wait for a lull that lasts."""

PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
"""What pulling one repository's image needs; ``ecr:GetAuthorizationToken`` has no resource to scope it to."""

__all__ = ["SageMakerEndpoint", "SageMakerEndpointArgs", "execution_policy", "validate_sagemaker_endpoint_args"]


@arguments_first
def validate_sagemaker_endpoint_args(args: Mapping[str, Any]) -> list[str]:
    """Return every problem with SageMakerEndpoint arguments, one line each."""
    return as_arguments(SAGEMAKER_ENDPOINT.check(args))


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def execution_policy(model_uri: str, image: str, kms_key_arn: str | None) -> str:
    """The execution role's policy: read the model's S3 prefix, pull the image's repository, write logs/metrics."""
    repository = ECR_IMAGE.match(image)
    if repository is None:
        raise ArgumentError("SageMakerEndpoint", [f"image: {image!r} is not an image in a private ECR repository"])
    region, account = repository["region"], repository["account"]
    arn = f"arn:{_partition(region)}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": list(PULL_ACTIONS),
            "Resource": [f"{arn}:ecr:{region}:{account}:repository/{repository['repository']}"],
        },
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]},
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [f"{arn}:logs:*:*:log-group:/aws/sagemaker/Endpoints/*"],
        },
        {
            "Sid": "WriteMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        },
    ]
    parts = urlsplit(model_uri)
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, parts.path.lstrip("/")
        statements += [
            {
                "Sid": "ListWeights",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"{arn}:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
            {
                "Sid": "ReadWeights",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{arn}:s3:::{bucket}/{prefix}*"],
            },
        ]
        if kms_key_arn:
            statements.append(
                {
                    "Sid": "DecryptWeights",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [kms_key_arn],
                    "Condition": {"StringLike": {"kms:ViaService": "s3.*"}},
                }
            )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


class SageMakerEndpoint(pulumi.ComponentResource):
    """Creates a SageMaker real-time endpoint running the runtime image, with a least-privilege execution role."""

    endpoint_name: pulumi.Output[str]
    """Name of the endpoint: what ``InvokeEndpoint`` and ``InvokeEndpointWithResponseStream`` take."""
    endpoint_arn: pulumi.Output[str]
    """ARN of the endpoint, for IAM policies of its callers (``sagemaker:InvokeEndpoint``)."""
    execution_role_arn: pulumi.Output[str]
    """ARN of the role the instances run as."""
    instance_type: pulumi.Output[str]
    """The SageMaker instance type (``ml.g6.12xlarge``)."""
    shards: pulumi.Output[int]
    """Ranks on each instance (one replica group)."""
    startup_timeout_s: pulumi.Output[int]
    """How long an instance may take to pass its first health check."""
    hourly_usd_min: float
    """Approximate list price per hour of ``min_instances`` instances (see shardstack.catalog)."""
    hourly_usd_max: float
    """Approximate list price per hour of ``max_instances`` instances."""

    def __init__(self, name: str, args: SageMakerEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_sagemaker_endpoint_args(args)
        if problems:
            raise ArgumentError(f"SageMakerEndpoint {name!r}", problems)
        values = Values(SAGEMAKER_ENDPOINT, args)
        shape = managed_shape(PLATFORM, values)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = component_tags(name, args.get("tags"))
        min_instances, max_instances = values["min_instances"], values["max_instances"]

        role = aws.iam.Role(
            f"{name}-execution",
            assume_role_policy=_trust_policy(),
            description=f"Runs the Shardstack endpoint {name}: reads its model's weights and pulls its image",
            tags=tags,
            opts=child,
        )
        policy = pulumi.Output.all(
            pulumi.Output.from_input(args["model_uri"]),
            pulumi.Output.from_input(args["image"]),
            pulumi.Output.from_input(args.get("weights_kms_key_arn")),
        ).apply(lambda values: execution_policy(*values))
        access = aws.iam.RolePolicy(f"{name}-execution", role=role.id, policy=policy, opts=child)

        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=args["image"],
                mode="SingleModel",
                environment=container_env(PLATFORM, args, shape),
            ),
            # Off: the ranks read their layers straight from S3 (see the module docstring).
            enable_network_isolation=False,
            tags=tags,
            # SageMaker checks the role's access when the model is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access]),
        )
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name=VARIANT_NAME,
                    model_name=model.name,
                    instance_type=shape.offer.instance_type,
                    initial_instance_count=min_instances,
                    container_startup_health_check_timeout_in_seconds=shape.startup_timeout_s,
                )
            ],
            tags=tags,
            opts=child,
        )
        endpoint = aws.sagemaker.Endpoint(f"{name}-endpoint", endpoint_config_name=config.name, tags=tags, opts=child)
        if max_instances > min_instances:
            target = values["target_invocations_per_instance"]
            self._autoscaling(name, endpoint, (min_instances, max_instances), target, child)

        self.endpoint_name = endpoint.name
        self.endpoint_arn = endpoint.arn
        self.execution_role_arn = role.arn
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_arn": self.endpoint_arn,
                "execution_role_arn": self.execution_role_arn,
                **shape_outputs(self, shape, values),
            }
        )

    @staticmethod
    def _autoscaling(
        name: str,
        endpoint: aws.sagemaker.Endpoint,
        instances: tuple[int, int],
        target_invocations: int,
        child: pulumi.ResourceOptions,
    ) -> None:
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=pulumi.Output.concat("endpoint/", endpoint.name, f"/variant/{VARIANT_NAME}"),
            min_capacity=instances[0],
            max_capacity=instances[1],
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=target_invocations,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_out_cooldown=SCALE_OUT_COOLDOWN_S,
                scale_in_cooldown=SCALE_IN_COOLDOWN_S,
            ),
            opts=child,
        )
