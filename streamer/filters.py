"""Text filters for chat input: sanitizing, banned words, links.

The duplicate key of a question is ``streamer.pool.normalize_text``.

Everything here is pure (no I/O except ``BannedWords.from_file``) and cheap on hostile
input: every entry point cuts its input to a few thousand characters before any regex
runs, so a megabyte line costs about as much as a normal one.

Banned words: the approach
--------------------------
Substring matching flags innocent words (the Scunthorpe problem: "ass" in "class"), so
matching is on whole words of a *normalized* text:

1. NFKC (fullwidth and styled letters become plain ones), NFKD and drop the combining
   marks (accents), casefold, drop invisible characters (zero-width joiners etc.).
2. Split into tokens of letters, digits and the leetspeak symbols ``@ $ ! |``.
3. Fold each token that is not a plain number: ``0→o 3→e 4→a 5→s 7→t @→a $→s``, and
   ``1 ! |`` become a marker that matches ``i`` or ``l`` in a banned word. A token
   written in mixed scripts (Latin with Cyrillic or Greek look-alikes), or only in
   look-alikes, is mapped to Latin. Each token is also tried with leading and trailing
   symbols removed ("@word", "word!"). The same folding is applied to the banned list.
4. A banned word matches a whole token (a phrase matches consecutive tokens). A run of
   one letter in the banned word matches one or more of that letter in the text, so
   "baaadword" matches "badword" but "as" does not match "ass". An optional plural
   ``s``/``es`` is allowed.
5. Compact check: runs of *single-character* tokens ("b a d", "b.a.d", "b-a-d") are joined
   and every sub-run of two or more of them is compared with the banned words written
   without spaces. Only single-character tokens are joined, so "class" or "as sad" never
   become "ass".

Known gaps (documented, not hidden): a word split into longer pieces ("bad wo rd"), a word
with an extra suffix other than a plural ("badwording"), and homoglyphs outside the small
Cyrillic/Greek table pass. The other way round, a banned word that happens to be spelled by
adjacent one-letter words is flagged ("I m a s s..." with "ass").

Links: ``find_link``, in ``filters_links.py`` (its approach is written there).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# find_link lives in its own module; `from streamer.filters import find_link` stays.
from streamer.filters_links import DEFAULT_MAX_SCAN, find_link
from streamer.text_tables import ANSI_RE, INVISIBLE

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_SCAN",
    "BannedWords",
    "find_link",
    "sanitize",
]

_MAX_MARKS = 3
"""Combining marks kept after one base character (Hebrew points need 3; zalgo uses 50)."""

_MAX_REPEAT = 3
"""A character or short pattern repeated more often than this is cut to this many."""

_BLANK_SYMBOLS = frozenset("\u2800")  # braille blank: shown as a space

# Repetition of a 1 to 4 character unit that does not start with a digit (numbers such
# as 1000000 are kept), more than _MAX_REPEAT times in a row.
_REPEAT_RE = re.compile(r"(\D.{0,3}?)\1{" + str(_MAX_REPEAT) + ",}", re.DOTALL)


def sanitize(text: str, max_scan: int = DEFAULT_MAX_SCAN, *, collapse: bool = True) -> str:
    """Clean one chat line for display, logs and the LLM.

    Cuts to ``max_scan`` characters first, then: terminal escape sequences removed; NFC;
    control characters dropped (tab, newline and other whitespace controls become
    spaces); format characters (zero-width, bidi overrides and isolates, soft hyphen,
    BOM, tags), surrogates, private-use and unassigned characters, variation selectors
    and invisible fillers (``text_tables.INVISIBLE``) dropped; at most three combining
    marks per character (zalgo); a character or a unit of up to four characters (an
    emoji with a skin tone, "ha") repeated more than three times in a row is cut to
    three, except digits (1000000); whitespace collapsed and trimmed. Normal emoji are
    kept.

    ``collapse=False`` keeps repeats (names: "Aaaaaron" must stay who it is); the result
    is then stable, ``sanitize(sanitize(x, collapse=False), collapse=False)`` is the same.
    """
    if max_scan < 0:
        raise ValueError(f"max_scan must be >= 0, got {max_scan}")
    text = text[:max_scan]
    if "\x1b" in text or "\x9b" in text:
        text = ANSI_RE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    marks = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "C":  # Cc, Cf, Cs, Co, Cn
            if cat != "Cc" or not ch.isspace():
                continue
            ch = " "
        elif cat[0] == "Z" or ch in _BLANK_SYMBOLS:
            ch = " "
        elif ch in INVISIBLE:
            continue
        elif cat in ("Mn", "Me"):
            marks += 1
            if marks > _MAX_MARKS:
                continue
            out.append(ch)
            continue
        marks = 0
        if ch == " " and (not out or out[-1] == " "):
            continue
        out.append(ch)
    cleaned = "".join(out).strip()
    if not collapse:
        return cleaned
    return _REPEAT_RE.sub(lambda m: m.group(1) * _MAX_REPEAT, cleaned)


# --------------------------------------------------------------------------- folding


def _fold(text: str, max_scan: int = DEFAULT_MAX_SCAN) -> str:
    """NFKC, accents removed, casefolded, invisible characters dropped."""
    text = text[:max_scan]
    if text.isascii():  # the common case: nothing to normalize or drop
        return text.casefold()
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKD", text)
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf", "Cs", "Co", "Cn") or ch in INVISIBLE:
            continue
        kept.append(ch)
    return "".join(kept).casefold()


# --------------------------------------------------------------------------- banned words

_LEET_MARK = "|"  # what 1, ! and | become: matches i or l
_LEET = str.maketrans(
    {
        "0": "o",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "1": _LEET_MARK,
        "!": _LEET_MARK,
        "|": _LEET_MARK,
    }
)
_LEET_SYMBOLS = "@$!|"

# Cyrillic and Greek letters that look like Latin ones (lower case, after casefold).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
_CONFUSABLE_CHARS = frozenset(chr(cp) for cp in _CONFUSABLES)

_TOKEN_RE = re.compile(r"(?:[^\W_]|[@$!|])+")
_ASCII_LETTER_RE = re.compile(r"[a-z]")
_PLURAL = "(?:e?s)?"


def _fold_token(token: str) -> str:
    """Leetspeak and look-alike letters of one (already folded) token."""
    if token.isdigit():
        return token  # a number, not leetspeak: "455" is not "ass"
    if _ASCII_LETTER_RE.search(token) or all(
        ch in _CONFUSABLE_CHARS or not ch.isalpha() for ch in token
    ):
        token = token.translate(_CONFUSABLES)
    return token.translate(_LEET)


def _tokens(folded: str) -> list[str]:
    return _TOKEN_RE.findall(folded)


def _run_pattern(word: str) -> str:
    """Regex for one folded token of a banned entry: letter runs match 1+ repeats."""
    parts = []
    i = 0
    while i < len(word):
        ch = word[i]
        j = i
        while j < len(word) and word[j] == ch:
            j += 1
        n = j - i
        if ch.isdigit():
            parts.append(re.escape(ch * n))
        elif ch in "il":
            parts.append(f"[{ch}{re.escape(_LEET_MARK)}]{{{n},}}")
        elif ch == _LEET_MARK:
            parts.append(f"[il{re.escape(_LEET_MARK)}]{{{n},}}")
        else:
            parts.append(f"{re.escape(ch)}{{{n},}}")
        i = j
    return "".join(parts)


_SQUEEZE_RE = re.compile(r"(.)\1+", re.DOTALL)
_CANON = str.maketrans({"l": "i", _LEET_MARK: "i"})


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)


def _skeleton(text: str) -> str:
    """Repeats squeezed, ``i l |`` merged: a cheap necessary condition for a match."""
    return _SQUEEZE_RE.sub(_first_group, text.translate(_CANON))


@dataclass(frozen=True, slots=True)
class _Entry:
    word: str  # as configured
    skeleton: str  # of the folded tokens joined by spaces
    compact_skeleton: str  # of the folded tokens joined without spaces
    spaced: re.Pattern[str]  # whole words in the token stream
    compact: re.Pattern[str]  # anywhere in a joined run of single characters


class BannedWords:
    """Whole-word, accent-, case- and leetspeak-insensitive banned word matching.

    See the module docstring for the approach and its known gaps. Each entry has a
    regex; a substring test on "skeletons" (repeats squeezed) picks the few entries
    worth running, so a long list costs little on long input.
    """

    def __init__(self, words: Iterable[str]) -> None:
        entries: list[_Entry] = []
        seen: set[str] = set()
        for word in words:
            original = word.strip()
            folded = _fold(original)
            if not any(ch.isalnum() for ch in folded):
                if original:
                    logger.warning("banned word %r has no letters or digits: ignored", original)
                continue
            tokens = [_fold_token(t) for t in _tokens(folded)]
            key = " ".join(tokens)
            if key in seen:
                continue
            seen.add(key)
            spaced = " ".join(_run_pattern(t) for t in tokens) + _PLURAL
            compact = _run_pattern("".join(tokens)) + _PLURAL
            entries.append(
                _Entry(
                    word=original,
                    skeleton=_skeleton(key),
                    compact_skeleton=_skeleton("".join(tokens)),
                    spaced=re.compile(r"(?<![^ ])" + spaced + r"(?![^ ])"),
                    compact=re.compile(compact),
                )
            )
        self._entries = tuple(entries)

    @classmethod
    def from_file(cls, path: Path) -> BannedWords:
        """One word or phrase a line; ``#`` starts a comment; blank lines are skipped."""
        words = []
        for line in path.read_text(encoding="utf-8").splitlines():
            word = line.split("#", 1)[0].strip()
            if word:
                words.append(word)
        return cls(words)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(e.word for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def find(self, text: str, max_scan: int = DEFAULT_MAX_SCAN) -> str | None:
        """The banned word (as configured) that ``text`` contains, or None."""
        if not self._entries:
            return None
        raw = _tokens(_fold(text, max_scan))
        if not raw:
            return None
        full = " ".join(_fold_token(t) for t in raw)
        stripped = " ".join(_fold_token(s) for t in raw if (s := t.strip(_LEET_SYMBOLS)))
        for stream in (full, stripped):
            skeleton = _skeleton(stream)
            for entry in self._entries:
                if entry.skeleton in skeleton and entry.spaced.search(stream):
                    return entry.word
        return self._find_compact(raw)

    def _find_compact(self, raw: list[str]) -> str | None:
        """Runs of single-character tokens ("b a d", "b.a.d"), joined."""
        run: list[str] = []
        for token in [*raw, ""]:
            if len(token) == 1:
                run.append(token)
                continue
            if len(run) >= 2:
                found = self._check_run("".join(run))
                if found is not None:
                    return found
            run = []
        return None

    def _check_run(self, whole: str) -> str | None:
        # Every character of the joined run is a token boundary, so a search over the
        # joined run is the same as trying every sub-run.
        for joined in (_fold_token(whole), whole):
            skeleton = _skeleton(joined)
            for entry in self._entries:
                if entry.compact_skeleton not in skeleton:
                    continue
                m = entry.compact.search(joined)
                if m is not None and len(m.group()) >= 2:
                    return entry.word
        return None
