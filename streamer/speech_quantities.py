"""English number rules for the speech text: money, units, fractions, plain numbers...

Rule 9 of the speech text (see ``streamer.speech_text``), with the dates and times of
``speech_dates``; ``EnglishNumbers`` is the one entry point.
"""

from __future__ import annotations

import re

from streamer.speech_dates import (
    _CLOCK_TIME,
    _DAY_MONTH,
    _DURATION,
    _EAT_DASH,
    _EATEN_DASH,
    _HOUR_TIME,
    _ISO_DATE,
    _MONTH_DAY,
    _MONTH_HINT,
    _NUMERIC_DATE,
    _Clock,
    _day_month,
    _duration,
    _iso_date,
    _month_day,
    _numeric_date,
)
from streamer.speech_money import _CODES, _MONEY_AFTER, _MONEY_BEFORE, _money_after, _money_before
from streamer.speech_numbers import (
    _MAX_GROUPED_DIGITS,
    _MAX_PLAIN_DIGITS,
    _WHOLE,
    _digit_by_digit,
    _ordinalize,
    _pairs,
    _plain_number,
    _pluralize,
    _read_number,
    _year_words,
    number_to_words,
)

__all__ = ["EnglishNumbers"]


# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions (this holds in every speech_* module).

_MAGNITUDES = {"k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion"}
_MAGNITUDES["T"] = "trillion"
_RESOLUTION_K = frozenset({"2", "4", "5", "8", "16"})
_RESOLUTIONS = frozenset({"240", "360", "480", "540", "720", "900", "1080", "1440", "2160", "4320"})

_UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "l": ("liter", "liters"),
    "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "fps": ("frame per second", "frames per second"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "px": ("pixel", "pixels"),
    "dB": ("decibel", "decibels"),
}

_ABOUT = re.compile(r"~(?=[ \t]?[-$€£¥]?[0-9])")
_RATIO = re.compile(r"([0-9]):(?=[0-9])")
_NUMBER_SIGN = re.compile(r"(?:#|(?<!\w)No\.)[ \t]?(?=[0-9])")
_DECADE = re.compile(r"(?<![\w.])'?([0-9]{2}|[0-9]{4})'?s(?!\w)")
_RESOLUTION = re.compile(r"([0-9](?<![\w.][0-9])[0-9]{2,3})[pP](?!\w)")
_ORDINAL = re.compile(
    r"(" + _WHOLE.replace("[0-9]", r"[0-9](?<![\w.][0-9])", 1) + r")"
    r"(st|nd|rd|th|ST|ND|RD|TH)(?!\w)"
)
_MIXED_FRACTION = re.compile(
    r"(?<![\w./,])([0-9]+)[ \t]+([0-9]{1,3})/([0-9]{1,3})(?![\w/]|[.,][0-9])"
)
_FRACTION = re.compile(r"(?<![\w./,])([0-9]{1,3})/([0-9]{1,3})(?![\w/]|[.,][0-9])")
# A decimal over a number (or a number over a decimal): "3.5/5" is "3.5 out of 5".
_DECIMAL_FRACTION = re.compile(
    r"([0-9](?<![\w.,/][0-9])[0-9]*(?:\.[0-9]+)?)/([0-9]+(?:\.[0-9]+)?)(?![\w/]|[.,][0-9])"
)
_FRACTION_DENOMINATORS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 32, 64})
_TIMES_OP = re.compile(r"([0-9])(?:[ \t]*[×*][ \t]*| [xX] )(?=-?[0-9])")
_BY = re.compile(r"([0-9])[xX](?=[0-9])")
_MULTIPLIER_AFTER = re.compile(r"([0-9](?<![\w.][0-9])[0-9]*(?:\.[0-9]+)?)[xX](?!\w)")
_MULTIPLIER_BEFORE = re.compile(r"[xX](?<![\w.][xX])([0-9]+(?:\.[0-9]+)?)(?![\w.])")
# "x2" is two times, but x86, x64, x86_64 and x86-64 name processor architectures.
_ARCHITECTURE = re.compile(r"([xX])(?<![\w.][xX])(86(?:[-_]64)?|64)(?!\w|[.-][0-9])")
_POWER = re.compile(r"([0-9])[ \t]*\^[ \t]*(?=-?[0-9])")
_COMPARE = re.compile(r"([0-9])[ \t]*(<=|>=|<|>)[ \t]*(?=-?[0-9])")
_COMPARE_WORDS = {
    "<": " less than ",
    ">": " greater than ",
    "<=": " less than or equal to ",
    ">=": " greater than or equal to ",
}
_MAGNITUDE = re.compile(r"([0-9](?<![\w.,][0-9])[0-9]*(?:\.[0-9]+)?)(bn|[kKMBT])(?!\w)")
_UNIT = re.compile(
    r"("
    + _WHOLE.replace("[0-9]", r"[0-9](?<![\w.,][0-9])", 1)
    + r")(\.[0-9]+)?[ \t]?("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?!\w)"
)
_PERCENT = re.compile(r"([0-9])[ \t]?%")
_RANGE = re.compile(r"([0-9])([ \t]*–[ \t]*|-|[ \t]+-[ \t]+)(?=[0-9])")
_EQUATION_AHEAD = re.compile(r"[0-9][0-9.,]*[ \t]*=")
_POINT = re.compile(r"\.(?<![\w.]\.)([0-9]+)")
_NEGATIVE = re.compile(r"-(?<![\w.-]-)(" + _WHOLE + r")((?:\.[0-9]+)*)")
_NUMBER = re.compile(r"(" + _WHOLE + r")((?:\.[0-9]+)*)")


