"""POST /v1/completions through the official client: answers, streams, choices, budgets, sampling.

Served by a real uvicorn on 127.0.0.1 over the fake engine of api_harness.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
from api_harness import API_KEY, MODEL, REPLY_TEXT, FakeEngine, FakeTokenizer

from shardstack_runtime.generation import SamplingParams

pytestmark = pytest.mark.usefixtures("engine_ready")
"""The shared fake engine is ready at the start of every test, whatever an earlier one left it as."""


def test_completion(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt="Say hi")
    assert response.id.startswith("cmpl-") and response.object == "text_completion"
    assert response.model == MODEL
    [choice] = response.choices
    assert (choice.index, choice.text, choice.finish_reason) == (0, REPLY_TEXT, "stop")
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (7, 8, 15)
    request = engine.requests[-1]
    assert list(request.prompt_token_ids) == FakeTokenizer().encode("Say hi")
    assert request.params == SamplingParams(max_tokens=16)  # OpenAI's defaults
    assert request.request_id.startswith(response.id)


def test_completion_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(model=MODEL, prompt="Say hi", stream=True, stream_options={"include_usage": True})
    )
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("cmpl-")
    text = "".join(choice.text for c in chunks for choice in c.choices)
    assert text == REPLY_TEXT
    finishes = [choice.finish_reason for c in chunks for choice in c.choices if choice.finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8 and chunks[-1].usage.prompt_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])


def test_n_choices_stream(client: openai.OpenAI) -> None:
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in client.completions.create(model=MODEL, prompt="hi", n=2, stream=True):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: REPLY_TEXT, 1: REPLY_TEXT}
    assert finishes == {0: "stop", 1: "stop"}


def test_batch_of_prompts(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt=["a", "bc"], n=2, max_tokens=2)
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    prompts = [FakeTokenizer().decode(r.prompt_token_ids) for r in engine.requests[-4:]]
    assert prompts == ["a", "a", "bc", "bc"]
    assert response.usage is not None and response.usage.prompt_tokens == 2 + 3


def test_token_id_prompt(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.completions.create(model=MODEL, prompt=[5, 6, 7], max_tokens=1)
    assert list(engine.requests[-1].prompt_token_ids) == [5, 6, 7]


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="hi", max_tokens=3)
    assert completion.choices[0].text == "Hello, world" and completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    chat = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=2
    )
    assert chat.choices[0].message.content == "Hello," and chat.choices[0].finish_reason == "length"


def test_token_less_final_event(client: openai.OpenAI) -> None:
    response = client.completions.create(model=MODEL, prompt="[eos-event]")
    assert response.choices[0].text == REPLY_TEXT and response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.completion_tokens == 8


def test_sampling_parameters_reach_the_engine(client: openai.OpenAI, engine: FakeEngine) -> None:
    client.completions.create(
        model=MODEL,
        prompt="hi",
        max_tokens=5,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=["x", "y"],
        extra_body={"top_k": 40, "stop_token_ids": [2], "ignore_eos": True},
    )
    assert engine.requests[-1].params == SamplingParams(
        max_tokens=5,
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        seed=3,
        stop=("x", "y"),
        stop_token_ids=(2,),
        ignore_eos=True,
    )
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], top_p=0.0, stop="\n", extra_body={"top_k": -1}
    )
    params = engine.requests[-1].params
    assert (params.temperature, params.top_p, params.top_k, params.stop) == (0.0, 1.0, 0, ("\n",))


def test_many_concurrent_streams_run_together(base_url: str, engine: FakeEngine) -> None:
    async def one(client: openai.AsyncOpenAI) -> str:
        stream = await client.completions.create(model=MODEL, prompt="[slow]", max_tokens=10, stream=True)
        return "".join([choice.text async for chunk in stream for choice in chunk.choices])

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30) as client:
            return await asyncio.gather(*(one(client) for _ in range(32)))

    engine.peak_running = 0
    texts = asyncio.run(run())
    assert texts == [" tick" * 10] * 32
    assert engine.peak_running == 32  # every request was in the engine at once: nothing serialized them


# ---------------------------------------------------------------------------------------------
