"""Every model family the runtime serves, by config.json's ``model_type``: one module each, declaring how it
differs from Llama (:class:`~shardstack_runtime.model.family.Family`)."""

from __future__ import annotations

from shardstack_runtime.model.families import (
    gemma2,
    gemma3_text,
    llama,
    mistral,
    mixtral,
    phi3,
    qwen2,
    qwen2_moe,
    qwen3,
    qwen3_moe,
)
from shardstack_runtime.model.family import Family

FAMILIES: dict[str, Family] = {
    module.FAMILY.model_type: module.FAMILY
    for module in (llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3, mixtral, qwen2_moe, qwen3_moe)
}
