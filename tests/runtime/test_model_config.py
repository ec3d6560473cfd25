"""Reading a Hugging Face config.json: the Llama family's variants, and errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shardstack_runtime.model.config import ModelConfig, ModelConfigError, RopeConfig
from shardstack_runtime.model.family import Architecture

LLAMA_3_1_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "hidden_act": "silu",
}


def test_smollm2_as_transformers_5_writes_it(smollm2_dir: Path) -> None:
    config = ModelConfig.from_hf(json.loads((smollm2_dir / "config.json").read_text()))
    assert (config.num_layers, config.hidden_size, config.intermediate_size) == (30, 576, 1536)
    assert (config.num_heads, config.num_kv_heads, config.head_dim, config.num_query_groups) == (9, 3, 64, 3)
    assert config.vocab_size == 49152 and config.tie_word_embeddings
    assert config.rope == RopeConfig(theta=100000.0)  # from "rope_parameters"
    assert (config.bos_token_id, config.eos_token_ids, config.max_context) == (1, (2,), 8192)


def test_llama_3_1_with_llama3_rope_and_several_eos_ids() -> None:
    config = ModelConfig.from_hf(LLAMA_3_1_8B)
    assert config.head_dim == 128  # hidden_size / heads when head_dim is absent
    assert config.rope == RopeConfig(
        theta=500000.0,
        type="llama3",
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=8192,
    )
    assert config.eos_token_ids == (128001, 128008, 128009)
    assert config.architecture == Architecture()  # Llama's decoder, nothing added


def test_linear_rope_scaling_in_the_old_type_key() -> None:
    config = ModelConfig.from_hf({**LLAMA_3_1_8B, "rope_scaling": {"type": "linear", "factor": 2.0}})
    assert config.rope == RopeConfig(theta=500000.0, type="linear", factor=2.0)


def test_mistrals_window_limits_attention_not_the_context() -> None:
    config = ModelConfig.from_hf(
        {
            **LLAMA_3_1_8B,
            "model_type": "mistral",
            "architectures": ["MistralForCausalLM"],
            "rope_scaling": None,
            "max_position_embeddings": 32768,
            "sliding_window": 4096,
        }
    )
    assert config.max_context == 32768
    assert [config.architecture.window(layer) for layer in (0, 31)] == [4096, 4096]


def test_unknown_rope_type_is_refused_naming_the_key() -> None:
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.from_hf({**LLAMA_3_1_8B, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})
    assert "rope_scaling.rope_type: 'yarn' is not supported" in str(error.value)
    assert "default, linear, llama3" in str(error.value)
    with pytest.raises(ModelConfigError, match=r"rope_parameters.rope_type: 'dynamic'"):
        ModelConfig.from_hf(
            {
                **LLAMA_3_1_8B,
                "rope_scaling": None,
                "rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4},
            }
        )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.from_hf(
            {
                **LLAMA_3_1_8B,
                "model_type": "gpt2",
                "architectures": ["GPT2LMHeadModel"],
                "num_key_value_heads": 5,
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
            }
        )
    message = str(error.value)
    for expected in (
        "model_type: 'gpt2' is not supported; supported model types: llama, mistral, qwen2, qwen3",
        "architectures: ['GPT2LMHeadModel']",
        "num_key_value_heads: 5 does not divide",
        "rope_scaling.original_max_position_embeddings: None",
    ):
        assert expected in message


def test_missing_sizes_are_named() -> None:
    incomplete = {k: v for k, v in LLAMA_3_1_8B.items() if k not in ("hidden_size", "vocab_size")}
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.from_hf(incomplete)
    assert "vocab_size: missing" in str(error.value) and "hidden_size: missing" in str(error.value)


QWEN = {**LLAMA_3_1_8B, "rope_scaling": None, "rope_theta": 1000000.0, "use_sliding_window": False,
        "sliding_window": 131072, "max_window_layers": 28}  # fmt: skip


def test_each_family_declares_what_its_decoder_adds() -> None:
    qwen2 = ModelConfig.from_hf({**QWEN, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]})
    # Qwen2: biases on q, k and v only; its unused window does not cap the context.
    assert qwen2.architecture == Architecture(qkv_bias=True)
    assert qwen2.max_context == LLAMA_3_1_8B["max_position_embeddings"]
    qwen3 = ModelConfig.from_hf({**QWEN, "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]})
    assert qwen3.architecture == Architecture(qk_norm=True)
    biased = ModelConfig.from_hf({**LLAMA_3_1_8B, "attention_bias": True})
    assert biased.architecture == Architecture(qkv_bias=True, o_bias=True)


def test_a_family_refuses_what_it_cannot_serve_exactly() -> None:
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.from_hf(
            {**QWEN, "model_type": "qwen2", "architectures": ["LlamaForCausalLM"], "use_sliding_window": True}
        )
    message = str(error.value)
    assert "use_sliding_window: True is not supported (a window on some layers only)" in message
    assert (
        "architectures: ['LlamaForCausalLM'] is not supported with model_type 'qwen2'; supported: Qwen2ForCausalLM"
        in (message)
    )
    with pytest.raises(ModelConfigError, match="attention_bias: 'yes' is not true or false"):
        ModelConfig.from_hf({**LLAMA_3_1_8B, "attention_bias": "yes"})


GEMMA = {**LLAMA_3_1_8B, "architectures": [], "rope_scaling": None, "num_hidden_layers": 12,
         "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 144, "sliding_window": 4096,
         "tie_word_embeddings": True}  # fmt: skip


def test_gemma_reads_its_local_and_global_layers_from_the_config_or_its_own_pattern() -> None:
    gemma2 = ModelConfig.from_hf({**GEMMA, "model_type": "gemma2", "attn_logit_softcapping": 50.0,
                                  "final_logit_softcapping": 30.0})  # fmt: skip
    arch = gemma2.architecture
    # No layer_types in an older Gemma 2 config: local and global layers alternate, local first.
    assert [arch.window(layer) for layer in range(4)] == [4096, None, 4096, None]
    assert (arch.norm, arch.activation, arch.attention_softcap, arch.logit_softcap) == ("gemma", "gelu_pytorch_tanh",
                                                                                       50.0, 30.0)  # fmt: skip
    assert arch.query_scale == 144**-0.5 and arch.embedding_scale and arch.sandwich_norms
    # Gemma 3 (text): every sixth layer global, and the local layers' own rotary base.
    gemma3 = ModelConfig.from_hf(
        {
            **GEMMA,
            "model_type": "gemma3_text",
            "rope_parameters": {
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
            },
        }
    )
    assert [layer for layer in range(12) if gemma3.architecture.window(layer) is None] == [5, 11]
    assert gemma3.architecture.qk_norm and gemma3.architecture.attention_softcap is None
    assert gemma3.rope == RopeConfig(theta=1000000.0, type="linear", factor=8.0)
    assert gemma3.local_rope == RopeConfig(theta=10000.0)


def test_gemma_refuses_layer_types_that_do_not_fit_its_layers() -> None:
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.from_hf({**GEMMA, "model_type": "gemma2", "layer_types": ["full_attention"],
                             "hidden_activation": "relu"})  # fmt: skip
    message = str(error.value)
    assert (
        "layer_types: ['full_attention'] is not a list of 'sliding_attention' or 'full_attention', one per layer (12)"
        in (message)
    )
    assert "hidden_activation: 'relu' is not supported; supported: gelu_pytorch_tanh" in message


def test_a_llama_with_another_activation_is_refused() -> None:
    with pytest.raises(ModelConfigError, match="hidden_act: 'gelu' is not supported; supported: silu"):
        ModelConfig.from_hf({**LLAMA_3_1_8B, "hidden_act": "gelu"})
