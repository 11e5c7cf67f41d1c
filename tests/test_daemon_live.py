"""The daemon in-process against real protocol peers: fake Twitch (EventSub + Helix)
driving the real twitchio client, and a fake OpenAI server for the real openai client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from streamer.answer import AnswerState
from streamer.chat.twitch import set_twitchio_endpoints, twitchio_endpoints
from streamer.config import Settings, settings_from_dict
from streamer.daemon import Daemon, PrintSink
from streamer.messages import AnswerAborted, AnswerMessage, Segment
from streamer.secrets import save_twitch_tokens
from streamer.status import render_status
from streamer.store import QuestionStore, Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.fakes.twitch_server import FakeTwitch


class Sink(PrintSink):
    """Collects what the writer hands to the next stage (a skip shows as an
    ``AnswerAborted``); wakes waiters on change."""

    def __init__(self) -> None:
        super().__init__(None)
        self.items: list[AnswerMessage] = []
        self._changed = asyncio.Event()

    async def __call__(self, item: AnswerMessage) -> None:
        self.items.append(item)
        self._changed.set()

    def skip(self, answer_id: str) -> None:
        self.items.append(AnswerAborted(answer_id, "skipped"))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[AnswerMessage]], bool]) -> None:
        async with asyncio.timeout(10):
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()


async def answers_until(daemon: Daemon, predicate: Callable[[], bool]) -> None:
    """Wait (event-driven) until ``predicate`` holds after some answer changed."""
    changed = asyncio.Event()
    unsubscribe = daemon.answers.subscribe(changed.set)
    try:
        async with asyncio.timeout(10):
            while not predicate():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


@pytest.fixture
async def twitch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTwitch]:
    monkeypatch.chdir(tmp_path)  # a stray .tio.tokens.json would land here
    endpoints = twitchio_endpoints()
    try:
        async with FakeTwitch() as fake:
            yield fake
    finally:
        set_twitchio_endpoints(*endpoints)


def make_settings(tmp_path: Path, fake: FakeTwitch, /, **sections: Any) -> Settings:
    raw: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "log": {"file": False},
        "chat": {"source": "twitch"},
        "twitch": fake.settings().model_dump(mode="json"),
        "pool": {"interval_s": 0.05, "policy": "fifo"},
        "filters": {"user_cooldown_s": 0},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return settings_from_dict(raw, base=tmp_path)


def twitch_env(twitch: FakeTwitch) -> dict[str, str]:
    return {
        "TWITCH_CLIENT_SECRET": twitch.client_secret,
        "TWITCH_ACCESS_TOKEN": twitch.bot_tokens.access_token,
        "TWITCH_REFRESH_TOKEN": twitch.bot_tokens.refresh_token,
        "OPENAI_API_KEY": "sk-test-key-123",
    }


async def running(daemon: Daemon) -> asyncio.Task[int]:
    task = asyncio.create_task(daemon.run())
    return task


async def stop(daemon: Daemon, task: asyncio.Task[int]) -> int:
    daemon.request_stop()
    async with asyncio.timeout(30):
        return await task


def chat_texts(twitch: FakeTwitch) -> list[str]:
    return [sent.message for sent in twitch.sent_chat]


async def test_ask_in_twitch_chat_ack_out_and_answer(tmp_path: Path, twitch: FakeTwitch) -> None:
    sink = Sink()
    settings = make_settings(tmp_path, twitch)
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        await twitch.inject_chat("alice", "!ask why is the sky blue?", badges=["subscriber"])
        await sink.wait_for(lambda items: any(isinstance(i, Segment) and i.last for i in items))
        await twitch.wait_until(lambda: len(twitch.sent_chat) >= 3)
        texts = chat_texts(twitch)
        # Accepted, picked (with the place in line), then on air: in that order.
        assert texts[:3] == [
            "@alice, your question is in the queue",
            "@alice, your question is number 1 in line",
            "@alice, answering now",
        ]
        segments = [i for i in sink.items if isinstance(i, Segment)]
        assert "why is the sky blue" in " ".join(s.text for s in segments)
        assert [s.index for s in segments] == list(range(len(segments)))
        # A hostile line and a non-moderator's !clear do not hurt.
        long = " ".join(f"word{i}" for i in range(200))
        await twitch.inject_chat("mallory", "!ask \u202e\u200b" + long)
        await twitch.inject_chat("mallory", "!clear")
        await twitch.inject_chat("bob", "!ask what is your favourite colour?")
        await sink.wait_for(
            lambda items: sum(isinstance(i, Segment) and i.last for i in items) == 2
        )
    finally:
        assert await stop(daemon, task) == 0
    stats = daemon.reader.stats
    assert stats["outcome.accepted"] == 2
    assert stats["reason.too_long"] == 1
    assert stats["reason.not_moderator"] == 1
    # Nothing wrote twitchio's plain token file.
    assert not (tmp_path / ".tio.tokens.json").exists()


async def test_moderator_skip_pause_resume(tmp_path: Path, twitch: FakeTwitch) -> None:
    sink = Sink()
    async with FakeOpenAIServer() as llm:
        # The first answer stalls after a first segment's worth of text.
        stalled = Scenario.paused(
            "Well, that is a long story, my dear friend from the chat. It starts in a small "
            "village far away, where nobody had ever seen the sea.",
            after=18,
        )
        llm.push(stalled, Scenario.reply("Blue, like the sky on a clear day."))
        settings = make_settings(
            tmp_path,
            twitch,
            llm={"provider": "openai", "base_url": llm.base_url, "model": "test-model"},
        )
        daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
        task = await running(daemon)
        try:
            await twitch.wait_until(lambda: bool(twitch.chat_sessions))
            await twitch.inject_chat("alice", "!ask tell me a long story please")
            await sink.wait_for(lambda items: len(items) >= 1)
            first = sink.items[0]
            assert isinstance(first, Segment) and first.index == 0 and not first.last
            # A viewer cannot skip; a moderator can, while the LLM is still writing.
            await twitch.inject_chat("viewer", "!skip")
            await twitch.inject_chat("mod", "!skip", badges=["moderator"])
            await sink.wait_for(lambda items: any(isinstance(i, AnswerAborted) for i in items))
            aborted = [i for i in sink.items if isinstance(i, AnswerAborted)]
            assert aborted[0].answer_id == first.answer_id
            assert "skip" in aborted[0].reason
            # !pause: questions are accepted but not picked until !resume.
            await twitch.wait_until(
                lambda: "@mod, skipped the current answer" in chat_texts(twitch)
            )
            await twitch.inject_chat("mod", "!pause", badges=["moderator"])
            await twitch.wait_until(lambda: any("paused" in t for t in chat_texts(twitch)))
            await twitch.inject_chat("bob", "!ask what is your favourite colour?")
            await twitch.wait_until(
                lambda: "@bob, your question is in the queue" in chat_texts(twitch)
            )
            assert daemon.pool.counts().get("pooled", 0) == 1
            await twitch.inject_chat("mod", "!resume", badges=["moderator"])
            await sink.wait_for(lambda items: any(isinstance(i, Segment) and i.last for i in items))
        finally:
            stalled.gate.set()
            assert await stop(daemon, task) == 0
    assert daemon.reader.stats["reason.not_moderator"] == 1
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        skipped = store.get(first.answer_id)
    assert skipped is not None and skipped.status is Status.DROPPED
    assert skipped.reason == "skipped by moderator"
    # The API key went to the server, and the prompt carried the asker's name.
    assert llm.requests[0].headers.get("Authorization") == "Bearer sk-test-key-123"
    assert "alice" in str(llm.requests[0].messages[-1]["content"])


async def test_llm_down_requeues_then_drops(tmp_path: Path, twitch: FakeTwitch) -> None:
    sink = Sink()
    async with FakeOpenAIServer(default=Scenario.error(500)) as llm:
        settings = make_settings(
            tmp_path,
            twitch,
            llm={"provider": "openai", "base_url": llm.base_url, "model": "m"},
            pool={"max_attempts": 2},
        )
        daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
        task = await running(daemon)
        try:
            await twitch.wait_until(lambda: bool(twitch.chat_sessions))
            await twitch.inject_chat("alice", "!ask are you there?")
            # Two attempts, each a request and its one retry, then the question is dropped.
            await answers_until(daemon, lambda: daemon.answers.questions.get("failed") == 1)
        finally:
            assert await stop(daemon, task) == 0
        assert len(llm.requests) == 4
    assert daemon.answers.ended == {"requeued": 2}
    # Nothing was said, so nothing reached the next stage.
    assert sink.items == []
    # The question is dropped for good, with its reason on record (not lost silently).
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        dropped = store.with_status(Status.DROPPED)
    assert len(dropped) == 1
    assert dropped[0].reason is not None and "500" in dropped[0].reason


class PlayingSink(Sink):
    """A next stage that 'plays' the first answer until cancelled (a long clip)."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[AnswerMessage] = []
        self.block_answer: str | None = None

    async def __call__(self, item: AnswerMessage) -> None:
        await super().__call__(item)
        if isinstance(item, Segment) and self.block_answer in (None, item.answer_id):
            self.block_answer = item.answer_id
            await asyncio.Event().wait()  # on air until !skip cancels it
        self.finished.append(item)


