"""QuestionPool policies, build queue and SQLite persistence (incl. a real SIGKILL)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from streamer.config import PoolSettings
from streamer.messages import Question, Role
from streamer.pool import (
    AddStatus,
    QuestionPool,
    effective_level,
    normalize_text,
    priority_level,
)
from streamer.store import SCHEMA_VERSION, QuestionStore, Status, StoreError

REPO_ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """A wall clock that only moves when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_question(
    text: str,
    *,
    id: str | None = None,
    user: str = "viewer",
    role: Role = Role.VIEWER,
    bits: int = 0,
    asked_at: float = 1000.0,
) -> Question:
    return Question(
        id=id or f"q-{user}-{abs(hash(text)) % 10**8}",
        user=user,
        display_name=user.title(),
        text=text,
        role=role,
        bits=bits,
        asked_at=asked_at,
    )


class Env:
    """A pool over a store in a temp folder; reopen() simulates a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = Clock()
        self.rng = random.Random(1234)
        self.stores: list[QuestionStore] = []
        self.store: QuestionStore
        self.pool: QuestionPool

    def open(self, **settings: Any) -> QuestionPool:
        self.settings = PoolSettings(**{"max_age_s": 10_000, **settings})
        self.store = QuestionStore(self.path)
        self.stores.append(self.store)
        self.pool = QuestionPool(self.settings, self.store, clock=self.clock, rng=self.rng)
        return self.pool

    def reopen(self) -> QuestionPool:
        self.store.close()
        self.store = QuestionStore(self.path)
        self.stores.append(self.store)
        self.pool = QuestionPool(self.settings, self.store, clock=self.clock, rng=self.rng)
        return self.pool

    def ask(self, text: str, **kw: Any) -> Question:
        kw.setdefault("asked_at", self.clock.now)
        question = make_question(text, **kw)
        result = self.pool.add(question)
        assert result.status is AddStatus.ACCEPTED, result
        return result.question


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path / "data" / "questions.db")
    yield e
    for store in e.stores:
        store.close()


def ids(questions: Sequence[Question]) -> list[str]:
    return [q.id for q in questions]


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What's your FAVOURITE café?", "whats your favourite cafe"),
        ("  Où   est\tla   plage ?! ", "ou est la plage"),
        ("ＦＵＬＬ width…", "full width"),
        ("Straße", "STRASSE"),
        ("What's UP?!", "whats up"),
        ("Café au lait", "cafe au LAIT"),
        ("zero\u200bwidth \u202eflip\u202c", "zerowidth flip"),
        ("line\none\ttwo", "line one two"),
    ],
)
def test_normalize_text_ignores_case_accents_punctuation_spacing(a: str, b: str) -> None:
    assert normalize_text(a) == normalize_text(b)


def test_normalize_text_keeps_different_words_apart() -> None:
    assert normalize_text("is it cold?") != normalize_text("is it old?")
    assert normalize_text("how old are you") != normalize_text("how are you")
    assert normalize_text("do you like 🐱?") != normalize_text("do you like 🐶?")
    assert normalize_text("") == normalize_text("?!…") == ""


def test_duplicates_with_invisible_characters_are_merged(env: Env) -> None:
    pool = env.open()
    first = env.ask("what is your favourite colour?", user="alice")
    result = pool.add(make_question("What is your\u200b FAVOURITE colour", user="bob"))
    assert result.status is AddStatus.MERGED
    assert result.question.id == first.id
    assert result.question.askers == ("alice", "bob")


# --------------------------------------------------------------------------- policies


def test_fifo_picks_oldest_first(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=10)
    asked = [env.ask(f"question number {i}", user=f"u{i}") for i in range(4)]
    env.clock.advance(1)
    picked = [pool.pick() for _ in range(4)]
    assert ids([p for p in picked if p]) == ids(asked)
    assert pool.pick() is None  # empty pool
    assert ids(pool.queued()) == ids(asked)
    assert pool.counts() == {"pooled": 0, "queued": 4, "building": 0, "done": 0, "dropped": 0}


def test_random_policy_is_uniform_with_seeded_rng(env: Env) -> None:
    pool = env.open(policy="random", build_queue_size=1)
    asked = [env.ask(f"random question {i}", user=f"u{i}") for i in range(4)]
    seen: Counter[str] = Counter()
    trials = 2000
    for _ in range(trials):
        picked = pool.pick()
        assert picked is not None
        seen[picked.id] += 1
        assert pool.requeue(picked.id)  # back in the pool, no attempt counted
    assert set(seen) == set(ids(asked))
    for count in seen.values():  # expected 500 each, sd ~19
        assert 400 < count < 600, seen
    assert all(env.store.get(q.id).attempts == 0 for q in asked)  # type: ignore[union-attr]


def test_random_policy_same_seed_same_choice(env: Env) -> None:
    pool = env.open(policy="random")
    for i in range(5):
        env.ask(f"seeded question {i}", user=f"u{i}")
    expected_index = random.Random(1234).randrange(5)
    picked = pool.pick()
    assert picked is not None
    assert picked.text == f"seeded question {expected_index}"


def test_random_clear_on_pick_drops_the_others(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    pool = env.open(policy="random", clear_on_pick=True)
    asked = [env.ask(f"clear on pick {i}", user=f"u{i}") for i in range(5)]
    caplog.set_level(logging.INFO, logger="streamer.pool")
    picked = pool.pick()
    assert picked is not None
    assert pool.pooled() == []
    assert ids(pool.queued()) == [picked.id]
    others = [q for q in asked if q.id != picked.id]
    for q in others:
        info = pool.info(q.id)
        assert info is not None
        assert info.status is Status.DROPPED
        assert info.reason == "cleared on pick"
        assert any(q.id in r.getMessage() and q.user in r.getMessage() for r in caplog.records)
    assert pool.counts()["dropped"] == 4


def test_clear_on_pick_ignored_by_fifo(env: Env) -> None:
    pool = env.open(policy="fifo", clear_on_pick=True)
    env.ask("first question here", user="a")
    env.ask("second question here", user="b")
    pool.pick()
    assert len(pool.pooled()) == 1


def test_priority_order_across_all_levels(env: Env) -> None:
    pool = env.open(policy="priority", build_queue_size=20, aging_s=1_000_000)
    # Asked in a scrambled order; each label says where it must come out.
    spec = [
        ("viewer", Role.VIEWER, 0),
        ("first", Role.FIRST_TIME, 0),
        ("sub", Role.SUBSCRIBER, 0),
        ("bits_small", Role.VIEWER, 100),
        ("bits_big", Role.VIEWER, 500),
        ("bits_small_later", Role.VIEWER, 100),
        ("sub_with_bits", Role.SUBSCRIBER, 50),
        ("vip", Role.VIP, 0),
        ("vip_bits", Role.VIP, 10),
        ("moderator", Role.MODERATOR, 0),
        ("broadcaster", Role.BROADCASTER, 0),
    ]
    for label, role, bits in spec:
        env.ask(f"question from {label}", id=label, user=label, role=role, bits=bits)
        env.clock.advance(1)
    order = []
    while (picked := pool.pick()) is not None:
        order.append(picked.id)
    assert order == [
        "moderator",  # level 0, older than the broadcaster
        "broadcaster",
        "vip_bits",  # level 1: more bits first
        "vip",
        "bits_big",  # level 2: more bits first ...
        "bits_small",  # ... then the oldest
        "bits_small_later",
        "sub_with_bits",
        "sub",  # level 3
        "first",  # level 4
        "viewer",  # level 5
    ]


def test_priority_levels() -> None:
    def level(role: Role, bits: int = 0) -> int:
        return priority_level(make_question("x", role=role, bits=bits))

    assert [level(r) for r in Role] == [0, 0, 1, 3, 4, 5]
    assert level(Role.VIEWER, 1) == 2
    assert level(Role.FIRST_TIME, 1) == 2
    assert level(Role.VIP, 100) == 1
    old = make_question("x", asked_at=0.0)
    assert effective_level(old, now=250.0, aging_s=100.0) == 5 - 2


def test_aging_lets_a_long_waiting_viewer_beat_a_new_subscriber(env: Env) -> None:
    pool = env.open(policy="priority", aging_s=60, build_queue_size=10)
    viewer = env.ask("been waiting a while", user="patient", role=Role.VIEWER)
    env.clock.advance(100)  # viewer: 5 - 1 = 4, still behind a subscriber (3)
    sub = env.ask("just subscribed, hi", user="newsub", role=Role.SUBSCRIBER)
    assert pool.pick() == sub
    sub2 = env.ask("another new sub here", user="newsub2", role=Role.SUBSCRIBER)
    env.clock.advance(100)  # viewer waited 200 s: 5 - 3 = 2; sub2: 3 - 1 = 2, viewer older
    picked = pool.pick()
    assert picked is not None
    assert picked.id == viewer.id
    assert pool.pick() == sub2


def test_expired_questions_are_dropped_before_the_pick(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    pool = env.open(policy="fifo", max_age_s=100)
    old = env.ask("an old question", user="oldie")
    env.clock.advance(50)
    fresh = env.ask("a fresh question", user="newbie")
    env.clock.advance(60)  # old: 110 s > 100 s; fresh: 60 s
    caplog.set_level(logging.INFO, logger="streamer.pool")
    assert pool.pick() == fresh
    info = pool.info(old.id)
    assert info is not None and info.status is Status.DROPPED and info.reason == "expired"
    expired_logs = [r for r in caplog.records if "expired after" in r.getMessage()]
    assert len(expired_logs) == 1
    assert old.id in expired_logs[0].getMessage() and "oldie" in expired_logs[0].getMessage()
    assert expired_logs[0].levelno == logging.INFO
    env.clock.advance(1000)
    assert pool.pick() is None


# --------------------------------------------------------------------------- add


def test_duplicates_are_merged(env: Env) -> None:
    pool = env.open(policy="fifo")
    first = env.ask("What's your favourite café?", user="alice", role=Role.VIEWER, bits=10)
    assert first.askers == ("alice",)
    dup = make_question("whats your FAVOURITE cafe", id="dup1", user="bob", role=Role.VIP, bits=5)
    result = pool.add(dup)
    assert result.status is AddStatus.MERGED
    merged = result.question
    assert merged.id == first.id and merged.text == first.text and merged.user == "alice"
    assert merged.askers == ("alice", "bob")
    assert merged.role is Role.VIP  # the better role wins
    assert merged.bits == 15
    # Same asker again: merged, not listed twice; a worse role does not downgrade.
    again = pool.add(make_question("  what's your favourite café ?!", id="dup2", user="bob"))
    assert again.status is AddStatus.MERGED
    assert again.question.askers == ("alice", "bob")
    assert again.question.role is Role.VIP
    assert pool.get("dup1") is None and len(pool.pooled()) == 1
    # Persisted.
    pool = env.reopen()
    stored = pool.get(first.id)
    assert stored is not None
    assert (stored.askers, stored.role, stored.bits) == (("alice", "bob"), Role.VIP, 15)


def test_duplicates_of_queued_and_building_merge_but_not_of_finished(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=5)
    a = env.ask("question alpha", user="a")
    b = env.ask("question beta", user="b")
    pool.pick()
    pool.pick()
    assert pool.take_queued() == a  # a building, b queued
    for text, target in (("QUESTION ALPHA!", a), ("question, beta", b)):
        result = pool.add(make_question(text, id=f"x-{target.id}", user="c"))
        assert result.status is AddStatus.MERGED
        assert result.question.id == target.id
        assert result.question.askers == (target.user, "c")
    assert pool.record(a.id, "done")
    result = pool.add(make_question("question alpha", id="again", user="d"))
    assert result.status is AddStatus.ACCEPTED


def test_pool_full(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    pool = env.open(max_size=2)
    env.ask("first of two", user="a")
    env.ask("second of two", user="b")
    caplog.set_level(logging.INFO, logger="streamer.pool")
    third = make_question("third one", id="third", user="c")
    result = pool.add(third)
    assert result.status is AddStatus.POOL_FULL
    assert result.question == third
    assert pool.get("third") is None
    assert any("third" in r.getMessage() for r in caplog.records)
    # A duplicate still merges: it takes no room.
    assert pool.add(make_question("FIRST of two", id="dup", user="d")).status is AddStatus.MERGED
    # Expired questions make room.
    env.clock.advance(env.settings.max_age_s + 1)
    assert pool.add(third).status is AddStatus.ACCEPTED


def test_same_id_twice_is_an_error(env: Env) -> None:
    pool = env.open()
    q = env.ask("a question once", user="a")
    pool.pick()
    pool.take_queued()
    pool.record(q.id, "done")
    with pytest.raises(ValueError, match="already stored"):
        pool.add(q)


# --------------------------------------------------------------------------- build queue


def test_full_build_queue_blocks_the_pick(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=2)
    a, b, c = (env.ask(f"blocking question {i}", user=f"u{i}") for i in range(3))
    assert pool.pick() == a
    assert pool.pick() == b
    assert pool.build_queue_full()
    assert pool.pick() is None
    assert ids(pool.pooled()) == [c.id]
    assert pool.take_queued() == a  # building still counts
    assert pool.pick() is None
    pool.record(a.id, "done")
    assert pool.pick() == c


async def test_next_to_build_waits_until_something_is_queued(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=5)
    waiter = asyncio.create_task(pool.next_to_build())
    await asyncio.sleep(0)  # one turn: the task is now waiting on the pool's event
    assert not waiter.done()
    a = env.ask("async question a", user="a")
    b = env.ask("async question b", user="b")
    assert not waiter.done()  # pooled is not queued
    assert pool.pick() == a
    assert pool.pick() == b
    got = await asyncio.wait_for(waiter, timeout=5)
    assert got == a
    assert ids(pool.building()) == [a.id]
    assert await pool.next_to_build() == b  # already queued: no wait
    assert ids(pool.building()) == [a.id, b.id]
    assert pool.queued() == []


async def test_cancelled_next_to_build_takes_nothing(env: Env) -> None:
    pool = env.open(policy="fifo")
    waiter = asyncio.create_task(pool.next_to_build())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    q = env.ask("after the cancel", user="a")
    pool.pick()
    assert ids(pool.queued()) == [q.id]
    assert await pool.next_to_build() == q


async def test_two_builders_get_different_questions(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=5)
    w1 = asyncio.create_task(pool.next_to_build())
    w2 = asyncio.create_task(pool.next_to_build())
    await asyncio.sleep(0)
    a = env.ask("builder question a", user="a")
    b = env.ask("builder question b", user="b")
    pool.pick()
    pool.pick()
    got = await asyncio.wait_for(asyncio.gather(w1, w2), timeout=5)
    assert sorted(ids(got)) == sorted([a.id, b.id])


# --------------------------------------------------------------------------- outcomes


def test_done(env: Env) -> None:
    pool = env.open()
    q = env.ask("to be answered", user="a")
    assert pool.record(q.id, "done") == "already pooled"  # still pooled: not done
    pool.pick()
    pool.take_queued()
    assert pool.record(q.id, "done") == "answered"
    info = pool.info(q.id)
    assert info is not None and info.status is Status.DONE and info.outcome == "done"
    assert pool.record(q.id, "done") == "already done"
    assert pool.record("nope", "done") == "not stored"
    assert ids([s.question for s in pool.history()]) == [q.id]


def test_failed_requeues_then_drops(env: Env) -> None:
    pool = env.open(max_attempts=2, max_age_s=100)
    q = env.ask("this one fails", user="unlucky")
    pool.pick()
    pool.take_queued()
    env.clock.advance(150)  # past max_age_s since asked: the requeue gives a fresh expiry base
    assert pool.record(q.id, "requeued", "LLM timeout") == "back in the pool, attempt 1 of 2"
    info = pool.info(q.id)
    assert info is not None and info.status is Status.POOLED and info.attempts == 1
    assert info.question.asked_at == q.asked_at  # original asked_at kept
    assert pool.pick() == q  # not expired
    pool.take_queued()
    assert pool.record(q.id, "requeued", "TTS crashed") == "dropped after 2 attempts"
    info = pool.info(q.id)
    assert info is not None and info.status is Status.DROPPED and info.attempts == 2
    assert info.reason is not None and "TTS crashed" in info.reason
    assert info.outcome == "failed"
    assert pool.record(q.id, "requeued", "again") == "already dropped"  # nothing changes
    assert pool.record("unknown", "requeued", "x") == "not stored"


def test_failed_with_one_attempt_drops_at_once(env: Env) -> None:
    pool = env.open(max_attempts=1)
    q = env.ask("one shot only", user="a")
    pool.pick()
    # queued (not yet building) also works
    assert pool.record(q.id, "requeued", "boom") == "dropped after 1 attempts"


def test_requeue_keeps_attempts(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    pool = env.open(max_attempts=2)
    q = env.ask("shutdown mid answer", user="a")
    pool.pick()
    pool.take_queued()
    pool.record(q.id, "requeued", "x")
    pool.pick()
    pool.take_queued()
    caplog.set_level(logging.INFO, logger="streamer.pool")
    assert pool.requeue(q.id)
    info = pool.info(q.id)
    assert info is not None and info.status is Status.POOLED and info.attempts == 1
    assert any("requeued" in r.getMessage() and q.id in r.getMessage() for r in caplog.records)
    assert not pool.requeue(q.id)  # pooled already
    assert not pool.requeue("unknown")


@pytest.mark.parametrize("where", ["pooled", "queued", "building"])
def test_drop(env: Env, where: str, caplog: pytest.LogCaptureFixture) -> None:
    pool = env.open()
    q = env.ask("skip me please", user="skipuser")
    if where != "pooled":
        pool.pick()
    if where == "building":
        pool.take_queued()
    caplog.set_level(logging.INFO, logger="streamer.pool")
    assert pool.drop(q.id, "skipped by mod")
    info = pool.info(q.id)
    assert info is not None and info.status is Status.DROPPED and info.reason == "skipped by mod"
    assert any(
        q.id in r.getMessage()
        and "skipped" in r.getMessage()
        and "skipped by mod" in r.getMessage()
        for r in caplog.records
    )
    assert not pool.drop(q.id, "twice")
    assert pool.counts()["dropped"] == 1


def test_clear_drops_only_pooled(env: Env) -> None:
    pool = env.open(policy="fifo")
    queued = env.ask("already picked", user="a")
    pool.pick()
    others = [env.ask(f"waiting question {i}", user=f"u{i}") for i in range(3)]
    assert pool.clear() == 3
    assert pool.pooled() == []
    assert ids(pool.queued()) == [queued.id]
    for q in others:
        info = pool.info(q.id)
        assert info is not None and info.reason == "cleared by moderator"
    assert pool.clear() == 0


def test_history_is_pruned(tmp_path: Path) -> None:
    clock = Clock()
    with QuestionStore(tmp_path / "q.db", keep_finished=3) as store:
        pool = QuestionPool(PoolSettings(policy="fifo"), store, clock=clock)
        for i in range(6):
            q = make_question(f"pruned question {i}", id=f"p{i}", asked_at=clock.now)
            pool.add(q)
            pool.pick()
            pool.take_queued()
            clock.advance(1)
            pool.record(q.id, "done")
        assert ids([s.question for s in pool.history(10)]) == ["p5", "p4", "p3"]
        assert pool.get("p0") is None
        assert pool.counts()["done"] == 3


# --------------------------------------------------------------------------- persistence


def test_restart_restores_pool_and_queue(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    pool = env.open(policy="fifo", build_queue_size=5)
    a, b, c, d, e = (env.ask(f"persisted question {i}", user=f"u{i}") for i in range(5))
    pool.pick()  # a
    pool.pick()  # b
    pool.pick()  # c
    assert pool.take_queued() == a
    assert pool.take_queued() == b  # a, b building; c queued; d, e pooled
    caplog.set_level(logging.INFO)
    pool = env.reopen()
    assert ids(pool.queued()) == [a.id, b.id, c.id]  # interrupted ones at the front
    assert pool.building() == []
    assert ids(pool.pooled()) == [d.id, e.id]
    restored = pool.get(a.id)
    assert restored == a  # every field survives
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert {a.id, b.id} <= {x for r in warnings for x in (a.id, b.id) if x in r.getMessage()}
    summary = [r.getMessage() for r in caplog.records if "restored" in r.getMessage()]
    assert summary and "2 pooled" in summary[-1] and "3 queued (2 interrupted)" in summary[-1]
    # And the order holds for the builders.
    assert pool.take_queued() == a
    assert pool.take_queued() == b
    assert pool.take_queued() == c


def test_interrupted_go_before_already_queued_after_two_restarts(env: Env) -> None:
    pool = env.open(policy="fifo", build_queue_size=5)
    a, b, c = (env.ask(f"twice restarted {i}", user=f"u{i}") for i in range(3))
    for _ in range(3):
        pool.pick()
    pool.take_queued()  # a building
    pool = env.reopen()  # a, b, c queued
    assert pool.take_queued() == a
    assert pool.take_queued() == b  # a, b building; c queued
    pool = env.reopen()
    assert ids(pool.queued()) == [a.id, b.id, c.id]
    pool.pick()  # nothing pooled: no change
    d = env.ask("after restarts", user="d")
    pool.pick()
    assert ids(pool.queued()) == [a.id, b.id, c.id, d.id]


def test_corrupt_database_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "questions.db"
    garbage = b"this is not an sqlite database at all\n" * 200
    path.write_bytes(garbage)
    (tmp_path / "questions.db-wal").write_bytes(b"junk wal")
    caplog.set_level(logging.ERROR, logger="streamer.store")
    with QuestionStore(path) as store:
        pool = QuestionPool(PoolSettings(), store)
        assert pool.counts()["pooled"] == 0
        q = make_question("does the fresh one work", id="fresh")
        assert pool.add(q).status is AddStatus.ACCEPTED
    aside = sorted(tmp_path.glob("questions.db.corrupt-*"))
    main = [p for p in aside if not p.name.endswith("-wal")]
    assert len(main) == 1 and main[0].read_bytes() == garbage
    # (SQLite itself removes the junk -wal when the failed connection closes; any -wal
    # left is moved aside with the file, so none can leak into the fresh database.)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(main[0]) in errors[0] and "moved it aside" in errors[0]
    with QuestionStore(path) as store:  # the fresh database is a good one
        assert store.get("fresh") is not None


def test_damaged_database_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "questions.db"
    with QuestionStore(path) as store:
        pool = QuestionPool(PoolSettings(max_size=500), store)
        for i in range(200):
            pool.add(make_question(f"filler question {i} " + "x" * 200, id=f"f{i}"))
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    for i in range(4096, len(data) - 100, 997):  # scribble over pages, keep the header
        data[i : i + 50] = b"\xff" * 50
    path.write_bytes(bytes(data))
    with QuestionStore(path) as store:
        assert store.counts()[Status.POOLED] == 0
    assert list(tmp_path.glob("questions.db.corrupt-*"))


def test_foreign_table_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "questions.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE questions (id TEXT)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with QuestionStore(path) as store:
        assert store.counts()[Status.POOLED] == 0
    assert list(tmp_path.glob("questions.db.corrupt-*"))


def test_newer_schema_is_refused_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "questions.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        QuestionStore(path)
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_store_uses_wal(tmp_path: Path) -> None:
    with QuestionStore(tmp_path / "q.db"):
        pass
    conn = sqlite3.connect(tmp_path / "q.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


CRASH_SCRIPT = """
import asyncio, sys
from pathlib import Path
from streamer.config import PoolSettings
from streamer.messages import Question, Role
from streamer.pool import QuestionPool
from streamer.store import QuestionStore

