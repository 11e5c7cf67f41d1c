"""Which chat message asked which question (the ``asks`` table of the question store).

A question can be asked by several messages (duplicates are merged into it). When a
moderator deletes one message, its question goes only if no other message asked it.
Rows go with their question when finished questions are pruned.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ask:
    message_id: str
    question_id: str
    user: str


class AskLog:
    def __init__(
        self,
        conn: Callable[[], sqlite3.Connection],
        transaction: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._conn = conn  # the store's current connection (it may be reopened)
        self._transaction = transaction

    def record(self, message_id: str, question_id: str, user: str, now: float) -> None:
        """Note that ``message_id`` asked ``question_id`` (once: a redelivery is ignored)."""
        with self._transaction():
            self._conn().execute(
                "INSERT OR IGNORE INTO asks (message_id, question_id, user, asked_at) "
                "VALUES (?, ?, ?, ?)",
                (message_id, question_id, user, now),
            )

    def get(self, message_id: str) -> Ask | None:
        row = (
            self._conn()
            .execute(
                "SELECT message_id, question_id, user FROM asks WHERE message_id = ?", (message_id,)
            )
            .fetchone()
        )
        return Ask(*row) if row else None

    def of_question(self, question_id: str) -> list[Ask]:
        rows = (
            self._conn()
            .execute(
                "SELECT message_id, question_id, user FROM asks WHERE question_id = ? "
                "ORDER BY asked_at",
                (question_id,),
            )
            .fetchall()
        )
        return [Ask(*row) for row in rows]

    def remove_asker(self, question_id: str, user: str, now: float) -> bool:
        """``user`` no longer asks ``question_id``: out of its askers (and its asks rows);
        the next asker becomes the question's own if it was theirs. False when nobody
        else asks it (the caller drops it); nothing is changed then."""
        row = (
            self._conn()
            .execute("SELECT user, askers FROM questions WHERE id = ?", (question_id,))
            .fetchone()
        )
        if row is None:
            return False
        owner, askers = str(row[0]), [str(a) for a in json.loads(row[1])]
        left = [a for a in askers if a != user]
        if owner != user and owner not in left:
            left.insert(0, owner)
        if not left:
            return False
        with self._transaction():
            if owner == user:  # the next asker's question now (their login as the name)
                self._conn().execute(
                    "UPDATE questions SET user = ?, display_name = ? WHERE id = ?",
                    (left[0], left[0], question_id),
                )
            self._conn().execute(
                "UPDATE questions SET askers = ?, updated_at = ? WHERE id = ?",
                (json.dumps(left), now, question_id),
            )
            self._conn().execute(
                "DELETE FROM asks WHERE question_id = ? AND user = ?", (question_id, user)
            )
        return True

    def forget(self, message_id: str) -> bool:
        with self._transaction():
            cur = self._conn().execute("DELETE FROM asks WHERE message_id = ?", (message_id,))
            return cur.rowcount > 0

    def prune(self) -> int:
        """Drop the rows of questions no longer stored."""
        with self._transaction():
            cur = self._conn().execute(
                "DELETE FROM asks WHERE question_id NOT IN (SELECT id FROM questions)"
            )
            return cur.rowcount
