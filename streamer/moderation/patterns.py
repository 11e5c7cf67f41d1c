"""Built-in patterns for personal data in what is about to be spoken.

Each finder returns the matching part of the text (for a redacted log hint) or None.
They read the text after NFKC (full-width and styled digits become plain ones) and are
tuned to flag what a voice would read as a phone number, an e-mail address or a street
address, and to let ordinary numbers through:

* phone: ``+`` and a country code followed by groups; ``(555) 010-9999``;
  ``555-010-9999`` / ``555.010.9999``; ``020 7946 0958`` (a leading 0 or a phone word
  such as "call" or "number" before space-separated groups); seven or more digits
  spelled out ("five five five, oh one nine nine ..."). Not flagged: dates
  (``2024-01-15``, ``15.01.2024``), times, prices and thousands (``1,250,000``),
  decimals, years side by side ("1999 2004"), a counted run ("one two three four five
  six seven") and plain long numbers without a phone word ("8000000 people").
* email: ``name@example.com`` and the spelled form "name at example dot com".
* address: a house number, one to three name words and a street word ("221B Baker
  Street", "1600 Pennsylvania Avenue NW"). The words between may not be small words or
  units, so "5 miles down the road" passes; weak street words (way, place, court...)
  must be capitalized ("42 Wallaby Way" flags, "the 2 best ways" does not).
"""

from __future__ import annotations

import itertools
import re
import unicodedata

MAX_SCAN = 4000

_PHONE_WORDS = re.compile(
    r"\b(?:call|calls|calling|phone|phones|tel|telephone|mobile|cell|number|numbers|"
    r"whatsapp|text|texting|dial|ring|reach|contact|fax|sms|signal|telegram)\b",
    re.IGNORECASE,
)

# A run of digit groups; separators one of space . - and optional parentheses.
# One separator between groups, so a sentence break ("in 1999. 2004 was...") ends a run.
_RUN = re.compile(
    r"(?<![\w.,/:$€£¥#])(\+\s?)?(\(?\d{1,15}\)?(?:(?:[ .-]|\) ?)\(?\d{1,5}\)?)*)(?![\w,/:%°-])"
)
# Phone shapes that need no phone word: 555-010-9999, 1-800-555-0199, 010-9999.
_NANP_SHAPES = frozenset({(3, 3, 4), (1, 3, 3, 4), (3, 4)})
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
_DATE = re.compile(
    r"^(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})$"
)  # fmt: skip
_YEARS = re.compile(r"^(?:(?:1[89]|20)\d\d[ ,-]+)+(?:1[89]|20)\d\d$")