async def test_skip_takes_the_answer_on_air_off(tmp_path: Path, twitch: FakeTwitch) -> None:
    sink = PlayingSink()
    settings = make_settings(tmp_path, twitch)
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        await twitch.inject_chat("alice", "!ask can you tell me something about the moon?")
        # The builder finishes long before the first segment is done "playing".
        await sink.wait_for(lambda items: len(items) == 1)
        await twitch.wait_until(lambda: "@alice, answering now" in chat_texts(twitch))
        on_air = daemon.answers.in_state(AnswerState.SPEAKING)
        assert [a.id for a in on_air] == [sink.items[0].answer_id]
        await twitch.inject_chat("mod", "!skip", badges=["moderator"])
        await sink.wait_for(lambda items: any(isinstance(i, AnswerAborted) for i in items))
        # The next question plays normally.
        await twitch.inject_chat("bob", "!ask what is your favourite colour?")
        await sink.wait_for(
            lambda items: sum(isinstance(i, Segment) and i.last for i in items) >= 1
        )
    finally:
        assert await stop(daemon, task) == 0
    first = sink.items[0]
    assert isinstance(first, Segment) and first.index == 0
    alice = [i for i in sink.items if i.answer_id == first.answer_id]
    # Segment 0 was interrupted, the rest of alice's answer never reached the next stage.
    assert [type(i).__name__ for i in alice] == ["Segment", "AnswerAborted"]
    assert first not in sink.finished
    assert "@mod, skipped the current answer" in chat_texts(twitch)


