#!/usr/bin/env python3
"""Write every file generated from the specs (TypedDicts, the stack config reference, the `pulumi new` templates'
Pulumi.yaml and requirements.txt, the component package's schema.json), or check them.

.venv/bin/python scripts/generate_specs.py           # write what changed
.venv/bin/python scripts/generate_specs.py --check   # exit 1, naming each stale file (the suite runs this)
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import subprocess
import sys
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from shardstack import provider
from shardstack.aws import specs as aws
from shardstack.azure import installation_specs as azure
from shardstack.gcp import installation_specs as gcp
from shardstack.k8s import specs as k8s
from shardstack.local import specs as local
from shardstack.specs import gpu_pool, installation, render, system_pool
from shardstack.template_config import TEMPLATES, Template

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Generated:
    """One generated file: where it goes and how to render it."""

    path: str
    render: Callable[[], str]


ARGS_MODULES = (system_pool.ARGS, installation.ARGS, aws.ARGS, gcp.ARGS, azure.ARGS, k8s.ARGS, local.ARGS)
"""Every module of TypedDicts, each declared by its spec module."""


def targets() -> list[Generated]:
    """Return every generated file."""
    homes = {id(spec): args.module for args in ARGS_MODULES for spec in args.specs}

    def typed_dicts(args: render.ArgsModule) -> Callable[[], str]:
        return lambda: render.module(args, homes)

    return [
        *(Generated(args.path, typed_dicts(args)) for args in ARGS_MODULES),
        Generated("infra/config/sections.py", stack_config_sections),
        Generated("docs/CONFIG.md", config_reference),
        *(Generated(f"templates/{t.name}/Pulumi.yaml", lambda t=t: template_project(t)) for t in TEMPLATES),
        *(Generated(f"templates/{t.name}/requirements.txt", template_requirements) for t in TEMPLATES),
        Generated("schema.json", lambda: provider.schema(package_version())),
    ]


def package_version() -> str:
    """The version pyproject.toml gives the package."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def template_project(template: Template) -> str:
    """Return a template's Pulumi.yaml: the project ``pulumi new`` writes, and the prompts it asks (its config)."""
    prompts = {}
    for key in template.keys:
        prompts[key.key] = {"description": key.description}
        if key.default is not None:
            prompts[key.key]["default"] = key.default
    project = {
        "name": "${PROJECT}",
        "description": "${DESCRIPTION}",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}},
        "template": {"displayName": template.display_name, "description": template.description, "config": prompts},
    }
    return yaml.safe_dump(project, sort_keys=False, width=120, allow_unicode=True)


def template_requirements() -> str:
    """Return a template's requirements.txt: the published package, at this release's minor version."""
    version = package_version()
    major, minor, _ = version.split(".", 2)
    return f"shardstack>={version},<{major}.{int(minor) + 1}\n"


def config_reference() -> str:
    """Return docs/CONFIG.md, rendered from the stack config's sections.

    Imported here, after the sections above are written: the stack config package imports them.
    """
    sys.path.insert(0, str(REPO / "infra"))  # the stack config, as Pulumi loads it
    from config import reference

    return reference.render()


SECTIONS = (
    ("TAINT", "TaintConfig", "SpecSection"),
    ("SYSTEM_POOL", "SystemPoolConfig", "SpecSection"),
    ("GPU_POOL", "GpuPoolConfig", "GpuPoolSection"),
    ("CLUSTER", "ClusterConfig", "SpecSection"),
    ("NETWORK", "NetworkConfig", "SpecSection"),
    ("WEIGHT_STORE", "WeightStoreConfig", "SpecSection"),
    ("MODEL", "ModelConfig", "SpecSection"),
    ("API_KEY_SECRET", "ApiKeySecretRef", "SpecSection"),
    ("SERVING_AUTOSCALING", "AutoscalingConfig", "SpecSection"),
    ("SERVING", "ServingConfig", "SpecSection"),
    ("ENDPOINT", "EndpointConfig", "SpecSection"),
    ("MONITORING", "MonitoringConfig", "SpecSection"),
    ("LOCAL_WEIGHTS", "LocalWeightsConfig", "SpecSection"),
    ("LOCAL", "LocalConfig", "SpecSection"),
)
"""The stack config's sections: the spec each is generated from (in infra/config/specs.py, or TAINT, the GPU pool's
taint), the class and its base; a section comes after the sections it holds."""


def stack_config_specs() -> types.ModuleType:
    """Import infra/config/specs.py, as Pulumi loads it, without running the package's ``__init__``: that imports
    the sections generated from these specs, which may not exist yet."""
    if "config" not in sys.modules:
        package = types.ModuleType("config")
        package.__path__ = [str(REPO / "infra" / "config")]
        sys.modules["config"] = package
    return importlib.import_module("config.specs")


def stack_config_sections() -> str:
    """Return the stack config's sections, each checked by its spec."""
    specs = stack_config_specs()

    found = {name: gpu_pool.TAINT if name == "TAINT" else getattr(specs, name) for name, _, _ in SECTIONS}
    classes = {found[name].name: cls for name, cls, _ in SECTIONS}
    sections = [render.config_section(found[name], name, base, classes) for name, _, base in SECTIONS]
    header = render.header(
        "The stack config's sections (every mapping of keys but the whole namespace), each checked by its spec.",
        "infra/config/specs.py",
    )
    held = sorted(name for name, _, _ in SECTIONS if name != "TAINT")
    imports = [
        "from __future__ import annotations",
        "",
        "from typing import ClassVar, Literal",
        "",
        "from shardstack.specs.gpu_pool import TAINT",
        "from shardstack.specs.spec import Spec",
        "",
        f"from .specs import {', '.join(held)}",
        "from .section import GpuPoolSection, SpecSection, spec_field",
    ]
    return header + "\n\n" + "\n".join(imports) + "\n\n\n" + "\n\n\n".join(sections) + "\n"


def formatted(text: str, path: str) -> str:
    """Return ``text`` as ``ruff`` sorts and formats it, so that the suite's lint and format checks agree."""
    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (
        [ruff, "check", "--select", "I", "--fix-only", "--stdin-filename", path, "-"],
        [ruff, "format", "--stdin-filename", path, "-"],
    ):
        text = subprocess.run(command, input=text, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    args = parser.parse_args()
    stale = []
    for target in targets():
        path = REPO / target.path
        text = target.render()
        text = formatted(text, target.path) if target.path.endswith(".py") else text
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        stale.append(target.path)
        if args.check:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), target.path, "generated", lineterm="")
            print("\n".join(list(diff)[:40]))
        else:
            path.write_text(text)
            print(f"wrote {target.path}")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run scripts/generate_specs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
