"""The model's tokenizer and chat template, read from the checkpoint as transformers would, without transformers.

Usage::

    tokenizer = Tokenizer.from_checkpoint(checkpoint)      # anything with read_text()/has_file()
    ids = tokenizer.encode("Hello")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}])
    tokenizer.eos_token_ids                                  # from config, generation config and tokenizer config
    tokenizer.token_bytes(7042)                              # b" Paris": one token's bytes, for logprobs

``tokenizer.json`` is loaded by the ``tokenizers`` library; the chat template (``chat_template.jinja``
or ``tokenizer_config.json``'s ``chat_template``) is rendered in a sandboxed jinja2 environment set up
like transformers' (``trim_blocks``, ``lstrip_blocks``, ``raise_exception``, ``tojson``,
``strftime_now``, the special tokens as variables).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer as _HFTokenizer

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
GENERATION_CONFIG_FILE = "generation_config.json"
CONFIG_FILE = "config.json"
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")
SENTENCEPIECE_SPACE = "\u2581"
"""``▁``: how SentencePiece vocabularies write a space."""
_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class TextFiles(Protocol):
    """Where the tokenizer's files come from: a :class:`~.checkpoint.Checkpoint`, or a test double."""

    def read_text(self, name: str) -> str: ...

    def has_file(self, name: str) -> bool: ...


class ChatTemplateError(ValueError):
    """The model has no chat template, or rendering it failed (e.g. the template's raise_exception)."""


