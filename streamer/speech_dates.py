"""English dates, durations and times of day for the speech text.

Part of rule 9 of the speech text (see ``streamer.speech_text``); ``EnglishNumbers`` in
``speech_quantities`` runs these rules in their place among the others.
"""

from __future__ import annotations

import re

from streamer.speech_markup import _KEEP_STOP
from streamer.speech_numbers import _ONES, _ordinalize, _words, _year_words, number_to_words

# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions (this holds in every speech_* module).

_MONTHS = _words(
    "January February March April May June July August September October November December"
)
_MONTH_NUMBERS = {name: i + 1 for i, name in enumerate(_MONTHS)}
_MONTH_NUMBERS.update(
    {
        "Jan": 1,
        "Feb": 2,
        "Mar": 3,
        "Apr": 4,
        "Jun": 6,
        "Jul": 7,
        "Aug": 8,
        "Sep": 9,
        "Sept": 9,
        "Oct": 10,
        "Nov": 11,
        "Dec": 12,
    }
)
_MONTH_ALT = "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True))

_ISO_DATE = re.compile(
    r"([0-9](?<![\w.,/-][0-9])[0-9]{3})-([0-9]{1,2})-([0-9]{1,2})(?![\w/-]|[.,][0-9])"
)
_NUMERIC_DATE = re.compile(
    r"([0-9](?<![\w.,/-][0-9])[0-9]?)(?:/([0-9]{1,2})/([0-9]{4}|[0-9]{2})(?![\w/]|[.,][0-9])"
    r"|\.([0-9]{1,2})\.([0-9]{4})(?![\w.]|,[0-9]))"
)
_MONTH_HINT = re.compile(r"[JFMASOND](?<!\w[JFMASOND])(?:an|eb|ar|pr|ay|un|ul|ug|ep|ct|ov|ec)")
_MONTH_DAY = re.compile(
    r"([JFMASOND](?<!\w[JFMASOND])(?:"
    + "|".join(sorted({name[1:] for name in _MONTH_NUMBERS}, key=len, reverse=True))
    + r"))\.?[ \t]+([0-9]{1,2})(?:st|nd|rd|th)?(?!\w|[.,:][0-9])"
    r"(?:,?[ \t]+([0-9]{4})(?!\w|[.,][0-9]))?"
)
_DAY_MONTH = re.compile(
    r"([0-9](?<![\w.,][0-9])[0-9]?)(?:st|nd|rd|th)?[ \t]+(of[ \t]+)?(" + _MONTH_ALT + r")(?!\w)\.?"
    r"(?:,?[ \t]+([0-9]{4})(?!\w|[.,][0-9]))?"
)
_DURATION = re.compile(r"([0-9](?<![\w.,:][0-9])[0-9]?):([0-9]{2}):([0-9]{2})(?![\w:]|[.,][0-9])")
_AMPM = r"(?:([aApP])[mM](?!\w)|([aApP])\.[mM]" + _KEEP_STOP + r"(?!\w))"
_CLOCK_TIME = re.compile(
    r"([0-9](?<![\w.,:][0-9])[0-9]?):([0-9]{2})(?![0-9]|:[0-9]|[.,][0-9])"
    r"(?:[ \t]?" + _AMPM + ")?"
)
_HOUR_TIME = re.compile(r"([0-9](?<![\w.,:][0-9])[0-9]?)[ \t]?" + _AMPM)

# A rule that reads the dash before its match ("$5-$10", "9am - 5pm") says so with this
# mark; the dash and the mark are then removed together. No control character is left
# in the text by then, so the mark cannot clash with the input.
_EAT_DASH = "\x00"
_EATEN_DASH = re.compile("[-–][ \t]*\x00|\x00")
_TIME_DASH = re.compile(r"[0-9mM.][ \t]?[-–][ \t]?\Z")


