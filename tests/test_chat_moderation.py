"""The platform's own moderation reaching the answers: a deleted message, a ban or
timeout, a cleared user or chat, and notifications delivered twice.

The daemon runs in-process with a scripted chat source (what the Twitch source yields
from EventSub) and a next stage that holds the first answer "on air".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from streamer.answer import AnswerState
from streamer.chat.base import ChatSource
from streamer.config import settings_from_dict
from streamer.daemon import Daemon
from streamer.messages import (
    AnswerAborted,
    ChatEvent,
    ChatMessage,
    ChatModeration,
    ChatModerationKind,
)
from streamer.store import QuestionStore, Status, StoreError
from tests.test_daemon_live import GatedSink, running, stop


class ScriptedChat(ChatSource):
    name = "scripted"

    def __init__(self) -> None:
        self.events: asyncio.Queue[ChatEvent | None] = asyncio.Queue()
        self.sent: list[str] = []

    async def messages(self) -> AsyncIterator[ChatEvent]:
        while (event := await self.events.get()) is not None:
            yield event

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self) -> None:
        self.events.put_nowait(None)

    def ask(self, user: str, text: str, message_id: str) -> None:
        self.events.put_nowait(ChatMessage(user=user, text=f"!ask {text}", message_id=message_id))


async def until(predicate: Callable[[], bool]) -> None:
    """Poll a condition on the pool, which has no change event to wait on."""
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _daemon(tmp_path: Path, chat: ScriptedChat, sink: GatedSink) -> Daemon:
    settings = settings_from_dict(
        {
            "data_dir": str(tmp_path / "data"),
            "log": {"file": False},
            "pool": {"interval_s": 0.05, "policy": "fifo", "build_queue_size": 1},
            "filters": {"user_cooldown_s": 0},
            "status": {"port": 0},
            "llm": {"offline_word_delay_s": 0},
        }
    )
    return Daemon(settings, env={}, sink=sink, chat=chat)


def _active(daemon: Daemon, user: str) -> int:
    return sum(q.user == user for q in [*daemon.pool.pooled(), *daemon.pool.queued()])


def _ended(tmp_path: Path) -> dict[str, tuple[Status, str | None, str | None]]:
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        rows = [s for status in Status for s in store.with_status(status)]
    return {s.question.text: (s.status, s.outcome, s.reason) for s in rows}


async def test_deleted_messages_bans_and_clears(tmp_path: Path) -> None:
    chat, sink = ScriptedChat(), GatedSink()
    daemon = _daemon(tmp_path, chat, sink)
    task = await running(daemon)
    try:
        chat.ask("alice", "what is the first question?", "m1")
        await sink.wait_for(lambda items: len(items) >= 1)  # alice's answer is on air
        chat.ask("bob", "what is the second question?", "m2")
        chat.ask("bob", "what is the second question?", "m2")  # the same message again
        chat.ask("carol", "what is the second question?", "m3")  # a duplicate, merged
        chat.ask("dave", "a question that gets deleted", "m4")
        chat.ask("erin", "a question that is banned away", "m5")
        chat.ask("erin", "another one from the same user", "m6")
        chat.ask("frank", "a question the clear takes", "m7")
        pooled = lambda: daemon.pool.counts().get("pooled", 0)  # noqa: E731
        await until(lambda: pooled() + daemon.pool.counts().get("queued", 0) == 5)
        assert daemon.chat_stage.redelivered.count == 1  # m2 counted once
        on_air = sink.items[0].answer_id

        # The message of the answer on air is deleted: it is off air at once.
        started = time.monotonic()
        chat.events.put_nowait(
            ChatModeration(ChatModerationKind.MESSAGE_DELETED, "alice", "m1", "mod", "e1")
        )
        await sink.wait_for(lambda items: any(isinstance(i, AnswerAborted) for i in items))
        assert time.monotonic() - started < 0.2
        assert daemon.answers.get(on_air) is None
        # A delivered-twice notification is handled once.
        chat.events.put_nowait(
            ChatModeration(ChatModerationKind.MESSAGE_DELETED, "alice", "m1", "mod", "e1")
        )
        # A merged question stays while someone else still asks it.
        chat.events.put_nowait(ChatModeration(ChatModerationKind.MESSAGE_DELETED, "bob", "m2"))
        chat.events.put_nowait(ChatModeration(ChatModerationKind.MESSAGE_DELETED, "dave", "m4"))
        chat.events.put_nowait(ChatModeration(ChatModerationKind.USER_BANNED, "erin", by="mod"))
        await until(lambda: not any(a.question.user == "erin" for a in daemon.answers))
        await until(lambda: _active(daemon, "erin") == _active(daemon, "dave") == 0)
        chat.events.put_nowait(ChatModeration(ChatModerationKind.CHAT_CLEARED, by="mod"))
        await until(lambda: pooled() == 0)
        assert daemon.chat_stage.redelivered.count == 2
    finally:
        sink.gate.set()
        assert await stop(daemon, task) == 0
    ended = _ended(tmp_path)
    first = ended["what is the first question?"]
    assert first[:2] == (Status.DROPPED, AnswerState.MODERATED.value)
    assert "deleted by mod" in str(first[2])
    deleted = ended["a question that gets deleted"]
    assert deleted[0] is Status.DROPPED and "deleted" in str(deleted[2])
    for text in ("a question that is banned away", "another one from the same user"):
        assert ended[text][0] is Status.DROPPED and "banned or timed out by mod" in str(
            ended[text][2]
        )
    # The merged question was still asked by carol, then went with the chat clear
    # (or was answered first: both are fine, it never went with bob's deletion).
    second = ended["what is the second question?"]
    assert second[0] is Status.DONE or "chat cleared" in str(second[2]), second
    assert "chat cleared by mod" in str(ended["a question the clear takes"][2])


def test_old_databases_are_upgraded_with_the_asks_table(tmp_path: Path) -> None:
    import re
    import sqlite3

    from streamer.store_schema import _SCHEMA

    v1 = re.sub(r",(\s*--[^\n]*)?\n\s*outcome\s+TEXT[^\n]*", r"\1", _SCHEMA)
    assert "outcome" not in v1.split("CREATE INDEX")[0]
    for version, schema in ((1, v1), (2, _SCHEMA)):
        path = tmp_path / f"v{version}.db"
        conn = sqlite3.connect(path)
        conn.executescript(schema)
        conn.execute(
            "INSERT INTO questions (id, user, display_name, text, norm_text, role, askers, "
            "status, seq, pooled_at, updated_at, asked_at) VALUES ('q1', 'a', 'A', 'hi there', "
            "'hi there', 6, '[\"a\"]', 'pooled', 1, 0, 0, 0)"
        )
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
        with QuestionStore(path) as store:
            assert store.get("q1") is not None
            store.asks.record("m1", "q1", "a", 1.0)
            assert [a.message_id for a in store.asks.of_question("q1")] == ["m1"]
    try:
        QuestionStore(tmp_path / "v1.db").close()
    except StoreError as exc:  # pragma: no cover - would mean the upgrade broke the file
        raise AssertionError(exc) from exc
