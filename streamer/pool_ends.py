"""An answer's end, stored: what becomes of its question (``QuestionPool.record``)."""

from __future__ import annotations

from streamer.store import QuestionStore, Status


def record(
    store: QuestionStore, max_attempts: int, answer_id: str, outcome: str, reason: str, now: float
) -> str:
    """Store how an answer ended; returns what became of the question.

    ``outcome`` is the answer's terminal state: done and truncated answer the
    question; skipped, moderated and failed drop it; requeued puts it back in the pool,
    or drops it once it failed ``max_attempts`` times.
    """
    why = reason or None
    busy = (Status.QUEUED, Status.BUILDING)
    if outcome in ("done", "truncated"):
        ok = store.finish([answer_id], Status.DONE, now, reason=why, sources=busy, outcome=outcome)
        return "answered" if ok else _not_active(store, answer_id)
    if outcome == "requeued":
        stored = store.get(answer_id)
        if stored is None or stored.status not in busy:
            return _not_active(store, answer_id)
        attempts = stored.attempts + 1
        if attempts < max_attempts:
            store.return_to_pool(answer_id, now, attempts=attempts)
            return f"back in the pool, attempt {attempts} of {max_attempts}"
        last = f"failed {attempts} times, last: {reason}"
        store.finish(
            [answer_id], Status.DROPPED, now, reason=last, attempts=attempts, outcome="failed"
        )
        return f"dropped after {attempts} attempts"
    ok = store.finish([answer_id], Status.DROPPED, now, reason=why, outcome=outcome)
    return "dropped" if ok else _not_active(store, answer_id)


def _not_active(store: QuestionStore, answer_id: str) -> str:
    stored = store.get(answer_id)
    return "not stored" if stored is None else f"already {stored.status.value}"
