"""What an answer stream is made of: its status, its outcome, its bookkeeping."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from streamer.messages import AnswerMessage, Question


class AnswerStatus(enum.StrEnum):
    DONE = "done"  # every segment released, the last one flagged
    TRUNCATED = "truncated"  # some segments released, then it stopped (AnswerAborted)
    REQUEUE = "requeue"  # nothing released; put the question back in the pool
    DROPPED = "dropped"  # nothing released; the question is dropped
    MODERATED = "moderated"  # a segment was flagged (set by the moderated stream)


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """How one answer went. Times are seconds from the start of ``answer()``
    (failed attempts included); None when it never got that far."""

    answer_id: str
    status: AnswerStatus
    reason: str = ""
    attempts: int = 0
    segments: int = 0  # segments released
    text: str = ""  # the released text, segments joined by spaces
    first_token_s: float | None = None
    first_segment_s: float | None = None
    total_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is AnswerStatus.DONE


class _OutOfCharacter(Exception):
    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self.pattern = pattern


@dataclass
class _Run:
    """Mutable bookkeeping of one answer (private to one ``answer()`` call)."""

    question: Question
    start: float
    outcome: AnswerOutcome | None = None
    attempts: int = 0
    released: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    first_segment_at: float | None = None


class AnswerStream:
    """The messages of one answer; an async iterator. ``outcome`` is set once it
    ended (exhausted, or closed with ``aclose()``)."""

    def __init__(self, gen: AsyncGenerator[AnswerMessage, None], run: _Run) -> None:
        self._gen = gen
        self._run = run

    def __aiter__(self) -> AnswerStream:
        return self

    async def __anext__(self) -> AnswerMessage:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    @property
    def outcome(self) -> AnswerOutcome | None:
        return self._run.outcome
