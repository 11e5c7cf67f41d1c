"""Speech text: clean-up, emoji, Markdown and HTML, symbols and final punctuation.

Rules 1 to 3 of the speech text (see ``streamer.speech_text``) are ``_prepare`` and
``_markdown``; rules 10 and 11 are ``_finish``, which ``speech_text`` calls through its
own module global (a test replaces it there to check the fallback).
"""

from __future__ import annotations

import html
import re
import unicodedata

from streamer.speech_numbers import _DIGIT, _DIGITS, _digit_by_digit
from streamer.text_tables import ANSI_RE, INVISIBLE_RE

# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions (this holds in every speech_* module).

_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|apos|nbsp|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_BAD_CHARS = re.compile("[\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff\ufffd\ufffe\uffff]")
# Control characters: line breaks of all kinds become "\n", the others a space.
_CONTROL_TABLE = str.maketrans(
    {
        **dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " "),
        **dict.fromkeys([0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029], "\n"),
    }
)
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001fbff"
    "\u2300-\u23ff\u25a0-\u25ff\u2600-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\u3030\u303d\u3297\u3299\u00a9\u00ae\u2122\u2139\u24c2\u203c\u2049"
    "\ufe00-\ufe0f\u200d\u20e3\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "]+"
)
_COMBINING = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_PRE_NFKC = {
    "²": " squared",
    "³": " cubed",
    **{
        chr(c): " " + unicodedata.normalize("NFKC", chr(c)).replace("\u2044", "/") + " "
        for c in [*range(0xBC, 0xBF), *range(0x2150, 0x215F)]
    },
}
_PRE_NFKC_RE = re.compile("[" + "".join(_PRE_NFKC) + "]")
_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2044": "/",
        "\u00d7": " × ",
        "\u00f7": " divided by ",
        "\u2248": " about ",
        "\u2260": " does not equal ",
        "\u2264": " <= ",
        "\u2265": " >= ",
        "\u2192": " -> ",
        "\u21d2": " -> ",
        "\u2014": " — ",
        "\u2015": " — ",
    }
)
# Patterns that start with a character class (look-behinds after it) let the regex
# engine skip ahead to candidate characters: several times faster on plain text.
_EMOTICON = re.compile(
    r"[:;=xXD^](?<!\S.)"
    r"(?:(?<=[:;=])-?[)(DPpOo3/|\]\[*]+|(?<=[xX])D+|(?<=D):|(?<=\^)_*\^)(?!\S)"
)
_HEART = re.compile("<3+")

# Markdown
_FENCE = re.compile(r"(```|~~~)[\s\S]*?(?:\1|\Z)")
_HR = re.compile(r"[ \t]*(?:[-*_][ \t]*){3,}")
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+(.*)")
_BULLET = re.compile(r"[ \t]*(?:[-*+•]|[0-9]{1,3}[.)])[ \t]+(.*)")
_QUOTE = re.compile(r"[ \t]*(?:>[ \t]?)+")
_TABLE_SEPARATOR = re.compile(r"[ \t|:\-]+")
_IMAGE = re.compile(r"!\[[^\[\]\n]*\]\([^()\n]*\)")
_LINK = re.compile(r"\[([^\[\]\n]*)\]\([^()\n]*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^<>\s]*)>", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`+([^`\n]*)`+")
_TAG = re.compile(r"<!--[^<>]*-->|</?[A-Za-z][^<>\n]*>")
_EMPHASIS = re.compile(r"\*\*|__|~~")
_END_PUNCT = ".!?:;,"

# Abbreviations (e.g., a.m.): A final "." is kept when the abbreviation ends the sentence.
_KEEP_STOP = r"(?:\.(?![ \t]*$)(?![ \t]+[A-Z]))?"

# Symbols and punctuation
_SHARP = re.compile(r"(?<![\w#])([A-G])#(?!\w)")
_PER = re.compile(
    r"/(?=(?:hour|hr|h|day|week|month|mo|year|yr|minute|min|second|sec|s|person|each)(?!\w))"
)
_PLURAL_S = re.compile(r"(?<=\w)\(s\)")
_WORD_DOT = re.compile(r"\.(?<=[^\W\d_]{2}\.)(?=[a-z]{2})|\.(?<=[a-z]{2}\.)(?=[A-Z])")
_EQUALS = re.compile("==+")
_REPLACEMENTS = (
    ("->", " to "),
    ("=>", " to "),
    ("!=", " does not equal "),
    (" - ", ", "),
    ("--", ", "),
    ("—", ", "),
    ("()", " "),
    ("[]", " "),
)
# Every ASCII character that is not spoken as itself: a word, a pause or a space.
_SYMBOL_TABLE = str.maketrans(
    {
        **dict.fromkeys("#$*<>^_`~", " "),
        "&": " and ",
        "+": " plus ",
        "=": " equals ",
        "@": " at ",
        "%": " percent ",
        "/": " ",
        "\\": " ",
        "|": " ",
        "(": ", ",
        ")": ", ",
        "[": ", ",
        "]": ", ",
        "{": " ",
        "}": " ",
    }
)
_NOT_SPOKEN = re.compile(r"[^\w\s.,!?'\"\-:;]")
_LOOSE_HYPHEN = re.compile(r"-(?<!\w-)-*|-+(?!\w)")
_PUNCT_RUN = re.compile(r"[.,!?;:](?:\s*[.,!?;:])+")
_TOKEN_BREAKS = str.maketrans(dict.fromkeys('.,!?;:"()[]{}*~<>|/\\', " "))
_LETTER = re.compile(r"[^\W\d_]")


