"""Fake outputs of the random provider: a RandomString's result, stable per resource."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from shardstack.offline.fakes import ProviderFakes

__all__ = ["FAKES", "RandomFakes"]

CHARACTER_CLASSES = (
    ("lower", "abcdefghijklmnopqrstuvwxyz"),
    ("numeric", "0123456789"),
    ("upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ("special", "!@#$%&*()-_=+[]{}<>:?"),
)
DEFAULT_LENGTH = 16


class RandomFakes(ProviderFakes):
    """A RandomString gets a result of the requested length and character classes, the same on every run."""

    def outputs(self, type_token: str, name: str, inputs: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
        if type_token != "random:index/randomString:RandomString":
            return {}
        classes = [chars for flag, chars in CHARACTER_CLASSES if inputs.get(flag, True)]
        alphabet = "".join(classes) or CHARACTER_CLASSES[0][1]
        digest = hashlib.sha256(f"{type_token}/{name}".encode()).digest()
        length = int(inputs.get("length", DEFAULT_LENGTH))
        return {"result": "".join(alphabet[digest[i % len(digest)] % len(alphabet)] for i in range(length))}


FAKES = RandomFakes()
