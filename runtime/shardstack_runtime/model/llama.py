"""A contiguous range of a model's layers, with preallocated weights: one pipeline shard.

The layer is Llama's; what a family adds to it (biases, q/k norms, Gemma's norms and soft-capping, sliding windows,
experts) is switched on by its :class:`~.family.Architecture`, declared in ``model/families/``.

Usage::

    config = ModelConfig.from_hf(checkpoint.config)
    model = ShardModel(config, LayerRange(0, config.num_layers), dtype=torch.bfloat16, device="cpu")
    load_tensors(checkpoint, model.checkpoint_targets())     # fills the weights in place
    cache = model.new_cache(num_slots=8, max_len=2048)
    logits = model.forward(token_ids, Batch.prefill(slot=0, start=0, num_new=12), cache)

A shard holds the embeddings only when its range starts at layer 0 and the final norm + LM head only
when it ends at the last layer. Its forward takes token ids ``[B, S]`` (first shard) or hidden states
``[B, S, hidden]`` (the others) and returns hidden states ``[B, S, hidden]`` (all but the last) or the
logits of each row's last real token ``[B, vocab]`` (the last). The :class:`~..engine.batch.Batch` travels
beside the activations, so the next shard writes its KV cache at the same slots and positions.

Projections that read the same input are fused (q/k/v, gate/up); :meth:`ShardModel.checkpoint_targets`
hands out views into the fused tensors under the checkpoint's own names, so a loader fills them with
plain ``target.copy_(source)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..engine.batch import Batch
from ..engine.kv_cache import KVCache
from ..memory import available_memory
from . import cpu_kernel
from .compute_path import WIDE_DTYPE, ComputePath, choose_compute_path, linear, native, onednn_linear_works, pack
from .config import ModelConfig
from .rope import RotaryTable, apply_rotary

Product = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``x @ weight.T + bias``: compute_path.linear, or the bf16 kernel's."""

DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """Accept a torch dtype or its name (``"bfloat16"``, ``"bf16"``, ``"float32"`` …)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[dtype.removeprefix("torch.")]
    except KeyError:
        raise ValueError(f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}") from None


@dataclass(frozen=True)
class LayerRange:
    """Layers ``start .. end - 1`` of the model (0-based, end exclusive)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a layer range needs 0 ≤ start < end; got [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self):
        return iter(range(self.start, self.end))

    @property
    def is_first(self) -> bool:
        return self.start == 0

    def is_last(self, num_layers: int) -> bool:
        return self.end == num_layers

    @classmethod
    def full(cls, num_layers: int) -> LayerRange:
        return cls(0, num_layers)

    @classmethod
    def split(cls, num_layers: int, shards: int) -> list[LayerRange]:
        """Cut ``num_layers`` into ``shards`` contiguous ranges whose sizes differ by at most one.

        Earlier shards get the extra layers: the last one also runs the LM head.
        """
        if not 1 <= shards <= num_layers:
            raise ValueError(f"cannot split {num_layers} layers into {shards} shards; need 1 ≤ shards ≤ layers")
        base, extra = divmod(num_layers, shards)
        ranges, start = [], 0
        for i in range(shards):
            end = start + base + (1 if i < extra else 0)
            ranges.append(cls(start, end))
            start = end
        return ranges


@dataclass
class Experts:
    """A sparse layer's mixture of experts: the router and every expert's projections, stacked."""

    router: torch.Tensor
    """[experts, hidden]: each token's score for each expert."""
    gate_up: torch.Tensor
    """[experts, 2 * width, hidden]: each expert's gate and up projections, fused row-wise."""
    down: torch.Tensor
    """[experts, hidden, width]."""
    shared_gate: torch.Tensor | None = None
    """Qwen2-MoE [1, hidden]: sigmoid(x · shared_gate) scales the shared expert (the layer's dense MLP)."""


