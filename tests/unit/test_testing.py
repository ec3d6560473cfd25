"""The recording mocks consumers use for their own tests: what they record and what they return."""

from __future__ import annotations

import asyncio
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from shardstack.testing import SECRET, UNKNOWN, run_program, run_refused


class _Pair(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Pair", name, {}, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": name}, opts=pulumi.ResourceOptions(parent=self)
        )
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-cm",
            metadata={"name": "settings", "namespace": self.namespace.metadata.name},
            data={"uid": self.namespace.metadata.uid},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
        )
        self.register_outputs({})


def test_records_parent_provider_and_dependencies() -> None:
    def program() -> None:
        provider = k8s.Provider("cluster", context="kind-test")
        _Pair("pair", opts=pulumi.ResourceOptions(providers=[provider]))

    graph = run_program(program)

    component = graph.one("test:index:Pair")
    namespace = graph.one("kubernetes:core/v1:Namespace")
    config_map = graph.one("kubernetes:core/v1:ConfigMap")
    assert component.parent is None and not component.custom
    assert namespace.parent == component.urn and config_map.parent == component.urn
    assert graph.children(component) == [namespace, config_map]
    assert namespace.urn in config_map.dependencies
    assert namespace.provider is not None and "pulumi:providers:kubernetes::cluster" in namespace.provider


def test_outputs_are_realistic_so_derived_values_are_known() -> None:
    def program() -> None:
        _Pair("pair")
        bucket = aws.s3.Bucket("weights", bucket="my-weights")
        pulumi.export("bucket_arn", bucket.arn)

    graph = run_program(program)

    uid = graph.one("kubernetes:core/v1:Namespace").outputs["metadata"]["uid"]
    assert uid and uid != UNKNOWN
    assert graph.one("kubernetes:core/v1:ConfigMap").inputs["data"] == {"uid": uid}
    assert graph.outputs["bucket_arn"] == "arn:aws:s3:::my-weights"


def test_data_source_lookups_answer_with_the_mock_account() -> None:
    def program() -> None:
        zones = aws.get_availability_zones_output(state="available")
        pulumi.export("zones", zones.names)
        pulumi.export("account", aws.get_caller_identity_output().account_id)
        pulumi.export("region", aws.get_region_output().region)

    graph = run_program(program)

    assert graph.outputs["zones"] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert graph.outputs["account"].isdigit() and len(graph.outputs["account"]) == 12
    assert graph.outputs["region"] == "us-east-1"


def test_preview_leaves_cloud_computed_values_unknown() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("weights", bucket="my-weights")
        pulumi.export("bucket_arn", bucket.arn)
        pulumi.export("bucket_name", bucket.bucket)

    graph = run_program(program, preview=True)

    assert graph.outputs["bucket_arn"] == UNKNOWN
    # An input is known in preview too.
    assert graph.outputs["bucket_name"] == "my-weights"


def test_secrets_are_never_recorded_in_plaintext() -> None:
    def program() -> None:
        secret = k8s.core.v1.Secret(
            "key", metadata={"name": "api-key"}, string_data={"api-key": pulumi.Output.secret("hunter2")}
        )
        pulumi.export("secret_data", secret.string_data)

    graph = run_program(program)

    recorded = json.dumps(graph.to_json("test"))
    assert "hunter2" not in recorded
    assert graph.one("kubernetes:core/v1:Secret").inputs["stringData"] == {"api-key": SECRET}
    assert graph.outputs["secret_data"] == SECRET


def test_config_is_reset_between_runs() -> None:
    seen: list[str | None] = []

    def program() -> None:
        seen.append(pulumi.Config("shardstack").get("cloud"))

    run_program(program, {"shardstack:cloud": "aws"})
    run_program(program, {})
    run_program(program, {"cloud": "gcp"})  # a bare key gets the project namespace

    assert seen == ["aws", None, "gcp"]


def test_structured_config_arrives_as_objects() -> None:
    seen = []

    def program() -> None:
        seen.append(pulumi.Config("shardstack").get_object("model"))

    run_program(program, {"shardstack:model": {"uri": "demo", "shards": 2}})

    assert seen == [{"uri": "demo", "shards": 2}]


def test_each_run_sees_only_its_own_resources_and_stack() -> None:
    first = run_program(lambda: _Pair("one"), stack="dev")
    second = run_program(lambda: _Pair("two"), stack="prod")

    assert {r.name for r in first} == {"one", "one-ns", "one-cm"}
    assert {r.name for r in second} == {"two", "two-ns", "two-cm"}
    assert all("::prod::" not in r.urn and r.urn.startswith("urn:pulumi:dev::") for r in first)


def test_runs_after_an_asyncio_test_closed_its_loop() -> None:
    asyncio.run(asyncio.sleep(0))  # leaves no current event loop behind

    graph = run_program(lambda: _Pair("after"))

    assert len(graph.of_type("kubernetes:core/v1:Namespace")) == 1


def test_program_errors_propagate_unchanged() -> None:
    def program() -> None:
        raise pulumi.RunError("bad config: shardstack:cloud")

    with pytest.raises(pulumi.RunError, match="shardstack:cloud"):
        run_program(program)


def test_k8s_objects_are_manifests() -> None:
    graph = run_program(lambda: _Pair("pair"))

    objects = graph.k8s_objects()

    assert [o["kind"] for o in objects] == ["Namespace", "ConfigMap"]
    assert objects[1]["apiVersion"] == "v1"
    assert objects[1]["metadata"] == {"name": "settings", "namespace": "pair"}


def test_run_refused_returns_the_error_and_insists_nothing_was_registered() -> None:
    from shardstack.errors import ArgumentError

    def refuses() -> None:
        raise ArgumentError("Thing 'x'", ["size=0 must be ≥ 1"])

    assert run_refused(refuses, ArgumentError).problems == ["size=0 must be ≥ 1"]

    def registers_then_refuses() -> None:
        aws.s3.Bucket("half-made")
        refuses()

    with pytest.raises(AssertionError, match=r"after registering \['half-made'\]"):
        run_refused(registers_then_refuses, ArgumentError)
    with pytest.raises(AssertionError, match="expected the program to raise ArgumentError"):
        run_refused(lambda: None, ArgumentError)