def _strongest(run: str) -> str:
    marks = "".join(c for c in run if not c.isspace())
    if len(marks) >= 3 and set(marks) == {"."}:
        return "..."
    for mark in "?!.;:":
        if mark in marks:
            return mark
    return ","


def _prepare(text: str) -> str:
    if "&" in text and ";" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m[0]), text)
    if "\x1b" in text or "\x9b" in text:
        text = ANSI_RE.sub("", text)
    if not text.isprintable():
        text = text.translate(_CONTROL_TABLE)
    if not text.isascii():
        text = _BAD_CHARS.sub(" ", text)
        text = _KEYCAP.sub(" ", text)
        text = _EMOJI.sub(" ", text)
        text = INVISIBLE_RE.sub("", text)
        text = _PRE_NFKC_RE.sub(lambda m: _PRE_NFKC[m[0]], text)
        text = unicodedata.normalize("NFKC", text)
        text = _COMBINING.sub("", text)
        text = _OTHER_DIGIT.sub(_ascii_digit, text)
        text = text.translate(_CHAR_MAP)
    text = _EMOTICON.sub(" ", text)
    if "<3" in text:
        text = _HEART.sub(" ", text)
    return text


def _ascii_digit(m: re.Match[str]) -> str:
    value = unicodedata.decimal(m[0], None)
    return " " if value is None else str(value)


def _markdown(text: str) -> str:
    if "```" in text or "~~~" in text:
        text = _FENCE.sub("\n", text)
    text = _markdown_lines(text)
    if "](" in text:
        text = _IMAGE.sub(" ", text)
        text = _LINK.sub(r"\1", text)
    if "<" in text:
        text = _AUTOLINK.sub(r" \1 ", text)
        text = _TAG.sub(" ", text)
    if "`" in text:
        text = _INLINE_CODE.sub(r"\1", text)
    return _EMPHASIS.sub("", text)


def _line_kind(line: str) -> tuple[str, str]:
    """(kind, content) of one Markdown line."""
    if not line.strip():
        return "blank", ""
    if _HR.fullmatch(line):
        return "blank", ""
    quote = _QUOTE.match(line)
    if quote:
        line = line[quote.end() :]
    m = _HEADING.fullmatch(line)
    if m:
        return "heading", m[1].rstrip(" \t#")
    m = _BULLET.fullmatch(line)
    if m:
        return "item", m[1]
    stripped = line.strip()
    if stripped.startswith("|") or (stripped.endswith("|") and "|" in stripped[:-1]):
        if _TABLE_SEPARATOR.fullmatch(stripped) and "-" in stripped:
            return "blank", ""
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        return "row", ", ".join(c for c in cells if c)
    return "text", line


def _close(content: str, mark: str) -> str:
    content = content.rstrip()
    if not content or content[-1] in _END_PUNCT:
        return content
    return content + mark


def _markdown_lines(text: str) -> str:
    first = text.lstrip(" \t")[:1]
    if "\n" not in text and "|" not in text and first not in "#-*+•>_" and not first.isdigit():
        return text
    lines = [_line_kind(line) for line in text.split("\n")]
    out: list[str] = []
    following = None  # the kind of the next non-blank line (walking backwards)
    for kind, content in reversed(lines):
        if kind == "heading" or kind == "row":
            out.append(_close(content, "."))
        elif kind == "item":
            out.append(_close(content, "," if following == "item" else "."))
        elif kind == "text":
            out.append(content)
        if kind != "blank":
            following = kind
    return "\n".join(reversed(out))


def _finish(text: str) -> str:
    if "#" in text:
        text = _SHARP.sub(r"\1 sharp", text)
    if "/" in text:
        text = _PER.sub(" per ", text)
    if "(s)" in text:
        text = _PLURAL_S.sub("s", text)
    for old, new in _REPLACEMENTS:
        if old in text:
            text = text.replace(old, new)
    if "==" in text:
        text = _EQUALS.sub("=", text)
    if "." in text:
        text = _WORD_DOT.sub(_word_dot, text)
    text = text.translate(_SYMBOL_TABLE)
    if not text.isascii():
        text = _NOT_SPOKEN.sub(" ", text)
    if "-" in text:
        text = _LOOSE_HYPHEN.sub(" ", text)
    if _DIGIT.search(text):  # a safety net: no rule should leave a digit behind
        text = _DIGITS.sub(lambda m: " " + _digit_by_digit(m[0]) + " ", text)
    text = " ".join(text.split())
    for mark in ".,!?;:":
        text = text.replace(" " + mark, mark)
    text = _PUNCT_RUN.sub(lambda m: _strongest(m[0]), text)
    text = text.lstrip(" .,!?;:").rstrip(" ,;")
    return text if _LETTER.search(text) else ""


def _word_dot(m: re.Match[str]) -> str:
    return " dot " if m.string[m.end() : m.end() + 1].islower() else ". "
