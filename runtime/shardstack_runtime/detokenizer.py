"""Generated tokens → the text a client may see so far, honouring stop strings.

Usage::

    stream = TextStream(tokenizer, prompt_ids, stop=("\\n\\n",))
    for token in generated:
        text, stopped = stream.push(token)     # text: newly final text ("" while undecided)
        if stopped: break                      # the stop string and anything after it never appear
    text = stream.finish()                     # whatever was held back, at the end of generation

Two things keep text back until it is certain:

- bytes of a UTF-8 character split across byte-level BPE tokens: a token window is decoded again
  once the character is complete, so no U+FFFD replacement character is emitted mid-character;
- a suffix that could be the start of a stop string (which may span several tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REPLACEMENT_CHAR = "\ufffd"
PROMPT_CONTEXT_TOKENS = 5
"""Prompt tokens decoded with the first generated ones: some decoders (SentencePiece's ▁ spaces)
render a token differently at the start of a string than after other text."""


class Decoder(Protocol):
    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str: ...


class IncrementalDecoder:
    """Decode tokens one at a time, emitting only text whose characters are complete."""

    def __init__(self, tokenizer: Decoder, prompt_ids: Sequence[int] = (), *, skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip_special = skip_special_tokens
        self._ids = list(prompt_ids[-PROMPT_CONTEXT_TOKENS:])
        # Text of ids[prefix:read] was emitted already; ids[read:] are not yet turned into text.
        self._prefix = 0
        self._read = len(self._ids)

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes (may be "")."""
        self._ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """Return any text still held back (an incomplete character comes out as U+FFFD)."""
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        skip = self._skip_special
        prefix_text = self._tokenizer.decode(self._ids[self._prefix : self._read], skip_special_tokens=skip)
        full_text = self._tokenizer.decode(self._ids[self._prefix :], skip_special_tokens=skip)
        if len(full_text) <= len(prefix_text) or (not final and full_text.endswith(REPLACEMENT_CHAR)):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return full_text[len(prefix_text) :]


class StopStrings:
    """Find stop strings in a stream of text pieces, holding back what could still become one."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        self._pending = ""

    def push(self, text: str) -> tuple[str, bool]:
        """Add text; return ``(safe_text, stopped)``. On a stop, ``safe_text`` ends right before it."""
        if not self.stop:
            return text, False
        pending = self._pending + text
        hits = [i for s in self.stop if (i := pending.find(s)) >= 0]
        if hits:
            self._pending = ""
            return pending[: min(hits)], True
        keep = self._longest_partial_stop(pending)
        self._pending = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep], False

    def flush(self) -> str:
        """Release held-back text when generation ends for another reason."""
        pending, self._pending = self._pending, ""
        return pending

    def _longest_partial_stop(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of some stop string."""
        longest = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), longest, -1):
                if text.endswith(s[:n]):
                    longest = n
                    break
        return longest


class TextStream:
    """Incremental detokenisation plus stop strings: the text of one generated sequence."""

    def __init__(self, tokenizer: Decoder, prompt_ids: Sequence[int] = (), stop: Sequence[str] = ()) -> None:
        self._decoder = IncrementalDecoder(tokenizer, prompt_ids)
        self._stops = StopStrings(stop)

    def push(self, token_id: int) -> tuple[str, bool]:
        """Add a generated token; return the newly final text and whether a stop string was reached."""
        return self._stops.push(self._decoder.push(token_id))

    def finish(self) -> str:
        """End of generation (EOS, a stop token, max tokens): release everything held back."""
        text, stopped = self._stops.push(self._decoder.flush())
        return text if stopped else text + self._stops.flush()
