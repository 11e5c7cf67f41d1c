"""A restart settles what was being built when the program stopped (or crashed)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from streamer.store_schema import OUTCOME_SPEAKING, Status, StoredQuestion

if TYPE_CHECKING:
    from streamer.store import QuestionStore


def restore_interrupted(
    store: QuestionStore, conn: sqlite3.Connection, now: float, *, truncated_reason: str
) -> tuple[list[StoredQuestion], list[StoredQuestion]]:
    """After a stop or a crash: what was ``building`` is settled, nothing is lost.

    An answer already heard (``outcome`` speaking) ends where it stopped: done,
    outcome truncated, never spoken again. The others go back to the front of the
    build queue, keeping their order. Returns (requeued, truncated), as now stored.
    """
    with store.transaction():
        building = store.with_status(Status.BUILDING)
        heard = [s for s in building if s.outcome == OUTCOME_SPEAKING]
        unheard = [s for s in building if s.outcome != OUTCOME_SPEAKING]
        store.finish(
            [s.id for s in heard],
            Status.DONE,
            now,
            reason=truncated_reason,
            sources=[Status.BUILDING],
            outcome="truncated",
        )
        if unheard:
            row = conn.execute(
                "SELECT MIN(queue_seq) FROM questions WHERE status = 'queued'"
            ).fetchone()
            front = (row[0] if row[0] is not None else 1) - len(unheard)
            for i, stored in enumerate(unheard):
                conn.execute(
                    "UPDATE questions SET status = 'queued', queue_seq = ?, updated_at = ?, "
                    "outcome = NULL WHERE id = ?",
                    (front + i, now, stored.id),
                )
        requeued = [store.get(s.id) for s in unheard]
        truncated = [store.get(s.id) for s in heard]
    return [s for s in requeued if s is not None], [s for s in truncated if s is not None]
