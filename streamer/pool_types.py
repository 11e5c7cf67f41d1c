"""What the pool's operations return and the reasons they record."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from streamer.messages import Question

REASON_EXPIRED = "expired"
REASON_CLEARED_ON_PICK = "cleared on pick"
REASON_CLEARED_BY_MODERATOR = "cleared by moderator"
REASON_INTERRUPTED_ON_AIR = "the program stopped while it was on air"


class AddStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # stored in the pool
    MERGED = "merged"  # same question already waiting: the asker was added to it
    POOL_FULL = "pool_full"  # not stored: max_size questions are waiting


@dataclass(frozen=True, slots=True)
class AddResult:
    status: AddStatus
    # ACCEPTED: the question as stored (``askers`` includes its user).
    # MERGED: the existing question, with the new asker, role and bits merged in.
    # POOL_FULL: the question given to ``add`` (not stored).
    question: Question


def _describe(q: Question) -> str:
    return f"{q.id} from {q.user}"


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))
