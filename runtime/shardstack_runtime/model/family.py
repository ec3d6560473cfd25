"""How a model family's decoder differs from Llama's, declared once per family (``model/families/``).

Usage::

    family = FAMILIES["qwen3"]
    architecture = family.read(config_json, problems)   # Architecture(qk_norm=True, ...)

The decoder (:mod:`shardstack_runtime.model.llama`) is Llama's; an :class:`Architecture` switches on what a family
adds to it. Everything a family reads from config.json beyond the shared shape (layers, heads, rope) is read by its
own module, which appends every problem to the list it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Architecture:
    """What a family's decoder layer does beyond Llama's; every default is Llama's."""

    qkv_bias: bool = False
    """Biases on the query, key and value projections (Qwen2, or Llama's ``attention_bias``)."""
    o_bias: bool = False
    """A bias on the output projection (Llama's ``attention_bias``; not Qwen2's)."""
    mlp_bias: bool = False
    fused_checkpoint: bool = False
    """Phi-3: the checkpoint holds q/k/v as one ``qkv_proj`` and gate/up as one ``gate_up_proj``, the layout this
    runtime computes with, instead of one tensor each."""
    qk_norm: bool = False
    """Qwen3: an RMSNorm over every query and key head (weights ``q_norm``/``k_norm``, ``head_dim`` wide) before
    the rotary embedding."""
    norm: str = "llama"
    """'llama': RMSNorm times its weight; 'gemma': times (1 + weight), the product in float32."""
    embedding_scale: bool = False
    """Gemma: the token embeddings are multiplied by √hidden_size."""
    activation: str = "silu"
    """The gated MLP's activation: 'silu', or 'gelu_pytorch_tanh' (Gemma)."""
    sandwich_norms: bool = False
    """Gemma 2 and 3: the attention's and the MLP's outputs are normalised too, before their residual sums
    (``post_attention_layernorm`` then normalises the attention's output; ``pre_feedforward_layernorm`` is the
    MLP's input norm and ``post_feedforward_layernorm`` its output's)."""
    query_scale: float | None = None
    """The attention scores' scale; None: 1/√head_dim (Gemma: 1/√query_pre_attn_scalar)."""
    attention_softcap: float | None = None
    """Gemma 2: attention scores become cap·tanh(score/cap) before the softmax."""
    logit_softcap: float | None = None
    """Gemma 2: the final logits become cap·tanh(logit/cap)."""
    experts: int = 0
    """Mixture of experts: how many expert MLPs a sparse layer has (0: every layer's MLP is dense)."""
    experts_per_token: int = 0
    """How many experts the router picks for each token."""
    expert_intermediate_size: int = 0
    """An expert MLP's width."""
    normalize_top_k: bool = True
    """Whether the picked experts' router probabilities are renormalised to sum to 1 (Mixtral always; Qwen by
    ``norm_topk_prob``)."""
    shared_expert_intermediate_size: int = 0
    """Qwen2-MoE: a dense expert every token also takes, gated by sigmoid(``shared_expert_gate``); 0: none."""
    dense_layers: frozenset[int] = frozenset()
    """The layers whose MLP is dense despite ``experts`` (Qwen's ``mlp_only_layers``, ``decoder_sparse_step``)."""
    expert_names: tuple[str, str, str, str] = ("mlp", "gate_proj", "up_proj", "down_proj")
    """Where a sparse layer's checkpoint tensors are: its block (with the router as ``<block>.gate``) and each
    expert's gate, up and down projection (``<block>.experts.<e>.<name>.weight``)."""
    sliding_window: int | None = None
    """A query attends to the keys of at most this many positions, its own included (Mistral, Gemma's local
    layers); None: to every earlier position."""
    global_layers: frozenset[int] = frozenset()
    """The layers that attend to every earlier position despite ``sliding_window`` (Gemma's global layers)."""

    def sparse(self, layer: int) -> bool:
        """Whether layer ``layer``'s MLP is a mixture of experts."""
        return self.experts > 0 and layer not in self.dense_layers

    def window(self, layer: int) -> int | None:
        """Layer ``layer``'s attention window (None: none)."""
        return None if layer in self.global_layers else self.sliding_window


ReadArchitecture = Callable[[Mapping[str, Any], list[str]], Architecture]
"""Read a family's differences from config.json, appending each problem (naming key, value and what is allowed)."""


@dataclass(frozen=True)
class Family:
    model_type: str
    """config.json's ``model_type``."""
    architectures: tuple[str, ...]
    """The ``architectures`` (transformers classes) a checkpoint of the family names."""
    read: ReadArchitecture


def flag(raw: Mapping[str, Any], key: str, problems: list[str], default: bool = False) -> bool:
    """config.json's boolean ``key``."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{key}: {value!r} is not true or false")
        return default
    return value


def activation(raw: Mapping[str, Any], problems: list[str], key: str, allowed: tuple[str, ...]) -> str:
    """config.json's activation under ``key``, one of ``allowed``."""
    value = raw.get(key, allowed[0])
    if value not in allowed:
        problems.append(f"{key}: {value!r} is not supported; supported: {', '.join(allowed)}")
        return allowed[0]
    return str(value)


def positive(
    raw: Mapping[str, Any], key: str, problems: list[str], *, optional: bool = False, default: float | None = None
) -> float | None:
    """config.json's positive number ``key`` (``default`` when absent; or null, when ``optional``)."""
    value = raw.get(key, default)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(f"{key}: {value!r} is not a positive number{' or null' if optional else ''}")
        return None
    return float(value)


def count(raw: Mapping[str, Any], key: str, problems: list[str], default: int | None = None) -> int:
    """config.json's positive integer ``key``."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(f"{key}: {value!r} is not a positive integer")
        return 1
    return value


def window(raw: Mapping[str, Any], problems: list[str], key: str = "sliding_window") -> int | None:
    """config.json's sliding window: a positive number of tokens, or null."""
    value = raw.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        problems.append(f"{key}: {value!r} is not a positive integer or null")
        return None
    return value
