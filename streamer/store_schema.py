"""The question database's schema: its table, its rows as objects, opening and upgrading.

``QuestionStore`` (``store.py``) holds the queries; this module holds what a row is and
how a file becomes a usable connection:

* schema version 4 (``PRAGMA user_version``); older files are upgraded in place: a
  version-1 file (before answers had their own end state) gets the ``outcome`` column,
  a version-1 or -2 file the ``asks`` table (which chat message asked which
  question, so a moderator's deletion can find it), and every older file the
  ``redemptions`` table (channel points spent on a question, settled on Twitch once
  the question ends);
* a file SQLite reports as corrupt, or that is not a database, or whose ``questions``
  table lacks columns, raises ``Unusable`` (the store moves it aside);
* a file written by a newer program raises ``StoreError`` and is left untouched.
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from streamer.messages import Question, Role

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 4

# SQLite primary result codes that mean "this file is damaged or not a database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class Status(enum.StrEnum):
    POOLED = "pooled"  # waiting in the pool to be picked
    QUEUED = "queued"  # picked: waiting in the build queue
    BUILDING = "building"  # its answer is being produced (or is on air: see ``outcome``)
    DONE = "done"  # answered (``outcome``: done, or truncated when it was cut short)
    DROPPED = "dropped"  # expired, cleared, skipped or failed too often (see ``reason``)


ACTIVE: frozenset[Status] = frozenset({Status.POOLED, Status.QUEUED, Status.BUILDING})
FINISHED: frozenset[Status] = frozenset({Status.DONE, Status.DROPPED})

# ``outcome`` of a building question whose answer has been heard (a frame or a line is
# out): after a crash it is not spoken again, it is recorded truncated instead.
OUTCOME_SPEAKING = "speaking"

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
    reason       TEXT,                     -- why it was dropped or cut short
    outcome      TEXT                      -- how its answer ended (answer.AnswerState)
);
CREATE INDEX IF NOT EXISTS questions_status ON questions (status, seq);
CREATE INDEX IF NOT EXISTS questions_norm ON questions (norm_text, status);
"""

# One row per chat message that asked (or re-asked, merged) a question.
ASKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS asks (
    message_id   TEXT PRIMARY KEY,         -- the chat platform's message id
    question_id  TEXT NOT NULL,
    user         TEXT NOT NULL,            -- login of who sent it
    asked_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS asks_question ON asks (question_id);
"""

# One row per channel points redemption that asked a question (or was refused): what
# Twitch must be told once the question ends (FULFILLED or CANCELED = refunded).
REDEMPTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS redemptions (
    redemption_id TEXT PRIMARY KEY,        -- Twitch's redemption id
    reward_id     TEXT NOT NULL,
    question_id   TEXT,                    -- NULL: refused before it became a question
    user          TEXT NOT NULL,
    redeemed_at   REAL NOT NULL,
    target        TEXT CHECK (target IN ('FULFILLED', 'CANCELED')),  -- NULL: not ended yet
    reason        TEXT,                    -- why it is refunded
    settled       TEXT,                    -- NULL: Twitch not told yet; else what became of it
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try      REAL NOT NULL DEFAULT 0, -- wall clock: not before (after a failed try)
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS redemptions_question ON redemptions (question_id);
CREATE INDEX IF NOT EXISTS redemptions_due ON redemptions (settled, target);
"""

COLUMNS = (
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
    "outcome",
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM questions"


class StoreError(Exception):
    """The question database cannot be used (and was left untouched)."""


class Unusable(Exception):
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
    outcome: str | None = None

    @property
    def id(self) -> str:
        return self.question.id


def row_to_stored(row: Sequence[Any]) -> StoredQuestion:
    values = dict(zip(COLUMNS, row, strict=True))
    question = Question(
        id=values["id"],
        user=values["user"],
        display_name=values["display_name"],
        text=values["text"],
        role=Role(values["role"]),
        bits=values["bits"],
        asked_at=values["asked_at"],
        askers=tuple(json.loads(values["askers"])),
    )
    return StoredQuestion(
        question=question,
        status=Status(values["status"]),
        attempts=values["attempts"],
        seq=values["seq"],
        norm_text=values["norm_text"],
        pooled_at=values["pooled_at"],
        queue_seq=values["queue_seq"],
        queued_at=values["queued_at"],
        updated_at=values["updated_at"],
        reason=values["reason"],
        outcome=values["outcome"],
    )


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        # Python raises plain DatabaseError for SQLITE_CORRUPT/SQLITE_NOTADB; other
        # failures (cannot open, read-only, locked) are OperationalError.
        return not isinstance(exc, sqlite3.OperationalError)
    return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(questions)")}


def prepare(conn: sqlite3.Connection, path: Path, synchronous: Literal["NORMAL", "FULL"]) -> None:
    """Check, create or upgrade the schema of a fresh connection."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"question database {path} has schema version {version}, newer than "
            f"this program's {SCHEMA_VERSION}: upgrade streamer or point data_dir elsewhere"
        )
    check = conn.execute("PRAGMA quick_check").fetchall()
    if [tuple(r) for r in check] != [("ok",)]:
        raise Unusable("integrity check failed: " + "; ".join(str(r[0]) for r in check[:5]))
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        logger.warning("question database %s: journal_mode is %s, not wal", path, mode)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    if version == 0:
        # One transaction: the tables and the version appear together or not at all.
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} {ASKS_SCHEMA} {REDEMPTIONS_SCHEMA} "
            f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
    elif version in (1, 2, 3):
        missing = [c for c in COLUMNS if c != "outcome" and c not in _columns(conn)]
        if missing:
            raise Unusable(f"table 'questions' lacks columns {missing}")
        add = "ALTER TABLE questions ADD COLUMN outcome TEXT; " if version == 1 else ""
        conn.executescript(
            f"BEGIN IMMEDIATE; {add}{ASKS_SCHEMA} {REDEMPTIONS_SCHEMA} "
            f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
        logger.info(
            "question database %s upgraded from schema version %d to %d",
            path, version, SCHEMA_VERSION,
        )  # fmt: skip
    missing = [c for c in COLUMNS if c not in _columns(conn)]
    if missing:
        raise Unusable(f"table 'questions' lacks columns {missing}")


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal, -shm files) out of the way."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(target.with_name(target.name + suffix))
    if path.exists():
        path.replace(target)
    return target