class EnglishNumbers(_Clock):
    """Every English number rule: what the speech text calls to read numbers.

    ``rules`` reads the numbers that have a context (money, dates, times, ordinals,
    fractions, units, ranges...); it runs before the name rule, so "5km" or "2nd" is
    never taken for a name. ``plain_numbers`` reads what is left after it (plain
    numbers, decimals, negatives, the digits of "gamer99"). ``clock`` is 12 or 24. A
    reader for another language offers the same two methods.
    """

    def rules(self, text: str) -> str:
        # Each rule runs only when the characters it needs are there.
        if "~" in text:
            text = _ABOUT.sub("about ", text)
        if any(c in text for c in "$€£¥¢") or any(code in text for code in _CODES):
            text = _MONEY_BEFORE.sub(_money_before, text)
            text = _MONEY_AFTER.sub(_money_after, text)
            if _EAT_DASH in text:
                text = _EATEN_DASH.sub(" ", text)
        if "-" in text:
            text = _ISO_DATE.sub(_iso_date, text)
        if "/" in text or "." in text:
            text = _NUMERIC_DATE.sub(_numeric_date, text)
        if _MONTH_HINT.search(text):
            text = _MONTH_DAY.sub(_month_day, text)
            text = _DAY_MONTH.sub(_day_month, text)
        if ":" in text:
            text = _DURATION.sub(_duration, text)
            text = _CLOCK_TIME.sub(self._clock_time, text)
        text = _HOUR_TIME.sub(self._hour_time, text)
        if ":" in text:
            text = _RATIO.sub(r"\1 to ", text)
        if "#" in text or "No." in text:
            text = _NUMBER_SIGN.sub("number ", text)
        if "0s" in text or "0's" in text:
            text = _DECADE.sub(_decade, text)
        text = _RESOLUTION.sub(_resolution, text)
        text = _ORDINAL.sub(_ordinal, text)
        if "/" in text:
            text = _MIXED_FRACTION.sub(_mixed_fraction, text)
            text = _FRACTION.sub(_fraction, text)
            if "." in text:
                text = _DECIMAL_FRACTION.sub(_decimal_fraction, text)
        if "*" in text or "×" in text or " x " in text or " X " in text:
            text = _TIMES_OP.sub(r"\1 times ", text)
        if "x" in text or "X" in text:
            text = _BY.sub(r"\1 by ", text)
            text = _ARCHITECTURE.sub(_architecture, text)
            text = _MULTIPLIER_AFTER.sub(r"\1 times ", text)
            text = _MULTIPLIER_BEFORE.sub(r"\1 times ", text)
        if "^" in text:
            text = _POWER.sub(r"\1 to the power of ", text)
        if "<" in text or ">" in text:
            text = _COMPARE.sub(lambda m: m[1] + _COMPARE_WORDS[m[2]], text)
        text = _MAGNITUDE.sub(_magnitude, text)
        text = _UNIT.sub(_unit, text)
        if "%" in text:
            text = _PERCENT.sub(r"\1 percent", text)
        if "-" in text or "–" in text:
            text = _RANGE.sub(_range, text)
        if _EAT_DASH in text:
            text = _EATEN_DASH.sub(" ", text)
        return text

    @staticmethod
    def plain_numbers(text: str) -> str:
        return _final_numbers(text)