async def test_first_signal_drains_without_starting_new_answers(
    tmp_path: Path, twitch: FakeTwitch
) -> None:
    sink = Sink()
    settings = make_settings(
        tmp_path, twitch, llm={"offline_word_delay_s": 0.01}, pool={"build_queue_size": 3}
    )
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        for i in range(3):
            await twitch.inject_chat(f"user{i}", f"!ask question number {i} for the show?")
        await twitch.wait_until(lambda: "@user0, answering now" in chat_texts(twitch))
        await sink.wait_for(lambda items: len(items) >= 1)
    finally:
        assert await stop(daemon, task) == 0
    # The answer in progress finished; nothing else was started.
    ended = [i for i in sink.items if isinstance(i, Segment) and i.last]
    assert len(ended) == 1
    assert not any(isinstance(i, AnswerAborted) for i in sink.items)
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        counts = store.counts()
    assert counts.get(Status.DONE, 0) == 1
    assert counts.get(Status.BUILDING, 0) == 0
    assert counts.get(Status.QUEUED, 0) + counts.get(Status.POOLED, 0) == 2


def replay_settings(tmp_path: Path, lines: list[str], **sections: Any) -> Settings:
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "log": {"file": False},
        "chat": {"source": "replay", "replay_file": str(chat), "replay_speed": 0},
        "pool": {"interval_s": 0.05, "policy": "fifo"},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return settings_from_dict(raw, base=tmp_path)


async def test_once_ends_while_paused_and_keeps_the_pool(tmp_path: Path) -> None:
    settings = replay_settings(
        tmp_path,
        [
            '{"user": "boss", "text": "!pause", "badges": ["broadcaster"]}',
            '{"user": "alice", "text": "!ask are we paused?"}',
        ],
    )
    daemon = Daemon(settings, env={}, once=True, sink=Sink())
    async with asyncio.timeout(10):
        assert await daemon.run() == 0
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        assert store.counts().get(Status.POOLED, 0) == 1


async def test_once_exits_1_when_the_chat_source_fails(tmp_path: Path) -> None:
    settings = replay_settings(tmp_path, ['{"user": "alice", "text": "!ask hello there?"}'])
    daemon = Daemon(settings, env={}, once=True, sink=Sink())
    assert settings.chat.replay_file is not None
    settings.chat.replay_file.unlink()  # the file vanishes after the config was checked
    async with asyncio.timeout(10):
        assert await daemon.run() == 1
    assert daemon.chat_stage.failed


