"""English number words for the speech text: the words of a number, a year, an ordinal.

``number_to_words`` is public (``streamer.speech_text`` exports it); the rest is used by
the rules of the other ``speech_*`` modules. The rules themselves (which digits in a
text are money, a date, a unit...) are ``EnglishNumbers`` in ``speech_quantities``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["number_to_words"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ONES = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = (
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
    "quintillion",
    "sextillion",
    "septillion",
    "octillion",
    "nonillion",
    "decillion",
    "undecillion",
    "duodecillion",
    "tredecillion",
    "quattuordecillion",
    "quindecillion",
    "sexdecillion",
    "septendecillion",
    "octodecillion",
    "novemdecillion",
    "vigintillion",  # 10**63, the largest name; larger scales compose with it
)
_TOP = len(_SCALES) - 1
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_MAX_PLAIN_DIGITS = 15  # longer digit strings are read digit by digit
_MAX_GROUPED_DIGITS = 66  # 1,000,000,... with separators: read as a number up to here


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("-" + _ONES[ones] if ones else "")


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _below_hundred(rest)
    words = _ONES[hundreds] + " hundred"
    return words + " " + _below_hundred(rest) if rest else words


def _scale_name(index: int) -> str:
    """The name of 1000**index: "thousand", "million", ... "thousand vigintillion"."""
    if index <= _TOP:
        return _SCALES[index]
    times, rest = divmod(index, _TOP)
    names = [_SCALES[rest]] if rest else []
    names.extend(["vigintillion"] * times)
    return " ".join(names)


def number_to_words(n: int) -> str:
    """``n`` in English words: 1234 is "one thousand two hundred thirty-four".

    Negatives start with "minus"; no "and" after hundreds; any size (past
    vigintillion, 10**63, the scale names compose: "one thousand vigintillion").
    """
    n = int(n)
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 1000:
        return _below_thousand(n)
    groups: list[str] = []
    index = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            name = _scale_name(index)
            groups.append(_below_thousand(group) + (" " + name if name else ""))
        index += 1
    return " ".join(reversed(groups))


def _ordinalize(words: str) -> str:
    """ "twenty-two" -> "twenty-second"."""
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + last


def _pluralize(words: str) -> str:
    """ "ninety" -> "nineties", "third" -> "thirds"."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith(("s", "x")):
        return words + "es"
    return words + "s"


_DIGIT_WORDS = {str(i): _ONES[i] for i in range(10)}


def _digit_by_digit(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[c] for c in digits if c in _DIGIT_WORDS)


def _pairs(n: int) -> str:
    """Read as two-digit pairs: 1080 "ten eighty", 1905 "nineteen oh five"."""
    high, low = divmod(n, 100)
    if not high:
        return number_to_words(low)
    if not low:
        return number_to_words(high) + " hundred"
    if low < 10:
        return number_to_words(high) + " oh " + _ONES[low]
    return number_to_words(high) + " " + number_to_words(low)


def _year_words(year: int) -> str:
    if not 1000 <= year <= 9999 or year % 1000 == 0 or 2000 <= year <= 2009:
        return number_to_words(year)
    return _pairs(year)


def _plain_number(digits: str) -> str:
    """An unsigned digit string (no separators) as words."""
    if len(digits) > _MAX_PLAIN_DIGITS or (len(digits) > 1 and digits[0] == "0"):
        return _digit_by_digit(digits)
    return number_to_words(int(digits))


def _read_number(
    whole: str, decimals: Sequence[str] = (), *, negative: bool = False, year: bool = False
) -> str:
    """``whole`` (maybe with thousands separators) and its ``.decimals`` as words."""
    if "," in whole:
        digits = whole.replace(",", "")
        if len(digits) > _MAX_GROUPED_DIGITS:
            words = _digit_by_digit(digits)
        else:
            words = number_to_words(int(digits))
    elif not whole:
        words = ""
    elif year and not decimals and not negative and len(whole) == 4 and whole[0] in "12":
        value = int(whole)
        words = _year_words(value) if 1100 <= value <= 2099 else _plain_number(whole)
    else:
        words = _plain_number(whole)
    if len(decimals) == 1:
        words += " point " + _digit_by_digit(decimals[0])
    else:  # a version or an address: 1.2.3
        for part in decimals:
            words += " point " + _plain_number(part)
    words = words.strip()
    return "minus " + words if negative else words


def _read_amount(whole: str, fraction: str | None) -> str:
    return _read_number(whole, (fraction,) if fraction else ())


# Digits in a text, for the rules of the other modules.
_DIGIT = re.compile("[0-9]")
_DIGITS = re.compile("[0-9]+")
# A whole number, maybe with thousands separators (its first digit matched first).
_WHOLE = r"[0-9](?:[0-9]{0,2}(?:,[0-9]{3})+(?![0-9])|[0-9]*)"
