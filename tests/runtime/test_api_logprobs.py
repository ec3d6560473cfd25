"""``logprobs`` / ``top_logprobs`` on /v1/completions and /v1/chat/completions: OpenAI's shapes, whole and streamed.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness, whose reply's n-th token has
logprob -n/4 and, among its likeliest tokens, comes first, then "#1", "#2", … one logprob lower each. That
the numbers are the model's: test_logprobs.py.
"""

from __future__ import annotations

import itertools
import math

import httpx
import openai
import pytest
from api_harness import MODEL, REPLY, REPLY_TEXT, FakeEngine
from openai.types.chat import ChatCompletionMessageParam

from shardstack_runtime.generation import GenerationEvent
from shardstack_runtime.http.logprobs import LOWEST_LOGPROB, ChoiceLogprobs

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
LOGPROBS = [-n / 4 for n in range(1, len(REPLY) + 1)]
OFFSETS = [sum(len(piece) for piece in REPLY[:i]) for i in range(len(REPLY))]


def likeliest(n: int, k: int) -> list[tuple[str, float]]:
    """The fake engine's k likeliest tokens at its n-th step (n from 0)."""
    return [(REPLY[n], LOGPROBS[n]), *((f"#{j}", LOGPROBS[n] - j) for j in range(1, k))]


# ---------------------------------------------------------------------------------------------
# /v1/completions: logprobs: int, the legacy shape
# ---------------------------------------------------------------------------------------------


def test_completion_logprobs(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt="Say hi", logprobs=3)
    [choice] = response.choices
    assert choice.text == REPLY_TEXT and engine.requests[-1].params.top_logprobs == 3
    logprobs = choice.logprobs
    assert logprobs is not None
    assert logprobs.tokens == list(REPLY)
    assert logprobs.token_logprobs == LOGPROBS
    assert logprobs.top_logprobs == [dict(likeliest(n, 3)) for n in range(len(REPLY))]
    assert logprobs.text_offset == OFFSETS


def test_completion_logprobs_0_still_reports_each_chosen_token(client: openai.OpenAI, engine: FakeEngine) -> None:
    # OpenAI: "the API will always return the logprob of the sampled token"; 0 asks for no other.
    logprobs = client.completions.create(model=MODEL, prompt="Say hi", logprobs=0).choices[0].logprobs
    assert engine.requests[-1].params.top_logprobs == 0
    assert logprobs is not None and logprobs.token_logprobs == LOGPROBS
    assert logprobs.top_logprobs == [{piece: lp} for piece, lp in zip(REPLY, LOGPROBS, strict=True)]


def test_requests_without_logprobs_answer_null(http: httpx.Client, engine: FakeEngine) -> None:
    completion = http.post("/v1/completions", json={"model": MODEL, "prompt": "hi"}).json()
    assert completion["choices"][0]["logprobs"] is None and engine.requests[-1].params.top_logprobs == 0
    chat = http.post("/v1/chat/completions", json={"model": MODEL, "messages": USER, "logprobs": False}).json()
    assert chat["choices"][0]["logprobs"] is None and engine.requests[-1].params.top_logprobs == 0


def test_completion_stream_logprobs_follow_each_chunks_text(client: openai.OpenAI) -> None:
    # "[held]": every other token's text comes with the next token, and so do its logprobs.
    stream = client.completions.create(model=MODEL, prompt="[held] hi", logprobs=2, n=2, stream=True)
    tokens: dict[int, list[str]] = {0: [], 1: []}
    offsets: dict[int, list[int]] = {0: [], 1: []}
    tops: dict[int, list[dict[str, float]]] = {0: [], 1: []}
    for chunk in stream:
        for choice in chunk.choices:
            assert choice.logprobs is not None and choice.logprobs.tokens is not None
            assert "".join(choice.logprobs.tokens) == choice.text
            tokens[choice.index] += choice.logprobs.tokens
            offsets[choice.index] += choice.logprobs.text_offset or []
            tops[choice.index] += choice.logprobs.top_logprobs or []
    for index in (0, 1):
        assert tokens[index] == list(REPLY)
        assert offsets[index] == OFFSETS  # counted on across the chunks
        assert tops[index] == [dict(likeliest(n, 2)) for n in range(len(REPLY))]


