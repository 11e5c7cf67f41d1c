"""Output moderation: patterns, word lists, the model checks and the moderated stream.

The model checks run through the real openai client against a local server that
speaks OpenAI's moderation API and a guard model's chat API (``fakes.moderation_server``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamer.answerer import Answerer, AnswerStatus
from streamer.config import LLMSettings, ModelCheckSettings, ModerationSettings, SplitSettings
from streamer.filters import BannedWords
from streamer.llm import OpenAIProvider
from streamer.messages import AnswerAborted, Question, Role, Segment
from streamer.moderation.lists import Flag, OutputLists, redact
from streamer.moderation.model import GuardModel, OpenAIModeration
from streamer.moderation.moderator import ModeratedStream, Moderator
from streamer.moderation.patterns import find_address, find_email, find_phone
from tests.fakes.moderation_server import FakeModerationServer, Rule
from tests.fakes.openai_server import FakeOpenAIServer, Scenario

PHONES = [
    "Call me at +1 (555) 010-9999!",
    "It's 555-010-9999.",
    "try 555.010.9999 now",
    "ring 020 7946 0958",
    "my number is 5550109999",
    "five five five, oh one nine nine, two three four five",
    "+44 20 7946 0958",
    "(555) 123 4567",
    "text 010-9999 tonight",
    "Ｃall ５５５-０１０-９９９９",  # full-width
    "1-800-555-0199",
    "Hit me up at 555 010 9999!",
    "My digits: 555 0199 1234, call me",
    "It's 555–010–9999.",  # en dashes
    "It's 555\u2011010\u20119999.",  # non-breaking hyphens
]
NOT_PHONES = [
    "In 1999 2004 and 2010 things changed.",
    "It costs $1,250,000.",
    "On 2024-01-15 we met.",
    "On 15.01.2024 we met.",
    "Pi is 3.14159265",
    "about 8000000 people live there",
    "one two three four five six seven eight!",
    "The score was 3-2.",
    "At 10:30 pm.",
    "Version 1.2.3.4 is out",
    "It was 1,234,567 votes",
    "the years 1990-2000",
    "Route 66",
    "I scored 9000 points on level 42",
    "room 101 on floor 7",
    "In 2023, 4500 people came.",
    "12 eggs, 3 cups of flour, 250 grams",
    "Call of Duty sold 25 000 000 copies.",
    "Ring of Fire sold 5 000 000 copies.",
    "Version 10.0.19045 of Windows",
    "Patch 1.2.3.4567 is live",
    "Scores: 100-200-300",
    "1000-2000-3000 viewers",
    "My favourite number was 1999. 2004 was close.",
    "Call of Duty came out in 2003. 2007 brought more.",
]
EMAILS = ["write john.doe@gmail.com", "john at gmail dot com", "jane (at) proton dot me"]
NOT_EMAILS = [
    "look at that dot com bubble",
    "She is at home",
    "I laughed at him. Com on",
    "Everyone at Ubisoft. Co-op games rock.",
    "Everyone at Riot. Co-founders know it.",
]
ADDRESSES = [
    "I live at 221B Baker Street.",
    "1600 Pennsylvania Avenue NW",
    "42 Wallaby Way, Sydney",
    "come to 12 elm st tonight",
]
NOT_ADDRESSES = [
    "5 miles down the road",
    "the 2 best ways",
    "3 cars on the road",
    "We drove 2 hours drive",
    "I took 4 wrong turns on Main Street",
    "there are 3 lanes on the highway",
    "Top 10 Road Trips",
    "Level 3 Rainbow Road is the hardest",
    "In 2019 Abbey Road turned 50",
    "Top 10 Sunset Boulevard scenes",
    "Top 5 Fast Lane moments",
    "Season 3 Stranger Things drive-in",
]


@pytest.mark.parametrize("text", PHONES)
def test_phone_numbers_are_found(text: str) -> None:
    assert find_phone(text)


@pytest.mark.parametrize("text", NOT_PHONES)
def test_other_numbers_are_not_phone_numbers(text: str) -> None:
    assert find_phone(text) is None


@pytest.mark.parametrize("text", EMAILS)
def test_emails_are_found(text: str) -> None:
    assert find_email(text)


@pytest.mark.parametrize("text", NOT_EMAILS)
def test_at_and_dot_in_prose_are_not_emails(text: str) -> None:
    assert find_email(text) is None


@pytest.mark.parametrize("text", ADDRESSES)
def test_street_addresses_are_found(text: str) -> None:
    assert find_address(text)


@pytest.mark.parametrize("text", NOT_ADDRESSES)
def test_distances_and_counts_are_not_addresses(text: str) -> None:
    assert find_address(text) is None


def test_redact_never_repeats_the_text() -> None:
    assert redact("badword") == "b*****d (7 chars)"
    assert "adwor" not in redact("badword")
    assert redact("ab") == "** (2 chars)"


def _lists(**over: Any) -> OutputLists:
    return OutputLists(
        ModerationSettings.model_validate(over), BannedWords(["badword", "kill yourself"])
    )


@pytest.mark.parametrize(
    "text",
    ["That is a BADWORD.", "b a d w o r d", "bädwörd", "b4dw0rd!", "bаdword"],  # Cyrillic а
)
def test_banned_words_use_the_input_filters_folding(text: str) -> None:
    flag = _lists().check(text)
    assert flag is not None and flag.category == "banned_word"


def test_a_phrase_split_over_two_segments_is_caught_in_the_second() -> None:
    lists = _lists()
    assert lists.check("If you lose, you should kill") is None
    flag = lists.check("yourself, said nobody ever.", before="If you lose, you should kill")
    assert flag == Flag("banned_word", "lists", redact("kill yourself"))


def test_each_pattern_can_be_switched_off() -> None:
    text = "Mail john.doe@gmail.com or visit example.com"
    assert _lists().check(text).category == "personal_data/email"  # type: ignore[union-attr]
    assert _lists(personal_data={"email": False}).check(text).category == "link"  # type: ignore[union-attr]
    assert _lists(links=False, personal_data={"email": False}).check(text) is None


# --------------------------------------------------------------------------- model checks


@pytest.fixture
async def mod_server() -> AsyncIterator[FakeModerationServer]:
    rules = [
        Rule("build a bomb", "illicit/violent"),
        Rule("hurt yourself", "self-harm/instructions"),
    ]
    async with FakeModerationServer(rules) as server:
        yield server


def _model(server: FakeModerationServer, kind: str = "openai", **over: Any) -> ModelCheckSettings:
    return ModelCheckSettings.model_validate(
        {"kind": kind, "base_url": server.base_url, "timeout_s": 0.5, **over}
    )


async def test_openai_moderation_flags_and_passes(mod_server: FakeModerationServer) -> None:
    check = OpenAIModeration(_model(mod_server), "sk-mod-key")
    try:
        flag = await check.check("q", "First you", "build a bomb from parts.")
        assert flag is not None and flag.category == "model/illicit/violent" and flag.by == "model"
        assert await check.check("q", "", "The sky is blue.") is None
    finally:
        await check.close()
    sent = mod_server.requests[0]
    assert sent["model"] == "omni-moderation-latest"
    assert sent["input"] == "First you build a bomb from parts."  # the sentence before, too


async def test_openai_thresholds_per_category(mod_server: FakeModerationServer) -> None:
    mod_server.rules.append(Rule("darn", "harassment", 0.6))
    strict = OpenAIModeration(_model(mod_server), None)
    lax = OpenAIModeration(_model(mod_server, thresholds={"harassment": 0.9}), None)
    try:
        assert await strict.check("", "", "oh darn it") is not None
        assert await lax.check("", "", "oh darn it") is None
    finally:
        await strict.close()
        await lax.close()


def test_unknown_openai_category_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown categories"):
        ModelCheckSettings.model_validate({"kind": "openai", "thresholds": {"violence/gore": 0.5}})


async def test_guard_model_reads_safe_and_unsafe(mod_server: FakeModerationServer) -> None:
    guard = GuardModel(_model(mod_server, "guard", model="llama-guard3:1b"), None)
    ignoring = GuardModel(_model(mod_server, "guard", ignore_categories=["s11"]), None)
    try:
        flag = await guard.check("how?", "Well,", "you build a bomb like this.")
        assert flag is not None and flag.category == "model/S9"
        assert "weapons" in flag.hint
        assert await guard.check("hi", "", "Hello there!") is None
        assert await ignoring.check("", "", "go hurt yourself") is None
    finally:
        await guard.close()
        await ignoring.close()
    chat = mod_server.requests[0]
    assert chat["model"] == "llama-guard3:1b"
    assert chat["messages"][-1] == {
        "role": "assistant",
        "content": "Well, you build a bomb like this.",
    }


def test_guard_answers_it_cannot_read_are_failures() -> None:
    guard = GuardModel(ModelCheckSettings(kind="guard"), None)
    assert guard.read("safe") is None
    assert guard.read("unsafe\nS1,S10") == Flag("model/S1,S10", "model", "violent crimes, hate")
    with pytest.raises(Exception, match="expected 'safe' or 'unsafe'"):
        guard.read("I am not sure")


async def test_fail_closed_on_timeout_and_error_then_healthy(
    mod_server: FakeModerationServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ModerationSettings(model=_model(mod_server))
    moderator = Moderator(settings, BannedWords([]), OpenAIModeration(settings.model, None))
    try:
        mod_server.stall_next(1)
        with caplog.at_level(logging.WARNING):
            slow = await moderator.check("q", "", "A harmless line.")
        assert slow is not None and slow.category == "check_error" and "0.5 s" in slow.hint
        assert not moderator.healthy
        mod_server.fail_next(1, 500)
        failed = await moderator.check("q", "", "A harmless line.")
        assert failed is not None and "HTTP 500" in failed.hint
        assert await moderator.check("q", "", "A harmless line.") is None
        assert moderator.healthy and moderator.errors == 2
        assert "works again" in caplog.text
    finally:
        await moderator.close()


async def test_on_error_allow_speaks_but_lists_still_apply(
    mod_server: FakeModerationServer,
) -> None:
    settings = ModerationSettings(model=_model(mod_server), on_error="allow")
    moderator = Moderator(
        settings, BannedWords(["badword"]), OpenAIModeration(settings.model, None)
    )
    try:
        mod_server.fail_next(2, 503)
        assert await moderator.check("q", "", "A harmless line.") is None
        flag = await moderator.check("q", "", "A badword line.")
        assert flag is not None and flag.category == "banned_word"
        assert not moderator.healthy
    finally:
        await moderator.close()


# --------------------------------------------------------------------------- the stream

SPLIT = SplitSettings(min_chars=10, first_min_chars=10, max_chars=120)


def _ask(text: str = "tell me something") -> Question:
    return Question(id="q1", user="alice", display_name="Alice", text=text, role=Role.VIEWER)


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


async def _answer(
    llm: FakeOpenAIServer, reply: str, *, question: str | None = None, **moderation: Any
) -> tuple[list[Any], ModeratedStream, Answerer]:
    settings = LLMSettings.model_validate(
        {"provider": "openai", "base_url": llm.base_url, "model": "m", "memory_size": 4}
    )
    provider = OpenAIProvider(settings, None)
    answerer = Answerer(settings, SPLIT, provider)
    moderator = Moderator(ModerationSettings.model_validate(moderation), BannedWords(["badword"]))
    llm.push(Scenario.reply(reply))
    q = _ask(question or "tell me something")
    line = f"{q.name} asks: {q.text}" if question else None
    stream = ModeratedStream(
        answerer.answer(q), moderator, q, answerer.amend_memory, read_question=line
    )
    try:
        items = [item async for item in stream]
    finally:
        await provider.aclose()
    return items, stream, answerer


async def test_drop_answer_stops_at_the_flagged_segment(llm: FakeOpenAIServer) -> None:
    items, stream, answerer = await _answer(
        llm, "First a fine sentence. Then a badword sentence. And a last one."
    )
    assert [type(i) for i in items] == [Segment, AnswerAborted]
    assert items[0].text == "First a fine sentence."
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.MODERATED
    assert stream.outcome.reason == "moderated: banned_word"
    assert answerer.memory == ()  # a cut answer is never remembered


async def test_replace_segment_says_the_line_and_goes_on(llm: FakeOpenAIServer) -> None:
    items, stream, answerer = await _answer(
        llm,
        "First a fine sentence. Then a badword sentence. And a last one.",
        on_flag="replace_segment",
        replacement="Let's change the subject!",
    )
    texts = [i.text for i in items if isinstance(i, Segment)]
    assert texts == ["First a fine sentence.", "Let's change the subject!", "And a last one."]
    assert items[-1].last
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.MODERATED
    # The memory holds what was said, never the flagged text.
    assert [e.assistant for e in answerer.memory] == [" ".join(texts)]


async def test_a_flagged_first_segment_lets_nothing_out(llm: FakeOpenAIServer) -> None:
    items, stream, answerer = await _answer(llm, "A badword right away. Then more text here.")
    assert [type(i) for i in items] == [AnswerAborted]
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.MODERATED
    assert answerer.memory == ()


async def test_clean_answers_pass_untouched(llm: FakeOpenAIServer) -> None:
    items, stream, answerer = await _answer(llm, "All good here. Nothing to see at all.")
    assert all(isinstance(i, Segment) for i in items) and items[-1].last
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.DONE
    assert len(answerer.memory) == 1


async def test_the_question_is_read_first_and_checked(llm: FakeOpenAIServer) -> None:
    items, stream, _ = await _answer(llm, "A fine answer. And more.", question="how are you?")
    segments = [i for i in items if isinstance(i, Segment)]
    assert segments[0].reads_question and segments[0].text == "Alice asks: how are you?"
    assert [s.index for s in segments] == [0, 1, 2] and segments[-1].last
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.DONE


async def test_a_flagged_question_is_neither_read_nor_answered(llm: FakeOpenAIServer) -> None:
    items, stream, answerer = await _answer(
        llm, "A fine answer. And more.", question="call me at 555-010-9999"
    )
    assert [type(i) for i in items] == [AnswerAborted]
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.MODERATED
    assert "personal_data/phone" in stream.outcome.reason
    assert answerer.memory == ()


# --------------------------------------------------------------------------- doctor


async def _doctor(*sets: str) -> str:
    from tests.test_daemon import DEMO, ROOT, streamer_cmd

    args = ["doctor", "--config", str(DEMO)]
    for item in sets:
        args += ["--set", item]
    proc = await asyncio.create_subprocess_exec(
        *streamer_cmd(*args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "OPENAI_API_KEY": "sk-doctor"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    lines = [line for line in out.decode().splitlines() if line.split()[1:2] == ["moderation"]]
    assert len(lines) == 1, out.decode()
    return lines[0]


@pytest.mark.slow
async def test_doctor_tries_the_model_check(mod_server: FakeModerationServer) -> None:
    url = f"moderation.model.base_url={mod_server.base_url}"
    ok = await _doctor("moderation.model.kind=guard", url, "moderation.model.model=llama-guard3:1b")
    assert ok.startswith("ok") and "guard model llama-guard3:1b" in ok and "answers in" in ok
    mod_server.stall_next(1)
    slow = await _doctor("moderation.model.kind=openai", url, "moderation.model.timeout_s=0.3")
    assert (
        slow.startswith("FAIL")
        and "no verdict within 0.3 s" in slow
        and "no segment would be spoken" in slow
    )
    lists = await _doctor()
    assert lists.startswith("ok") and "no model check" in lists


class _Gate:
    """A model check that fails or waits on demand (a stand-in for a slow server)."""

    def __init__(self) -> None:
        self.fail_from: int | None = None
        self.hold = asyncio.Event()
        self.hold.set()
        self.calls = 0

    async def check(self, question: str, said: str, segment: str) -> Flag | None:
        from streamer.moderation.model import CheckFailed

        self.calls += 1
        await self.hold.wait()
        if self.fail_from is not None and self.calls >= self.fail_from:
            raise CheckFailed("moderation check: no verdict within 2 s")
        return None

    def describe(self) -> str:
        return "gate"

    async def close(self) -> None:
        return None


async def _gated(
    llm: FakeOpenAIServer, reply: str, gate: _Gate
) -> tuple[ModeratedStream, Answerer, OpenAIProvider]:
    settings = LLMSettings.model_validate(
        {"provider": "openai", "base_url": llm.base_url, "model": "m", "memory_size": 4}
    )
    provider = OpenAIProvider(settings, None)
    answerer = Answerer(settings, SPLIT, provider)
    moderator = Moderator(ModerationSettings(), BannedWords([]), gate)  # type: ignore[arg-type]
    llm.push(Scenario.reply(reply))
    stream = ModeratedStream(answerer.answer(_ask()), moderator, _ask(), answerer.amend_memory)
    return stream, answerer, provider


async def test_a_skip_during_the_last_check_leaves_only_what_was_said(
    llm: FakeOpenAIServer,
) -> None:
    gate = _Gate()
    stream, answerer, provider = await _gated(
        llm, "First a fine sentence. And the last one here.", gate
    )
    try:
        first = await stream.__anext__()
        assert isinstance(first, Segment) and not first.last
        gate.hold.clear()  # the last segment's check hangs...
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.2)
        pending.cancel()  # ...and a skip cancels the writer there
        with pytest.raises(asyncio.CancelledError):
            await pending
        await stream.aclose()
    finally:
        await provider.aclose()
    assert answerer.memory == ()  # cut short: not remembered, and never the unsaid rest


async def test_a_failed_check_requeues_before_text_and_stops_after(llm: FakeOpenAIServer) -> None:
    gate = _Gate()
    gate.fail_from = 1
    stream, answerer, provider = await _gated(
        llm, "First a fine sentence. And the last one here.", gate
    )
    try:
        items = [i async for i in stream]
    finally:
        await provider.aclose()
    assert [type(i) for i in items] == [AnswerAborted]
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.REQUEUE
    assert "moderation check failed" in stream.outcome.reason and answerer.memory == ()
    gate2 = _Gate()
    gate2.fail_from = 2
    stream, answerer, provider = await _gated(
        llm, "First a fine sentence. And the last one here.", gate2
    )
    try:
        items = [i async for i in stream]
    finally:
        await provider.aclose()
    assert [type(i) for i in items] == [Segment, AnswerAborted]
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.TRUNCATED
    assert [e.assistant for e in answerer.memory] == []  # a cut answer is not remembered


async def test_a_question_is_read_only_with_the_first_answer_segment(llm: FakeOpenAIServer) -> None:
    """The LLM fails before any text: the question is never read aloud."""
    settings = LLMSettings.model_validate(
        {"provider": "openai", "base_url": llm.base_url, "model": "m"}
    )
    provider = OpenAIProvider(settings, None)
    answerer = Answerer(settings, SPLIT, provider)
    moderator = Moderator(ModerationSettings(), BannedWords([]))
    llm.push(Scenario.error(500), Scenario.error(500))
    q = _ask("how are you today?")
    stream = ModeratedStream(
        answerer.answer(q), moderator, q, answerer.amend_memory, read_question="Alice asks: hi"
    )
    try:
        items = [i async for i in stream]
    finally:
        await provider.aclose()
    assert [type(i) for i in items] == [AnswerAborted]
    assert stream.outcome is not None and stream.outcome.status is AnswerStatus.REQUEUE


def test_a_question_template_needs_the_question() -> None:
    with pytest.raises(ValueError, match="question_template must contain"):
        LLMSettings.model_validate({"read_question": True, "question_template": "{name} asks"})


def test_status_says_what_moderation_did_without_the_text() -> None:
    from streamer.status import render_moderation

    line = render_moderation(
        {
            "enabled": True,
            "model": "guard model llama-guard3:1b at http://127.0.0.1:11434/v1/",
            "checked": 12,
            "flagged": {"banned_word": 2, "model/S1": 1},
            "healthy": False,
            "last_error": "guard model: no verdict within 2 s",
            "on_error": "block",
            "last_flag": {
                "answer_id": "abcdef1234",
                "segment": 1,
                "category": "banned_word",
                "hint": redact("badword"),
                "action": "dropped the rest",
            },
        }
    )
    assert "12 segments checked, 3 flagged (banned_word 2, model/S1 1)" in line
    assert "last: answer abcdef12 segment 1 banned_word (b*****d (7 chars))" in line
    assert "WARNING: the moderation model check is failing" in line and "NOT spoken" in line
    assert "badword" not in line
    assert "OFF" in render_moderation({"enabled": False})
