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

import enum
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from streamer.messages import Question, Role

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_KEEP_FINISHED = 1000

# SQLite primary result codes that mean "this file is damaged or not a database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class Status(enum.StrEnum):
    POOLED = "pooled"  # waiting in the pool to be picked
    QUEUED = "queued"  # picked: waiting in the build queue
    BUILDING = "building"  # its answer is being produced
    DONE = "done"  # answered
    DROPPED = "dropped"  # expired, cleared, skipped or failed too often (see ``reason``)


ACTIVE: frozenset[Status] = frozenset({Status.POOLED, Status.QUEUED, Status.BUILDING})
FINISHED: frozenset[Status] = frozenset({Status.DONE, Status.DROPPED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id           TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    text         TEXT NOT NULL,
    norm_text    TEXT NOT NULL,            -- normalized text, for duplicate detection
    role         INTEGER NOT NULL,         -- messages.Role
    bits         INTEGER NOT NULL DEFAULT 0,
    asked_at     REAL NOT NULL,            -- wall clock, seconds (base of priority aging)
    askers       TEXT NOT NULL,            -- JSON list of login names
    status       TEXT NOT NULL CHECK (status IN
                     ('pooled', 'queued', 'building', 'done', 'dropped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL UNIQUE,  -- insertion order
    pooled_at    REAL NOT NULL,            -- entered the pool (again): base of expiry
    queue_seq    INTEGER,                  -- order in the build queue (queued/building)
    queued_at    REAL,
    updated_at   REAL NOT NULL,
    reason       TEXT                      -- why it was dropped
);
CREATE INDEX IF NOT EXISTS questions_status ON questions (status, seq);
CREATE INDEX IF NOT EXISTS questions_norm ON questions (norm_text, status);
"""

_COLUMNS = (
    "id",
    "user",
    "display_name",
    "text",
    "norm_text",
    "role",
    "bits",
    "asked_at",
    "askers",
    "status",
    "attempts",
    "seq",
    "pooled_at",
    "queue_seq",
    "queued_at",
    "updated_at",
    "reason",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM questions"


class StoreError(Exception):
    """The question database cannot be used (and was left untouched)."""


class _Unusable(Exception):
    """The file opened but is not a question database we can use: move it aside."""


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    """A question as stored: the message plus its place in the pool's life cycle."""

    question: Question
    status: Status
    attempts: int
    seq: int
    norm_text: str
    pooled_at: float
    queue_seq: int | None
    queued_at: float | None
    updated_at: float
    reason: str | None

    @property
    def id(self) -> str:
        return self.question.id


def _row_to_stored(row: Sequence[Any]) -> StoredQuestion:
    (
        id_,
        user,
        display_name,
        text,
        norm_text,
        role,
        bits,
        asked_at,
        askers,
        status,
        attempts,
        seq,
        pooled_at,
        queue_seq,
        queued_at,
        updated_at,
        reason,
    ) = row
    question = Question(
        id=id_,
        user=user,
        display_name=display_name,
        text=text,
        role=Role(role),
        bits=bits,
        asked_at=asked_at,
        askers=tuple(json.loads(askers)),
    )
    return StoredQuestion(
        question=question,
        status=Status(status),
        attempts=attempts,
        seq=seq,
        norm_text=norm_text,
        pooled_at=pooled_at,
        queue_seq=queue_seq,
        queued_at=queued_at,
        updated_at=updated_at,
        reason=reason,
    )


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        # Python raises plain DatabaseError for SQLITE_CORRUPT/SQLITE_NOTADB; other
        # failures (cannot open, read-only, locked) are OperationalError.
        return not isinstance(exc, sqlite3.OperationalError)
    return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except (sqlite3.DatabaseError, _Unusable) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and not _is_corruption(exc):
                raise StoreError(f"cannot open the question database {self.path}: {exc}") from exc
            moved = self._move_aside()
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
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"question database {self.path} has schema version {version}, newer than "
                f"this program's {SCHEMA_VERSION}: upgrade streamer or point data_dir elsewhere"
            )
        check = conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in check] != [("ok",)]:
            raise _Unusable("integrity check failed: " + "; ".join(str(r[0]) for r in check[:5]))
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("question database %s: journal_mode is %s, not wal", self.path, mode)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        if version == 0:
            # One transaction: the tables and the version appear together or not at all.
            conn.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
        columns = {r[1] for r in conn.execute("PRAGMA table_info(questions)")}
        missing = [c for c in _COLUMNS if c not in columns]
        if missing:
            raise _Unusable(f"table 'questions' lacks columns {missing}")

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
        if self.path.exists():
            self.path.replace(target)
        return target

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
        rows = self._conn.execute(f"{_SELECT} {where}", params).fetchall()
        return [_row_to_stored(r) for r in rows]

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

    def mark_queued(self, question_id: str, now: float) -> bool:
        """pooled -> queued, at the back of the build queue."""
        with self.transaction():
            return self._move(
                question_id,
                [Status.POOLED],
                "status = 'queued', queued_at = ?, updated_at = ?, queue_seq = "
                "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM questions "
                " WHERE status IN ('queued', 'building'))",
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
                "queued_at = NULL, updated_at = ?",
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
    ) -> list[str]:
        """``sources`` (default: any active) -> done/dropped; returns the ids that moved.

        Prunes the finished rows beyond ``keep_finished``.
        """
        moved: list[str] = []
        src = list(sources)
        with self.transaction():
            for question_id in question_ids:
                if self._move(
                    question_id,
                    src,
                    "status = ?, reason = ?, attempts = COALESCE(?, attempts), "
                    "queue_seq = NULL, updated_at = ?",
                    (status.value, reason, attempts, now),
                ):
                    moved.append(question_id)
            if moved:
                self.prune()
        return moved

    def restore_interrupted(self, now: float) -> list[StoredQuestion]:
        """building -> queued, at the front of the build queue, keeping their order.

        Returns the questions moved (for the log), in their new queue order.
        """
        with self.transaction():
            building = self.with_status(Status.BUILDING)
            if building:
                row = self._conn.execute(
                    "SELECT MIN(queue_seq) FROM questions WHERE status = 'queued'"
                ).fetchone()
                front = (row[0] if row[0] is not None else 1) - len(building)
                for i, stored in enumerate(building):
                    self._conn.execute(
                        "UPDATE questions SET status = 'queued', queue_seq = ?, updated_at = ? "
                        "WHERE id = ?",
                        (front + i, now, stored.id),
                    )
            restored = [self.get(s.id) for s in building]
        return [s for s in restored if s is not None]

    def prune(self) -> int:
        """Delete finished rows beyond the newest ``keep_finished``; returns how many."""
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM questions WHERE status IN ('done', 'dropped') AND id NOT IN "
                "(SELECT id FROM questions WHERE status IN ('done', 'dropped') "
                " ORDER BY updated_at DESC, seq DESC LIMIT ?)",
                (self.keep_finished,),
            )
            return cur.rowcount