@dataclass
class DecoderLayer:
    """One decoder layer's weights, q/k/v and gate/up fused row-wise."""

    input_norm: torch.Tensor
    qkv: torch.Tensor
    qkv_bias: torch.Tensor | None
    q_norm: torch.Tensor | None
    """Qwen3: every query head's RMSNorm weight (``head_dim``); None where the family has none."""
    k_norm: torch.Tensor | None
    o: torch.Tensor
    o_bias: torch.Tensor | None
    post_norm: torch.Tensor
    """The MLP's input norm (Llama's ``post_attention_layernorm``, Gemma's ``pre_feedforward_layernorm``)."""
    gate_up: torch.Tensor | None
    """The dense MLP (a sparse layer's shared expert); None in a sparse layer without one."""
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor | None
    down_bias: torch.Tensor | None
    attn_out_norm: torch.Tensor | None = None
    """Gemma: the attention output's norm (its ``post_attention_layernorm``); None where the family has none."""
    mlp_out_norm: torch.Tensor | None = None
    """Gemma: the MLP output's norm (``post_feedforward_layernorm``)."""
    experts: Experts | None = None
    """A sparse layer's mixture of experts; None in a dense layer."""


class ShardModel:
    """The weights and forward pass of ``layer_range`` of a Llama-family model."""

    def __init__(
        self,
        config: ModelConfig,
        layer_range: LayerRange,
        *,
        dtype: torch.dtype | str = torch.bfloat16,
        device: torch.device | str = "cpu",
        max_positions: int | None = None,
    ) -> None:
        if layer_range.end > config.num_layers:
            raise ValueError(
                f"layer range [{layer_range.start}, {layer_range.end}) exceeds the model's {config.num_layers} layers"
            )
        self.config = config
        self.layer_range = layer_range
        self.dtype = resolve_dtype(dtype)
        self.device = torch.device(device)
        self.is_first = layer_range.is_first
        self.is_last = layer_range.is_last(config.num_layers)
        # Positions past the model's trained context would only extrapolate rope: never go there.
        self.max_positions = min(max_positions or config.max_context, config.max_context)

        c, arch = config, config.architecture
        self._q_size = c.num_heads * c.head_dim
        self._kv_size = c.num_kv_heads * c.head_dim

        def empty(*shape: int) -> torch.Tensor:
            return torch.empty(shape, dtype=self.dtype, device=self.device)

        # Weights are allocated, not initialised: a loader overwrites every byte.
        self.embed_tokens = empty(c.vocab_size, c.hidden_size) if self.is_first else None

        def mlp_width(layer: int) -> int:
            """The dense MLP's width: a sparse layer's shared expert's (0: none)."""
            return arch.shared_expert_intermediate_size if arch.sparse(layer) else c.intermediate_size

        def experts(layer: int) -> Experts | None:
            if not arch.sparse(layer):
                return None
            width = arch.expert_intermediate_size
            return Experts(
                router=empty(arch.experts, c.hidden_size),
                gate_up=empty(arch.experts, 2 * width, c.hidden_size),
                down=empty(arch.experts, c.hidden_size, width),
                shared_gate=empty(1, c.hidden_size) if arch.shared_expert_intermediate_size else None,
            )

        self.layers = [
            DecoderLayer(
                input_norm=empty(c.hidden_size),
                qkv=empty(self._q_size + 2 * self._kv_size, c.hidden_size),
                qkv_bias=empty(self._q_size + 2 * self._kv_size) if arch.qkv_bias else None,
                q_norm=empty(c.head_dim) if arch.qk_norm else None,
                k_norm=empty(c.head_dim) if arch.qk_norm else None,
                o=empty(c.hidden_size, self._q_size),
                o_bias=empty(c.hidden_size) if arch.o_bias else None,
                post_norm=empty(c.hidden_size),
                gate_up=empty(2 * mlp_width(i), c.hidden_size) if mlp_width(i) else None,
                gate_up_bias=empty(2 * mlp_width(i)) if arch.mlp_bias and mlp_width(i) else None,
                down=empty(c.hidden_size, mlp_width(i)) if mlp_width(i) else None,
                down_bias=empty(c.hidden_size) if arch.mlp_bias and mlp_width(i) else None,
                attn_out_norm=empty(c.hidden_size) if arch.sandwich_norms else None,
                mlp_out_norm=empty(c.hidden_size) if arch.sandwich_norms else None,
                experts=experts(i),
            )
            for i in layer_range
        ]
        self.norm = empty(c.hidden_size) if self.is_last else None
        self.lm_head: torch.Tensor | None = None
        if self.is_last:
            if c.tie_word_embeddings and self.embed_tokens is not None:
                self.lm_head = self.embed_tokens
            else:
                self.lm_head = empty(c.vocab_size, c.hidden_size)
        self._head = self.lm_head
        self.packed = False
        self.compute = native(self.dtype, "not chosen yet")
        # fp32 twins of the projections, for the steps the compute path runs wide (see compute_path.py).
        self._wide_layers: list[DecoderLayer] | None = None
        self._wide_head: torch.Tensor | None = None
        # The bf16 kernel's product, where the compute path runs some steps with it (see compute_path.py).
        self._kernel: Product | None = None
        self.rotary = RotaryTable(c.rope, c.head_dim, self.max_positions, dtype=self.dtype, device=self.device)
        # Gemma 3's local layers turn at a base of their own (a table only where this range has such layers).
        local_rope = c.local_rope if any(arch.window(i) is not None for i in layer_range) else None
        self.local_rotary = (
            RotaryTable(local_rope, c.head_dim, self.max_positions, dtype=self.dtype, device=self.device)
            if local_rope is not None
            else self.rotary
        )
        # Each layer's attention window and rotary table, fixed by the family: decided once, not every pass.
        self._attention = [
            (arch.window(i), self.rotary if arch.window(i) is None else self.local_rotary) for i in layer_range
        ]

    # ------------------------------------------------------------------ weights

    def checkpoint_targets(self) -> dict[str, torch.Tensor]:
        """Map each checkpoint tensor name this shard needs to the tensor (or view) to copy it into."""
        if self.packed:
            raise RuntimeError(
                "checkpoint_targets() must be used before pack_weights(): packed weights can't be loaded into"
            )
        c = self.config
        targets: dict[str, torch.Tensor] = {}
        if self.embed_tokens is not None:
            targets["model.embed_tokens.weight"] = self.embed_tokens
        q, kv = self._q_size, self._kv_size
        qkv_rows = {"q_proj": slice(0, q), "k_proj": slice(q, q + kv), "v_proj": slice(q + kv, q + 2 * kv)}
        arch = c.architecture
        for index, layer in zip(self.layer_range, self.layers, strict=True):
            prefix = f"model.layers.{index}."
            targets[prefix + "input_layernorm.weight"] = layer.input_norm
            if layer.attn_out_norm is not None and layer.mlp_out_norm is not None:
                targets[prefix + "post_attention_layernorm.weight"] = layer.attn_out_norm
                targets[prefix + "pre_feedforward_layernorm.weight"] = layer.post_norm
                targets[prefix + "post_feedforward_layernorm.weight"] = layer.mlp_out_norm
            else:
                targets[prefix + "post_attention_layernorm.weight"] = layer.post_norm
            if arch.fused_checkpoint:
                targets[prefix + "self_attn.qkv_proj.weight"] = layer.qkv
            for name, rows in qkv_rows.items() if not arch.fused_checkpoint else ():
                targets[f"{prefix}self_attn.{name}.weight"] = layer.qkv[rows]
                if layer.qkv_bias is not None:
                    targets[f"{prefix}self_attn.{name}.bias"] = layer.qkv_bias[rows]
            if layer.q_norm is not None and layer.k_norm is not None:
                targets[prefix + "self_attn.q_norm.weight"] = layer.q_norm
                targets[prefix + "self_attn.k_norm.weight"] = layer.k_norm
            targets[prefix + "self_attn.o_proj.weight"] = layer.o
            if layer.o_bias is not None:
                targets[prefix + "self_attn.o_proj.bias"] = layer.o_bias
            # A sparse layer's dense MLP is its shared expert.
            mlp = prefix + ("mlp.shared_expert." if layer.experts is not None else "mlp.")
            if layer.gate_up is not None and layer.down is not None:
                width = layer.down.shape[1]
                if arch.fused_checkpoint:
                    targets[mlp + "gate_up_proj.weight"] = layer.gate_up
                mlp_rows = {"gate_proj": slice(0, width), "up_proj": slice(width, None)}
                for name, rows in mlp_rows.items() if not arch.fused_checkpoint else ():
                    targets[f"{mlp}{name}.weight"] = layer.gate_up[rows]
                    if layer.gate_up_bias is not None:
                        targets[f"{mlp}{name}.bias"] = layer.gate_up_bias[rows]
                targets[mlp + "down_proj.weight"] = layer.down
                if layer.down_bias is not None:
                    targets[mlp + "down_proj.bias"] = layer.down_bias
            if layer.experts is not None:
                targets.update(_expert_targets(prefix, layer.experts, arch.expert_names))
        if self.norm is not None:
            targets["model.norm.weight"] = self.norm
        if self.lm_head is not None and self.lm_head is not self.embed_tokens:
            # Tied embeddings on a last shard without the embedding table: the head is a copy of it.
            name = "model.embed_tokens.weight" if c.tie_word_embeddings else "lm_head.weight"
            targets[name] = self.lm_head
        return targets

    def tensors(self) -> list[torch.Tensor]:
        """Every weight tensor this shard owns (fused tensors once, the tied head once)."""
        out = [t for t in (self.embed_tokens, self.norm) if t is not None]
        for layer in self.layers:
            out += [t for t in vars(layer).values() if isinstance(t, torch.Tensor)]
            if layer.experts is not None:
                out += [t for t in vars(layer.experts).values() if t is not None]
        if self.lm_head is not None and self.lm_head is not self.embed_tokens:
            out.append(self.lm_head)
        return out

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes if not t.is_mkldnn else t.numel() * t.element_size() for t in self.tensors())

    @property
    def twin_nbytes(self) -> int:
        """What fp32 twins of the projection matrices (and the head) take: the cost of a wide compute path."""
        matrices = [m for layer in self.layers for m in projection_matrices(layer)]
        matrices += [self._head] if self._head is not None else []
        return sum(m.numel() for m in matrices) * WIDE_DTYPE.itemsize

    def choose_compute(self, *, reserve_bytes: int = 0) -> ComputePath:
        """Measure this machine's :class:`~.compute_path.ComputePath` and lay the weights out for it (once).

        ``reserve_bytes`` (the KV cache to come) is kept out of the memory the fp32 twins may take.
        """
        if not self.packed:
            left = available_memory(self.device)
            memory_left = None if left is None else left - reserve_bytes
            self.pack_weights(
                choose_compute_path(
                    self.config, self.dtype, self.device, twin_bytes=self.twin_nbytes, memory_left=memory_left
                )
            )
        return self.compute

    def pack_weights(self, compute: ComputePath | None = None) -> bool:
        """Lay the projection matrices out for ``compute`` once the weights are loaded; True if repacked for oneDNN.

        oneDNN's blocked layout can run the small-batch products of decoding several times faster than
        the plain layout on CPU, or slower (MKL's plain fp32 product of one row): the compute path says
        which (``compute.packed``, measured at start). Results stay equal in bf16 and within float
        rounding in fp32. Not done off CPU, or where this torch build lacks the oneDNN ops. A
        ``compute`` path with a wide dtype also gets its twins of every projection here, packed.
        Afterwards the shard can no longer be loaded into (:meth:`checkpoint_targets` raises).
        """
        if self.packed:
            return False
        self.packed = True
        if compute is not None:
            self.compute = compute
        if (wide := self.compute.wide_dtype) is not None:
            self._wide_layers = [_twin(layer, wide) for layer in self.layers]
            self._wide_head = pack(self._head.to(wide)) if self._head is not None else None
        if self.compute.uses("kernel"):
            module = cpu_kernel.load()
            if module is None:
                raise RuntimeError(f"the compute path runs the bf16 kernel, which can't run here: {cpu_kernel.why()}")
            self._kernel = module.bf16_linear
        if not self.compute.packed or self.device.type != "cpu" or not onednn_linear_works(self.dtype):
            return False
        for layer in self.layers:
            layer.qkv, layer.o = pack(layer.qkv), pack(layer.o)
            if layer.gate_up is not None and layer.down is not None:
                layer.gate_up, layer.down = pack(layer.gate_up), pack(layer.down)
        if self._head is not None:
            self._head = pack(self._head)
            if self.lm_head is not self.embed_tokens:
                self.lm_head = self._head  # frees the plain copy; a tied head's is the embedding table
        return True

    def new_cache(self, num_slots: int, max_len: int | None = None, *, num_lanes: int = 1) -> KVCache:
        """Allocate a KV cache for this shard's layers (``max_len`` defaults to ``max_positions``)."""
        return KVCache(**self._cache_shape(num_slots, max_len), device=self.device, num_lanes=num_lanes)

    def cache_nbytes(self, num_slots: int, max_len: int | None = None) -> int:
        """What :meth:`new_cache` would allocate."""
        return KVCache.nbytes_for(**self._cache_shape(num_slots, max_len))

    def _cache_shape(self, num_slots: int, max_len: int | None) -> dict:
        max_len = max_len or self.max_positions
        if max_len > self.max_positions:
            raise ValueError(f"max_len {max_len} exceeds the shard's max_positions {self.max_positions}")
        c = self.config
        return dict(
            num_layers=len(self.layers),
            num_slots=num_slots,
            num_kv_heads=c.num_kv_heads,
            head_dim=c.head_dim,
            max_len=max_len,
            dtype=self.dtype,
        )

    # ------------------------------------------------------------------ forward

    @torch.inference_mode()
    def forward(self, inputs: torch.Tensor, batch: Batch, cache: KVCache, *, all_logits: bool = False) -> torch.Tensor:
        """Run this shard's layers over one batch, reading and extending ``cache``.

        ``inputs`` are token ids ``[B, S]`` on the first shard, hidden states ``[B, S, hidden]`` on the
        others. Returns hidden states ``[B, S, hidden]``, or on the last shard the logits of each row's
        last real token ``[B, vocab]`` (``[B, S, vocab]`` for every position with ``all_logits``).
        """
        cache.apply_moves(batch.moves)
        if self.is_first:
            if inputs.dim() != 2:
                raise ValueError(f"the first shard takes token ids [B, S]; got shape {tuple(inputs.shape)}")
            hidden = F.embedding(inputs.to(self.device), self.embed_tokens)  # type: ignore[arg-type]
            if self.config.architecture.embedding_scale:
                # In the model's dtype, as Gemma was trained (√3072 is 55.5 in bf16, not 55.43).
                hidden = hidden * torch.tensor(self.config.hidden_size**0.5, dtype=hidden.dtype)
        else:
            if inputs.dim() != 3:
                raise ValueError(
                    f"shard {self.layer_range} takes hidden states [B, S, hidden]; got {tuple(inputs.shape)}"
                )
            hidden = inputs.to(device=self.device, dtype=self.dtype)
        rows, width = hidden.shape[0], hidden.shape[1]
        if rows != batch.num_rows or width != batch.num_tokens:
            raise ValueError(
                f"inputs of shape {tuple(inputs.shape)} don't match a batch of {batch.num_rows} rows"
                f" of {batch.num_tokens} tokens"
            )
        if batch.end > cache.max_len:
            raise ValueError(f"the batch reaches position {batch.end}, past the cache's max_len {cache.max_len}")

        step = _StepPlan(batch, self.device, cache.max_len, self.config.num_query_groups)
        angles: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # each table looked up once a pass
        layers, product = self._products(rows * width)
        for index, (layer, (window, table)) in enumerate(zip(layers, self._attention, strict=True)):
            if id(table) not in angles:
                angles[id(table)] = table.lookup(step.rope_positions)
            cos, sin = angles[id(table)]
            hidden = self._layer(hidden, layer, *cache.layer(index), step, step.mask(window), cos, sin, product)

        if not self.is_last:
            return hidden
        if not all_logits:
            hidden = hidden[step.row_index, step.last_index] if width > 1 else hidden[:, 0]
        rows = hidden.shape[:-1].numel()
        head = self._wide_head if self._wide_head is not None and self.compute.runs_wide(rows) else self._head
        assert self.norm is not None and head is not None
        logits = self._products(rows)[1](self._rms_norm(hidden, self.norm), head, None)
        if (cap := self.config.architecture.logit_softcap) is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    __call__ = forward

    def _products(self, rows: int) -> tuple[list[DecoderLayer], Product]:
        """The layers' weights (own or fp32 twins) and the product that a step of ``rows`` rows runs with."""
        if self._wide_layers and self.compute.runs_wide(rows):
            return self._wide_layers, linear
        if self._kernel is not None and self.compute.runs_kernel(rows):
            return self.layers, self._kernel
        return self.layers, linear

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # The same arithmetic as transformers' LlamaRMSNorm (float32 statistics, weight in the model dtype) or
        # GemmaRMSNorm (times 1 + weight, in float32).
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.config.rms_norm_eps)
        if self.config.architecture.norm == "gemma":
            return (x32 * (1.0 + weight.float())).to(x.dtype)
        return weight * x32.to(x.dtype)

    def _layer(
        self,
        hidden: torch.Tensor,
        layer: DecoderLayer,
        cache_keys: torch.Tensor,
        cache_values: torch.Tensor,
        step: _StepPlan,
        mask: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        product: Product,
    ) -> torch.Tensor:
        c = self.config
        rows, width = hidden.shape[0], hidden.shape[1]
        qkv = product(self._rms_norm(hidden, layer.input_norm), layer.qkv, layer.qkv_bias)
        # Queries and keys rotate together: one set of operations for both, every layer.
        qk_size = self._q_size + self._kv_size
        qk = qkv[..., :qk_size].view(rows, width, c.num_heads + c.num_kv_heads, c.head_dim)
        if layer.q_norm is not None and layer.k_norm is not None:
            q, k = qk.split((c.num_heads, c.num_kv_heads), dim=2)
            qk = torch.cat((self._rms_norm(q, layer.q_norm), self._rms_norm(k, layer.k_norm)), dim=2)
        q, k = apply_rotary(qk, cos, sin).split((c.num_heads, c.num_kv_heads), dim=2)
        v = qkv[..., qk_size:].view(rows, width, c.num_kv_heads, c.head_dim)

        # Write this pass's keys and values: [B, S, kv_heads, head_dim] at (slot, position) pairs.
        if step.write_rows is None:
            cache_keys[step.write_slots, :, step.write_positions] = k
            cache_values[step.write_slots, :, step.write_positions] = v
        else:
            cache_keys[step.write_slots, :, step.write_positions] = k[step.write_rows, step.write_cols]
            cache_values[step.write_slots, :, step.write_positions] = v[step.write_rows, step.write_cols]

        arch = c.architecture
        if arch.attention_softcap is not None:
            keys, values = (k, v) if step.fresh else (step.read(cache_keys), step.read(cache_values))
            attn = _softcapped_attention(q, keys, values, mask, step.fresh, arch.query_scale, arch.attention_softcap)
        elif step.fresh:
            # Prompts from position 0: causal attention over this pass's own keys only (within the window).
            attn = F.scaled_dot_product_attention(
                q.transpose(1, 2),
                k.transpose(1, 2),
                v.transpose(1, 2),
                attn_mask=mask,
                is_causal=mask is None,
                enable_gqa=True,
                scale=arch.query_scale,
            ).transpose(1, 2)
        else:
            keys, values = step.read(cache_keys), step.read(cache_values)
            # Grouped-query attention without copying keys: the query heads sharing a KV head become
            # extra query rows of that head ([B, kv_heads, groups * S, head_dim]). On CPU this is
            # several times faster in bf16 than enable_gqa or expanding the keys.
            groups = c.num_query_groups
            qg = q.view(rows, width, c.num_kv_heads, groups, c.head_dim).permute(0, 2, 3, 1, 4)
            qg = qg.reshape(rows, c.num_kv_heads, groups * width, c.head_dim)
            attn = F.scaled_dot_product_attention(qg, keys, values, attn_mask=mask, scale=arch.query_scale)
            attn = attn.view(rows, c.num_kv_heads, groups, width, c.head_dim).permute(0, 3, 1, 2, 4)
        out = product(attn.reshape(rows, width, self._q_size), layer.o, layer.o_bias)
        hidden = hidden + (out if layer.attn_out_norm is None else self._rms_norm(out, layer.attn_out_norm))

        x = self._rms_norm(hidden, layer.post_norm)
        out = self._experts(x, layer.experts) if layer.experts is not None else None
        if layer.gate_up is not None and layer.down is not None:
            gate, up = product(x, layer.gate_up, layer.gate_up_bias).chunk(2, dim=-1)
            dense = product(self._activation(gate) * up, layer.down, layer.down_bias)
            if layer.experts is not None and layer.experts.shared_gate is not None:
                dense = torch.sigmoid(F.linear(x, layer.experts.shared_gate.to(x.dtype))) * dense
            out = dense if out is None else out + dense
        assert out is not None
        return hidden + (out if layer.mlp_out_norm is None else self._rms_norm(out, layer.mlp_out_norm))

    def _activation(self, gate: torch.Tensor) -> torch.Tensor:
        return F.silu(gate) if self.config.architecture.activation == "silu" else F.gelu(gate, approximate="tanh")

    def _experts(self, x: torch.Tensor, experts: Experts) -> torch.Tensor:
        """The mixture of experts over ``x`` [B, S, hidden]: the router's top-k experts of each token, their outputs
        weighed by its (renormalised) probabilities and summed, expert by expert as transformers sums them."""
        arch = self.config.architecture
        flat = x.reshape(-1, x.shape[-1])
        # In the activations' dtype (a wide compute path's fp32 too): the experts are not among its twins.
        probs = torch.softmax(F.linear(flat, experts.router.to(flat.dtype)).float(), dim=-1)
        weights, chosen = probs.topk(arch.experts_per_token, dim=-1)
        if arch.normalize_top_k:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights.to(x.dtype)
        out = torch.zeros_like(flat)
        for expert in chosen.unique().tolist():
            tokens, slot = torch.where(chosen == expert)
            gate, up = F.linear(flat[tokens], experts.gate_up[expert].to(flat.dtype)).chunk(2, dim=-1)
            y = F.linear(self._activation(gate) * up, experts.down[expert].to(flat.dtype))
            y = y * weights[tokens, slot, None]
            out.index_add_(0, tokens, y)
        return out.view_as(x)


