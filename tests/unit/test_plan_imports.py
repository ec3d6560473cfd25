"""Planning a stack imports its own cloud's SDK and components, and no other cloud's.

Each stack is planned in a fresh interpreter: what it imports is what `shardstack plan STACK` pays for.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from shardstack.offline.fakes import PROVIDERS, FakedProvider, fakes_for, provider_of, sdk_packages
from shardstack.plan import find_project

REPO = Path(__file__).resolve().parents[2]
STACKS = find_project(REPO).stacks()
CLOUDS_WITH_PACKAGES = sorted({p.cloud for p in PROVIDERS if p.cloud is not None})

# Plans the stack in a fresh interpreter, then lists every module that planning imported.
PLAN_AND_LIST_IMPORTS = """
import json, sys
from pathlib import Path
from shardstack.plan import plan_stack
plan_stack(sys.argv[1], Path(sys.argv[2]))
print(json.dumps(sorted(sys.modules)))
"""


def stack_cloud(stack: str) -> str:
    config = yaml.safe_load(find_project(REPO).stack_file(stack).read_text())["config"]
    return str(config["shardstack:cloud"])


@cache  # one fresh interpreter per stack, shared by the tests below
def modules_loaded_by_planning(stack: str) -> frozenset[str]:
    result = subprocess.run(
        [sys.executable, "-c", PLAN_AND_LIST_IMPORTS, stack, str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return frozenset(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("stack", STACKS)
def test_planning_a_stack_imports_only_its_own_clouds_sdks_and_components(stack: str) -> None:
    cloud = stack_cloud(stack)
    loaded = modules_loaded_by_planning(stack)

    sdks = {m for m in loaded if "." not in m and m.startswith("pulumi") and m != "pulumi"}
    assert sdks <= sdk_packages(cloud), f"{stack} ({cloud}) imported {sorted(sdks - sdk_packages(cloud))}"
    own = {package for p in PROVIDERS if p.cloud == cloud for package in p.sdk_packages}
    assert own <= sdks, f"{cloud} declares {sorted(own)}, but planning {stack} never imported {sorted(own - sdks)}"

    other_clouds = {f"shardstack.{c}" for c in CLOUDS_WITH_PACKAGES if c != cloud}
    assert not other_clouds & loaded, f"{stack} ({cloud}) imported {sorted(other_clouds & loaded)}"


@pytest.mark.parametrize("stack", STACKS)
def test_planning_a_stack_loads_the_fakes_of_its_own_providers_only(stack: str) -> None:
    cloud = stack_cloud(stack)
    loaded = modules_loaded_by_planning(stack)

    fakes = {m.removeprefix("shardstack.offline.fakes.") for m in loaded if m.startswith("shardstack.offline.fakes.")}
    allowed = {p.module for p in PROVIDERS if p.cloud in (None, cloud) and p.module is not None}
    assert fakes <= allowed, f"{stack} ({cloud}) loaded the fakes of {sorted(fakes - allowed)}"
    # Every stack but a managed endpoint's deploys on Kubernetes: its fakes did load, on first use.
    assert ("kubernetes" in fakes) == (not stack.endswith("-managed")), sorted(fakes)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.type_prefixes[0])
def test_every_declared_provider_has_its_sdk_installed_and_its_fakes_loadable(provider: FakedProvider) -> None:
    for package in provider.sdk_packages:
        assert importlib.util.find_spec(package) is not None, f"{package} is declared but not installed"
    for prefix in provider.type_prefixes:
        assert provider_of(f"{prefix}index/thing:Thing") is provider
        fakes = fakes_for(f"{prefix}index/thing:Thing")
        assert (fakes is None) == (provider.module is None)
