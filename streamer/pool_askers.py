"""Questions losing their askers: a moderator deleted a message, cleared or banned a
user, or cleared the chat (the pool's moderation side; ``QuestionPool`` calls these).

A question several viewers asked (duplicates merged) stays while anyone still asks it;
the one who is gone leaves its askers, and when it was theirs it becomes the next
asker's, so no name of theirs is read or mentioned on air.
"""

from __future__ import annotations

import logging

from streamer.pool_types import _describe
from streamer.store import QuestionStore, Status, StoredQuestion

logger = logging.getLogger("streamer.pool")


def clear(store: QuestionStore, now: float, reason: str) -> int:
    """Drop every pooled question; returns how many."""
    pooled = store.with_status(Status.POOLED)
    moved = set(store.finish([s.id for s in pooled], Status.DROPPED, now, reason=reason))
    for stored in pooled:
        if stored.id in moved:
            logger.info("question %s dropped: %s", _describe(stored.question), reason)
    logger.info("pool cleared: %d questions dropped", len(moved))
    return len(moved)


def drop_user(store: QuestionStore, user: str, now: float, reason: str) -> tuple[int, int]:
    """Each pooled question ``user`` asked: dropped when only they asked it, else they
    leave its askers. Returns (dropped, kept)."""
    dropped = kept = 0
    for stored in store.with_status(Status.POOLED):
        question = stored.question
        if user != question.user and user not in question.askers:
            continue
        if store.asks.remove_asker(stored.id, user, now):
            kept += 1
            logger.info("question %s: %s no longer asks it (%s)", stored.id, user, reason)
        elif store.finish([stored.id], Status.DROPPED, now, reason=reason):
            dropped += 1
            logger.info("question %s dropped: %s", _describe(question), reason)
    return dropped, kept


def withdraw(
    store: QuestionStore, message_id: str, now: float
) -> tuple[StoredQuestion | None, bool]:
    """Forget that a deleted message asked its question; (the question, whether another
    message still asks it). Its author leaves the askers unless another of their
    messages asks it too."""
    ask = store.asks.get(message_id)
    if ask is None:
        return None, False
    store.asks.forget(message_id)
    others = store.asks.of_question(ask.question_id)
    if others and not any(a.user == ask.user for a in others):
        store.asks.remove_asker(ask.question_id, ask.user, now)
    return store.get(ask.question_id), bool(others)