def _softcapped_attention(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None,
    fresh: bool,
    scale: float | None,
    cap: float,
) -> torch.Tensor:
    """Attention whose scores are soft-capped (cap·tanh(score/cap)) before the mask and softmax, as Gemma 2's
    eager attention computes them; SDPA has no such step. ``q`` is [B, S, heads, head_dim]; ``keys``/``values`` a
    fresh pass's own [B, S, kv_heads, head_dim] or the cache's [B, kv_heads, L, head_dim]; ``mask`` as
    :meth:`_StepPlan.mask` builds it. Returns [B, S, heads, head_dim]."""
    rows, width, heads, head_dim = q.shape
    if fresh:
        keys, values = keys.transpose(1, 2), values.transpose(1, 2)
        causal = torch.ones(width, width, dtype=torch.bool, device=q.device).tril()
        mask = causal if mask is None else mask
    groups = heads // keys.shape[1]
    keys, values = keys.repeat_interleave(groups, dim=1), values.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q.transpose(1, 2), keys.transpose(2, 3)) * (scale or head_dim**-0.5)
    scores = torch.tanh(scores / cap) * cap
    if not fresh and mask is not None:
        # The cache's mask is laid out for grouped query rows [B, 1, groups * S, L]: back to [B, 1, S, L].
        mask = mask.view(rows, 1, groups, width, -1)[:, :, 0]
    scores = scores.masked_fill(~mask, float("-inf")) if mask is not None else scores
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(weights, values).transpose(1, 2)


