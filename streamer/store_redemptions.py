"""Channel points spent on questions (the ``redemptions`` table of the question store).

A viewer who redeems the channel's question reward pays in channel points; Twitch holds
the redemption ``UNFULFILLED`` until the channel says what became of it. Each
redemption gets a row here when it arrives, in the same transaction as its question, so
a crash cannot lose what Twitch must still be told:

* its question ends (``QuestionStore.finish``): answered (done or truncated) sets the
  target ``FULFILLED``; dropped for any reason (rejected, expired, moderated, skipped,
  failed, cleared) sets ``CANCELED``, which refunds the points;
* a redemption refused before it became a question is added with its target at once;
* the settler (``redemptions.py``) tells Twitch and marks the row ``settled``; a failed
  try waits (``next_try``) and is tried again, also after a restart.

A question re-asked by another redemption (merged duplicates) carries every
redemption's row; all of them are settled when it ends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

Target = Literal["FULFILLED", "CANCELED"]

# Settled rows are kept this long (wall-clock seconds) for `streamer status` and support.
KEEP_SETTLED_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class StoredRedemption:
    redemption_id: str
    reward_id: str
    question_id: str | None
    user: str
    target: Target | None
    reason: str
    settled: str | None
    attempts: int
    next_try: float
    last_error: str


_COLUMNS = (
    "redemption_id, reward_id, question_id, user, target, COALESCE(reason, ''), settled, "
    "attempts, next_try, COALESCE(last_error, '')"
)


class RedemptionLog:
    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection],
        transaction: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._conn = conn  # the store's current connection (it may be reopened)
        self._transaction = transaction
        # Called when a redemption becomes due (the settler's wake-up), on this thread.
        self.on_due: Callable[[], None] = lambda: None

    def add(
        self,
        redemption_id: str,
        reward_id: str,
        user: str,
        now: float,
        *,
        question_id: str | None = None,
        target: Target | None = None,
        reason: str = "",
        settled: str | None = None,
    ) -> bool:
        """Record a redemption (once: a redelivery changes nothing); False if known."""
        with self._transaction():
            cur = self._conn().execute(
                "INSERT OR IGNORE INTO redemptions (redemption_id, reward_id, question_id, "
                "user, redeemed_at, target, reason, settled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (redemption_id, reward_id, question_id, user, now, target, reason or None, settled),
            )
        added = cur.rowcount == 1
        if added and target is not None and settled is None:
            self.on_due()
        return added

    def known(self, redemption_id: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM redemptions WHERE redemption_id = ?", (redemption_id,))
            .fetchone()
        )
        return row is not None

    def get(self, redemption_id: str) -> StoredRedemption | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM redemptions WHERE redemption_id = ?", (redemption_id,)
            )
            .fetchone()
        )
        return StoredRedemption(*row) if row else None

    def resolve(self, question_ids: Iterable[str], target: Target, reason: str | None) -> int:
        """The questions ended: their open redemptions get their target (inside the
        store's ``finish`` transaction). Returns how many."""
        ids = list(question_ids)
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        cur = self._conn().execute(
            f"UPDATE redemptions SET target = ?, reason = ? "
            f"WHERE question_id IN ({marks}) AND target IS NULL",
            [target, reason if target == "CANCELED" else None, *ids],
        )
        if cur.rowcount:
            self.on_due()
        return cur.rowcount

    def due(self, now: float, limit: int = 20) -> list[StoredRedemption]:
        """Ended but not yet settled on Twitch, whose next try is due; oldest first."""
        rows = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM redemptions WHERE settled IS NULL AND target IS NOT NULL "
                "AND next_try <= ? ORDER BY redeemed_at LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )
        return [StoredRedemption(*r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the earliest waiting (ended, unsettled) redemption may be tried."""
        row = (
            self._conn()
            .execute(
                "SELECT MIN(next_try) FROM redemptions WHERE settled IS NULL AND target IS NOT NULL"
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])

    def settle(self, redemption_id: str, outcome: str) -> None:
        """Twitch was told (or cannot be: ``outcome`` says which)."""
        with self._transaction():
            self._conn().execute(
                "UPDATE redemptions SET settled = ?, attempts = attempts + 1 "
                "WHERE redemption_id = ?",
                (outcome, redemption_id),
            )

    def retry_later(self, redemption_id: str, at: float, error: str) -> int:
        """A try failed; the next one not before ``at``. Returns the attempts so far."""
        with self._transaction():
            self._conn().execute(
                "UPDATE redemptions SET attempts = attempts + 1, next_try = ?, last_error = ? "
                "WHERE redemption_id = ?",
                (at, error[:300], redemption_id),
            )
            row = (
                self._conn()
                .execute(
                    "SELECT attempts FROM redemptions WHERE redemption_id = ?", (redemption_id,)
                )
                .fetchone()
            )
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        """``open`` (question not ended), ``due`` (Twitch not told yet), and one count
        per settled outcome (``FULFILLED``, ``CANCELED``, ``gone``, ``refused``, ...)."""
        result = {"open": 0, "due": 0}
        for target, settled, n in self._conn().execute(
            "SELECT target, settled, COUNT(*) FROM redemptions GROUP BY target, settled"
        ):
            key = "open" if target is None else "due" if settled is None else str(settled)
            result[key] = result.get(key, 0) + n
        return result

    def prune(self, now: float) -> int:
        """Forget settled rows older than ``KEEP_SETTLED_S``; open ones are kept."""
        with self._transaction():
            cur = self._conn().execute(
                "DELETE FROM redemptions WHERE settled IS NOT NULL AND redeemed_at < ?",
                (now - KEEP_SETTLED_S,),
            )
            return cur.rowcount
