"""The model: its config, its forward over a range of layers, rotary tables, the compute path, the layer split.

- ``config``: what a checkpoint's config.json says, checked (:class:`~.config.ModelConfig`).
- ``llama``: the Llama family's layers (llama, mistral) over a contiguous range, one pipeline shard
  (:class:`~.llama.ShardModel`, :class:`~.llama.LayerRange`).
- ``rope``: rotary position tables.
- ``compute_path``: how the products run for each batch size (dtype, layout, the bf16 kernel), measured at start.
- ``cpu_kernel``: the bf16 small-batch product of ``bf16_linear.cpp``, built for this torch on first use.
- ``partition``: the split of the layers over the ranks of a group.

Nothing is imported here, so that importing one module does not load the others.
"""