def projection_matrices(layer: DecoderLayer) -> list[torch.Tensor]:
    """The layer's projection matrices the compute path lays out (a sparse layer's experts run as they are)."""
    return [m for m in (layer.qkv, layer.o, layer.gate_up, layer.down) if m is not None]


def _expert_targets(prefix: str, experts: Experts, names: tuple[str, str, str, str]) -> dict[str, torch.Tensor]:
    """A sparse layer's checkpoint tensors: ``<block>.gate`` the router, ``<block>.experts.<e>.<gate|up|down>``."""
    block, gate, up, down = names
    width = experts.down.shape[2]
    targets = {f"{prefix}{block}.gate.weight": experts.router}
    for e in range(experts.router.shape[0]):
        expert = f"{prefix}{block}.experts.{e}."
        targets[f"{expert}{gate}.weight"] = experts.gate_up[e, :width]
        targets[f"{expert}{up}.weight"] = experts.gate_up[e, width:]
        targets[f"{expert}{down}.weight"] = experts.down[e]
    if experts.shared_gate is not None:
        targets[f"{prefix}{block}.shared_expert_gate.weight"] = experts.shared_gate
    return targets


def _twin(layer: DecoderLayer, dtype: torch.dtype) -> DecoderLayer:
    """``layer`` with its projections (and their biases) copied to ``dtype``; the norms are shared."""

    def copy(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(dtype)

    return replace(
        layer,
        qkv=pack(layer.qkv.to(dtype)),
        qkv_bias=copy(layer.qkv_bias),
        o=pack(layer.o.to(dtype)),
        o_bias=copy(layer.o_bias),
        gate_up=None if layer.gate_up is None else pack(layer.gate_up.to(dtype)),
        gate_up_bias=copy(layer.gate_up_bias),
        down=None if layer.down is None else pack(layer.down.to(dtype)),
        down_bias=copy(layer.down_bias),
    )


class _StepPlan:
    """Index tensors and the attention mask of one batch, built once and shared by every layer."""

    def __init__(self, batch: Batch, device: torch.device, max_len: int, groups: int) -> None:
        rows, width = batch.num_rows, batch.num_tokens
        starts = torch.tensor(batch.starts, dtype=torch.int64)
        positions = starts[:, None] + torch.arange(width, dtype=torch.int64)[None, :]  # [B, S]
        self.fresh = batch.fresh
        # Padding positions may run past the cache; they are never written and their outputs are
        # ignored, but they still need a valid rotary angle.
        self.rope_positions = positions.clamp(max=max_len - 1).to(device)
        slots = torch.tensor(batch.slots, dtype=torch.int64)
        if batch.padded:
            num_new = torch.tensor(batch.num_new, dtype=torch.int64)
            real = torch.arange(width)[None, :] < num_new[:, None]
            write_rows, write_cols = real.nonzero(as_tuple=True)
            self.write_rows: torch.Tensor | None = write_rows.to(device)
            self.write_cols = write_cols.to(device)
            self.write_slots = slots[write_rows].to(device)
            self.write_positions = positions[write_rows, write_cols].to(device)
        else:
            self.write_rows = None
            self.write_slots = slots[:, None].to(device)
            self.write_positions = positions.to(device)
        self.row_index = torch.arange(rows, device=device)
        self.last_index = torch.tensor([n - 1 for n in batch.num_new], dtype=torch.int64, device=device)
        self._positions, self._groups, self._device = positions, groups, device
        self._masks: dict[int | None, torch.Tensor | None] = {}
        if self.fresh:
            return
        # Keys 0 .. end-1 of each row's slot.
        self.end = min(batch.end, max_len)
        self.slot_range = batch.contiguous_slots()
        self.slots = slots.to(device)

    def mask(self, window: int | None) -> torch.Tensor | None:
        """Which keys each query of a layer attending within ``window`` positions (None: every earlier one) sees,
        built once per window and shared by the layers with it: a query at position p sees keys p - window < k ≤ p.
        Cached passes ``[B, 1, groups * S, L]``; a fresh pass ``[S, S]``, or None when its window reaches back past
        its own start (SDPA's plain causal attention)."""
        if window not in self._masks:
            self._masks[window] = self._build_mask(window)
        return self._masks[window]

    def _build_mask(self, window: int | None) -> torch.Tensor | None:
        positions = self._positions
        if self.fresh:
            if window is None or positions.shape[1] <= window:
                return None
            keys = positions[0]  # every row of a fresh pass has the same positions, from 0
            return ((keys[None, :] <= keys[:, None]) & (keys[None, :] > keys[:, None] - window)).to(self._device)
        keys = torch.arange(self.end)[None, None, :]
        mask = keys <= positions[:, :, None]  # [B, S, L]
        if window is not None:
            mask &= keys > positions[:, :, None] - window
        rows, width = positions.shape
        if self._groups > 1:
            mask = (
                mask[:, None].expand(rows, self._groups, width, self.end).reshape(rows, self._groups * width, self.end)
            )
        return mask[:, None].to(self._device)  # [B, 1, groups * S, L]

    def read(self, cache: torch.Tensor) -> torch.Tensor:
        """This batch's rows of one layer's cache, positions ``0 .. end - 1``: a view when the slots are contiguous."""
        if self.slot_range is not None:
            first, last = self.slot_range
            return cache[first:last, :, : self.end]
        return cache[:, :, : self.end].index_select(0, self.slots)
