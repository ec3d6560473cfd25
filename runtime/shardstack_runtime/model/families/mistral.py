"""Mistral: Llama's decoder with a sliding attention window (``sliding_window``; null in later releases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shardstack_runtime.model.families import llama
from shardstack_runtime.model.family import Architecture, Family, window


def read(raw: Mapping[str, Any], problems: list[str]) -> Architecture:
    return replace(llama.read(raw, problems), sliding_window=window(raw, problems))


FAMILY = Family("mistral", ("MistralForCausalLM",), read)