_DIGIT_WORDS = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_WORD_TOKEN = re.compile(r"[a-z]+|\d+", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _plain(text: str) -> str:
    """NFKC (full-width digits), and every dash a hyphen (LLMs write 555–010–9999)."""
    return unicodedata.normalize("NFKC", text[:MAX_SCAN]).translate(_DASHES)


def find_phone(text: str) -> str | None:
    plain = _plain(text)
    for m in _RUN.finditer(plain):
        found = _phone_run(plain, m)
        if found is not None:
            return found
    return _spelled_phone(plain)


def _phone_run(text: str, m: re.Match[str]) -> str | None:
    plus, body = m.group(1), m.group(2).strip()
    digits = re.sub(r"\D", "", body)
    if not 7 <= len(digits) <= 15:
        return None
    groups = re.findall(r"\d+", body)
    shape = tuple(len(g) for g in groups)
    if plus:
        return m.group(0).strip()
    if _DATE.match(body) or _YEARS.match(body):
        return None
    if "(" in body and ")" in body:
        return body  # (555) 010-9999
    separators = set(re.sub(r"[\d()]", "", body))
    if separators == {"."} and len(groups[0]) <= 2:
        return None  # a version: 10.0.19045, 1.2.3.4567
    if separators == {" "} and len(groups) >= 2 and all(len(g) == 3 for g in groups[1:]):
        return None  # thousands written with spaces: 25 000 000
    if shape in _NANP_SHAPES:
        return body  # 555-010-9999, 555.010.9999, 555 010 9999, 1-800-555-0199
    near = text[max(0, m.start() - 40) : m.start()] + " " + text[m.end() : m.end() + 30]
    phone_word = _PHONE_WORDS.search(near) is not None
    if len(groups) >= 2 and (body.startswith("0") or phone_word):
        return body  # 020 7946 0958; "call 555 0199 1234"
    if len(groups) == 1 and phone_word:
        return body  # "my number is 5550109999"
    return None


def _spelled_phone(text: str) -> str | None:
    """Seven or more digits in a row written as words (or words and digits)."""
    run: list[int] = []
    start = end = 0
    tokens = list(_WORD_TOKEN.finditer(text))
    for i, tok in enumerate([*tokens, None]):
        value = None
        if tok is not None:
            word = tok.group().lower()
            if word.isdigit():
                value = int(word) if len(word) == 1 else None
            else:
                value = _DIGIT_WORDS.get(word)
            # "o" alone is a digit only between digits ("five o five").
            if word == "o" and not run:
                value = None
        if value is not None:
            if not run:
                start = tok.start()  # type: ignore[union-attr]
            run.append(value)
            end = tok.end()  # type: ignore[union-attr]
            continue
        if len(run) >= 7 and not _counting(run):
            return text[start:end]
        run = []
        del i
    return None


def _counting(run: list[int]) -> bool:
    """1 2 3 4 ... or 10 9 8 ...: counting, not a number."""
    steps = {b - a for a, b in itertools.pairwise(run)}
    return steps in ({1}, {-1})


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_SPELLED_EMAIL = re.compile(
    r"\b[\w.+-]+\s*[\[(]?\s*(?:at|@)\s*[\])]?\s*[\w-]+\s*[\[(]?\s*dot\s*[\])]?\s*"
    r"(?:com|net|org|edu|gov|io|co|uk|de|fr|me|info|biz|us|ca)\b(?!-)",
    re.IGNORECASE,
)
_SPELLED_NOT_BEFORE_AT = _words(
    "look looking looked good great bad arrive arrived aim aimed laugh laughed laughing "
    "stare staring glance point pointing hit shot shoot mad angry smile smiling "
    "is are was were be"
)


def find_email(text: str) -> str | None:
    plain = _plain(text)
    m = _EMAIL.search(plain)
    if m is not None:
        return m.group()
    for m in _SPELLED_EMAIL.finditer(plain):
        first = re.match(r"[\w.+-]+", m.group())
        if first is not None and first.group().lower() not in _SPELLED_NOT_BEFORE_AT:
            return m.group()
    return None


_STRONG_STREET = (
    r"street|st|avenue|ave|boulevard|blvd|road|rd|lane|ln|drive|dr|highway|hwy|parkway|pkwy"
)
_WEAK_STREET = r"Way|Place|Pl|Court|Ct|Close|Crescent|Square|Sq|Terrace|Row|Gardens|Alley"
_SMALL = _words(
    "the a an on in down up to of at by for from with across along over near into onto "
    "and or my your our their his her its this that these those is are was were "
    "miles mile km kilometers kilometres meters metres feet foot yards minutes minute "
    "hours hour days day weeks years year times steps blocks people cars more less "
    "other few many lanes roads streets"
)
_ADDRESS = re.compile(
    r"\b(\d{1,5}[a-z]?)\s+((?:[A-Za-z][\w'.-]*\s+){1,3}?)(" + _STRONG_STREET + r")\b\.?",
    re.IGNORECASE,
)
_WEAK_ADDRESS = re.compile(
    r"\b(\d{1,5}[A-Za-z]?)\s+((?:[A-Z][\w'.-]*\s+){1,3}?)(" + _WEAK_STREET + r")\b"
)


# A number after one of these is not a house number: "Level 3 Rainbow Road".
_NOT_HOUSE = _words(
    "level levels top season seasons episode chapter part world stage act round "
    "number no vol volume version in since by from until after before of page track "
    "day week year game map lap mission"
)
_YEAR = re.compile(r"(?:1[89]|20)\d\d")


def find_address(text: str) -> str | None:
    plain = _plain(text)
    for pattern in (_ADDRESS, _WEAK_ADDRESS):
        for m in pattern.finditer(plain):
            words = m.group(2).split()
            if any(w.lower().strip(".'") in _SMALL for w in words):
                continue
            before = plain[max(0, m.start() - 20) : m.start()].split()
            if before and before[-1].lower().strip(".,:;'\"") in _NOT_HOUSE:
                continue
            if _YEAR.fullmatch(m.group(1)) or plain[m.end() : m.end() + 1] == "-":
                continue  # "In 2019 Abbey Road", "Stranger Things drive-in"
            return m.group().strip()
    return None
