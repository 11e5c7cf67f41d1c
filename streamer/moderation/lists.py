"""The checks that always run: word lists and built-in patterns (no network, ~0.1 ms).

A segment is checked together with the tail of what was said before it, so a banned
phrase or a phone number split over two segments is caught in the second one (the
first part alone was harmless, and the whole is never spoken).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from streamer.config import ModerationSettings
from streamer.filters import BannedWords, find_link
from streamer.moderation.patterns import find_address, find_email, find_phone

# Characters of the text said before a segment that are checked with it.
CONTEXT_CHARS = 80
# Words in a row of the system prompt that, said aloud, count as leaking it.
LEAK_WORDS = 6
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def _shingles(text: str, n: int = LEAK_WORDS) -> set[tuple[str, ...]]:
    words = [w.casefold() for w in _WORD.findall(unicodedata.normalize("NFKC", text))]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True, slots=True)
class Flag:
    """Why a segment must not be spoken. ``hint`` is redacted: never the text in full."""

    category: str  # banned_word, link, personal_data/phone, model/violence, check_error ...
    by: str  # lists | model
    hint: str = ""

    def describe(self) -> str:
        return f"{self.category} ({self.hint})" if self.hint else self.category


def redact(found: str) -> str:
    """``'badword'`` -> ``'b*****d (7 chars)'``: enough to find it, not enough to repeat."""
    text = " ".join(found.split())
    if len(text) <= 2:
        return f"{'*' * len(text)} ({len(text)} chars)"
    return f"{text[0]}{'*' * min(len(text) - 2, 12)}{text[-1]} ({len(text)} chars)"


class OutputLists:
    """Word lists (the input filter's and the output-only one) and the patterns."""

    def __init__(
        self, settings: ModerationSettings, banned: BannedWords, system_prompt: str = ""
    ) -> None:
        self.banned = banned
        # The persona's instructions, said aloud, are a prompt injection that worked.
        self._prompt = _shingles(system_prompt) if settings.prompt_leak else set()
        self.finders: list[tuple[str, Callable[[str], str | None]]] = []
        data = settings.personal_data
        for name, on, finder in (
            ("phone", data.phone, find_phone),
            ("email", data.email, find_email),
            ("address", data.address, find_address),
        ):
            if on:
                self.finders.append((f"personal_data/{name}", finder))
        if settings.links:  # after e-mail: an address spelled out is also a domain
            self.finders.append(("link", find_link))

    def check(self, segment: str, before: str = "") -> Flag | None:
        """The flag for ``segment`` (read after ``before``, the text said just before it)."""
        tail = before[-CONTEXT_CHARS:]
        for text in (segment, f"{tail} {segment}") if tail else (segment,):
            word = self.banned.find(text)
            if word is not None:
                return Flag("banned_word", "lists", redact(word))
            for category, finder in self.finders:
                found = finder(text)
                if found is not None:
                    return Flag(category, "lists", redact(found))
            if self._prompt and not self._prompt.isdisjoint(_shingles(text)):
                return Flag("prompt_leak", "lists", f"{LEAK_WORDS}+ words of the system prompt")
        return None
