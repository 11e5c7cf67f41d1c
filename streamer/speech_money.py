"""English money for the speech text: "$2.50" is "two dollars and fifty cents".

Part of rule 9 of the speech text (see ``streamer.speech_text``); ``EnglishNumbers`` in
``speech_quantities`` runs these rules first among the number rules.
"""

from __future__ import annotations

import re

from streamer.speech_dates import _EAT_DASH
from streamer.speech_numbers import (
    _MAX_GROUPED_DIGITS,
    _MAX_PLAIN_DIGITS,
    _WHOLE,
    _read_amount,
    number_to_words,
)

# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions (this holds in every speech_* module).

# symbol -> (one, many, one hundredth, many hundredths); "" = no subunit
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
}
_MONEY_SCALES = {
    "k": "thousand",
    "K": "thousand",
    "m": "million",
    "M": "million",
    "mn": "million",
    "mil": "million",
    "b": "billion",
    "B": "billion",
    "bn": "billion",
    "t": "trillion",
    "T": "trillion",
    "thousand": "thousand",
    "million": "million",
    "billion": "billion",
    "trillion": "trillion",
}

_CODES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD")
_AMOUNT = r"([0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.([0-9]+))?"
_MONEY_BEFORE = re.compile(
    r"([$€£¥])[ \t]?(-)?" + _AMOUNT + r"(?:(mil|mn|bn|[kKmMbBtT])(?![A-Za-z])"
    r"|[ \t]?(thousand|million|billion|trillion)(?![A-Za-z]))?"
)
_MONEY_AFTER = re.compile(
    r"(" + _WHOLE.replace("[0-9]", r"[0-9](?<![\w.,][0-9])", 1) + r")(?:\.([0-9]+))?"
    r"(?:(bn|[kKMB])(?![A-Za-z]))?"
    r"[ \t]?(" + "|".join(_CODES) + r"|[$€£¥¢])(?![A-Za-z])"
)


def _money(
    negative: bool, currency: str, whole: str, fraction: str | None, scale: str | None
) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[currency]
    sign = "minus " if negative else ""
    digits = whole.replace(",", "")
    if scale:
        return f" {sign}{_read_amount(whole, fraction)} {_MONEY_SCALES[scale]} {many} "
    if len(digits) > _MAX_PLAIN_DIGITS and "," not in whole:
        return f" {sign}{_read_amount(whole, fraction)} {many} "
    major = int(digits) if len(digits) <= _MAX_GROUPED_DIGITS else -1
    if fraction is None or major < 0:
        unit = one if major == 1 else many
        return f" {sign}{_read_amount(whole, fraction)} {unit} "
    if len(fraction) > 2 or not sub_one:
        return f" {sign}{_read_amount(whole, fraction)} {many} "
    minor = int(fraction.ljust(2, "0"))
    parts = []
    if major or not minor:
        parts.append(f"{number_to_words(major)} {one if major == 1 else many}")
    if minor:
        parts.append(f"{number_to_words(minor)} {sub_one if minor == 1 else sub_many}")
    return f" {sign}{' and '.join(parts)} "


def _dash_before(m: re.Match[str]) -> str:
    """For a "-" right before the match: "to" after a number ("$5-$10"), "minus" after
    a space or at the start ("-$5"), else ""; with a mark that removes the "-"."""
    start, text = m.start(), m.string
    if start == 0 or text[start - 1] != "-":
        return ""
    before = text[start - 2] if start >= 2 else " "
    if before in "0123456789":
        return _EAT_DASH + " to "
    return "" if before.isalnum() or before in "_-." else _EAT_DASH + " minus "


def _money_before(m: re.Match[str]) -> str:
    dash = _dash_before(m)
    amount = _money(bool(m[2]), m[1], m[3], m[4], m[5] or m[6])
    return f"{dash} {amount} "


def _money_after(m: re.Match[str]) -> str:
    dash, currency = _dash_before(m), m[4]
    if currency == "¢":
        return f"{dash} {_read_amount(m[1], m[2])} cents "
    return f"{dash} {_money(False, currency, m[1], m[2], m[3])} "
