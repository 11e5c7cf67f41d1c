"""SQLite persistence for the question pool: a crash or restart loses no accepted question.

One ``sqlite3`` connection in WAL mode. Every write is one short transaction, committed
before the method returns; with WAL a committed transaction is in the ``-wal`` file (the
operating system's page cache at least) when ``commit`` returns, so it survives the
process being killed (SIGKILL, OOM killer, a crash). ``synchronous=NORMAL`` (the default
here) leaves the fsync to the next checkpoint: a power cut may lose the last few commits.
Pass ``synchronous="FULL"`` to fsync every commit as well (one fsync per accepted
question, on the event-loop thread).

Threading: the store is used only from the event-loop thread. Its writes are a few rows
in a small database (well under a millisecond each), so they run inline rather than in
a worker thread; ``sqlite3``'s ``check_same_thread`` guard makes use from another thread
an error instead of a silent race.

A database file that SQLite reports as corrupt, or that is not a database, or whose
``questions`` table lacks columns, is moved aside as ``<name>.corrupt-<timestamp>``
(with its ``-wal`` and ``-shm`` files) and an empty database is started; the error log
says where the old file went. A database written by a newer version of the program is
refused with ``StoreError`` (never moved or changed).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from streamer.messages import Question, Role
from streamer.store_asks import AskLog
from streamer.store_redemptions import RedemptionLog
from streamer.store_restore import restore_interrupted
from streamer.store_schema import (
    ACTIVE,
    FINISHED,
    OUTCOME_SPEAKING,
    SCHEMA_VERSION,
    SELECT,
    Status,
    StoredQuestion,
    StoreError,
    Unusable,
    is_corruption,
    move_aside,
    prepare,
    row_to_stored,
)

__all__ = [
    "ACTIVE",
    "FINISHED",
    "OUTCOME_SPEAKING",
    "SCHEMA_VERSION",
    "QuestionStore",
    "Status",
    "StoreError",
    "StoredQuestion",
]

logger = logging.getLogger(__name__)

DEFAULT_KEEP_FINISHED = 1000


class QuestionStore:
    """The ``questions`` table of one SQLite file. Event-loop thread only (see module doc).

    Each public write is one transaction; ``transaction()`` groups several into one.
    """

    def __init__(
        self,
        path: Path,
        *,
        keep_finished: int = DEFAULT_KEEP_FINISHED,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 2.0,
    ) -> None:
        if keep_finished < 0:
            raise ValueError(f"keep_finished must be >= 0, got {keep_finished}")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.keep_finished = keep_finished
        self._synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self._depth = 0
        self.asks = AskLog(lambda: self._conn, self.transaction)
        self.redemptions = RedemptionLog(lambda: self._conn, self.transaction)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except (sqlite3.DatabaseError, Unusable) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and not is_corruption(exc):
                raise StoreError(f"cannot open the question database {self.path}: {exc}") from exc
            moved = move_aside(self.path)
            logger.error(
                "question database %s is unreadable (%s): moved it aside as %s and started "
                "an empty one; the questions in it are not restored (inspect the old file "
                "with the sqlite3 tool if they matter)",
                self.path,
                exc,
                moved,
            )
            self._conn = self._open()

    # ------------------------------------------------------------------ opening

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            prepare(conn, self.path, self._synchronous)
        except BaseException:
            conn.close()
            raise
        return conn

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> QuestionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    def _select(self, where: str, params: Sequence[Any] = ()) -> list[StoredQuestion]:
        rows = self._conn.execute(f"{SELECT} {where}", params).fetchall()
        return [row_to_stored(r) for r in rows]

    # ------------------------------------------------------------------ reads

    def get(self, question_id: str) -> StoredQuestion | None:
        found = self._select("WHERE id = ?", (question_id,))
        return found[0] if found else None

    def find_active(self, norm_text: str) -> StoredQuestion | None:
        """The oldest pooled, queued or building question with this normalized text."""
        found = self._select(
            "WHERE norm_text = ? AND status IN ('pooled', 'queued', 'building') "
            "ORDER BY seq LIMIT 1",
            (norm_text,),
        )
        return found[0] if found else None

    def with_status(self, status: Status) -> list[StoredQuestion]:
        """Pooled: insertion order. Queued/building: build-queue order. Finished: newest first."""
        if status in FINISHED:
            order = "ORDER BY updated_at DESC, seq DESC"
        elif status is Status.POOLED:
            order = "ORDER BY seq"
        else:
            order = "ORDER BY queue_seq, seq"
        return self._select(f"WHERE status = ? {order}", (status.value,))

    def history(self, limit: int) -> list[StoredQuestion]:
        """The last ``limit`` finished (done or dropped) questions, newest first."""
        return self._select(
            "WHERE status IN ('done', 'dropped') ORDER BY updated_at DESC, seq DESC LIMIT ?",
            (limit,),
        )

    def counts(self) -> dict[Status, int]:
        result = dict.fromkeys(Status, 0)
        for status, n in self._conn.execute(
            "SELECT status, COUNT(*) FROM questions GROUP BY status"
        ):
            result[Status(status)] = n
        return result

    def count(self, *statuses: Status) -> int:
        marks = ", ".join("?" for _ in statuses)
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM questions WHERE status IN ({marks})",
            [s.value for s in statuses],
        ).fetchone()
        return int(row[0])

    def expired(self, pooled_before: float) -> list[StoredQuestion]:
        """Pooled questions that entered the pool before ``pooled_before``."""
        return self._select(
            "WHERE status = 'pooled' AND pooled_at < ? ORDER BY seq", (pooled_before,)
        )

    def first_queued(self) -> StoredQuestion | None:
        found = self._select("WHERE status = 'queued' ORDER BY queue_seq, seq LIMIT 1")
        return found[0] if found else None

    # ------------------------------------------------------------------ writes

    def insert(self, question: Question, norm_text: str, now: float) -> StoredQuestion:
        """Store a new pooled question. ``ValueError`` if its id is already stored."""
        with self.transaction():
            try:
                self._conn.execute(
                    "INSERT INTO questions (id, user, display_name, text, norm_text, role, "
                    "bits, asked_at, askers, status, attempts, seq, pooled_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pooled', 0, "
                    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM questions), ?, ?)",
                    (
                        question.id,
                        question.user,
                        question.display_name,
                        question.text,
                        norm_text,
                        int(question.role),
                        question.bits,
                        question.asked_at,
                        json.dumps(list(question.askers)),
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"question {question.id} is already stored") from exc
            stored = self.get(question.id)
        assert stored is not None
        return stored

    def merge(
        self, question_id: str, *, role: Role, bits: int, askers: Iterable[str], now: float
    ) -> StoredQuestion:
        """Update an existing question after a duplicate was merged into it."""
        with self.transaction():
            self._conn.execute(
                "UPDATE questions SET role = ?, bits = ?, askers = ?, updated_at = ? WHERE id = ?",
                (int(role), bits, json.dumps(list(askers)), now, question_id),
            )
            stored = self.get(question_id)
        if stored is None:
            raise KeyError(question_id)
        return stored

    def _move(
        self,
        question_id: str,
        sources: Iterable[Status],
        assignments: str,
        params: Sequence[Any],
    ) -> bool:
        src = [s.value for s in sources]
        marks = ", ".join("?" for _ in src)
        cur = self._conn.execute(
            f"UPDATE questions SET {assignments} WHERE id = ? AND status IN ({marks})",
            [*params, question_id, *src],
        )
        return cur.rowcount == 1

    def mark_queued(self, question_id: str, now: float, *, front: bool = False) -> bool:
        """pooled -> queued, at the back of the build queue (the front: answered next)."""
        seq = (
            "(SELECT COALESCE(MIN(queue_seq), 1) - 1 FROM questions WHERE status = 'queued')"
            if front
            else "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM questions "
            " WHERE status IN ('queued', 'building'))"
        )
        with self.transaction():
            return self._move(
                question_id,
                [Status.POOLED],
                f"status = 'queued', queued_at = ?, updated_at = ?, queue_seq = {seq}",
                (now, now),
            )

    def mark_building(self, question_id: str, now: float) -> bool:
        """queued -> building."""
        with self.transaction():
            return self._move(
                question_id, [Status.QUEUED], "status = 'building', updated_at = ?", (now,)
            )

    def return_to_pool(self, question_id: str, now: float, *, attempts: int) -> bool:
        """queued/building -> pooled, with a fresh expiry base (``pooled_at``)."""
        with self.transaction():
            return self._move(
                question_id,
                [Status.QUEUED, Status.BUILDING],
                "status = 'pooled', attempts = ?, pooled_at = ?, queue_seq = NULL, "
                "queued_at = NULL, updated_at = ?, outcome = NULL",
                (attempts, now, now),
            )

    def finish(
        self,
        question_ids: Iterable[str],
        status: Literal[Status.DONE, Status.DROPPED],
        now: float,
        *,
        reason: str | None = None,
        attempts: int | None = None,
        sources: Iterable[Status] = ACTIVE,
        outcome: str | None = None,
    ) -> list[str]:
        """``sources`` (default: any active) -> done/dropped; returns the ids that moved.

        ``outcome`` is how the answer ended (None: the question never got one). Channel
        points spent on the moved questions are to be fulfilled (done) or refunded
        (dropped) from now on. Prunes the finished rows beyond ``keep_finished``.
        """
        moved: list[str] = []
        src = list(sources)
        with self.transaction():
            for question_id in question_ids:
                if self._move(
                    question_id,
                    src,
                    "status = ?, reason = ?, attempts = COALESCE(?, attempts), "
                    "queue_seq = NULL, updated_at = ?, outcome = ?",
                    (status.value, reason, attempts, now, outcome),
                ):
                    moved.append(question_id)
            if moved:
                self.redemptions.resolve(
                    moved, "FULFILLED" if status is Status.DONE else "CANCELED", reason
                )
                self.prune()
        return moved

    def mark_speaking(self, question_id: str, now: float) -> bool:
        """A building question's answer is being heard: a restart must not repeat it."""
        with self.transaction():
            return self._move(
                question_id,
                [Status.BUILDING],
                "outcome = ?, updated_at = ?",
                (OUTCOME_SPEAKING, now),
            )

    def restore_interrupted(
        self, now: float, *, truncated_reason: str
    ) -> tuple[list[StoredQuestion], list[StoredQuestion]]:
        """After a stop or a crash: what was ``building`` is settled (``store_restore``)."""
        return restore_interrupted(self, self._conn, now, truncated_reason=truncated_reason)

    def prune(self) -> int:
        """Delete finished rows beyond the newest ``keep_finished``; returns how many."""
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM questions WHERE status IN ('done', 'dropped') AND id NOT IN "
                "(SELECT id FROM questions WHERE status IN ('done', 'dropped') "
                " ORDER BY updated_at DESC, seq DESC LIMIT ?)",
                (self.keep_finished,),
            )
            self.asks.prune()
            return cur.rowcount