class GatedSink(Sink):
    """A next stage that holds every item until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def __call__(self, item: AnswerMessage) -> None:
        await super().__call__(item)
        await self.gate.wait()


async def test_an_answer_counts_as_answered_only_once_handed_on(
    tmp_path: Path, twitch: FakeTwitch
) -> None:
    """Text done is not answered: until the next stage has taken the whole answer the
    question stays 'building', so a crash brings it back instead of losing it."""
    sink = GatedSink()
    settings = make_settings(tmp_path, twitch, pool={"build_queue_size": 3})
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        for i in range(3):
            await twitch.inject_chat(f"user{i}", f"!ask question number {i} for the show?")
        await sink.wait_for(lambda items: len(items) == 1)  # the first segment is held
        await twitch.wait_until(
            lambda: "@user2, your question is number 3 in line" in chat_texts(twitch)
        )
        counts = daemon.pool.counts()
        # Nothing is answered yet; the builder ran ahead by one answer and waits.
        assert counts.get("done", 0) == 0 and not daemon.answers.questions
        assert counts.get("building", 0) >= 1
        assert counts.get("building", 0) + counts.get("queued", 0) == 3
        sink.gate.set()
        await sink.wait_for(
            lambda items: sum(isinstance(i, Segment) and i.last for i in items) == 3
        )
    finally:
        sink.gate.set()
        assert await stop(daemon, task) == 0
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        assert store.counts().get(Status.DONE, 0) == 3


async def test_skip_while_queued_and_twice_in_a_row(tmp_path: Path, twitch: FakeTwitch) -> None:
    """!skip takes the current answer: the one heard, else the one written, else the next
    picked one. Twice in a row takes two; each is recorded skipped, once."""
    sink = GatedSink()  # the first answer stays "on air" until the gate opens
    settings = make_settings(tmp_path, twitch, pool={"build_queue_size": 3})
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        for i in range(3):
            await twitch.inject_chat(f"user{i}", f"!ask question number {i} for the show?")
        await sink.wait_for(lambda items: len(items) >= 1)
        await twitch.wait_until(
            lambda: "@user2, your question is number 3 in line" in chat_texts(twitch)
        )
        first = sink.items[0].answer_id
        states = [(a.question.user, a.state) for a in daemon.answers]
        assert states[0] == ("user0", AnswerState.SPEAKING)
        assert states[-1] == ("user2", AnswerState.PICKED)  # still queued
        shown = render_status(daemon.snapshot())  # what `streamer status` prints
        assert f"{first[:8]} speaking (user0)" in shown and "picked (user2)" in shown
        # Twice in a row: the answer on air, then the next one (written or queued).
        assert daemon.control.skip() == "skipped the current answer"
        assert daemon.control.skip() == "skipped the current answer"
        assert daemon.answers.get(first) is None
        sink.gate.set()
        await answers_until(daemon, lambda: len(daemon.answers) == 0)
        shown = render_status(daemon.snapshot())
    finally:
        sink.gate.set()
        assert await stop(daemon, task) == 0
    assert daemon.control.skip() == "nothing to skip"
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        ended = {s.question.user: (s.status, s.outcome) for s in store.history(10)}
    assert ended["user0"] == (Status.DROPPED, "skipped")
    assert ended["user1"] == (Status.DROPPED, "skipped")
    assert ended["user2"] == (Status.DONE, "done")
    assert daemon.answers.questions == {"skipped": 2, "answered": 1}
    assert (
        "questions since start: 1 answered, 0 truncated, 2 skipped, 0 moderated, 0 failed" in shown
    )


class BrokenEndSink(Sink):
    """A next stage that fails on the end of every answer (its last item)."""

    async def __call__(self, item: AnswerMessage) -> None:
        await super().__call__(item)
        if isinstance(item, Segment) and item.last:
            raise RuntimeError("the next stage broke on purpose")


async def test_a_next_stage_failing_on_the_end_never_stalls(tmp_path: Path) -> None:
    settings = replay_settings(
        tmp_path,
        [
            '{"user": "alice", "text": "!ask are you there?"}',
            '{"user": "bob", "text": "!ask and now?"}',
        ],
    )
    daemon = Daemon(settings, env={}, once=True, sink=BrokenEndSink())
    async with asyncio.timeout(10):
        assert await daemon.run() == 0  # --once ends: nothing waits for a lost end
    assert daemon.answers.questions == {"truncated": 2}


class SlowSink(Sink):
    """A next stage that takes its time with every item, like a voice speaking it."""

    async def __call__(self, item: AnswerMessage) -> None:
        await asyncio.sleep(0.2)
        await super().__call__(item)


async def test_a_stop_lets_the_answer_in_progress_play_to_its_end(tmp_path: Path) -> None:
    settings = replay_settings(
        tmp_path,
        ['{"user": "alice", "text": "!ask ' + "tell me a long story about the sea " * 4 + '"}'],
        split={"min_chars": 20, "first_min_chars": 10},
    )
    sink = SlowSink()
    daemon = Daemon(settings, env={}, sink=sink)
    task = asyncio.create_task(daemon.run())
    await sink.wait_for(lambda items: len(items) >= 1)
    assert await stop(daemon, task) == 0
    segments = [i for i in sink.items if isinstance(i, Segment)]
    assert len(segments) >= 3 and segments[-1].last  # all of it, to its last segment
    assert daemon.answers.questions == {"answered": 1}
    assert daemon.supervisor.reason is None


async def test_twitch_moderation_reaches_the_answers(
    tmp_path: Path, twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """Twitch's own moderation over EventSub, through the real twitchio client: a deleted
    message's question never reaches the next stage, a deletion of the answer on air
    takes it off within 200 ms, a message and a deletion delivered twice count once,
    a ban drops the user's questions, a chat clear empties the pool."""
    sink = PlayingSink()
    settings = make_settings(tmp_path, twitch, pool={"build_queue_size": 1})
    # `streamer twitch login --broadcaster`: the channel's own token, for bans.
    owner = twitch.issue_user_token(twitch.owner.id, ("channel:moderate",))
    save_twitch_tokens(settings.broadcaster_token_file, owner)
    daemon = Daemon(settings, env=twitch_env(twitch), sink=sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: bool(twitch.chat_sessions))
        await twitch.wait_until(lambda: twitch.subscriptions_created >= 5)
        first = await twitch.inject_chat("alice", "!ask tell me about the moon please", times=2)
        await sink.wait_for(lambda items: len(items) == 1)  # on air, held there
        await twitch.inject_chat("bob", "!ask a question that is deleted")
        await twitch.inject_chat("erin", "!ask a question of a user who is banned")
        await twitch.inject_chat("frank", "!ask a question the clear takes away")
        # Only picked ones are live: with one on air the rest wait in the pool.
        await twitch.wait_until(lambda: daemon.pool.counts().get("pooled", 0) == 3)
        bob = next(q for q in daemon.pool.pooled() if q.user == "bob")
        with QuestionStore(tmp_path / "data" / "questions.db") as store:
            bob_message = store.asks.of_question(bob.id)[0].message_id
        await twitch.delete_message("bob", bob_message, times=2)
        await twitch.ban("erin", "mod", timeout_s=600)
        await twitch.wait_until(lambda: daemon.pool.counts().get("pooled", 0) == 1)
        started = asyncio.get_running_loop().time()
        await twitch.delete_message("alice", first)
        await sink.wait_for(lambda items: any(isinstance(i, AnswerAborted) for i in items))
        assert asyncio.get_running_loop().time() - started < 0.2
        await twitch.clear_chat()
        await twitch.wait_until(lambda: daemon.pool.counts().get("pooled", 0) == 0)
        # A clear delivered again after a new question (same socket, so read in this
        # order) is handled once: the new question stays.
        await twitch.inject_chat("grace", "!ask a question asked after the clear")
        await twitch.wait_until(lambda: daemon.pool.counts().get("pooled", 0) == 1)
        await twitch.redeliver("channel.chat.clear")
        await twitch.inject_chat("heidi", "!ask one more question after the clear")
        await twitch.wait_until(lambda: daemon.pool.counts().get("pooled", 0) == 2)
    finally:
        assert await stop(daemon, task) == 0
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        ended = {s.question.user: s for s in store.history(20)}
    assert len([s for s in ended.values() if s.question.user == "alice"]) == 1  # asked once
    assert (ended["alice"].status, ended["alice"].outcome) == (Status.DROPPED, "moderated")
    assert "deleted" in str(ended["bob"].reason)
    # Twitch clears a banned user's messages too: whichever notification comes first.
    assert ended["erin"].reason in ("user banned or timed out by mod", "user cleared")
    assert "chat cleared" in str(ended["frank"].reason)
    # Nothing of the deleted, banned or cleared questions reached the next stage.
    handed = {i.answer_id for i in sink.items}
    assert handed == {ended["alice"].id}
    assert "grace" not in ended  # never cleared
    assert "bans and timeouts are not seen" not in caplog.text
