"""A choice's token logprobs in the shapes OpenAI's two APIs give them: legacy completions' and chat's.

Usage::

    logprobs = ChoiceLogprobs(tokenizer)        # one per choice that asked for them
    logprobs.add(event)                         # each engine event of the choice
    logprobs.chat()                             # the tokens added since the last call, as chat shows them
    logprobs.completion()                       # … or as the legacy completions show them

A whole answer takes everything at the end; a stream takes, with each chunk, the tokens added since the
previous chunk. A token whose text the detokenizer still holds back (part of a character, the start of a
possible stop string) thus goes out with the chunk that carries its text, or with the last one.

The engine reports a logprob for every token it generated, the one that ended the choice (EOS, a stop
token) included: the logprobs cover ``usage.completion_tokens`` tokens, as vLLM's do.
"""

from __future__ import annotations

import codecs
from typing import Protocol

from ..generation import GenerationEvent
from ..openai_responses import ChatLogprobs, CompletionLogprobs, TokenLogprob, TopLogprob

LOWEST_LOGPROB = -9999.0
"""Reported for a token whose probability is 0 in float32: JSON has no -Infinity (OpenAI and vLLM do so)."""


class TokenBytes(Protocol):
    """What the logprobs need of the tokenizer (``generation.ChatTokenizer`` has it)."""

    def token_bytes(self, token_id: int) -> bytes: ...


def token_text(data: bytes) -> str:
    """A token's text as logprobs show it; bytes that are not whole UTF-8 characters come out escaped
    (``"\\xf0\\x9f"``), since only the tokens together make the character: ``bytes`` keeps them exact."""
    return data.decode("utf-8", errors="backslashreplace")


def _reported(logprob: float) -> float:
    return max(logprob, LOWEST_LOGPROB)


class ChoiceLogprobs:
    """The logprobs of one choice's tokens not yet sent, and where the choice's text stands."""

    def __init__(self, tokenizer: TokenBytes) -> None:
        self._tokenizer = tokenizer
        self._pending: list[tuple[int, float, tuple[tuple[int, float], ...]]] = []
        """(token id, logprob, likeliest tokens) of each token not yet sent."""
        self._chars = 0
        """Characters of the choice's text before the pending tokens: the next token's ``text_offset``."""
        # Counts a character split over several tokens once, when its last byte arrives, as the text does.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, event: GenerationEvent) -> None:
        """Keep the event's token, if it brought one (an abort or a separate end brings none)."""
        if event.token_id is not None and event.logprob is not None:
            self._pending.append((event.token_id, event.logprob, event.top_logprobs))

    def chat(self) -> ChatLogprobs:
        """The tokens added since the last call, as ``logprobs.content`` of a chat choice or chunk."""
        content = []
        for token_id, logprob, top in self._take():
            token = self._top_logprob(token_id, logprob)
            likeliest = [self._top_logprob(t, lp) for t, lp in top]
            content.append(
                TokenLogprob(token=token.token, logprob=token.logprob, bytes=token.bytes, top_logprobs=likeliest)
            )
        return ChatLogprobs(content=content)

    def completion(self) -> CompletionLogprobs:
        """The tokens added since the last call, as the legacy completions' ``logprobs`` of a choice or chunk."""
        logprobs = CompletionLogprobs(tokens=[], token_logprobs=[], top_logprobs=[], text_offset=[])
        for token_id, logprob, top in self._take():
            data = self._tokenizer.token_bytes(token_id)
            text = token_text(data)
            logprobs.tokens.append(text)
            logprobs.token_logprobs.append(_reported(logprob))
            logprobs.text_offset.append(self._chars)
            self._chars += len(self._utf8.decode(data))
            likeliest = {token_text(self._tokenizer.token_bytes(t)): _reported(lp) for t, lp in top}
            # OpenAI's legacy API always reports the chosen token among the likeliest: up to logprobs + 1.
            likeliest.setdefault(text, _reported(logprob))
            logprobs.top_logprobs.append(likeliest)
        return logprobs

    def _take(self) -> list[tuple[int, float, tuple[tuple[int, float], ...]]]:
        pending, self._pending = self._pending, []
        return pending

    def _top_logprob(self, token_id: int, logprob: float) -> TopLogprob:
        data = self._tokenizer.token_bytes(token_id)
        return TopLogprob(token=token_text(data), logprob=_reported(logprob), bytes=list(data))
