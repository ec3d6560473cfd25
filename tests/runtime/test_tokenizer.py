"""The tokenizer and chat template against transformers, and incremental detokenisation of byte-level BPE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shardstack_runtime.detokenizer import IncrementalDecoder
from shardstack_runtime.tokenizer import ChatTemplateError, Tokenizer
from shardstack_runtime.weights.checkpoint import open_checkpoint

TEXTS = [
    "The capital of France is",
    "  leading spaces, tabs\tand\nnewlines\n\n",
    "héllo wörld — 世界 🎉🚀 naïve café",
    "<|im_start|>user\nhi<|im_end|>",
    "",
]
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye 👋"},
    ],
]


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path) -> Tokenizer:
    return Tokenizer.from_checkpoint(open_checkpoint(str(smollm2_dir)))


@pytest.fixture(scope="module")
def hf_tokenizer(smollm2_dir: Path):
    # transformers' names from their defining modules: importing the package itself makes pyright bind
    # every model family it has (about a minute of each type check).
    from transformers.models.auto.tokenization_auto import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_dir))


@pytest.mark.parametrize("text", TEXTS)
def test_encode_and_decode_match_transformers(text: str, tokenizer: Tokenizer, hf_tokenizer) -> None:
    ids = tokenizer.encode(text)
    assert ids == hf_tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == hf_tokenizer.decode(ids, skip_special_tokens=True)
    assert tokenizer.decode(ids, skip_special_tokens=False) == hf_tokenizer.decode(ids)


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_the_chat_template_renders_as_transformers_does(
    messages, add_generation_prompt: bool, tokenizer: Tokenizer, hf_tokenizer
) -> None:
    ours = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
    assert ours == hf_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    if add_generation_prompt:
        assert ours.endswith("<|im_start|>assistant\n")


def test_special_tokens_and_eos_ids(tokenizer: Tokenizer) -> None:
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert tokenizer.eos_token_ids == {2}
    assert tokenizer.token_to_id("<|im_end|>") == 2 and 2 in tokenizer.special_token_ids
    assert tokenizer.vocab_size == 49152


def write_tokenizer_dir(tmp_path: Path, smollm2_dir: Path, **config_changes) -> Path:
    (tmp_path / "tokenizer.json").write_text((smollm2_dir / "tokenizer.json").read_text())
    config = {**json.loads((smollm2_dir / "tokenizer_config.json").read_text()), **config_changes}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    return tmp_path


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read_text(self, name: str) -> str:
        return (self.root / name).read_text()

    def has_file(self, name: str) -> bool:
        return (self.root / name).is_file()


def test_template_features_of_other_models(tmp_path: Path, smollm2_dir: Path) -> None:
    template = (
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'tool' %}"
        "{{ raise_exception('tools are not supported') }}{% endif %}"
        "[{{ m.role }}] {{ m.content | tojson }}\n{% endfor %}"
    )
    root = write_tokenizer_dir(
        tmp_path,
        smollm2_dir,
        chat_template=[{"name": "default", "template": template}, {"name": "tool_use", "template": "x"}],
        bos_token={"content": "<|endoftext|>", "special": True},
    )
    tokenizer = Tokenizer.from_checkpoint(Files(root))
    assert tokenizer.apply_chat_template([{"role": "user", "content": 'é"<b>'}]) == '<|endoftext|>[user] "é\\"<b>"\n'
    with pytest.raises(ChatTemplateError, match="tools are not supported"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "{}"}])

    (root / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert Tokenizer.from_checkpoint(Files(root)).apply_chat_template([{"role": "user", "content": "hi"}]) == "hi"


def test_the_template_sandbox_blocks_python_internals(tmp_path: Path, smollm2_dir: Path) -> None:
    root = write_tokenizer_dir(tmp_path, smollm2_dir, chat_template="{{ messages.__class__.__mro__ }}")
    with pytest.raises(ChatTemplateError):
        Tokenizer.from_checkpoint(Files(root)).apply_chat_template([{"role": "user", "content": "hi"}])


def test_a_model_without_a_chat_template_says_what_to_do(tmp_path: Path, smollm2_dir: Path) -> None:
    root = write_tokenizer_dir(tmp_path, smollm2_dir, chat_template=None)
    with pytest.raises(ChatTemplateError, match="use the completions API"):
        Tokenizer.from_checkpoint(Files(root)).apply_chat_template([{"role": "user", "content": "hi"}])


def test_add_bos_token_is_honoured(tmp_path: Path, smollm2_dir: Path) -> None:
    tokenizer = Tokenizer.from_checkpoint(Files(write_tokenizer_dir(tmp_path, smollm2_dir, add_bos_token=True)))
    assert tokenizer.encode("hi")[0] == 1
    assert tokenizer.encode("hi", add_special_tokens=False)[0] != 1


# ---------------------------------------------------------------------------- incremental detokenisation


@pytest.mark.parametrize(
    "text",
    [
        "héllo wörld — 世界 🎉🚀 naïve café",
        "日本語のテキストを少しだけ書きます。",
        "emoji: 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    ],
)
def test_incremental_decoding_never_splits_a_character(text: str, tokenizer: Tokenizer) -> None:
    prompt = tokenizer.encode("Say it:")
    ids = tokenizer.encode(text)
    decoder = IncrementalDecoder(tokenizer, prompt)
    pieces = [decoder.push(token) for token in ids]
    pieces.append(decoder.flush())
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    # The characters really were split across tokens: some tokens completed no text.
    assert "" in pieces[:-1]


def test_a_truncated_character_comes_out_as_a_replacement_at_the_end(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("🎉")
    assert len(ids) > 1
    decoder = IncrementalDecoder(tokenizer)
    assert decoder.push(ids[0]) == ""
    tail = decoder.flush()
    assert tail and set(tail) == {"\ufffd"}
    assert decoder.flush() == ""


def test_special_tokens_are_not_part_of_the_text(tokenizer: Tokenizer) -> None:
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(t) for t in tokenizer.encode("Hi<|im_end|> there")]
    assert "".join(pieces) + decoder.flush() == "Hi there"


@pytest.mark.parametrize("text", TEXTS)
def test_token_bytes_make_up_the_text(text: str, tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(text)
    assert b"".join(tokenizer.token_bytes(i) for i in ids) == text.encode()


def test_token_bytes_of_single_tokens(tokenizer: Tokenizer) -> None:
    # The emoji's four bytes over three tokens; the space a word starts with stays with it.
    pieces = [tokenizer.token_bytes(i) for i in tokenizer.encode(" 🎉 Paris")]
    assert pieces == [b" \xf0\x9f", b"\x8e", b"\x89", b" Paris"]
    assert tokenizer.token_bytes(2) == b"<|im_end|>"
    assert tokenizer.token_bytes(10**9) == b""


def test_token_bytes_of_a_sentencepiece_vocabulary() -> None:
    # Llama 2's, Mistral's and Gemma's scheme: "▁" for a space, <0xNN> tokens for bytes the vocabulary lacks.
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models

    vocab = {"<unk>": 0, "<s>": 1, "▁Paris": 2, "<0xF0>": 3, "<0x9F>": 4, "▁is": 5}
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    hf.add_special_tokens(["<s>"])
    replace = decoders.Replace("▁", " ")
    hf.decoder = decoders.Sequence([replace, decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tokenizer = Tokenizer(hf.to_str())
    assert [tokenizer.token_bytes(i) for i in range(6)] == [b"<unk>", b"<s>", b" Paris", b"\xf0", b"\x9f", b" is"]
