"""The shapes of models people serve, from their ``config.json`` (numbers only), for ``shardstack size --model``.

Usage::

    from shardstack.model_shapes import MODELS
    shape = MODELS["qwen3-32b"]
    shape.params, shape.active_params        # 32.8e9 both; a mixture of experts computes with fewer

Each entry names where its numbers were read (the model's Hugging Face ``config.json``); the parameter count is
derived from them the way the runtime lays the weights out (q/k/v/o, a gated MLP or the experts and their router,
the norms, the embeddings and, untied, the head), so it matches the model cards' counts (a test checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

SHAPES_AS_OF = "2026-12-08"


@dataclass(frozen=True)
class ModelShape:
    """What sizes a model: its config.json's numbers."""

    name: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    context: int
    """``max_position_embeddings``."""
    tied: bool
    source: str
    experts: int = 0
    experts_per_token: int = 0
    expert_intermediate_size: int = 0
    qk_norm: bool = False
    sandwich_norms: bool = False
    qkv_bias: bool = False

    def _layer_params(self, experts: int) -> int:
        h = self.hidden_size
        attention = h * self.heads * self.head_dim * 2 + h * self.kv_heads * self.head_dim * 2  # q, o; k, v
        norms = 2 * h + 2 * self.head_dim * self.qk_norm + 2 * h * self.sandwich_norms
        biases = (self.heads + 2 * self.kv_heads) * self.head_dim * self.qkv_bias
        if self.experts:
            mlp = self.experts * h + experts * 3 * self.expert_intermediate_size * h  # the router, the experts
        else:
            mlp = 3 * self.intermediate_size * h
        return attention + norms + biases + mlp

    @property
    def params(self) -> int:
        """Every parameter: what the weights take."""
        return self._params(self.experts)

    @property
    def active_params(self) -> int:
        """The parameters one token computes with: a mixture of experts' top-k experts, not all of them."""
        return self._params(self.experts_per_token)

    def _params(self, experts: int) -> int:
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tied else 2)
        return embeddings + self.layers * self._layer_params(experts) + self.hidden_size  # + the final norm


def _hf(repo: str) -> str:
    return f"huggingface.co/{repo} config.json"


MODELS: dict[str, ModelShape] = {
    shape.name: shape
    for shape in (
        ModelShape("llama-3.1-8b", "llama", 4096, 14336, 32, 32, 8, 128, 128256, 131072, False,
                   _hf("meta-llama/Llama-3.1-8B-Instruct")),
        ModelShape("llama-3.1-70b", "llama", 8192, 28672, 80, 64, 8, 128, 128256, 131072, False,
                   _hf("meta-llama/Llama-3.1-70B-Instruct")),
        ModelShape("mistral-7b-v0.3", "mistral", 4096, 14336, 32, 32, 8, 128, 32768, 32768, False,
                   _hf("mistralai/Mistral-7B-Instruct-v0.3")),
        ModelShape("qwen2.5-72b", "qwen2", 8192, 29568, 80, 64, 8, 128, 152064, 32768, False,
                   _hf("Qwen/Qwen2.5-72B-Instruct"), qkv_bias=True),
        ModelShape("qwen3-32b", "qwen3", 5120, 25600, 64, 64, 8, 128, 151936, 40960, False,
                   _hf("Qwen/Qwen3-32B"), qk_norm=True),
        ModelShape("qwen3-30b-a3b", "qwen3_moe", 2048, 6144, 48, 32, 4, 128, 151936, 40960, False,
                   _hf("Qwen/Qwen3-30B-A3B"), experts=128, experts_per_token=8, expert_intermediate_size=768,
                   qk_norm=True),
        ModelShape("gemma-3-27b", "gemma3_text", 5376, 21504, 62, 32, 16, 128, 262208, 131072, True,
                   _hf("google/gemma-3-27b-it") + " (text_config; vocab and context: Gemma3TextConfig's defaults)",
                   qk_norm=True, sandwich_norms=True),
        ModelShape("mixtral-8x7b", "mixtral", 4096, 14336, 32, 32, 8, 128, 32000, 32768, False,
                   _hf("mistralai/Mixtral-8x7B-Instruct-v0.1"), experts=8, experts_per_token=2,
                   expert_intermediate_size=14336),
        ModelShape("phi-4", "phi3", 5120, 17920, 40, 40, 10, 128, 100352, 16384, False, _hf("microsoft/phi-4")),
    )
}  # fmt: skip
"""The catalogue, by the name ``shardstack size --model`` takes."""
