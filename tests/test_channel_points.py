"""Channel points as questions: the store's redemption rows, the settler, and the daemon
with the real twitchio client against the fake Twitch (EventSub redemptions, Helix
redemption updates with Twitch's rules)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from streamer.chat.base import RedemptionSettleError
from streamer.daemon import Daemon
from streamer.messages import AnswerAborted, Question, Redemption, Role, Segment
from streamer.redemptions import RedemptionSettler
from streamer.secrets import save_twitch_tokens
from streamer.status import render_status
from streamer.store import QuestionStore, Status
from tests.fakes.twitch_server import FakeTwitch
from tests.test_daemon_live import (
    PlayingSink,
    Sink,
    chat_texts,
    make_settings,
    running,
    stop,
    twitch,
    twitch_env,
)

__all__ = ["twitch"]  # the fixture, imported for the tests below

BROADCASTER_SCOPES = ("channel:moderate", "channel:manage:redemptions")


def question(qid: str, user: str = "alice") -> Question:
    return Question(qid, user, user, f"question {qid} about the moon", Role.VIEWER)


# ---------------------------------------------------------------------- the store


def test_a_redemption_is_fulfilled_or_refunded_when_its_question_ends(tmp_path: Path) -> None:
    with QuestionStore(tmp_path / "q.db") as store:
        woken: list[int] = []
        store.redemptions.on_due = lambda: woken.append(1)
        for qid in ("a", "b", "c"):
            store.insert(question(qid), f"norm {qid}", 1.0)
            store.redemptions.add(f"r-{qid}", "reward", "alice", 1.0, question_id=qid)
        assert store.redemptions.due(10.0) == [] and woken == []
        store.finish(["a"], Status.DONE, 2.0, outcome="done")
        store.finish(["b"], Status.DROPPED, 2.0, reason="expired")
        due = {r.redemption_id: r for r in store.redemptions.due(10.0)}
        assert (due["r-a"].target, due["r-a"].reason) == ("FULFILLED", "")
        assert (due["r-b"].target, due["r-b"].reason) == ("CANCELED", "expired")
        assert "r-c" not in due and len(woken) == 2
        # Requeued (back in the pool) is no end: nothing to settle yet.
        store.mark_queued("c", 3.0)
        store.return_to_pool("c", 3.0, attempts=1)
        assert store.redemptions.get("r-c").target is None  # type: ignore[union-attr]
        store.redemptions.settle("r-a", "FULFILLED")
        attempts = store.redemptions.retry_later("r-b", 100.0, "HTTP 503")
        assert attempts == 1
        assert store.redemptions.due(10.0) == [] and store.redemptions.next_due_at() == 100.0
        assert store.redemptions.counts() == {"open": 1, "due": 1, "FULFILLED": 1}
        # A redelivered redemption is recorded once.
        assert not store.redemptions.add("r-a", "reward", "alice", 5.0, question_id="a")
    # Kept across a restart: the refund is still due.
    with QuestionStore(tmp_path / "q.db") as store:
        assert [r.redemption_id for r in store.redemptions.due(1000.0)] == ["r-b"]


def test_a_version_3_database_gains_the_redemptions_table(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with QuestionStore(path) as store:
        store.insert(question("a"), "norm a", 1.0)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE redemptions")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with QuestionStore(path) as store:
        assert store.get("a") is not None
        store.redemptions.add("r", "reward", "alice", 1.0, question_id="a")
        assert store.redemptions.known("r")


# ---------------------------------------------------------------------- the settler


class ScriptedTwitch:
    """Answers each settle call with the next scripted outcome (None = accepted)."""

    def __init__(self, *outcomes: RedemptionSettleError | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def settle(self, reward_id: str, redemption_id: str, status: str) -> None:
        self.calls.append((redemption_id, status))
        self.changed.set()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    async def wait_calls(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.calls) < n:
                self.changed.clear()
                await self.changed.wait()


async def test_the_settler_retries_and_records_final_refusals(tmp_path: Path) -> None:
    twitch = ScriptedTwitch(
        RedemptionSettleError("Twitch answered HTTP 503"),  # r-a: tried again...
        None,  # ... then told
        RedemptionSettleError("not unfulfilled on Twitch (HTTP 404)", "gone"),  # r-b
    )
    with QuestionStore(tmp_path / "q.db") as store:
        settler = RedemptionSettler(store.redemptions, twitch.settle, retry_s=(0.05, 0.05))
        settler.start()
        try:
            for qid in ("a", "b"):
                store.insert(question(qid), f"norm {qid}", 1.0)
                store.redemptions.add(f"r-{qid}", "reward", "alice", 1.0, question_id=qid)
            store.finish(["a"], Status.DONE, 2.0, outcome="done")
            await twitch.wait_calls(2)  # r-a failed once, r-a again
            store.finish(["b"], Status.DROPPED, 2.0, reason="skipped by moderator")
            await twitch.wait_calls(3)
        finally:
            await settler.close()
        assert twitch.calls == [("r-a", "FULFILLED"), ("r-a", "FULFILLED"), ("r-b", "CANCELED")]
        assert store.redemptions.get("r-a").settled == "FULFILLED"  # type: ignore[union-attr]
        assert store.redemptions.get("r-b").settled == "gone"  # type: ignore[union-attr]
        assert (settler.settled, settler.failed) == (1, 1)


async def test_what_was_due_at_a_stop_is_settled_at_the_next_start(tmp_path: Path) -> None:
    with QuestionStore(tmp_path / "q.db") as store:
        store.insert(question("a"), "norm a", 1.0)
        store.redemptions.add("r-a", "reward", "alice", 1.0, question_id="a")
        store.finish(["a"], Status.DROPPED, 2.0, reason="expired")  # no settler running
    twitch = ScriptedTwitch()
    with QuestionStore(tmp_path / "q.db") as store:
        settler = RedemptionSettler(store.redemptions, twitch.settle)
        settler.start()
        try:
            await twitch.wait_calls(1)
        finally:
            await settler.close()
        assert twitch.calls == [("r-a", "CANCELED")]


# ---------------------------------------------------------------------- end to end


def points_daemon(tmp_path: Path, twitch: FakeTwitch, reward: str, sink: Sink) -> Daemon:
    settings = make_settings(
        tmp_path,
        twitch,
        pool={"build_queue_size": 1},
        twitch={"channel_points": {"reward_id": reward}},
    )
    # `streamer twitch login --broadcaster`: the channel's own token.
    owner = twitch.issue_user_token(twitch.owner.id, BROADCASTER_SCOPES)
    save_twitch_tokens(settings.broadcaster_token_file, owner)
    return Daemon(settings, env=twitch_env(twitch), sink=sink)


async def test_redemptions_are_answered_and_fulfilled_or_refunded(
    tmp_path: Path, twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real twitchio client: a redemption's text is asked and answered, then
    FULFILLED on Twitch; one delivered twice asks once; one a filter rejects is
    refunded (CANCELED) with a reply; a ban during its answer takes it off air within
    200 ms and refunds it; another reward's redemptions are not questions."""
    caplog.set_level(logging.INFO)
    reward = twitch.points.create_reward("Ask the avatar", 50)
    other = twitch.points.create_reward("Hydrate", 10)
    sink = PlayingSink()
    daemon = points_daemon(tmp_path, twitch, reward, sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: twitch.subscriptions_created >= 6)
        carol = await twitch.points.redeem("carol", reward, "what is the moon made of?")
        await sink.wait_for(lambda items: len(items) == 1)  # carol's answer on air, held
        alice = await twitch.points.redeem("alice", reward, "why is the sky blue?", times=2)
        bob = await twitch.points.redeem("bob", reward, "look at https://example.com now")
        await twitch.points.redeem("dave", other, "this is not a question at all")
        await twitch.wait_until(lambda: twitch.points.status(bob) == "CANCELED")
        assert daemon.pool.counts().get("pooled", 0) == 1  # alice's, once
        started = asyncio.get_running_loop().time()
        await twitch.ban("carol", "mod", timeout_s=60)
        await sink.wait_for(lambda items: any(isinstance(i, AnswerAborted) for i in items))
        assert asyncio.get_running_loop().time() - started < 0.2
        sink.block_answer = "nobody"  # alice's answer plays to its end
        await twitch.wait_until(lambda: twitch.points.status(alice) == "FULFILLED")
        await twitch.wait_until(lambda: twitch.points.status(carol) == "CANCELED")
    finally:
        assert await stop(daemon, task) == 0
    assert twitch.points.redemptions[alice].updates == ["FULFILLED"]  # told once
    answered = [i for i in sink.items if isinstance(i, Segment)]
    assert "why is the sky blue" in " ".join(s.text for s in answered)
    assert not any("not a question" in s.text for s in answered)
    assert any(t.startswith("@bob,") and "refunded" in t for t in chat_texts(twitch))
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        ended = {s.question.user: s for s in store.history(10)}
        counts = store.redemptions.counts()
    assert (ended["alice"].status, ended["alice"].outcome) == (Status.DONE, "done")
    assert ended["carol"].outcome == "moderated"
    assert counts == {"open": 0, "due": 0, "FULFILLED": 1, "CANCELED": 2}
    assert "channel points: 1 fulfilled, 2 refunded" in render_status({"redemptions": counts})
    assert "channel points: redemptions of reward" in caplog.text


async def test_a_reward_of_another_application_is_said_not_retried(
    tmp_path: Path, twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """Twitch lets only the client id that made a reward settle its redemptions (403):
    the question is still answered, the refusal is recorded once with the fix."""
    reward = twitch.points.create_reward("Ask", 50, client_id="someoneelsesapp")
    sink = Sink()
    daemon = points_daemon(tmp_path, twitch, reward, sink)
    task = await running(daemon)
    try:
        await twitch.wait_until(lambda: twitch.subscriptions_created >= 6)
        await twitch.points.redeem("alice", reward, "why is the sky blue?")
        await sink.wait_for(lambda items: any(isinstance(i, Segment) and i.last for i in items))
        await twitch.wait_until(lambda: twitch.points.update_answers == [403])
    finally:
        assert await stop(daemon, task) == 0
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        assert store.redemptions.counts()["refused"] == 1
    assert "streamer twitch reward create" in caplog.text


def test_redemption_event_key() -> None:
    r = Redemption("abc", "reward", "alice", "hi")
    assert r.event_id == "redemption:abc"
