"""Link detection in chat text: ``find_link``.

``find_link`` flags URLs with any scheme (``https://``, ``ftp://``), anything starting
with ``www.``, bare domains ending in a common TLD (``example.com/x``, ``bit.ly/x``,
``discord.gg/x``, ``t.me/x``; the list is ``text_tables.TLDS``, the one the voice reads
domains with), domains with a bracketed dot (``example[.]com``, ``example (dot) com``),
domains with a spaced dot or a spelled-out ``dot`` before a well-known TLD
(``example . com``, ``example dot com``; ``text_tables.STRONG_TLDS``). The spelled-out
form is not flagged when the word before "dot" is a common small word, so "what was the
dot com bubble?" passes (and so does "the dot com", a known gap). Domains with rarer
TLDs (``example.pizza``) pass. Decimals ("3.14"), versions ("v1.2.3"), abbreviations
("e.g.", "i.e.") and file names with extensions that are not TLDs ("main.py") pass.
"""

from __future__ import annotations

import re
import unicodedata

from streamer.text_tables import INVISIBLE, STRONG_TLDS, TLDS

DEFAULT_MAX_SCAN = 4000
"""Characters of input looked at by every chat filter; the rest is dropped first."""

_TLD_ALT = "|".join(sorted(TLDS, key=lambda t: (-len(t), t)))
_STRONG_ALT = "|".join(sorted(STRONG_TLDS, key=lambda t: (-len(t), t)))
_SMALL_WORDS = (
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "and",
    "or",
    "my",
    "your",
    "our",
    "this",
    "that",
    "for",
    "from",
    "with",
    "by",
    "its",
    "what",
    "is",
    "was",
    "about",
)

_LINK_RES = (
    # scheme://anything
    re.compile(r"(?<![\w.+-])[a-z][a-z0-9+.-]{1,15}://[^\s]+"),
    # www.anything
    re.compile(r"(?<![\w.-])www\.[^\s.][^\s]*"),
    # bare domain with a known TLD, optional path
    re.compile(
        r"(?<![\w.-])(?:[^\W_][\w-]{0,62}\.)+(?:" + _TLD_ALT + r")(?![\w-])(?:[/:?#][^\s]*)?"
    ),
    # bracketed dot: example[.]com, example (dot) com, example{.}net
    re.compile(
        r"(?<![\w-])[^\W_][\w-]{0,62}\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*(?:"
        + _TLD_ALT
        + r")(?![\w-])(?:[/:?#][^\s]*)?"
    ),
    # spaced dot before a well-known TLD: example . com, example .com, example. com
    re.compile(r"(?<![\w-])[^\W_][\w-]{0,62}(?:\s+\.\s*|\.\s+)(?:" + _STRONG_ALT + r")(?![\w-])"),
    # spelled-out dot before a well-known TLD: example dot com (not "the dot com bubble")
    re.compile(
        r"(?<![\w-])(?!(?:"
        + "|".join(_SMALL_WORDS)
        + r")\s)[^\W_][\w-]{1,62}\s+dot\s+(?:"
        + _STRONG_ALT
        + r")(?![\w-])"
    ),
)
_DOTS = str.maketrans({"\u3002": ".", "\uff61": ".", "\u2024": "."})


def find_link(text: str, max_scan: int = DEFAULT_MAX_SCAN) -> str | None:
    """The first link-like part of ``text`` (normalized), or None. See the module doc."""
    folded = unicodedata.normalize("NFKC", text[:max_scan]).translate(_DOTS)
    folded = "".join(
        ch
        for ch in folded
        if ch not in INVISIBLE and unicodedata.category(ch) not in ("Cf", "Cs", "Co", "Cn")
    ).casefold()
    best: re.Match[str] | None = None
    for pattern in _LINK_RES:
        m = pattern.search(folded)
        if m is not None and (best is None or m.start() < best.start()):
            best = m
    return best.group() if best is not None else None
