"""The `pulumi new` templates: each is a template the CLI accepts, and a project made from it plans offline with
nothing of this repository but the built wheel (tests/template_projects.py says how)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from template_projects import TEMPLATES, new_project

from shardstack.defaults import DEFAULT_IMAGE, DEMO_MODEL_PATH
from shardstack.k8s.runtime_contract import ENV_MODEL_URI, ENV_WORLD_SIZE
from shardstack.plan import plan_stack
from shardstack.template_config import TEMPLATES as DECLARED

NAMES = [t.name for t in DECLARED]
INSTALLATIONS = {
    "shardstack-aws": "shardstack:aws:AwsInstallation",
    "shardstack-gcp": "shardstack:gcp:GcpInstallation",
    "shardstack-azure": "shardstack:azure:AzureInstallation",
}


def graph(template_plans: dict[str, Path], template: str) -> list[dict[str, Any]]:
    return json.loads((template_plans[template] / "graph.json").read_text())["resources"]


def test_every_directory_is_a_declared_template() -> None:
    assert sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()) == sorted(NAMES)


@pytest.mark.parametrize("template", NAMES)
def test_template_has_what_pulumi_new_needs(template: str) -> None:
    directory = TEMPLATES / template
    project = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    assert project["name"] == "${PROJECT}"
    assert project["description"] == "${DESCRIPTION}"
    assert project["runtime"]["name"] == "python"
    assert project["template"]["displayName"] and project["template"]["description"]
    prompts = project["template"]["config"]
    assert all(len(p["description"]) > 20 for p in prompts.values()), prompts
    assert all(isinstance(p.get("default", ""), str) for p in prompts.values())  # the CLI's prompts are text
    # The program depends on the published package, not on this repository's files.
    assert (directory / "requirements.txt").read_text().startswith("shardstack>=")
    program = (directory / "__main__.py").read_text()
    assert f'TemplateSettings.read("{template}")' in program
    assert "${PROJECT}" in (directory / "README.md").read_text()


@pytest.mark.parametrize("template", NAMES)
def test_project_plans_the_runtime_with_the_prompts_defaults(template_plans: dict[str, Path], template: str) -> None:
    resources = graph(template_plans, template)
    (statefulset,) = [r for r in resources if r["type"] == "kubernetes:apps/v1:StatefulSet"]
    (container,) = statefulset["inputs"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == DEFAULT_IMAGE
    assert env[ENV_WORLD_SIZE] == "2"  # the shards prompt's default
    if template in INSTALLATIONS:
        (installation,) = [r for r in resources if r["type"] == INSTALLATIONS[template]]
        assert installation["name"] == "my-llm"  # the project's name
    else:
        assert env[ENV_MODEL_URI] == f"s3://models/{DEMO_MODEL_PATH}"


def test_cloud_template_keeps_the_kubernetes_api_private_by_default(template_plans: dict[str, Path]) -> None:
    (cluster,) = [r for r in graph(template_plans, "shardstack-aws") if r["type"] == "aws:eks/cluster:Cluster"]
    assert cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False
    (cluster,) = [r for r in graph(template_plans, "shardstack-gcp") if r["type"] == "gcp:container/cluster:Cluster"]
    assert cluster["inputs"]["privateClusterConfig"]["enablePrivateEndpoint"] is True
    aks = "azure-native:containerservice:ManagedCluster"
    (cluster,) = [r for r in graph(template_plans, "shardstack-azure") if r["type"] == aks]
    assert cluster["inputs"]["apiServerAccessProfile"]["enablePrivateCluster"] is True


def test_bad_answers_are_refused_naming_the_key_and_the_value(tmp_path: Path) -> None:
    directory = new_project("shardstack-aws", tmp_path)
    stack = directory / "Pulumi.dev.yaml"
    config = yaml.safe_load(stack.read_text())["config"]
    config.update(
        {"my-llm:shards": "0", "my-llm:authorizedNetworks": "203.0.113.0/24, 10.0.0.1/8", "my-llm:gpu": "l40"}
    )
    stack.write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(pulumi.RunError) as refused:
        plan_stack("dev", directory)
    message = str(refused.value)
    assert "my-llm:shards: '0' must be a whole number from 1 to 64" in message
    assert "my-llm:authorizedNetworks: '10.0.0.1/8' has host bits set" in message
    assert "my-llm:gpu: 'l40' is not offered on aws in the catalogue; one of " in message
    assert "(did you mean 'l40s'?)" in message