def _dash_to(m: re.Match[str]) -> str:
    """ "to" for a time after a dash that follows a number or a time ("9am-5pm")."""
    start = m.start()
    if _TIME_DASH.search(m.string, max(0, start - 4), start):
        return _EAT_DASH + " to "
    return ""


def _date_words(year: str | None, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    words = f"{_MONTHS[month - 1]} {_ordinalize(number_to_words(day))}"
    if year is not None:
        value = int(year)
        if len(year) == 2:
            value += 2000 if value < 50 else 1900
        words += ", " + _year_words(value)
    return f" {words} "


def _iso_date(m: re.Match[str]) -> str:
    return _date_words(m[1], int(m[2]), int(m[3])) or m[0]


def _numeric_date(m: re.Match[str]) -> str:
    if m[2] is not None:  # a/b/year: month first unless a > 12
        a, b = int(m[1]), int(m[2])
        month, day = (b, a) if a > 12 else (a, b)
        return _date_words(m[3], month, day) or m[0]
    return _date_words(m[5], int(m[4]), int(m[1])) or m[0]  # day.month.year


def _month_day(m: re.Match[str]) -> str:
    if m[1] not in _MONTH_NUMBERS:  # "Fanuary": the pattern only checks the tail
        return m[0]
    return _date_words(m[3], _MONTH_NUMBERS[m[1]], int(m[2])) or m[0]


def _day_month(m: re.Match[str]) -> str:
    month, day = _MONTH_NUMBERS[m[3]], int(m[1])
    if m[2]:  # "the 5th of May": keep that order
        if not 1 <= day <= 31:
            return m[0]
        words = f" {_ordinalize(number_to_words(day))} of {_MONTHS[month - 1]}"
        if m[4]:
            words += ", " + _year_words(int(m[4]))
        return words + " "
    return _date_words(m[4], month, day) or m[0]


def _duration(m: re.Match[str]) -> str:
    hours, minutes, seconds = int(m[1]), int(m[2]), int(m[3])
    if minutes > 59 or seconds > 59:
        return m[0]
    parts = [
        f"{number_to_words(v)} {name if v == 1 else name + 's'}"
        for v, name in ((hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if v
    ]
    if not parts:
        return " zero seconds "
    if len(parts) == 1:
        return f" {parts[0]} "
    return " " + ", ".join(parts[:-1]) + " and " + parts[-1] + " "


def _minute_words(minute: int) -> str:
    return "oh " + _ONES[minute] if minute < 10 else number_to_words(minute)


class _Clock:
    """Times of day, read for a 12- or a 24-hour clock (the ``clock`` setting)."""

    def __init__(self, clock: int) -> None:
        self._clock = clock

    def _time_words(self, hour: int, minute: int, half: str | None) -> str:
        if half is not None:
            half = half.upper()
            if half == "P" and hour < 12:
                hour += 12
            elif half == "A" and hour == 12:
                hour = 0
        if self._clock == 24:
            if minute == 0:
                return f" {number_to_words(hour)} hundred "
            return f" {number_to_words(hour)} {_minute_words(minute)} "
        suffix = ""
        if half is not None or hour > 12 or hour == 0:
            suffix = " PM" if hour >= 12 else " AM"
        shown = hour % 12 or 12
        middle = " " + _minute_words(minute) if minute else ("" if suffix else " o'clock")
        return f" {number_to_words(shown)}{middle}{suffix} "

    def _clock_time(self, m: re.Match[str]) -> str:
        hour, minute = int(m[1]), int(m[2])
        half = m[3] or m[4]
        if hour == 24 and minute == 0 and half is None:  # midnight, at the end of a day
            return " twenty-four hundred " if self._clock == 24 else " twelve AM "
        if hour > 23 or minute > 59:
            return m[0]
        return _dash_to(m) + self._time_words(hour, minute, half)

    def _hour_time(self, m: re.Match[str]) -> str:
        hour = int(m[1])
        if not 1 <= hour <= 12:
            return m[0]
        return _dash_to(m) + self._time_words(hour, 0, m[2] or m[3])
