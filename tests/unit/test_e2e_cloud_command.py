"""scripts/e2e_cloud.py as a command: what it checks before it deploys anything (tools, credentials, the
stack, the command line), and the exit code and line it ends with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# scripts/ is not a package: `python scripts/e2e_cloud.py` finds its modules on sys.path, so do the same here.
_SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if _SCRIPTS not in sys.path:
    sys.path.insert(0, _SCRIPTS)

from e2e_cloud import STACKS_DIR, main, parse_args  # noqa: E402
from e2e_cloud_fakes import MODELS, FakeClock, FakeHttp, FakeStack, completion, make_seams, public_outputs  # noqa: E402
from e2e_cloud_outcomes import Skipped, UsageError  # noqa: E402
from e2e_cloud_preconditions import CLOUDS, check_preconditions, check_stack, needs_port_forward  # noqa: E402


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    directory = tmp_path / "stacks"
    directory.mkdir()
    private = "config:\n  shardstack:cloud: {cloud}\n  shardstack:serving:\n    public: false\n"
    for name, cloud in [("aws-dev", "aws"), ("gcp-dev", "gcp"), ("azure-dev", "azure"), ("local", "local")]:
        (directory / f"Pulumi.{name}.yaml").write_text(private.format(cloud=cloud))
    (directory / "Pulumi.aws-public.yaml").write_text(
        "config:\n  shardstack:cloud: aws\n  shardstack:serving:\n    public: true\n"
        "    allowed_cidrs: ['203.0.113.0/24']\n"
    )
    return directory


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    (directory / ".pulumi").mkdir(parents=True)
    (directory / ".pulumi" / "credentials.json").write_text("{}")
    return directory


def on_path(*tools: str):
    return lambda tool: f"/usr/bin/{tool}" if tool in tools else None


ALL_TOOLS = on_path("pulumi", "kubectl", "aws", "gke-gcloud-auth-plugin", "kubelogin", "az")


CLOUD_ENV = {
    "aws": {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
    "gcp": {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json", "GOOGLE_CLOUD_PROJECT": "acme-ml"},
    "azure": {"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant"},
}


# --- preconditions --------------------------------------------------------------------------------


def test_no_pulumi_cli_is_a_skip_not_a_failure(stacks, home, capsys):
    code = main(
        ["--stack", "aws-dev", "--port-forward"],
        which=on_path("kubectl", "aws"),
        environ=CLOUD_ENV["aws"],
        home=home,
        stacks_dir=stacks,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("skipped: the Pulumi CLI is not on PATH")


def test_no_pulumi_backend_login_is_a_skip(stacks, tmp_path, capsys):
    code = main(
        ["--stack", "aws-dev", "--port-forward"],
        which=ALL_TOOLS,
        environ=CLOUD_ENV["aws"],
        home=tmp_path / "empty-home",
        stacks_dir=stacks,
    )
    assert code == 0
    assert "skipped: not logged in to a Pulumi backend" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cloud", "names"),
    [
        (
            "aws",
            [
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                "AWS_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "~/.aws/credentials",
            ],
        ),
        ("gcp", ["GOOGLE_APPLICATION_CREDENTIALS", "~/.config/gcloud/application_default_credentials.json"]),
        ("azure", ["AZURE_CLIENT_ID and AZURE_TENANT_ID", "~/.azure"]),
    ],
)
def test_missing_cloud_credentials_are_a_skip_naming_what_to_set(cloud, names, stacks, home, capsys):
    code = main(
        ["--stack", f"{cloud}-dev", "--port-forward"],
        which=ALL_TOOLS,
        environ={"AWS_ACCESS_KEY_ID": ""},
        home=home,
        stacks_dir=stacks,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"skipped: no {cloud} credentials: set ")
    for name in names:
        assert name in out


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_credentials_from_the_environment_or_a_file_are_enough(cloud, home):
    check = lambda environ: check_preconditions(  # noqa: E731
        cloud, port_forward=False, which=ALL_TOOLS, environ=environ, home=home
    )
    # The settings the provider cannot do without (the GCP project) come from the environment here.
    settings = {s.env[0]: "value" for s in CLOUDS[cloud].settings}
    check(CLOUD_ENV[cloud])
    with pytest.raises(Skipped):
        check(settings)
    (home / CLOUDS[cloud].files[0]).parent.mkdir(parents=True, exist_ok=True)
    (home / CLOUDS[cloud].files[0]).write_text("")
    check(settings)


def test_a_gcp_stack_needs_a_project_from_its_config_or_the_environment(home):
    credentials = {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json"}
    with pytest.raises(
        Skipped,
        match=r"the GCP project is not set: run `pulumi config set gcp:project .*"
        r"GOOGLE_CLOUD_PROJECT",
    ):
        check_preconditions("gcp", port_forward=False, which=ALL_TOOLS, environ=credentials, home=home)
    check_preconditions(
        "gcp", port_forward=False, which=ALL_TOOLS, environ=credentials, home=home, config={"gcp:project": "acme-ml"}
    )
    check_preconditions(
        "gcp",
        port_forward=False,
        which=ALL_TOOLS,
        environ={**credentials, "CLOUDSDK_CORE_PROJECT": "acme-ml"},
        home=home,
    )


@pytest.mark.parametrize(("cloud", "tool"), [("gcp", "gke-gcloud-auth-plugin"), ("azure", "kubelogin")])
def test_a_private_stack_needs_the_tool_its_kubeconfig_runs(cloud, tool, home):
    with pytest.raises(Skipped, match=f"--port-forward needs `{tool}` on PATH"):
        check_preconditions(
            cloud, port_forward=True, which=on_path("pulumi", "kubectl"), environ=CLOUD_ENV[cloud], home=home
        )


def test_half_a_key_pair_is_no_aws_credentials(home):
    with pytest.raises(Skipped, match="no aws credentials"):
        check_preconditions(
            "aws", port_forward=False, which=ALL_TOOLS, environ={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, home=home
        )


@pytest.mark.parametrize(("tools", "missing"), [(("pulumi", "aws"), "kubectl"), (("pulumi", "kubectl"), "aws")])
def test_port_forward_needs_kubectl_and_the_kubeconfig_tool(tools, missing, home):
    with pytest.raises(Skipped, match=f"--port-forward needs `{missing}` on PATH"):
        check_preconditions("aws", port_forward=True, which=on_path(*tools), environ=CLOUD_ENV["aws"], home=home)
    check_preconditions("aws", port_forward=False, which=on_path(*tools), environ=CLOUD_ENV["aws"], home=home)


# --- the stack ------------------------------------------------------------------------------------


def test_unknown_stack_is_bad_usage_listing_the_stacks(stacks, home, capsys):
    code = main(
        ["--stack", "aws-prod", "--port-forward"],
        which=ALL_TOOLS,
        environ=CLOUD_ENV["aws"],
        home=home,
        stacks_dir=stacks,
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no stack file" in err and "Pulumi.aws-prod.yaml" in err
    assert "the stacks are: aws-dev, aws-public, azure-dev, gcp-dev, local" in err


def test_unknown_stack_is_reported_before_the_missing_cli(stacks, tmp_path, capsys):
    assert main(["--stack", "nope"], which=on_path(), environ={}, home=tmp_path, stacks_dir=stacks) == 2
    assert "error: no stack file" in capsys.readouterr().err


def test_the_repository_stacks_are_listed():
    with pytest.raises(UsageError, match=r"the stacks are: .*\blocal\b"):
        check_stack("no-such-stack", STACKS_DIR)


def test_a_stack_of_no_cloud_is_bad_usage(stacks):
    with pytest.raises(UsageError, match=r"'local' is not a cloud stack.*cloud stacks are: aws-dev, aws-public"):
        check_stack("local", stacks)


def test_a_private_stack_is_reached_through_a_port_forward_without_being_asked(stacks, home, capsys):
    assert needs_port_forward("aws-dev", stacks, asked=False)
    assert not needs_port_forward("aws-public", stacks, asked=False)
    assert needs_port_forward("aws-public", stacks, asked=True)
    # So a private stack needs kubectl: without it the test is skipped before anything is deployed.
    code = main(
        ["--stack", "gcp-dev"],
        which=on_path("pulumi"),
        environ=CLOUD_ENV["gcp"],
        home=home,
        stacks_dir=stacks,
        select_stack=lambda name: pytest.fail("must not deploy"),
    )
    assert code == 0
    assert "kubectl" in capsys.readouterr().out


def test_without_the_cli_a_private_stack_is_still_a_skip(stacks, home, capsys):
    assert main(["--stack", "aws-dev"], which=on_path(), environ={}, home=home, stacks_dir=stacks) == 0
    assert capsys.readouterr().out.startswith("skipped: the Pulumi CLI is not on PATH")


@pytest.mark.parametrize("argv", [[], ["--stack", "aws-dev", "--timeout-min", "0"], ["--stack", "aws-dev", "--x"]])
def test_bad_command_lines_exit_2(argv):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2


# --- exit codes -----------------------------------------------------------------------------------


def test_main_reports_pass_and_failure_with_exit_codes(stacks, home, capsys):
    def run(answer: str) -> int:
        http = FakeHttp({"/v1/models": [(200, MODELS)], "/v1/completions": [(200, completion(answer))]})
        return main(
            ["--stack", "aws-public"],
            which=ALL_TOOLS,
            environ=CLOUD_ENV["aws"],
            home=home,
            stacks_dir=stacks,
            select_stack=lambda name: FakeStack(public_outputs()),
            seams=make_seams(http, FakeClock(), []),
        )

    assert run(" there") == 0
    assert "passed: aws-public answered 'Hello' with ' there'" in capsys.readouterr().out
    assert run("") == 1
    assert "FAILED in step 'completion': " in capsys.readouterr().err


# --- managed stacks -------------------------------------------------------------------------------


def test_a_managed_stack_is_skipped_without_docker_and_refuses_a_port_forward(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = CLOUD_ENV["aws"]
    code = main(["--stack", "aws-managed"], which=on_path("pulumi", "aws"), environ=env, home=home)
    assert code == 0 and "a managed stack needs `docker` on PATH" in capsys.readouterr().out
    code = main(["--stack", "aws-managed", "--port-forward"], which=ALL_TOOLS, environ=env, home=home)
    assert code == 2 and "has no cluster: drop --port-forward" in capsys.readouterr().err
