"""How the pool chooses: the duplicate key of a question and the pick policies.

Pure functions of the questions and the settings; the pool (``pool.py``) applies them
to what its store holds.
"""

from __future__ import annotations

import math
import random
import unicodedata

from streamer.config import PoolSettings
from streamer.messages import Question, Role
from streamer.store import StoredQuestion


def normalize_text(text: str) -> str:
    """The duplicate key of a question (stored as ``norm_text``); the only such function.

    Compatibility forms folded (fullwidth letters, ligatures, "…"), case, accents,
    punctuation, invisible format characters (zero-width, bidi) and spacing ignored:
    "What's UP?!" and "whats up" are equal. Emoji and other symbols are kept, so
    "do you like 🐱?" and "do you like 🐶?" stay two questions.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    folded = unicodedata.normalize("NFKD", decomposed.casefold())
    kept = (
        c
        for c in folded
        if not unicodedata.combining(c) and not unicodedata.category(c).startswith(("P", "Cf"))
    )
    return " ".join("".join(kept).split())


def priority_level(question: Question) -> int:
    """0 (best) to 5: broadcaster/moderator, VIP, bits, subscriber, first-time, others."""
    if question.role <= Role.MODERATOR:
        return 0
    if question.role == Role.VIP:
        return 1
    if question.bits > 0:
        return 2
    if question.role == Role.SUBSCRIBER:
        return 3
    if question.role == Role.FIRST_TIME:
        return 4
    return 5


def effective_level(question: Question, now: float, aging_s: float) -> int:
    """``priority_level`` minus one per ``aging_s`` seconds waited since it was asked."""
    waited = max(0.0, now - question.asked_at)
    return priority_level(question) - math.floor(waited / aging_s)


def choose(
    settings: PoolSettings, pooled: list[StoredQuestion], now: float, rng: random.Random
) -> StoredQuestion:
    """The pooled question to pick now (``pooled`` in insertion order, not empty)."""
    policy = settings.policy
    if policy == "fifo":
        return pooled[0]  # insertion order
    if policy == "random":
        return pooled[rng.randrange(len(pooled))]
    aging_s = settings.aging_s
    return min(
        pooled,
        key=lambda s: (
            effective_level(s.question, now, aging_s),
            -s.question.bits,
            s.seq,
        ),
    )
