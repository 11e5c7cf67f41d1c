"""LLM providers against a local server that streams real OpenAI SSE."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streamer.config import LLMSettings, PersonaExample, PersonaSettings
from streamer.llm import (
    PLACEHOLDER_KEY,
    ChatTurn,
    Exchange,
    LLMError,
    LLMErrorKind,
    LLMProvider,
    OfflineProvider,
    OpenAIProvider,
    PromptBuilder,
    make_provider,
)
from streamer.messages import Question, Role
from streamer.secrets import SecretError
from tests.fakes.openai_server import FakeOpenAIServer, Scenario

SECRET_KEY = "sk-test-THIS-MUST-NEVER-BE-LOGGED-1234"


def llm_settings(base_url: str | None, **over: Any) -> LLMSettings:
    timeouts = {"connect_s": 1.0, "first_token_s": 0.3, "total_s": 2.0}
    timeouts.update(over.pop("timeouts", {}))
    data: dict[str, Any] = {
        "provider": "openai",
        "base_url": base_url,
        "model": "fake-model",
        "timeouts": timeouts,
    }
    data.update(over)
    return LLMSettings.model_validate(data)


def question(text: str = "why is the sky blue?", user: str = "alice") -> Question:
    return Question(id="q1", user=user, display_name=user.title(), text=text, role=Role.VIEWER)


MESSAGES = [ChatTurn("system", "You are Ava."), ChatTurn("user", "[21:04] Alice asks: hi")]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
async def make(server: FakeOpenAIServer) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    made: list[OpenAIProvider] = []

    def factory(key: str | None = SECRET_KEY, **over: Any) -> OpenAIProvider:
        provider = OpenAIProvider(llm_settings(server.base_url, **over), key)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


async def collect(provider: LLMProvider, messages: list[ChatTurn] = MESSAGES) -> list[str]:
    return [delta async for delta in provider.stream(messages)]


async def test_normal_stream(server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]) -> None:
    server.push(Scenario.reply("The sky is blue because of Rayleigh scattering."))
    provider = make(temperature=0.3, max_tokens=123)
    deltas = await collect(provider)
    assert "".join(deltas) == "The sky is blue because of Rayleigh scattering."
    assert len(deltas) > 3  # streamed, not in one piece
    req = server.requests[0]
    assert req.model == "fake-model"
    assert req.body["stream"] is True
    assert req.body["temperature"] == 0.3
    assert req.body["max_tokens"] == 123
    assert req.messages == [
        {"role": "system", "content": "You are Ava."},
        {"role": "user", "content": "[21:04] Alice asks: hi"},
    ]
    assert req.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert "fake-model" in provider.describe()


async def test_http_500_is_an_error_without_client_retry(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.error(500), Scenario.reply("never asked"))
    with pytest.raises(LLMError) as info:
        await collect(make())
    assert info.value.kind is LLMErrorKind.HTTP_STATUS
    assert info.value.status == 500
    assert len(server.requests) == 1  # max_retries=0: the client did not retry


async def test_stall_before_first_token(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.stalled())
    with pytest.raises(LLMError) as info:
        await collect(make(timeouts={"first_token_s": 0.2}))
    assert info.value.kind is LLMErrorKind.TIMEOUT_FIRST_TOKEN


async def test_stall_before_headers(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.stalled(before_headers=True))
    with pytest.raises(LLMError) as info:
        await collect(make(timeouts={"first_token_s": 0.2}))
    assert info.value.kind is LLMErrorKind.TIMEOUT_FIRST_TOKEN


async def test_total_timeout(server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]) -> None:
    slow = Scenario.paused("one two three four", after=2)  # never resumed
    server.push(slow)
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        async for delta in make(timeouts={"first_token_s": 0.2, "total_s": 0.3}).stream(MESSAGES):
            got.append(delta)
    assert info.value.kind is LLMErrorKind.TIMEOUT_TOTAL
    assert "".join(got) == "one two"


async def test_cut_connection_mid_stream(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.cut("one two three four five", after=2))
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        async for delta in make().stream(MESSAGES):
            got.append(delta)
    assert info.value.kind is LLMErrorKind.CUT
    assert "".join(got) == "one two"


async def test_stream_without_done(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.without_done("all of it but no end"))
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        async for delta in make().stream(MESSAGES):
            got.append(delta)
    assert info.value.kind is LLMErrorKind.NO_DONE
    assert "".join(got) == "all of it but no end"


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(llm_settings(f"http://127.0.0.1:{port}/v1"), None)
    try:
        with pytest.raises(LLMError) as info:
            await collect(provider)
        assert info.value.kind is LLMErrorKind.CONNECT
    finally:
        await provider.aclose()


@pytest.mark.skipif(
    sys.platform != "linux", reason="relies on Linux dropping SYNs to a full backlog"
)
async def test_connect_timeout() -> None:
    # A listening socket whose backlog is full: Linux drops further SYNs, so the
    # TCP handshake never completes and connect_s fires.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        provider = OpenAIProvider(
            llm_settings(f"http://127.0.0.1:{port}/v1", timeouts={"connect_s": 0.2}), None
        )
        try:
            with pytest.raises(LLMError) as info:
                await collect(provider)
            assert info.value.kind is LLMErrorKind.TIMEOUT_CONNECT
        finally:
            await provider.aclose()
            for filler in fillers:
                filler.close()


async def test_missing_key_sends_placeholder_and_says_so(
    server: FakeOpenAIServer,
    make: Callable[..., OpenAIProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="streamer")
    await collect(make(key=None))
    assert server.requests[0].headers["Authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert "no API key" in caplog.text


async def test_api_key_never_logged(
    server: FakeOpenAIServer,
    make: Callable[..., OpenAIProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.push(Scenario.error(401), Scenario.cut("a b c", after=1), Scenario.reply("fine"))
    provider = make()
    for _ in range(2):
        with pytest.raises(LLMError) as info:
            await collect(provider)
        assert SECRET_KEY not in str(info.value)
    await collect(provider)
    assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in provider.describe()


def test_make_provider_chooses_and_reads_the_key_from_env(server: FakeOpenAIServer) -> None:
    offline = make_provider(LLMSettings(), {})
    assert isinstance(offline, OfflineProvider)
    assert offline.describe() == "offline (no LLM)"
    with pytest.raises(SecretError, match="OPENAI_API_KEY"):
        make_provider(llm_settings(None), {})  # the official API needs a key


async def test_make_provider_openai_with_env_key(server: FakeOpenAIServer) -> None:
    provider = make_provider(
        llm_settings(server.base_url, api_key_env="MY_KEY"), {"MY_KEY": SECRET_KEY}
    )
    try:
        assert isinstance(provider, OpenAIProvider)
        await collect(provider)
        assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET_KEY}"
    finally:
        await provider.aclose()


# --------------------------------------------------------------------------- offline


async def test_offline_provider_reads_the_question_back() -> None:
    provider = OfflineProvider(LLMSettings())
    builder = PromptBuilder(PersonaSettings())
    deltas = await collect(provider, builder.build(question("why is the sky blue?")))
    text = "".join(deltas)
    assert text.startswith("Alice asks. why is the sky blue? ")
    assert "offline" in text and "read your question back" in text
    assert len(deltas) == len(text.split(" "))  # word by word
    await provider.aclose()


async def test_offline_adds_a_full_stop() -> None:
    text = OfflineProvider.answer_text([ChatTurn("user", "x", asker="bob", question="tell a joke")])
    assert text.startswith("bob asks. tell a joke. ")


# --------------------------------------------------------------------------- prompts


def fixed_now() -> datetime:
    return datetime(2024, 5, 1, 21, 4, 30)


def test_prompt_framing_examples_memory_and_reminder() -> None:
    persona = PersonaSettings(
        name="Ava",
        system_prompt="You are Ava.",
        examples=[PersonaExample(user="hi?", assistant="Hello there!")],
    )
    builder = PromptBuilder(persona, now=fixed_now)
    memory = [Exchange("[20:00] Bob asks: old?", "Old answer.")]
    turns = builder.build(question(), memory=memory, reminder="Stay {name}.")
    assert [(t.role, t.content) for t in turns] == [
        ("system", "You are Ava."),
        ("user", "hi?"),
        ("assistant", "Hello there!"),
        ("user", "[20:00] Bob asks: old?"),
        ("assistant", "Old answer."),
        ("system", "Stay Ava."),
        ("user", "[21:04] Alice asks: why is the sky blue?"),
    ]
    plain = builder.build(question())
    assert [t.role for t in plain] == ["system", "user", "assistant", "user"]


def test_system_prompt_file_wins(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are Zed, from a file.\n", encoding="utf-8")
    builder = PromptBuilder(PersonaSettings(system_prompt_file=prompt), now=fixed_now)
    assert builder.build(question())[0] == ChatTurn("system", "You are Zed, from a file.")


# --------------------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        '{"id": "x", "object": "chat.completion.chunk"}',  # no choices
        "[1, 2, 3]",
        "42",
        "null",
        '"just a string"',
        '{"choices": "abc"}',
        '{"choices": [{"index": 0, "delta": {"content": 5}, "finish_reason": null}]}',
        '{"choices": [{"index": 0, "delta": "oops", "finish_reason": null}]}',
    ],
)
async def test_garbage_data_is_a_bad_response(
    server: FakeOpenAIServer,
    make: Callable[..., OpenAIProvider],
    caplog: pytest.LogCaptureFixture,
    data: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.push(Scenario.garbage("one two three four", after=2, data=data))
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        async for delta in make().stream(MESSAGES):
            got.append(delta)
    assert info.value.kind is LLMErrorKind.BAD_RESPONSE
    assert "".join(got) == "one two"
    message = str(info.value)
    assert len(message) < 100 and SECRET_KEY not in message
    assert SECRET_KEY not in caplog.text


async def test_garbage_before_the_first_token(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.garbage("one two", after=0), Scenario.reply("fine after all"))
    provider = make()
    with pytest.raises(LLMError) as info:
        await collect(provider)
    assert info.value.kind is LLMErrorKind.BAD_RESPONSE
    assert "".join(await collect(provider)) == "fine after all"  # the client still works


# --------------------------------------------------------------------------- deadlines


async def test_total_deadline_counts_only_server_time(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    # The consumer holds the stream for 0.3 s (say, blocked on a full TTS queue),
    # longer than total_s; only then does the server write the rest. The server's
    # own time stays far below total_s, so the answer must complete.
    text = "one two three four five six"
    slow = Scenario.paused(text, after=2)
    server.push(slow)
    provider = make(timeouts={"first_token_s": 0.25, "total_s": 0.25})
    loop = asyncio.get_running_loop()
    start = loop.time()
    got: list[str] = []
    async for delta in provider.stream(MESSAGES):
        got.append(delta)
        if len(got) == 2:
            await asyncio.sleep(0.3)  # the consumer's hold, not the server's
            slow.gate.set()
    assert "".join(got) == text
    assert loop.time() - start > 0.25  # it really held the stream past total_s


async def test_stall_after_a_slow_consumer_still_times_out(
    server: FakeOpenAIServer, make: Callable[..., OpenAIProvider]
) -> None:
    server.push(Scenario.paused("one two three four", after=2))  # never resumed
    provider = make(timeouts={"first_token_s": 0.2, "total_s": 0.3})
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        async for delta in provider.stream(MESSAGES):
            got.append(delta)
            await asyncio.sleep(0.1)
    assert info.value.kind is LLMErrorKind.TIMEOUT_TOTAL
    assert "".join(got) == "one two"


# --------------------------------------------------------------------------- logging


async def test_description_is_logged_once_at_construction(
    server: FakeOpenAIServer,
    make: Callable[..., OpenAIProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="streamer")
    provider = make()
    offline = OfflineProvider(LLMSettings())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LLM: ")]
    assert lines == [f"LLM: {provider.describe()}", f"LLM: {offline.describe()}"]
    assert "openai-compatible server" in lines[0] and "offline" in lines[1]
