"""POST /v1/chat/completions through the official client: answers, streams, the template, choices.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from api_harness import MAX_MODEL_LEN, MODEL, REPLY_TEXT, FakeEngine, FakeTokenizer

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


def test_chat(client: openai.OpenAI, engine: FakeEngine) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "hi"}]},
    ]
    response = client.chat.completions.create(model=MODEL, messages=messages, user="alice")
    assert response.id.startswith("chatcmpl-") and response.object == "chat.completion"
    [choice] = response.choices
    assert choice.message.role == "assistant" and choice.message.content == REPLY_TEXT
    assert choice.finish_reason == "stop"
    tokenizer = FakeTokenizer()
    rendered = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say\nhi"}]
    )
    # The template wrote "<s>" itself: encoding adds no second BOS.
    expected = tokenizer.encode(rendered, add_special_tokens=False)
    assert list(engine.requests[-1].prompt_token_ids) == expected
    assert response.usage is not None and response.usage.prompt_tokens == len(expected)
    # No max_tokens: as many as fit, up to the server's limit.
    assert engine.requests[-1].params.max_tokens == min(128, MAX_MODEL_LEN - len(expected))


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(choice.delta.content or "" for c in chunks for choice in c.choices)
    assert text == REPLY_TEXT
    assert [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8


def test_developer_role_is_rendered_as_system(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]
    )
    assert FakeTokenizer().decode(engine.requests[-1].prompt_token_ids).startswith("<s><|system|>x\n")


def test_n_choices_with_seed(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=3, seed=7)
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert all(c.message.content == REPLY_TEXT for c in response.choices)
    assert [r.params.seed for r in engine.requests[-3:]] == [7, 8, 9]
    assert response.usage is not None
    assert response.usage.completion_tokens == 3 * 8
    assert response.usage.prompt_tokens == len(engine.requests[-1].prompt_token_ids)  # the prompt counts once
