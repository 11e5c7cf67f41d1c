"""The question pool: accepted questions wait here; the scheduler picks one at a time.

Life cycle of a question (``streamer.store.Status``)::

    add() ─▶ pooled ──pick()──▶ queued ──next_to_build()──▶ building ──record()──▶ done
               ▲  │                │                          │
               │  └─expired/clear  └──────────drop()──────────┤──record(requeued), attempts left──┐
               │         ▼                                    ▼                           │
               │      dropped ◀──────────record(requeued), no attempts left                      │
               └───────────────────────requeue() / record() ◀─────────────────────────────┘

Everything is persisted in a ``QuestionStore`` before a method returns, so a crash or a
restart loses no accepted question: on construction, questions that were ``building``
(interrupted) go back to the front of the build queue.

Every drop, expiry and requeue is logged with the question's id, its user and the reason.
Use the pool from the event-loop thread only (like its store).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from streamer import pool_askers, pool_ends
from streamer.config import PoolSettings
from streamer.messages import Question, Redemption
from streamer.pool_policy import choose, effective_level, normalize_text, priority_level
from streamer.pool_types import (
    REASON_CLEARED_BY_MODERATOR,
    REASON_CLEARED_ON_PICK,
    REASON_EXPIRED,
    REASON_INTERRUPTED_ON_AIR,
    AddResult,
    AddStatus,
    _describe,
    _unique,
)
from streamer.store import QuestionStore, Status, StoredQuestion

__all__ = [
    "AddResult",
    "AddStatus",
    "QuestionPool",
    "effective_level",
    "normalize_text",
    "priority_level",
]

logger = logging.getLogger(__name__)


class QuestionPool:
    """Pool, pick policies and build queue of the accepted questions, backed by a store.

    ``clock`` is the wall clock (``asked_at`` is wall-clock time); ``rng`` drives
    ``policy=random``. Both are injectable for tests.
    """

    def __init__(
        self,
        settings: PoolSettings,
        store: QuestionStore,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        # Created lazily inside the running loop (see _queue_event).
        self._queued_event: asyncio.Event | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._restore()

    @property
    def settings(self) -> PoolSettings:
        return self._settings

    # ------------------------------------------------------------------ restart

    def _restore(self) -> None:
        now = self._clock()
        requeued, truncated = self._store.restore_interrupted(
            now, truncated_reason=REASON_INTERRUPTED_ON_AIR
        )
        for stored in requeued:
            logger.warning(
                "question %s (%r) was being answered when the program stopped: "
                "it is back at the front of the build queue",
                _describe(stored.question),
                stored.question.text,
            )
        for stored in truncated:
            logger.warning(
                "answer %s truncated: %s (it is not spoken again)",
                _describe(stored.question),
                REASON_INTERRUPTED_ON_AIR,
            )
        self._store.prune()
        counts = self._store.counts()
        logger.info(
            "question pool restored from %s: %d pooled, %d queued (%d interrupted), %d in history",
            self._store.path,
            counts[Status.POOLED],
            counts[Status.QUEUED],
            len(requeued),
            counts[Status.DONE] + counts[Status.DROPPED],
        )

    # ------------------------------------------------------------------ adding

    def add(self, question: Question, *, redemption: Redemption | None = None) -> AddResult:
        """Store an accepted question, merge it into a waiting duplicate, or refuse it.

        ``redemption``: the channel points spent on it, recorded with the question in one
        transaction (fulfilled or refunded when the question ends; refunded at once when
        the pool is full)."""
        with self._store.transaction():
            result = self._add(question)
            if redemption is not None:
                if result.status is AddStatus.POOL_FULL:
                    self.refuse_redemption(redemption, "the question pool is full")
                else:
                    self._store.redemptions.add(
                        redemption.redemption_id, redemption.reward_id, redemption.user,
                        self._clock(), question_id=result.question.id,
                        settled=None if redemption.status == "unfulfilled" else "auto",
                    )  # fmt: skip
        return result

    def refuse_redemption(self, redemption: Redemption, reason: str) -> None:
        """A redemption that asks no question: its points are to be refunded."""
        auto = redemption.status != "unfulfilled"  # Twitch settled it already
        self._store.redemptions.add(
            redemption.redemption_id, redemption.reward_id, redemption.user, self._clock(),
            target="CANCELED", reason=reason, settled="auto" if auto else None,
        )  # fmt: skip

    def redemption_known(self, redemption_id: str) -> bool:
        """Whether this redemption was handled before (Twitch delivers at least once)."""
        return self._store.redemptions.known(redemption_id)

    def _add(self, question: Question) -> AddResult:
        now = self._clock()
        self._expire(now)
        norm = normalize_text(question.text)
        existing = self._store.find_active(norm) if norm else None
        if existing is not None:
            return self._merge(existing, question, now)
        if self._store.count(Status.POOLED) >= self._settings.max_size:
            logger.info(
                "pool full (%d questions): question %s not stored",
                self._settings.max_size,
                _describe(question),
            )
            return AddResult(AddStatus.POOL_FULL, question)
        askers = _unique((question.user, *question.askers))
        to_store = Question(
            id=question.id,
            user=question.user,
            display_name=question.display_name,
            text=question.text,
            role=question.role,
            bits=question.bits,
            asked_at=question.asked_at,
            askers=askers,
        )
        stored = self._store.insert(to_store, norm, now)
        if question.message_id:
            self._store.asks.record(question.message_id, question.id, question.user, now)
        logger.debug("question %s pooled: %r", _describe(question), question.text)
        return AddResult(AddStatus.ACCEPTED, stored.question)

    def _merge(self, existing: StoredQuestion, new: Question, now: float) -> AddResult:
        old = existing.question
        askers = _unique((*old.askers, new.user, *new.askers))
        role = min(old.role, new.role)  # lower value = higher priority
        merged = self._store.merge(
            old.id, role=role, bits=old.bits + new.bits, askers=askers, now=now
        )
        if new.message_id:
            self._store.asks.record(new.message_id, old.id, new.user, now)
        logger.info(
            "question %s merged into %s (%s, %d askers)",
            _describe(new),
            _describe(old),
            existing.status.value,
            len(askers),
        )
        return AddResult(AddStatus.MERGED, merged.question)

    # ------------------------------------------------------------------ picking

    def _expire(self, now: float) -> int:
        expired = self._store.expired(now - self._settings.max_age_s)
        if not expired:
            return 0
        moved = set(
            self._store.finish([s.id for s in expired], Status.DROPPED, now, reason=REASON_EXPIRED)
        )
        for stored in expired:
            if stored.id in moved:
                logger.info(
                    "question %s expired after %.0f s in the pool: %r",
                    _describe(stored.question),
                    now - stored.pooled_at,
                    stored.question.text,
                )
        return len(moved)

    def build_queue_full(self) -> bool:
        busy = self._store.count(Status.QUEUED, Status.BUILDING)
        return busy >= self._settings.build_queue_size

    def pick(self) -> Question | None:
        """Move one pooled question to the build queue, chosen by the policy.

        Expired questions are dropped first. ``None`` when the pool is empty or the
        build queue is full (``queued + building >= build_queue_size``).
        """
        now = self._clock()
        self._expire(now)
        if self.build_queue_full():
            logger.debug("build queue full: no pick")
            return None
        pooled = self._store.with_status(Status.POOLED)
        if not pooled:
            return None
        chosen = choose(self._settings, pooled, now, self._rng)
        dropped: list[StoredQuestion] = []
        with self._store.transaction():
            self._store.mark_queued(chosen.id, now)
            if self._settings.policy == "random" and self._settings.clear_on_pick:
                dropped = [s for s in pooled if s.id != chosen.id]
                self._store.finish(
                    [s.id for s in dropped], Status.DROPPED, now, reason=REASON_CLEARED_ON_PICK
                )
        for stored in dropped:
            logger.info(
                "question %s dropped: %s", _describe(stored.question), REASON_CLEARED_ON_PICK
            )
        logger.info(
            "picked question %s (%s policy, %d left in the pool)",
            _describe(chosen.question),
            self._settings.policy,
            len(pooled) - 1 - len(dropped),
        )
        self._wake_builders()
        return chosen.question

    def pick_now(self, question_id: str) -> Question | None:
        """The operator's choice: this pooled question is answered next (the front of the
        build queue, even when it is full). None when it is not pooled."""
        if not self._store.mark_queued(question_id, self._clock(), front=True):
            return None
        self._wake_builders()
        stored = self._store.get(question_id)
        logger.info("question %s picked by the operator: answered next", question_id)
        return stored.question if stored is not None else None

    # ------------------------------------------------------------------ build queue

    def _queue_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._queued_event is None or self._event_loop is not loop:
            self._queued_event = asyncio.Event()
            self._event_loop = loop
        return self._queued_event

    def _wake_builders(self) -> None:
        if self._queued_event is not None:
            self._queued_event.set()

    def take_queued(self) -> Question | None:
        """The first queued question, marked building; ``None`` if none is queued."""
        stored = self._store.first_queued()
        if stored is None:
            return None
        self._store.mark_building(stored.id, self._clock())
        logger.debug("building question %s", _describe(stored.question))
        return stored.question

    async def next_to_build(self) -> Question:
        """Wait for a queued question (build-queue order) and mark it building."""
        while True:
            question = self.take_queued()
            if question is not None:
                return question
            event = self._queue_event()
            event.clear()
            await event.wait()

    def mark_speaking(self, answer_id: str) -> bool:
        """The answer is being heard: after a crash it ends truncated, not spoken again."""
        return self._store.mark_speaking(answer_id, self._clock())

    def record(self, answer_id: str, outcome: str, reason: str = "") -> str:
        """The one place an answer's end is stored; returns what became of the question
        (see ``pool_ends.record``). The caller logs the one line."""
        return pool_ends.record(
            self._store, self._settings.max_attempts, answer_id, outcome, reason, self._clock()
        )

    def requeue(self, answer_id: str) -> bool:
        """Put a queued or building question back in the pool without counting an attempt."""
        stored = self._store.get(answer_id)
        if stored is None or not self._store.return_to_pool(
            answer_id, self._clock(), attempts=stored.attempts
        ):
            self._log_not_active("requeue", answer_id)
            return False
        logger.info(
            "question %s requeued: back in the pool (was %s)",
            _describe(stored.question),
            stored.status.value,
        )
        return True

    def drop(self, answer_id: str, reason: str) -> bool:
        """Drop a pooled, queued or building question (e.g. ``!skip``)."""
        stored = self._store.get(answer_id)
        if stored is None or not self._store.finish(
            [answer_id], Status.DROPPED, self._clock(), reason=reason
        ):
            self._log_not_active(f"drop ({reason})", answer_id)
            return False
        logger.info(
            "question %s dropped (was %s): %s",
            _describe(stored.question),
            stored.status.value,
            reason,
        )
        return True

    def clear(self, *, reason: str = REASON_CLEARED_BY_MODERATOR) -> int:
        """Drop every pooled question; returns how many."""
        return pool_askers.clear(self._store, self._clock(), reason)

    def drop_user(self, user: str, reason: str) -> tuple[int, int]:
        """``user`` asks nothing any more: their pooled questions are dropped, or kept
        for the others who asked them too. Returns (dropped, kept)."""
        return pool_askers.drop_user(self._store, user, self._clock(), reason)

    def withdraw(self, message_id: str) -> tuple[StoredQuestion | None, bool]:
        """A chat message was deleted: forget that it asked. Returns its question (None:
        it asked none) and whether another message still asks it."""
        return pool_askers.withdraw(self._store, message_id, self._clock())

    def _log_not_active(self, action: str, answer_id: str) -> None:
        stored = self._store.get(answer_id)
        if stored is None:
            logger.warning("%s: no question with id %s", action, answer_id)
        else:
            logger.info(
                "%s: question %s is %s; nothing to do",
                action,
                _describe(stored.question),
                stored.status.value,
            )

    # ------------------------------------------------------------------ views

    def pooled(self) -> list[Question]:
        """Pooled questions in insertion order."""
        return [s.question for s in self._store.with_status(Status.POOLED)]

    def queued(self) -> list[Question]:
        """Queued questions in build-queue order (the next to build first)."""
        return [s.question for s in self._store.with_status(Status.QUEUED)]

    def building(self) -> list[Question]:
        return [s.question for s in self._store.with_status(Status.BUILDING)]

    def counts(self) -> dict[str, int]:
        """Questions per status: pooled, queued, building, done, dropped (history kept)."""
        return {status.value: n for status, n in self._store.counts().items()}

    def get(self, answer_id: str) -> Question | None:
        stored = self._store.get(answer_id)
        return stored.question if stored is not None else None

    def info(self, answer_id: str) -> StoredQuestion | None:
        """The question with its status, attempts and drop reason."""
        return self._store.get(answer_id)

    def history(self, limit: int = 20) -> list[StoredQuestion]:
        """The last answered or dropped questions, newest first."""
        return self._store.history(limit)
