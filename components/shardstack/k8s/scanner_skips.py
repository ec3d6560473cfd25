"""The scanner checks an object cannot pass for a good reason, said on the object itself.

checkov reads ``checkov.io/skip<N>: <check>=<reason>`` annotations from an object's metadata and reports the check
as skipped with that reason: the scan stays clean, and every exception is reviewable where the object is made (and
in the live cluster), not in a list beside the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

DIGEST_MARK = "@sha256:"


def skip_annotations(reasons: Mapping[str, str]) -> dict[str, str]:
    """checkov's annotations for ``reasons`` (check id to why it cannot pass), numbered in order."""
    return {f"checkov.io/skip{n}": f"{check}={why}" for n, (check, why) in enumerate(reasons.items(), start=1)}


def image_tag_reasons(image: str, why_a_tag: str) -> dict[str, str]:
    """The image checks a tag reference fails (a digest, CKV_K8S_43; pull policy Always, CKV_K8S_15), with why the
    image is a tag; none when ``image`` is pinned by digest."""
    if DIGEST_MARK in image:
        return {}
    return {"CKV_K8S_43": why_a_tag, "CKV_K8S_15": why_a_tag}


THIRD_PARTY_TAG = (
    "a pinned tag of a third-party image by default; pass a digest reference (image@sha256:...) in the component's "
    "image argument where your policy requires one"
)
"""Why the agents and servers Shardstack runs from others' images (NVIDIA, SeaweedFS, the cluster autoscaler) are
referenced by tag."""