class Tokenizer:
    """Encode, decode and render chat prompts for one model (implements ``generation.ChatTokenizer``)."""

    def __init__(
        self,
        tokenizer_json: str,
        tokenizer_config: Mapping[str, Any] | None = None,
        *,
        chat_template: str | None = None,
        model_config: Mapping[str, Any] | None = None,
        generation_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._tokenizer = _HFTokenizer.from_str(tokenizer_json)
        self.config = dict(tokenizer_config or {})
        self.special_tokens = {
            key: text for key in SPECIAL_TOKEN_KEYS if (text := _token_text(self.config.get(key))) is not None
        }
        self.bos_token = self.special_tokens.get("bos_token")
        self.eos_token = self.special_tokens.get("eos_token")
        self.bos_token_id = self.token_to_id(self.bos_token) if self.bos_token else None
        if self.bos_token_id is None and model_config is not None:
            self.bos_token_id = _first(model_config.get("bos_token_id"))
        self.add_bos_token = bool(self.config.get("add_bos_token", False))
        if chat_template is None:
            chat_template = _pick_template(self.config.get("chat_template"))
        self.chat_template = chat_template

        eos: list[int] = []
        for source in (generation_config or {}, model_config or {}):
            eos += _ids(source.get("eos_token_id"))
        if self.eos_token is not None and (eos_id := self.token_to_id(self.eos_token)) is not None:
            eos.append(eos_id)
        self.eos_token_ids: frozenset[int] = frozenset(eos)
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        added_tokens = self._tokenizer.get_added_tokens_decoder()
        self.special_token_ids = frozenset(token_id for token_id, added in added_tokens.items() if added.special)
        self._added_token_ids = frozenset(added_tokens)
        self._byte_level = _is_byte_level(json.loads(tokenizer_json).get("decoder"))
        self._token_bytes: dict[int, bytes] = {}

    @classmethod
    def from_checkpoint(cls, files: TextFiles) -> Tokenizer:
        """Read ``tokenizer.json`` (required) and the optional tokenizer, generation and model configs."""
        if not files.has_file(TOKENIZER_FILE):
            raise FileNotFoundError(
                f"the checkpoint has no {TOKENIZER_FILE}; the runtime needs the fast tokenizer file that "
                f"`AutoTokenizer.from_pretrained(...).save_pretrained(dir)` writes"
            )

        def optional_json(name: str) -> dict[str, Any] | None:
            return json.loads(files.read_text(name)) if files.has_file(name) else None

        chat_template = files.read_text(CHAT_TEMPLATE_FILE) if files.has_file(CHAT_TEMPLATE_FILE) else None
        return cls(
            files.read_text(TOKENIZER_FILE),
            optional_json(TOKENIZER_CONFIG_FILE),
            chat_template=chat_template,
            model_config=optional_json(CONFIG_FILE),
            generation_config=optional_json(GENERATION_CONFIG_FILE),
        )

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; with ``add_special_tokens`` the tokenizer's own BOS/EOS framing is added."""
        ids = self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
        # tokenizer_config's add_bos_token is honoured even when tokenizer.json's post-processor lacks it.
        bos = self.bos_token_id
        if add_special_tokens and self.add_bos_token and bos is not None and ids[:1] != [bos]:
            ids = [bos, *ids]
        return ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for: ``b" Paris"`` with its space, part of a UTF-8 character as the
        bytes it holds, a special token as its text (``b"<|im_end|>"``), an unknown id as ``b""``.

        Decoding the token alone would not do: it turns a piece of a character into U+FFFD, and
        SentencePiece's decoder drops the space a word starts with.
        """
        known = self._token_bytes.get(token_id)
        if known is not None:
            return known
        token = self._tokenizer.id_to_token(token_id)
        if token is None:
            value = b""
        elif token_id in self._added_token_ids:  # added tokens are stored as their text, in either scheme
            value = token.encode()
        elif self._byte_level:
            value = b"".join(_BYTE_OF_CHAR.get(c, c.encode()) for c in token)
        elif byte := _BYTE_FALLBACK.fullmatch(token):
            value = bytes([int(byte.group(1), 16)])
        else:
            value = token.replace(SENTENCEPIECE_SPACE, " ").encode()
        self._token_bytes[token_id] = value
        return value

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True, **variables: Any
    ) -> str:
        """Render ``messages`` with the model's chat template, as ``transformers`` would (tokenize=False)."""
        if self._template is None:
            raise ChatTemplateError(
                "this model has no chat template (no chat_template.jinja and no chat_template in "
                "tokenizer_config.json); use the completions API with a plain prompt instead"
            )
        context = {**self.special_tokens, **variables}
        try:
            return self._template.render(
                messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt, **context
            )
        except jinja2.TemplateError as e:
            raise ChatTemplateError(f"the chat template rejected the messages: {e}") from e

    @cached_property
    def _template(self) -> jinja2.Template | None:
        return None if not self.chat_template else _environment().from_string(self.chat_template)


def _environment() -> ImmutableSandboxedEnvironment:
    """A sandboxed jinja2 environment with the globals chat templates written for transformers use."""

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        # jinja's own tojson escapes HTML characters, which templates don't expect.
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def _is_byte_level(decoder: object) -> bool:
    """Whether tokenizer.json's ``decoder`` maps bytes to characters as GPT-2's byte-level BPE does."""
    if not isinstance(decoder, Mapping):
        return False
    if decoder.get("type") == "ByteLevel":
        return True
    parts = decoder.get("decoders") if decoder.get("type") == "Sequence" else None
    return isinstance(parts, list) and any(_is_byte_level(part) for part in parts)


def _byte_of_char() -> dict[str, bytes]:
    """GPT-2's byte-level alphabet, backwards: the character each byte is written as → that byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    # The other bytes (controls, space, …) are written as the characters from U+0100 on, in byte order.
    for n, b in enumerate(b for b in range(256) if b not in chars):
        chars[b] = chr(256 + n)
    return {c: bytes([b]) for b, c in chars.items()}


_BYTE_OF_CHAR = _byte_of_char()


def _pick_template(value: object) -> str | None:
    """tokenizer_config's chat_template: a string, or a list of named templates (use ``default``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        template = named.get("default")
        return template if isinstance(template, str) else None
    return None


def _token_text(value: object) -> str | None:
    """A special token in tokenizer_config: a string, or a serialised AddedToken with ``content``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def _ids(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def _first(value: object) -> int | None:
    ids = _ids(value)
    return ids[0] if ids else None
