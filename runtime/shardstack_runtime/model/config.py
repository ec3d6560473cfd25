"""The architecture of a checkpoint of a family this runtime serves, read from its Hugging Face ``config.json``.

Usage::

    config = ModelConfig.from_hf(json.loads(Path("config.json").read_text()))
    config.num_layers, config.num_kv_heads, config.head_dim, config.rope

Every problem is reported at once, naming the config key, the bad value and what is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shardstack_runtime.model.families import FAMILIES
from shardstack_runtime.model.family import Architecture

SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3", "longrope")
ROPE_TYPE_ALIASES = {"su": "longrope"}
"""Older names of a rope type (Phi-3's first 128k checkpoints say 'su')."""
LAYER_TYPES = ("sliding_attention", "full_attention")
"""transformers' names of a layer's attention, keys of a ``rope_parameters`` given per kind of layer (Gemma 3)."""

DEFAULT_ROPE_THETA = 10000.0
DEFAULT_RMS_NORM_EPS = 1e-6
DEFAULT_MAX_POSITION_EMBEDDINGS = 2048


class ModelConfigError(ValueError):
    """The checkpoint's config.json describes a model this runtime cannot serve."""


@dataclass(frozen=True)
class RopeConfig:
    """Rotary position embedding: base frequency and optional context-extension scaling."""

    theta: float = DEFAULT_ROPE_THETA
    type: str = "default"
    """``default`` (plain RoPE), ``linear`` (positions divided by ``factor``) or ``llama3``."""
    factor: float = 1.0
    low_freq_factor: float = 1.0
    """llama3 only."""
    high_freq_factor: float = 4.0
    """llama3 only."""
    original_max_position_embeddings: int | None = None
    """llama3 and longrope: the context length the model was trained with before extension."""
    short_factor: tuple[float, ...] = ()
    """longrope: each frequency's divisor at positions within the original context."""
    long_factor: tuple[float, ...] = ()
    """longrope: each frequency's divisor at the positions past it."""
    attention_factor: float = 1.0
    """longrope: what cos and sin are multiplied by (√(1 + ln factor / ln original context) unless given)."""
    partial_rotary_factor: float = 1.0
    """The share of each head's dimensions that rotate (Phi-4-mini: 0.75); the rest pass through."""

    def rotary_dims(self, head_dim: int) -> int:
        """How many of a head's ``head_dim`` dimensions rotate."""
        return int(head_dim * self.partial_rotary_factor)


@dataclass(frozen=True)
class ModelConfig:
    """What the runtime needs to know about a Llama-family model's shape."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope: RopeConfig
    max_position_embeddings: int
    tie_word_embeddings: bool
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]
    architecture: Architecture = field(default_factory=Architecture)
    """What the family's decoder does beyond Llama's (:mod:`shardstack_runtime.model.families`)."""
    local_rope: RopeConfig | None = None
    """The rotary embedding of the sliding-window layers, where it differs from ``rope`` (Gemma 3's local base)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_query_groups(self) -> int:
        """Query heads per KV head (grouped-query attention)."""
        return self.num_heads // self.num_kv_heads

    @property
    def max_context(self) -> int:
        """The longest sequence (prompt + completion) the model was trained for; a sliding window does not cut it."""
        return self.max_position_embeddings

    @classmethod
    def from_hf(cls, config: Mapping[str, Any]) -> ModelConfig:
        """Parse a Hugging Face ``config.json`` (as a dict); raise :class:`ModelConfigError` naming every bad key."""
        return _parse(config)


def _parse(raw: Mapping[str, Any]) -> ModelConfig:
    problems = _unsupported(raw)
    shape = _shape(raw, problems)

    rms_norm_eps = raw.get("rms_norm_eps", DEFAULT_RMS_NORM_EPS)
    if isinstance(rms_norm_eps, bool) or not isinstance(rms_norm_eps, int | float) or rms_norm_eps <= 0:
        problems.append(f"rms_norm_eps: {rms_norm_eps!r} is not a positive number")
        rms_norm_eps = DEFAULT_RMS_NORM_EPS

    rope, local_rope = _parse_ropes(raw, problems)
    family = FAMILIES.get(str(raw.get("model_type")))
    architecture = family.read(raw, problems) if family is not None else Architecture()

    bos_token_id = raw.get("bos_token_id")
    if bos_token_id is not None and not _is_token_id(bos_token_id):
        problems.append(f"bos_token_id: {bos_token_id!r} is not a token id")
        bos_token_id = None
    eos_token_ids = _token_ids(raw.get("eos_token_id"), "eos_token_id", problems)

    rotary = rope.rotary_dims(shape["head_dim"])
    if rotary % 2:
        problems.append(f"partial_rotary_factor: {rope.partial_rotary_factor!r} of head_dim {shape['head_dim']} "
                        f"rotates {rotary} dimensions, an odd number; rotation pairs them")  # fmt: skip
    if rope.type == "longrope":
        for name in ("short_factor", "long_factor"):
            factors = getattr(rope, name)
            if factors and len(factors) != rotary // 2:
                problems.append(f"rope_scaling.{name}: {len(factors)} factors, but {rotary} rotating dimensions "
                                f"have {rotary // 2} frequencies")  # fmt: skip
    if problems:
        raise ModelConfigError("unsupported model config.json:\n  " + "\n  ".join(problems))
    return ModelConfig(
        model_type=str(raw.get("model_type")),
        **shape,
        rms_norm_eps=float(rms_norm_eps),
        rope=rope,
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        bos_token_id=bos_token_id,
        eos_token_ids=eos_token_ids,
        architecture=architecture,
        local_rope=local_rope,
        raw=dict(raw),
    )


def _unsupported(raw: Mapping[str, Any]) -> list[str]:
    """Return what this runtime cannot run: the model type and the architectures (the family checks the rest)."""
    problems: list[str] = []
    model_type = raw.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        problems.append(
            f"model_type: {model_type!r} is not supported; supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    family = FAMILIES.get(str(model_type))
    # A known family's checkpoint names its own classes; an unknown one is judged against every family's.
    allowed = (
        family.architectures if family is not None else tuple(a for f in FAMILIES.values() for a in f.architectures)
    )
    unknown = [a for a in raw.get("architectures") or [] if a not in allowed]
    if unknown:
        problems.append(f"architectures: {unknown!r} is not supported with model_type {model_type!r}; supported: "
                        f"{', '.join(allowed)}")  # fmt: skip
    return problems


def _shape(raw: Mapping[str, Any], problems: list[str]) -> dict[str, int]:
    """Return the model's sizes (vocabulary, hidden, heads, layers, positions), adding each bad one to ``problems``."""

    def positive_int(key: str, default: int | None = None) -> int:
        value = raw.get(key, default)
        if value is None:
            problems.append(f"{key}: missing; a positive integer is required")
            return 1
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{key}: {value!r} is not a positive integer")
            return 1
        return value

    hidden_size = positive_int("hidden_size")
    num_heads = positive_int("num_attention_heads")
    num_kv_heads = positive_int("num_key_value_heads", raw.get("num_attention_heads"))
    if num_heads % num_kv_heads:
        problems.append(f"num_key_value_heads: {num_kv_heads} does not divide num_attention_heads ({num_heads})")
    if raw.get("head_dim") is None:
        if hidden_size % num_heads:
            problems.append(
                f"head_dim: missing and hidden_size ({hidden_size}) is not a multiple of "
                f"num_attention_heads ({num_heads}); set head_dim"
            )
        head_dim = max(hidden_size // num_heads, 1)
    else:
        head_dim = positive_int("head_dim")
    if head_dim % 2:
        problems.append(f"head_dim: {head_dim} is odd; rotary embeddings need an even head_dim")
    return {
        "vocab_size": positive_int("vocab_size"),
        "hidden_size": hidden_size,
        "intermediate_size": positive_int("intermediate_size"),
        "num_layers": positive_int("num_hidden_layers"),
        "num_heads": num_heads,
        "num_kv_heads": num_kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": positive_int("max_position_embeddings", DEFAULT_MAX_POSITION_EMBEDDINGS),
    }


def _parse_ropes(raw: Mapping[str, Any], problems: list[str]) -> tuple[RopeConfig, RopeConfig | None]:
    """The rotary embedding of the model (its global layers) and, where transformers gives one per kind of layer
    (``rope_parameters: {sliding_attention: ..., full_attention: ...}``), the sliding-window layers' own."""
    per_kind = raw.get("rope_parameters")
    if not isinstance(per_kind, Mapping) or not set(per_kind) & set(LAYER_TYPES):
        return replace(_parse_rope(raw, problems), partial_rotary_factor=_partial_rotary_factor(raw, problems)), None
    ropes = {}
    for kind in LAYER_TYPES:
        params = per_kind.get(kind)
        if not isinstance(params, Mapping):
            problems.append(f"rope_parameters.{kind}: {params!r} is not an object")
            params = {}
        ropes[kind] = _parse_rope({**raw, "rope_parameters": params}, problems, f"rope_parameters.{kind}")
    return ropes["full_attention"], ropes["sliding_attention"]


def _partial_rotary_factor(raw: Mapping[str, Any], problems: list[str]) -> float:
    """config.json's ``partial_rotary_factor`` (top level, or in transformers 5's ``rope_parameters``)."""
    params = raw.get("rope_parameters")
    value = raw.get("partial_rotary_factor", params.get("partial_rotary_factor", 1.0) if isinstance(params, Mapping)
                    else 1.0)  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        problems.append(f"partial_rotary_factor: {value!r} is not a fraction in (0, 1]")
        return 1.0
    return float(value)


def _parse_rope(raw: Mapping[str, Any], problems: list[str], prefix: str = "rope_parameters") -> RopeConfig:
    # transformers ≥ 5 writes one "rope_parameters" dict (theta included); older configs have
    # "rope_theta" and an optional "rope_scaling" dict. Both name the type "rope_type" or "type".
    if isinstance(raw.get("rope_parameters"), Mapping):
        key, params = prefix, dict(raw["rope_parameters"])
    elif raw.get("rope_scaling") is not None:
        key, params = "rope_scaling", raw["rope_scaling"]
        if not isinstance(params, Mapping):
            problems.append(f"rope_scaling: {params!r} is not an object or null")
            return RopeConfig()
        params = dict(params)
    else:
        key, params = "rope_scaling", {}
    theta = params.get("rope_theta", raw.get("rope_theta", DEFAULT_ROPE_THETA))
    if isinstance(theta, bool) or not isinstance(theta, int | float) or theta <= 0:
        problems.append(f"rope_theta: {theta!r} is not a positive number")
        theta = DEFAULT_ROPE_THETA
    rope_type = params.get("rope_type", params.get("type", "default"))
    rope_type = ROPE_TYPE_ALIASES.get(rope_type, rope_type)
    type_key = f"{key}.rope_type" if "rope_type" in params or "type" not in params else f"{key}.type"
    if rope_type not in SUPPORTED_ROPE_TYPES:
        problems.append(
            f"{type_key}: {rope_type!r} is not supported; supported rope types: {', '.join(SUPPORTED_ROPE_TYPES)}"
        )
        return RopeConfig(theta=float(theta))
    if rope_type == "default":
        return RopeConfig(theta=float(theta))

    def number(name: str, default: float | None = None) -> float:
        value = params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"{key}.{name}: {value!r} is not a positive number (required by rope type {rope_type!r})")
            return 1.0
        return float(value)

    if rope_type == "longrope":
        return _longrope(raw, params, key, float(theta), problems)
    factor = number("factor")
    if rope_type == "linear":
        return RopeConfig(theta=float(theta), type="linear", factor=factor)
    original = params.get("original_max_position_embeddings")
    if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
        problems.append(
            f"{key}.original_max_position_embeddings: {original!r} is not a positive integer"
            " (required by rope type 'llama3')"
        )
        original = 8192
    return RopeConfig(
        theta=float(theta),
        type="llama3",
        factor=factor,
        low_freq_factor=number("low_freq_factor", 1.0),
        high_freq_factor=number("high_freq_factor", 4.0),
        original_max_position_embeddings=original,
    )


def _longrope(
    raw: Mapping[str, Any], params: Mapping[str, Any], key: str, theta: float, problems: list[str]
) -> RopeConfig:
    """Phi-3's LongRoPE: per-frequency divisors for the original context (``short_factor``) and past it
    (``long_factor``), and cos/sin scaled by ``attention_factor``."""
    original = params.get("original_max_position_embeddings", raw.get("original_max_position_embeddings"))
    if isinstance(original, bool) or not isinstance(original, int) or original <= 0:
        problems.append(f"{key}.original_max_position_embeddings: {original!r} is not a positive integer "
                        "(required by rope type 'longrope')")  # fmt: skip
        original = 4096
    factors = {}
    for name in ("short_factor", "long_factor"):
        value = params.get(name)
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            problems.append(f"{key}.{name}: {value!r} is not a list of positive numbers (required by 'longrope')")
            value = []
        factors[name] = tuple(float(v) for v in value)
    max_positions = raw.get("max_position_embeddings")
    factor = params.get("factor") or (max_positions / original if isinstance(max_positions, int) else 1.0)
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    return RopeConfig(theta=theta, type="longrope", factor=float(factor), original_max_position_embeddings=original,
                      attention_factor=float(attention_factor), **factors)  # fmt: skip


def _is_token_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _token_ids(value: object, key: str, problems: list[str]) -> tuple[int, ...]:
    """Normalise a token id field that may be null, an int or a list of ints."""
    if value is None:
        return ()
    values = value if isinstance(value, list | tuple) else [value]
    bad = [v for v in values if not _is_token_id(v)]
    if bad:
        problems.append(f"{key}: {value!r} is not a token id or a list of token ids")
        return ()
    return tuple(dict.fromkeys(v for v in values if isinstance(v, int)))
