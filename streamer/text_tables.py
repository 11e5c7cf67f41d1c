"""Character classes and tables shared by the chat filters and the speech text rules.

``filters`` cleans what chat writes (``sanitize``, ``find_link``, the banned words'
folding) and ``speech_text`` cleans what the voice reads. Both drop the same invisible
characters, remove terminal escapes with the same pattern and know the same top-level
domains, from here, so a character or a TLD is never handled by one and missed by the
other.
"""

from __future__ import annotations

import re

__all__ = [
    "ANSI_RE",
    "INVISIBLE",
    "INVISIBLE_RE",
    "SPEECH_TLDS",
    "STRONG_TLDS",
    "TLDS",
    "WORD_TLDS",
]

# --------------------------------------------------------------------------- invisible

# Characters that show as nothing (or should not show at all): dropped from chat and from
# what the voice reads, so "ex\u200bample" is "example" to every check. Inclusive ranges.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels (not to be shown)
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # byte order mark, zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFC),  # interlinear annotation controls, object replacement character
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tag characters
    (0xE0100, 0xE01EF),  # variation selectors supplement
)

INVISIBLE = frozenset(chr(cp) for first, last in _INVISIBLE_RANGES for cp in range(first, last + 1))
"""Every invisible character (see ``_INVISIBLE_RANGES``), for membership tests."""

INVISIBLE_RE = re.compile(
    "["
    + "".join(
        re.escape(chr(first)) + ("-" + re.escape(chr(last)) if last > first else "")
        for first, last in _INVISIBLE_RANGES
    )
    + "]"
)
"""One invisible character, for ``INVISIBLE_RE.sub("", text)``."""

# --------------------------------------------------------------------------- terminal

ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI "ESC [ ... m", also cut off at the end
    r"|\x1b\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)?"  # OSC "ESC ] ... BEL", at most 256 long
    r"|\x1b[@-Z\\-_]"  # two-byte
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
)
"""A terminal escape sequence, removed whole so no "[31m" residue is left."""

# --------------------------------------------------------------------------- domains


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


TLDS = _names(
    # generic
    "com net org edu gov mil int info biz xyz app dev tech live stream games art blog "
    "site online store shop club link news click top icu vip lol moe onl "
    # country codes
    "io ly gg tv co me ru de uk cn fr nl eu be sh gl gd cc ws tk ml ga cf gq pw fm im "
    "tw jp kr br ca au su ua pl it es ch at se no ro cz ai us nz ie hk mx ar fi dk pt "
    "gr hu"
)
"""Top-level domains that make ``name.tld`` a link in chat and "name dot tld" in speech."""

STRONG_TLDS = _names("com net org gg tv ly io xyz ru")
"""The TLDs so common in spam that even ``name . com`` or ``name dot com`` is a link."""

WORD_TLDS = _names("at be click im it lol no top")
"""TLDs that are also everyday words, often at the start of a sentence ("No", "It")."""

SPEECH_TLDS = TLDS - WORD_TLDS
"""What the voice reads as a domain: a missing space after a full stop ("did it.No way")
is a sentence break, not "it dot no". Lowercase ``site.top`` is still read "site dot
top" by the word-dot rule, only its path is not dropped."""