store = QuestionStore(Path(sys.argv[1]))
pool = QuestionPool(PoolSettings(policy="fifo"), store)
pool.add(Question(id="crash1", user="alice", display_name="Alice",
                  text="will this survive a kill?", role=Role.SUBSCRIBER, bits=7))
pool.add(Question(id="crash2", user="bob", display_name="Bob",
                  text="and this one waiting?", role=Role.VIEWER))
pool.pick()
question = asyncio.run(pool.next_to_build())
print("building", question.id, flush=True)
sys.stdin.read()  # wait here until killed
"""


def test_committed_questions_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "questions.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(path)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            pytest.fail(f"crash script failed: {proc.stderr.read()}")
        assert line.split() == ["building", "crash1"]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    with QuestionStore(path) as store:
        info = store.get("crash1")
        assert info is not None and info.status is Status.BUILDING
        pool = QuestionPool(PoolSettings(policy="fifo"), store)
        assert ids(pool.queued()) == ["crash1"]
        assert ids(pool.pooled()) == ["crash2"]
        q = pool.get("crash1")
        assert q is not None
        assert (q.user, q.text, q.role, q.bits, q.askers) == (
            "alice",
            "will this survive a kill?",
            Role.SUBSCRIBER,
            7,
            ("alice",),
        )


def test_pool_built_outside_a_loop_works_in_one(tmp_path: Path) -> None:
    with QuestionStore(tmp_path / "q.db") as store:
        pool = QuestionPool(PoolSettings(policy="fifo"), store)
        q = make_question("sync then async", id="s1")
        pool.add(q)

        async def build() -> Question:
            waiter = asyncio.create_task(pool.next_to_build())
            await asyncio.sleep(0)
            pool.pick()
            return await waiter

        assert asyncio.run(build()).id == q.id
        pool.add(make_question("second loop", id="s2"))

        async def build_again() -> Question:  # a second event loop: a fresh event
            waiter = asyncio.create_task(pool.next_to_build())
            await asyncio.sleep(0)
            pool.pick()
            return await waiter

        assert asyncio.run(build_again()).id == "s2"


def test_a_user_who_goes_leaves_merged_questions_to_the_others(env: Env) -> None:
    """A deleted message or a ban takes the user out of the askers of a question others
    asked too; the question stays theirs (no name of the one who is gone on air), and
    goes when nobody asks it any more."""
    pool = env.open()
    add = lambda text, user, mid: pool.add(  # noqa: E731
        Question(f"id-{mid}", user, user.title(), text, Role.VIEWER, message_id=mid)
    )
    carol = add("what is the moon made of?", "carol", "m1").question
    add("what is the moon made of?", "dave", "m2")  # merged into carol's
    erin = add("why is the sky blue?", "erin", "m3").question
    add("why is the sky blue?", "frank", "m4")  # merged into erin's
    solo = add("a question only grace asked", "grace", "m5").question

    stored, still_asked = pool.withdraw("m1")  # carol's message deleted
    assert stored is not None and still_asked
    moon = pool.get(carol.id)
    assert moon is not None
    assert (moon.user, moon.display_name, moon.askers) == ("dave", "dave", ("dave",))

    assert pool.drop_user("frank", "user banned") == (0, 1)  # erin still asks
    sky = pool.get(erin.id)
    assert sky is not None and (sky.user, sky.askers) == ("erin", ("erin",))
    assert pool.drop_user("dave", "user banned") == (1, 0)  # nobody asks it any more
    assert pool.info(carol.id).status is Status.DROPPED  # type: ignore[union-attr]
    assert pool.drop_user("grace", "user cleared") == (1, 0)
    assert pool.info(solo.id).status is Status.DROPPED  # type: ignore[union-attr]
    assert [q.id for q in pool.pooled()] == [erin.id]
