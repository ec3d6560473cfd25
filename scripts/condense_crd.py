#!/usr/bin/env python3
"""Condense a CustomResourceDefinition into the test data tests/k8s/crd_schema.py validates our objects against.

Usage::

    git show v0.10.0:config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml | \\
        scripts/condense_crd.py - --version v1 --source "kubernetes-sigs/lws v0.10.0 config/crd/bases/..." \\
        --embed spec.leaderWorkerTemplate.workerTemplate=PodTemplateSpec > tests/k8s/crds/leaderworkerset.yaml

What it keeps of the served version's ``openAPIV3Schema``: every field, type, enum, bound, pattern and required
list, without descriptions and ``status``. An ``--embed PATH=KIND`` subtree (a pod template the CRD copies from
Kubernetes) is replaced by its kind's name: the test validates it with the official schema of that kind instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def _at(schema: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The parent schema of ``path`` (dots through properties, ``[]`` through array items) and the last key."""
    *parents, last = path.split(".")
    node = schema
    for key in parents:
        node = node["properties"][key.removesuffix("[]")]
        if key.endswith("[]"):
            node = node["items"]
    return node, last


def condense(crd: dict[str, Any], version: str, embeds: dict[str, str]) -> dict[str, Any]:
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = served["schema"]["openAPIV3Schema"]
    schema["properties"].pop("status", None)
    for path, kind in embeds.items():
        parent, last = _at(schema, path)
        key = last.removesuffix("[]")
        if last.endswith("[]"):
            parent["properties"][key]["items"] = {"x-shardstack-kind": kind}
        else:
            parent["properties"][key] = {"x-shardstack-kind": kind}
    return {
        "apiVersion": f"{crd['spec']['group']}/{version}",
        "kind": crd["spec"]["names"]["kind"],
        "scale": served.get("subresources", {}).get("scale"),
        "schema": _without_descriptions(schema),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("crd", help="the CRD's YAML file, or - for standard input")
    parser.add_argument("--version", required=True, help="the served version to keep, e.g. v1")
    parser.add_argument("--source", required=True, help="where the CRD comes from: repository, tag and path")
    parser.add_argument("--embed", action="append", default=[], help="PATH=KIND, e.g. spec.template=PodTemplateSpec")
    args = parser.parse_args()
    text = sys.stdin.read() if args.crd == "-" else open(args.crd, encoding="utf-8").read()  # noqa: SIM115
    embeds = dict(item.split("=", 1) for item in args.embed)
    condensed = condense(yaml.safe_load(text), args.version, embeds)
    sys.stdout.write(f"# Condensed by scripts/condense_crd.py from {args.source}\n")
    sys.stdout.write(yaml.safe_dump(condensed, sort_keys=True, width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main())