def test_completion_logprobs_of_each_choice_and_prompt(client: openai.OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt=["a", "bc"], n=2, max_tokens=3, logprobs=1)
    assert len(response.choices) == 4
    for choice in response.choices:
        assert choice.logprobs is not None
        assert choice.logprobs.tokens == list(REPLY[:3]) and choice.logprobs.token_logprobs == LOGPROBS[:3]


# ---------------------------------------------------------------------------------------------
# /v1/chat/completions: logprobs: bool, top_logprobs: int
# ---------------------------------------------------------------------------------------------


def test_chat_logprobs(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.chat.completions.create(model=MODEL, messages=USER, logprobs=True, top_logprobs=4)
    assert engine.requests[-1].params.top_logprobs == 4
    [choice] = response.choices
    assert choice.logprobs is not None and choice.logprobs.content is not None
    content = choice.logprobs.content
    assert [t.token for t in content] == list(REPLY)
    assert [t.logprob for t in content] == LOGPROBS
    assert [t.bytes for t in content] == [list(piece.encode()) for piece in REPLY]
    for n, token in enumerate(content):
        assert [(top.token, top.logprob) for top in token.top_logprobs] == likeliest(n, 4)
        assert all(top.bytes == list(top.token.encode()) for top in token.top_logprobs)


def test_chat_logprobs_without_top_logprobs_list_no_alternatives(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.chat.completions.create(model=MODEL, messages=USER, logprobs=True, max_tokens=3)
    assert engine.requests[-1].params.top_logprobs == 0
    logprobs = response.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [(t.token, t.logprob, t.top_logprobs) for t in logprobs.content] == [
        (REPLY[n], LOGPROBS[n], []) for n in range(3)
    ]


def test_chat_stream_chunks_carry_their_tokens_logprobs(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "[held] hi"}],
        logprobs=True,
        top_logprobs=2,
        n=2,
        stream=True,
    )
    tokens: dict[int, list[str]] = {0: [], 1: []}
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.role:  # the opening chunk has no token yet
                assert choice.logprobs is None
                continue
            assert choice.logprobs is not None and choice.logprobs.content is not None
            content = choice.logprobs.content
            assert "".join(t.token for t in content) == (choice.delta.content or "")
            assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)
            tokens[choice.index] += [t.token for t in content]
    assert tokens == {0: list(REPLY), 1: list(REPLY)}


def test_chat_logprobs_of_n_choices(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=USER, n=3, logprobs=True, top_logprobs=1)
    assert [c.index for c in response.choices] == [0, 1, 2]
    for choice in response.choices:
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert [t.logprob for t in choice.logprobs.content] == LOGPROBS


# ---------------------------------------------------------------------------------------------
# Tokens as text and bytes
# ---------------------------------------------------------------------------------------------


class SplitEmojiTokenizer:
    """ " 🎉 go" in three tokens; the emoji's four bytes are split over the first two."""

    def token_bytes(self, token_id: int) -> bytes:
        return {1: b" \xf0\x9f", 2: b"\x8e\x89", 3: b" go"}[token_id]


def events(*steps: tuple[int, float]) -> list[GenerationEvent]:
    """One event per (token, logprob), the token its own only likeliest one."""
    return [
        GenerationEvent(request_id="r", token_id=t, text="", logprob=lp, top_logprobs=((t, lp),)) for t, lp in steps
    ]


def test_a_character_split_over_tokens_is_whole_only_in_their_bytes() -> None:
    chat = ChoiceLogprobs(SplitEmojiTokenizer())
    for event in events((1, -0.5), (2, -0.1), (3, -2.0)):
        chat.add(event)
    content = chat.chat().content
    assert [t.token for t in content] == [" \\xf0\\x9f", "\\x8e\\x89", " go"]
    assert bytes(itertools.chain.from_iterable(t.bytes for t in content)).decode() == " 🎉 go"

    legacy = ChoiceLogprobs(SplitEmojiTokenizer())
    for event in events((1, -0.5), (2, -0.1), (3, -2.0)):
        legacy.add(event)
    # The text " 🎉 go": the second token starts inside the emoji at character 1, " go" at character 2.
    assert legacy.completion().text_offset == [0, 1, 2]


def test_an_impossible_token_reports_openais_lowest_logprob() -> None:
    logprobs = ChoiceLogprobs(SplitEmojiTokenizer())
    logprobs.add(events((3, -math.inf))[0])
    [token] = logprobs.chat().content
    assert token.logprob == LOWEST_LOGPROB and token.top_logprobs[0].logprob == LOWEST_LOGPROB
    assert logprobs.chat().content == []  # each token is handed out once
