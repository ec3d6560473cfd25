"""The `shardstack` command as a user runs it: exit codes and what reaches the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shardstack.cli import main

LOCAL = {
    "shardstack:cloud": "local",
    "shardstack:model": {"uri": "demo", "shards": 2},
}


def test_plan_prints_the_tree_counts_and_outputs(repo: Path, capsys) -> None:
    assert main(["plan", "local", "--project-dir", str(repo)]) == 0

    out = capsys.readouterr().out
    assert "Stack 'local'" in out
    assert "Counts per type:" in out
    assert "kubernetes:apps/v1:StatefulSet" in out
    assert "shardstack:k8s:ShardedInference" in out
    assert "gpu_usd_per_hour" in out


def test_plan_json_is_the_graph(repo: Path, capsys) -> None:
    assert main(["plan", "local", "--json", "--project-dir", str(repo)]) == 0

    graph = json.loads(capsys.readouterr().out)
    assert graph["stack"] == "local"
    assert {"urn", "type", "name", "parent", "inputs", "outputs"} <= set(graph["resources"][0])
    assert "endpoint" in graph["outputs"]


def test_plan_out_writes_graph_and_one_manifest_per_object(repo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "plan"
    (out / "manifests").mkdir(parents=True)
    (out / "manifests" / "999-stale.yaml").write_text("kind: Stale\n")

    assert main(["plan", "local", "--out", str(out), "--project-dir", str(repo)]) == 0

    graph = json.loads((out / "graph.json").read_text())
    manifests = sorted((out / "manifests").glob("*.yaml"))
    # A Helm release is many objects, rendered by Helm at apply time: the plan lists it, with no manifest of its own.
    k8s_resources = [
        r
        for r in graph["resources"]
        if r["custom"] and r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm.sh/")
    ]
    assert len(manifests) == len(k8s_resources) > 0
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in manifests}
    assert {"StatefulSet", "Service", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert not (out / "manifests" / "999-stale.yaml").exists()


def test_plan_shows_values_known_only_after_apply_as_a_placeholder(repo: Path, tmp_path: Path) -> None:
    assert main(["plan", "local", "--out", str(tmp_path), "--project-dir", str(repo)]) == 0

    secrets = [yaml.safe_load(p.read_text()) for p in (tmp_path / "manifests").glob("*Secret*.yaml")]
    # The store's credentials are generated at apply time: never a made-up value in the plan.
    assert secrets and all("<known after apply>" in json.dumps(s) or "<secret>" in json.dumps(s) for s in secrets)


def test_plan_config_error_exits_non_zero_with_only_the_errors(scratch_project, capsys) -> None:
    project = scratch_project(
        "broken", {**LOCAL, "shardstack:modle": {"uri": "demo"}, "shardstack:serving": {"replica_groups": 0}}
    )

    code = main(["plan", "broken", "--project-dir", str(project)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "shardstack:modle" in captured.err and "did you mean 'model'" in captured.err
    assert "shardstack:serving.replica_groups" in captured.err
    assert "Traceback" not in captured.err


def test_plan_of_an_unknown_stack_names_the_known_ones(repo: Path, capsys) -> None:
    assert main(["plan", "lcoal", "--project-dir", str(repo)]) == 2

    err = capsys.readouterr().err
    assert "'lcoal'" in err and "local" in err and "did you mean 'local'" in err


def test_plan_outside_a_project_says_so(tmp_path: Path, capsys) -> None:
    assert main(["plan", "local", "--project-dir", str(tmp_path)]) == 2

    assert "no Pulumi.yaml" in capsys.readouterr().err


def test_size_prints_shards_for_a_70b_model(capsys) -> None:
    assert main(["size", "--params", "70e9", "--dtype", "bf16", "--gpu", "h100-80gb", "--cloud", "aws", "--json"]) == 0

    sizing = json.loads(capsys.readouterr().out)
    # 140e9 B of weights over 79.1 GiB x 0.8 usable per H100 = 130.4 / 63.3 -> 3 shards.
    assert sizing["shards"] == 3


def test_size_accepts_suffixed_counts(capsys) -> None:
    assert main(["size", "--params", "8B", "--gpu", "l4", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["params"] == 8e9


def test_size_answers_for_a_catalogued_model(capsys) -> None:
    assert main(["size", "--model", "gemma-3-27b", "--gpu", "l4", "--json"]) == 0

    sizing = json.loads(capsys.readouterr().out)
    # Gemma 3 27B's text model: about 27.0e9 parameters, 54 GB in bf16 over 17.6 GiB usable per L4 -> 3 shards.
    assert round(sizing["params"] / 1e9, 1) == 27.0 and sizing["shards"] == 3
    with pytest.raises(SystemExit):
        main(["size", "--model", "gemma-4", "--gpu", "l4"])
    assert "invalid choice: 'gemma-4'" in capsys.readouterr().err


def test_size_bad_input_is_an_error_not_a_traceback(capsys) -> None:
    assert main(["size", "--params", "70e9", "--dtype", "bf17", "--gpu", "h100"]) == 2

    err = capsys.readouterr().err
    assert "bf17" in err and "h100" in err and "Traceback" not in err


def test_console_script_runs_as_a_process(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shardstack.cli", "plan", "local"], cwd=repo, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert "Stack 'local'" in result.stdout
