"""Answerer: Question in, Segments out, through the real openai client and a fake server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from streamer.answerer import Answerer, AnswerOutcome, AnswerStatus
from streamer.config import LLMSettings, PersonaExample, PersonaSettings, SplitSettings
from streamer.llm import ChatTurn, OfflineProvider, OpenAIProvider, PromptBuilder
from streamer.messages import AnswerAborted, AnswerMessage, Question, Role, Segment
from tests.fakes.openai_server import FakeOpenAIServer, Scenario

SECRET_KEY = "sk-test-ANSWERER-SECRET-987654321"
SPLIT = SplitSettings(min_chars=30, first_min_chars=20, max_chars=120)
REMINDER = "Stay in character as {name}!"

GOOD = (
    "Oh hello there, lovely chat! The sky is blue because air scatters blue light "
    "much more than red light. That effect is called Rayleigh scattering. Isn't it neat?"
)


def settings(base_url: str | None = None, **over: Any) -> LLMSettings:
    timeouts = {"connect_s": 1.0, "first_token_s": 0.25, "total_s": 2.0}
    timeouts.update(over.pop("timeouts", {}))
    data: dict[str, Any] = {
        "provider": "openai",
        "base_url": base_url,
        "model": "fake-model",
        "timeouts": timeouts,
        "character_reminder": REMINDER,
        "persona": {"name": "Ava", "system_prompt": "You are Ava, a streamer."},
    }
    data.update(over)
    return LLMSettings.model_validate(data)


def ask(text: str = "why is the sky blue?", user: str = "alice", qid: str = "q1") -> Question:
    return Question(id=qid, user=user, display_name=user.title(), text=text, role=Role.VIEWER)


def fixed_now() -> datetime:
    return datetime(2024, 5, 1, 21, 4)


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(default=Scenario.reply("Default answer.")) as srv:
        yield srv


@pytest.fixture
async def make(server: FakeOpenAIServer) -> AsyncIterator[Callable[..., Answerer]]:
    providers: list[OpenAIProvider] = []

    def factory(split: SplitSettings = SPLIT, **over: Any) -> Answerer:
        s = settings(server.base_url, **over)
        provider = OpenAIProvider(s, SECRET_KEY)
        providers.append(provider)
        return Answerer(s, split, provider, prompts=PromptBuilder(s.persona, now=fixed_now))

    yield factory
    for provider in providers:
        await provider.aclose()


async def run(answerer: Answerer, question: Question) -> tuple[list[AnswerMessage], AnswerOutcome]:
    stream = answerer.answer(question)
    messages = [m async for m in stream]
    assert stream.outcome is not None
    assert answerer.last_outcome is stream.outcome
    return messages, stream.outcome


def segments(messages: list[AnswerMessage]) -> list[Segment]:
    return [m for m in messages if isinstance(m, Segment)]


def check_well_formed(messages: list[AnswerMessage], question: Question) -> None:
    segs = segments(messages)
    assert [s.index for s in segs] == list(range(len(segs)))
    assert all(s.answer_id == question.id and s.user == question.user for s in segs)
    assert all(not s.last for s in segs[:-1])
    # Exactly one terminator, at the end.
    last = messages[-1]
    assert (isinstance(last, Segment) and last.last) or isinstance(last, AnswerAborted)
    assert sum(isinstance(m, AnswerAborted) for m in messages) <= 1


# --------------------------------------------------------------------------- success


async def test_normal_answer(server: FakeOpenAIServer, make: Callable[..., Answerer]) -> None:
    server.push(Scenario.reply(GOOD))
    answerer = make()
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    segs = segments(messages)
    assert len(segs) >= 3 and segs[-1].last
    assert " ".join(s.text for s in segs) == GOOD
    assert segs[0].text == "Oh hello there, lovely chat!"
    assert outcome.status is AnswerStatus.DONE and outcome.ok
    assert outcome.attempts == 1 and outcome.segments == len(segs) and outcome.text == GOOD
    assert outcome.first_token_s is not None and outcome.first_segment_s is not None
    assert 0 <= outcome.first_token_s <= outcome.first_segment_s <= outcome.total_s
    assert [(e.user, e.assistant) for e in answerer.memory] == [
        ("[21:04] Alice asks: why is the sky blue?", GOOD)
    ]


async def test_first_segment_leaves_while_the_llm_is_still_writing(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    slow = Scenario.paused(GOOD, after=9)  # the server stops after 9 words until told
    server.push(slow)
    q = ask()
    stream = make().answer(q)
    first = await stream.__anext__()
    assert isinstance(first, Segment) and first.index == 0 and not first.last
    assert first.text == "Oh hello there, lovely chat!"
    assert server.streams_started == 1 and server.streams_finished == 0
    slow.gate.set()
    rest = [m async for m in stream]
    assert server.streams_finished == 1
    check_well_formed([first, *rest], q)
    assert stream.outcome is not None and stream.outcome.ok


async def test_consumer_may_stop_at_last_or_close_early(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.reply("Short and sweet."), Scenario.paused(GOOD, after=9))
    answerer = make()
    stream = answerer.answer(ask())
    async with contextlib.aclosing(stream):
        async for m in stream:
            if isinstance(m, Segment) and m.last:
                break
    assert stream.outcome is not None and stream.outcome.ok  # settled before `last` left
    assert len(answerer.memory) == 1
    # A skip: close after the first segment while the server is still writing.
    stream = answerer.answer(ask(qid="q2"))
    first = await stream.__anext__()
    assert isinstance(first, Segment)
    await stream.aclose()
    assert stream.outcome is not None
    assert stream.outcome.status is AnswerStatus.TRUNCATED
    assert len(answerer.memory) == 1  # an unfinished answer is not remembered


# --------------------------------------------------------------------------- failures


async def test_500_then_success(server: FakeOpenAIServer, make: Callable[..., Answerer]) -> None:
    server.push(Scenario.error(500), Scenario.reply(GOOD))
    messages, outcome = await run(make(), ask())
    assert outcome.ok and outcome.attempts == 2
    assert " ".join(s.text for s in segments(messages)) == GOOD
    assert len(server.requests) == 2


@pytest.mark.parametrize(("on_failure", "status"), [("requeue", "requeue"), ("drop", "dropped")])
async def test_two_failures_give_requeue_or_drop_with_a_log_line(
    server: FakeOpenAIServer,
    make: Callable[..., Answerer],
    caplog: pytest.LogCaptureFixture,
    on_failure: str,
    status: str,
) -> None:
    caplog.set_level(logging.INFO, logger="streamer")
    server.push(Scenario.error(500), Scenario.error(503), Scenario.reply("not asked"))
    q = ask()
    messages, outcome = await run(make(on_failure=on_failure), q)
    assert outcome.status == status
    assert messages == [AnswerAborted(q.id, "llm failed: http_status")]
    assert "503" in outcome.reason
    assert len(server.requests) == 2  # retried exactly once
    assert any(r.levelno == logging.WARNING and status in r.getMessage() for r in caplog.records)


async def test_stall_past_first_token_then_retry_succeeds(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.stalled(), Scenario.reply(GOOD))
    messages, outcome = await run(make(), ask())
    assert outcome.ok and outcome.attempts == 2
    assert segments(messages)[-1].last


async def test_stall_twice_is_requeued(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.stalled(), Scenario.stalled())
    messages, outcome = await run(make(timeouts={"first_token_s": 0.1}), ask())
    assert outcome.status is AnswerStatus.REQUEUE
    assert "timeout_first_token" in outcome.reason
    assert isinstance(messages[-1], AnswerAborted) and not segments(messages)
    assert outcome.first_token_s is None


async def test_cut_before_anything_was_released_is_retried(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.cut("Wrong start that", after=2), Scenario.reply(GOOD))
    messages, outcome = await run(make(), ask())
    assert outcome.ok and outcome.attempts == 2
    assert " ".join(s.text for s in segments(messages)) == GOOD  # nothing of the cut text


async def test_cut_after_segments_were_released_aborts(
    server: FakeOpenAIServer, make: Callable[..., Answerer], caplog: pytest.LogCaptureFixture
) -> None:
    server.push(Scenario.cut(GOOD, after=14), Scenario.reply("must not be asked"))
    answerer = make()
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    assert messages[-1] == AnswerAborted(q.id, "llm failed: cut")
    assert len(segments(messages)) >= 1
    assert outcome.status is AnswerStatus.TRUNCATED
    assert len(server.requests) == 1  # spoken text is never repeated
    assert answerer.memory == ()
    assert "released" in caplog.text


async def test_stream_without_done_is_retried(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.without_done("Short answer."), Scenario.reply("Complete answer."))
    messages, outcome = await run(make(), ask())
    assert outcome.ok and outcome.attempts == 2
    assert [s.text for s in segments(messages)] == ["Complete answer."]


async def test_stream_without_done_after_release_is_truncated(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.without_done(GOOD))
    messages, outcome = await run(make(), ask())
    assert outcome.status is AnswerStatus.TRUNCATED
    assert messages[-1] == AnswerAborted("q1", "llm failed: no_done")
    assert not any(s.last for s in segments(messages))


async def test_empty_answer_is_a_failure(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.reply("", chunks=["  ", "\n"]), Scenario.reply("Now with words."))
    messages, outcome = await run(make(), ask())
    assert outcome.ok and outcome.attempts == 2
    assert [s.text for s in segments(messages)] == ["Now with words."]


# --------------------------------------------------------------------------- character


async def test_out_of_character_is_asked_again_with_the_reminder(
    server: FakeOpenAIServer, make: Callable[..., Answerer], caplog: pytest.LogCaptureFixture
) -> None:
    server.push(
        Scenario.reply("Well, AS AN AI I do not have eyes, but the sky is blue."),
        Scenario.reply(GOOD),
    )
    answerer = make()
    messages, outcome = await run(answerer, ask())
    assert outcome.ok and outcome.attempts == 2
    assert " ".join(s.text for s in segments(messages)) == GOOD  # nothing of the rejected one
    first, second = server.requests
    assert not any(m["content"] == "Stay in character as Ava!" for m in first.messages)
    assert {"role": "system", "content": "Stay in character as Ava!"} in second.messages
    assert second.messages[-1]["content"] == "[21:04] Alice asks: why is the sky blue?"
    assert [e.assistant for e in answerer.memory] == [GOOD]
    assert "out of character" in caplog.text
    # The next question's prompt holds the good answer only, and no reminder.
    server.push(Scenario.reply("Next."))
    await run(answerer, ask("and clouds?", qid="q2"))
    contents = [m["content"] for m in server.requests[2].messages]
    assert GOOD in contents and not any("AS AN AI" in c for c in contents)
    assert "Stay in character as Ava!" not in contents


async def test_out_of_character_every_time_fails(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    bad = Scenario.reply("I'm an AI, sorry.")
    server.push(bad, Scenario.reply("I’m an AI again."), Scenario.reply("never asked"))
    answerer = make(max_character_retries=1)
    messages, outcome = await run(answerer, ask())
    assert outcome.status is AnswerStatus.REQUEUE
    assert "out of character" in outcome.reason
    assert messages == [AnswerAborted("q1", "out of character after 2 tries")]
    assert len(server.requests) == 2 and answerer.memory == ()


async def test_out_of_character_after_release_stops_there(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    text = GOOD + " Honestly though, as an AI language model I cannot see the sky at all."
    server.push(Scenario.reply(text), Scenario.reply("never asked"))
    answerer = make()
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    assert messages[-1] == AnswerAborted(q.id, "out of character")
    spoken = " ".join(s.text for s in segments(messages)).lower()
    assert spoken and "as an ai" not in spoken and "language model" not in spoken
    assert outcome.status is AnswerStatus.TRUNCATED
    assert len(server.requests) == 1 and answerer.memory == ()


async def test_pattern_across_a_cut_is_caught_before_release(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    # "robot. beep" straddles the first cut ("... a robot." | "Beep boop..."); the first
    # segment must not leave before the pattern can be seen.
    server.push(
        Scenario.reply("I am just a friendly robot. Beep boop, hello there chat."),
        Scenario.reply(GOOD),
    )
    answerer = make(out_of_character_patterns=["robot. beep"])
    messages, outcome = await run(answerer, ask())
    assert outcome.ok and outcome.attempts == 2
    assert "robot" not in " ".join(s.text for s in segments(messages))


# --------------------------------------------------------------------------- memory, prompt


async def test_memory_keeps_the_last_k_answers(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    answerer = make(memory_size=2)
    for i in range(3):
        server.push(Scenario.reply(f"Answer number {i}."))
        await run(answerer, ask(f"question {i}?", qid=f"q{i}"))
    assert [e.assistant for e in answerer.memory] == ["Answer number 1.", "Answer number 2."]
    server.push(Scenario.reply("Answer number 3."))
    await run(answerer, ask("question 3?", qid="q3"))
    contents = [m["content"] for m in server.requests[3].messages]
    assert contents == [
        "You are Ava, a streamer.",
        "[21:04] Alice asks: question 1?",
        "Answer number 1.",
        "[21:04] Alice asks: question 2?",
        "Answer number 2.",
        "[21:04] Alice asks: question 3?",
    ]


async def test_memory_size_zero_disables_memory(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    answerer = make(memory_size=0)
    for i in range(2):
        await run(answerer, ask(f"question {i}?", qid=f"q{i}"))
    assert answerer.memory == ()
    assert [m["role"] for m in server.requests[1].messages] == ["system", "user"]


async def test_prompt_framing_with_examples(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    persona = PersonaSettings(
        name="Ava",
        system_prompt="You are Ava.",
        examples=[PersonaExample(user="[20:00] Bob asks: hi?", assistant="Hi Bob!")],
    )
    await run(make(persona=persona), ask("what time is it?", user="carol"))
    req = server.requests[0]
    assert req.messages == [
        {"role": "system", "content": "You are Ava."},
        {"role": "user", "content": "[20:00] Bob asks: hi?"},
        {"role": "assistant", "content": "Hi Bob!"},
        {"role": "user", "content": "[21:04] Carol asks: what time is it?"},
    ]
    assert req.headers["Authorization"] == f"Bearer {SECRET_KEY}"


async def test_api_key_never_in_the_log(
    server: FakeOpenAIServer, make: Callable[..., Answerer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.push(
        Scenario.error(401),
        Scenario.cut(GOOD, after=3),
        Scenario.stalled(),
        Scenario.without_done("x"),
        Scenario.reply(GOOD),
    )
    answerer = make()
    for i in range(3):
        await run(answerer, ask(qid=f"q{i}"))
    assert len(server.requests) == 5
    assert caplog.text and SECRET_KEY not in caplog.text


# --------------------------------------------------------------------------- offline


async def test_offline_answer_through_the_answerer() -> None:
    s = LLMSettings()  # offline, default out-of-character patterns
    provider = OfflineProvider(s)
    answerer = Answerer(s, SplitSettings(), provider)
    messages, outcome = await run(answerer, ask())
    assert outcome.ok
    text = " ".join(m.text for m in segments(messages))
    assert text.startswith("Alice asks. why is the sky blue?")
    assert "offline" in text
    assert segments(messages)[-1].last


async def test_offline_skips_the_character_check() -> None:
    s = LLMSettings()
    answerer = Answerer(s, SplitSettings(), OfflineProvider(s))
    messages, outcome = await run(answerer, ask("are you an OpenAI language model?"))
    assert outcome.ok and outcome.attempts == 1
    assert "OpenAI language model" in segments(messages)[0].text


# --------------------------------------------------------------------------- bad data


async def test_garbage_before_release_is_retried_once(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.garbage(GOOD, after=2), Scenario.reply(GOOD))
    q = ask()
    messages, outcome = await run(make(), q)
    check_well_formed(messages, q)
    assert outcome.ok and outcome.attempts == 2
    assert " ".join(s.text for s in segments(messages)) == GOOD  # nothing twice
    assert len(server.requests) == 2


async def test_garbage_twice_is_requeued(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(
        Scenario.garbage(GOOD, after=1),
        Scenario.garbage(GOOD, after=0, data='{"no": "choices"}'),
        Scenario.reply("never asked"),
    )
    messages, outcome = await run(make(), ask())
    assert outcome.status is AnswerStatus.REQUEUE
    assert messages == [AnswerAborted("q1", "llm failed: bad_response")]
    assert len(server.requests) == 2


async def test_garbage_after_release_aborts_without_repeating(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.garbage(GOOD, after=14), Scenario.reply("must not be asked"))
    answerer = make()
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    assert messages[-1] == AnswerAborted(q.id, "llm failed: bad_response")
    segs = segments(messages)
    assert segs and not any(s.last for s in segs)
    spoken = " ".join(s.text for s in segs)
    assert GOOD.startswith(spoken) and len(spoken) < len(GOOD)  # a prefix, nothing repeated
    assert outcome.status is AnswerStatus.TRUNCATED and outcome.text == spoken
    assert len(server.requests) == 1
    assert answerer.memory == ()


def pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text)


class RaisingProvider:
    """In-process provider whose streams send some deltas, then raise a plain
    (non-LLMError) exception, as a buggy provider might."""

    def __init__(self, *answers: tuple[list[str], Exception | None]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def describe(self) -> str:
        return "raising test provider"

    async def aclose(self) -> None:
        return None

    async def stream(self, messages: Sequence[ChatTurn]) -> AsyncGenerator[str, None]:
        deltas, error = self.answers[self.calls]
        self.calls += 1
        for delta in deltas:
            yield delta
        if error is not None:
            raise error


async def test_unexpected_provider_exception_before_release_is_retried() -> None:
    s = settings()
    provider = RaisingProvider((["Oh hello"], KeyError("choices")), (pieces(GOOD), None))
    answerer = Answerer(s, SPLIT, provider)
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    assert outcome.ok and outcome.attempts == 2 and provider.calls == 2
    assert " ".join(s.text for s in segments(messages)) == GOOD


async def test_unexpected_provider_exception_twice_is_dropped() -> None:
    s = settings(on_failure="drop")
    provider = RaisingProvider(([], TypeError("bad")), (["x"], AttributeError("bad")))
    messages, outcome = await run(Answerer(s, SPLIT, provider), ask())
    assert outcome.status is AnswerStatus.DROPPED
    assert "AttributeError" in outcome.reason
    assert messages == [AnswerAborted("q1", "llm failed: bad_response")]


async def test_unexpected_provider_exception_after_release_is_truncated() -> None:
    s = settings()
    provider = RaisingProvider((pieces(GOOD)[:14], ValueError("boom")), (["never asked."], None))
    answerer = Answerer(s, SPLIT, provider)
    q = ask()
    messages, outcome = await run(answerer, q)
    check_well_formed(messages, q)
    assert messages[-1] == AnswerAborted(q.id, "llm failed: bad_response")
    assert segments(messages) and outcome.status is AnswerStatus.TRUNCATED
    assert provider.calls == 1 and answerer.memory == ()


# --------------------------------------------------------------------------- deadlines


async def test_slow_consumer_does_not_eat_the_total_deadline(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    # The daemon holds the answer (a full TTS queue) for longer than total_s after the
    # first segment; the server itself is quick. The answer must still complete.
    slow = Scenario.paused(GOOD, after=9)
    server.push(slow)
    q = ask()
    stream = make(timeouts={"first_token_s": 0.25, "total_s": 0.25}).answer(q)
    messages: list[AnswerMessage] = []
    async for message in stream:
        messages.append(message)
        await asyncio.sleep(0.02)  # a slow consumer
        if len(messages) == 1:
            await asyncio.sleep(0.3)  # held past total_s
            slow.gate.set()
    check_well_formed(messages, q)
    assert stream.outcome is not None and stream.outcome.ok, stream.outcome
    assert " ".join(s.text for s in segments(messages)) == GOOD


# --------------------------------------------------------------------------- real servers

LONG_ANSWER = "This is a rather long remembered answer that fills the context quickly. " * 6


async def test_memory_is_budgeted_to_the_context(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    # ~120 tokens an exchange; 600 - 300 (max_tokens) leaves room for about two of them.
    answerer = make(memory_size=5, context_tokens=600, max_tokens=300)
    for i in range(4):
        server.push(Scenario.reply(f"{LONG_ANSWER} Number {i}."))
        await run(answerer, ask(f"question {i}?", qid=f"q{i}"))
    assert len(answerer.memory) == 4  # remembered, but not all sent
    sent = server.requests[-1].messages
    prompt_tokens = sum(len(m["content"]) for m in sent) // 4
    assert prompt_tokens + 300 <= 600
    # The newest are kept, the oldest left out first, the question always last.
    contents = [m["content"] for m in sent]
    assert "[21:04] Alice asks: question 2?" in contents
    assert "[21:04] Alice asks: question 0?" not in contents
    assert contents[-1] == "[21:04] Alice asks: question 3?"


async def test_context_overflow_trims_and_retries_once() -> None:
    """A small-context server (400 for every too-long prompt) and a context_tokens set
    too high: the first overflow trims the memory and asks again; the next questions
    fit at once, and every question is answered."""
    async with FakeOpenAIServer(default=Scenario.reply(LONG_ANSWER), context_tokens=900) as server:
        s = settings(server.base_url, memory_size=10, context_tokens=8192, max_tokens=300)
        provider = OpenAIProvider(s, SECRET_KEY)
        answerer = Answerer(s, SPLIT, provider, prompts=PromptBuilder(s.persona, now=fixed_now))
        try:
            outcomes = [(await run(answerer, ask(f"question {i}?", qid=f"q{i}")))[1]
                        for i in range(8)]  # fmt: skip
        finally:
            await provider.aclose()
    assert [o.status for o in outcomes] == [AnswerStatus.DONE] * 8
    overflowed = [o for o in outcomes if o.attempts > 1]
    assert len(overflowed) == 1  # learned once, then every prompt fits
    assert answerer.budget_tokens is not None and answerer.budget_tokens < 900


async def test_permanent_4xx_is_not_retried_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeOpenAIServer(models=frozenset({"real-model"})) as server:
        s = settings(server.base_url)  # model "fake-model": unknown to the server
        provider = OpenAIProvider(s, SECRET_KEY)
        answerer = Answerer(s, SPLIT, provider)
        try:
            with caplog.at_level(logging.WARNING, logger="streamer"):
                messages, outcome = await run(answerer, ask())
        finally:
            await provider.aclose()
        assert len(server.requests) == 1  # not asked again
    assert outcome.status is AnswerStatus.REQUEUE and outcome.attempts == 1
    assert "HTTP 404" in outcome.reason and "does not exist" in outcome.reason
    assert "not retried" in outcome.reason
    assert isinstance(messages[-1], AnswerAborted)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"error": {"message": "Rate limit reached", "type": "requests"}}, "Rate limit reached"),
        ({"detail": "Model is still loading"}, "Model is still loading"),
        ({"detail": [{"msg": "field required", "loc": ["body", "model"]}]}, "field required"),
    ],
)
async def test_server_reasons_are_read_and_transient_4xx_retried(
    server: FakeOpenAIServer, make: Callable[..., Answerer], body: dict[str, Any], said: str
) -> None:
    status = 429 if "Rate" in said else 422 if isinstance(body.get("detail"), list) else 503
    server.push(Scenario.error(status, body), Scenario.error(status, body))
    _, outcome = await run(make(), ask())
    assert said in outcome.reason and f"HTTP {status}" in outcome.reason
    assert len(server.requests) == (1 if status == 422 else 2)  # 422 is permanent


async def test_an_answer_cut_at_max_tokens_ends_at_its_last_whole_sentence(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    server.push(Scenario.cut_at_length(GOOD + " And then the light goes all the way to"))
    messages, outcome = await run(make(), ask())
    spoken = " ".join(s.text for s in segments(messages))
    assert spoken.endswith("Isn't it neat?")
    assert "all the way" not in spoken
    check_well_formed(messages, ask())
    assert outcome.status in (AnswerStatus.DONE, AnswerStatus.TRUNCATED)


async def test_a_short_answer_cut_at_max_tokens_keeps_its_whole_sentences(
    server: FakeOpenAIServer, make: Callable[..., Answerer]
) -> None:
    # Everything is still in the splitter when the cut comes: its whole sentences stay.
    server.push(Scenario.cut_at_length("Yes, I met Dr. Smith. He was kind and then"))
    messages, outcome = await run(make(), ask())
    assert [s.text for s in segments(messages)] == ["Yes, I met Dr. Smith."]
    # (done when the last whole sentence was still held, truncated when it was out)
    assert outcome.status in (AnswerStatus.DONE, AnswerStatus.TRUNCATED)
    # Not one whole sentence ("Dr." ends nothing): a failure like an empty answer.
    server.push(Scenario.cut_at_length("I met Dr. Who and"), Scenario.reply("Hello there."))
    messages, outcome = await run(make(), ask(qid="q2"))
    assert outcome.attempts == 2 and [s.text for s in segments(messages)] == ["Hello there."]