def _decade(m: re.Match[str]) -> str:
    digits = m[1]
    if digits[-1] != "0" or digits == "00":
        return m[0]
    value = int(digits)
    if len(digits) == 4:
        if not 1000 <= value <= 2999:
            return m[0]
        return f" {_pluralize(_year_words(value))} "
    return f" {_pluralize(number_to_words(value))} "


def _resolution(m: re.Match[str]) -> str:
    if m[1] not in _RESOLUTIONS:
        return m[0]
    return f" {_pairs(int(m[1]))} p "


def _ordinal(m: re.Match[str]) -> str:
    digits = m[1].replace(",", "")
    if len(digits) > _MAX_GROUPED_DIGITS or (len(digits) > _MAX_PLAIN_DIGITS and "," not in m[1]):
        return f" {_digit_by_digit(digits)} "
    return f" {_ordinalize(number_to_words(int(digits)))} "


def _fraction_words(numerator: int, denominator: int) -> str | None:
    """Words for a simple fraction, or None when it is not one."""
    if denominator == 0 or numerator == 0 or numerator >= denominator:
        return None
    if denominator in _FRACTION_DENOMINATORS or (denominator in (10, 100) and numerator == 1):
        if denominator == 2:
            name = "half"
        elif denominator == 4:
            name = "quarter"
        else:
            name = _ordinalize(number_to_words(denominator))
        if numerator != 1:
            name = "halves" if denominator == 2 else _pluralize(name)
        return f"{number_to_words(numerator)} {name}"
    return None


def _mixed_fraction(m: re.Match[str]) -> str:
    words = _fraction_words(int(m[2]), int(m[3]))
    if words is None:
        return m[0]
    return f" {_read_number(m[1])} and {words} "


def _fraction(m: re.Match[str]) -> str:
    a, b = m[1], m[2]
    numerator, denominator = int(a), int(b)
    if (a, b) == ("24", "7") or (a == b and a == "50"):
        return f" {number_to_words(numerator)} {number_to_words(denominator)} "
    words = _fraction_words(numerator, denominator)
    if words is not None:
        return f" {words} "
    joiner = "out of" if numerator <= denominator else "over"
    return f" {_plain_number(a)} {joiner} {_plain_number(b)} "


def _architecture(m: re.Match[str]) -> str:
    return f" {m[1]} {m[2].replace('-', ' ').replace('_', ' ')}"


def _decimal_fraction(m: re.Match[str]) -> str:
    a, b = m[1], m[2]
    if "." not in a and "." not in b:  # whole over whole: the fraction rules had it
        return m[0]
    joiner = "out of" if float(a) <= float(b) else "over"
    return f" {a} {joiner} {b} "


def _magnitude(m: re.Match[str]) -> str:
    number, suffix = m[1], m[2]
    if suffix == "K" and number in _RESOLUTION_K:
        return f"{number} K "
    return f"{number} {_MAGNITUDES[suffix]} "


def _unit(m: re.Match[str]) -> str:
    whole, decimals, unit = m[1], m[2] or "", m[3]
    one, many = _UNITS[unit]
    return f"{whole}{decimals} {one if whole == '1' and not decimals else many} "


def _range(m: re.Match[str]) -> str:
    dash = m[2]
    if dash != "-" and dash.strip() == "-" and _EQUATION_AHEAD.match(m.string, m.end()):
        return m[1] + " minus "
    return m[1] + " to "


def _final_numbers(text: str) -> str:
    if "." in text:
        text = _POINT.sub(lambda m: " point " + _digit_by_digit(m[1]) + " ", text)
    if "-" in text:
        text = _NEGATIVE.sub(lambda m: _number(m, negative=True), text)
    return _NUMBER.sub(_number, text)


def _number(m: re.Match[str], *, negative: bool = False) -> str:
    decimals = m[2].split(".")[1:] if m[2] else []
    return _read_number(m[1], decimals, negative=negative, year=True)
