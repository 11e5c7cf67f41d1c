"""Speech-ready text: what a voice engine can read aloud.

Every answer segment goes through :class:`SpeechText` before espeak-ng or a VITS voice
speaks it. A character-based VITS voice cannot read digits or symbols, so the result
holds only words and ordinary punctuation (``. , ! ? ' - : ;`` and double quotes).
**English rules only**: numbers, dates, units and abbreviations are read the way an
English speaker would say them.

The rules run in this order (each on what the previous ones left):

1. **Clean-up.** HTML entities are decoded; lone surrogates, private-use characters,
   ANSI escapes and control characters are dropped; zero-width and bidi-control
   characters are removed (so ``ex\\u200bample`` is ``example``); the text is NFKC
   normalized (full-width letters, ``…``, ``℃``, ``½``); stacked combining marks
   (zalgo) are removed; digits of other scripts become ASCII digits; curly quotes
   become straight ones. ``²``/``³`` are read "squared"/"cubed".
2. **Emoji** are removed: pictographs, ZWJ sequences, skin tones, flags, keycaps
   (``1️⃣`` goes entirely, it is not "one") and variation selectors. ASCII emoticons
   standing alone (``:)``, ``:D``, ``xD``, ``<3``, ``D:``) are removed too. Kaomoji
   keep whatever letters they hold (``ツ``); their symbols go.
3. **Markdown and HTML.** Fenced code blocks (also an unclosed one) are removed;
   inline `` `code` `` keeps its text; ``**``, ``__``, ``~~``, ``*``, ``_`` markers go;
   headings, list bullets (``-``, ``*``, ``+``, ``1.``) and blockquote ``>`` markers go,
   and a heading or list item without closing punctuation gets a period (a list item
   followed by another gets a comma); table rows become their cells joined by commas,
   separator rows go; ``[text](url)`` keeps the text; images and HTML tags go.
4. **Pronunciations** from the settings: whole words or phrases, case-insensitive,
   longest first, in one pass (a replacement is never matched again by this pass, but
   it does go through the rules after it), before every rule below: ``{"4K": "four
   kay"}`` wins over the number rules. They see the text after steps 1-3 (so a key
   cannot be an emoji) and are never applied inside a URL or an e-mail address, so
   they cannot break one.
5. **Links.** ``https://www.example.com/path?x=1`` is "a link to example dot com"
   (``read_url_domains: false``: "a link"; a link to an IP address is always "a
   link"). A bare domain with a known top-level domain (``example.com``,
   ``twitch.tv``, ``bit.ly/abc``) is read as its name, "example dot com", whatever
   ``read_url_domains`` says (its path is dropped). ``user@example.com`` is "user at
   example dot com".
6. **Emotes.** About fifty common Twitch/BTTV/7TV emotes are removed when they stand as
   a whole word. Matching is case-sensitive, as emotes are: ``LUL`` is an emote,
   ``lul`` is not. ``Clap`` is also an English word, so it is only taken as the emote
   when no lower-case word follows it ("nice Clap Clap" vs "Clap your hands").
   ``emotes`` in the settings adds emotes or overrides built-in ones (``""``: removed,
   else the value is spoken).
7. **User names.** ``@name`` loses the ``@`` and is read as words:
   ``@xX_gamer99_Xx`` is "gamer ninety-nine", ``@NightBot`` is "Night Bot"
   (``xX``/``Xx`` decorations stripped, split on underscores, camelCase and
   letter/digit boundaries). Any other word with an underscore, or with letters
   glued to digits (``CoolGuy42``, ``PS5``) is read the same way, after the number
   rules below had their chance (so ``5km``, ``2nd``, ``2x`` are not names).
8. **Chat abbreviations** (whole words, any case): gg, ggs, brb, imo, imho, tbh, idk,
   btw, afk, irl, thx, np, pls/plz, ppl, omg; also e.g., i.e., etc., vs, w/, w/o,
   and Mr., Mrs., Dr., Prof. before a capitalized name.
9. **Numbers**, in this order:

   * currency: ``$5`` five dollars, ``$1`` one dollar, ``$2.50`` two dollars and
     fifty cents, ``$0.99`` ninety-nine cents, ``€``/``£``/``¥`` (euros and cents,
     pounds and pence, yen), ``50¢``, ``5€``; ``$1.5M``, ``$3k``, ``$2 billion``
     (million, thousand...); ``5 USD``, ``10 EUR``, ``GBP``, ``JPY``, ``CAD``, ``AUD``.
   * dates: ``2024-03-15``, ``03/15/2024`` and ``03/15/24`` (US order; a first number
     above 12 means day/month), ``15.03.2024`` (day first), ``15 March 2024``,
     ``March 15``, ``March 15th, 2024``, ``Jan 5th`` are all read "March fifteenth,
     twenty twenty-four" style; ``the 5th of May`` is "the fifth of May". Month names
     must be capitalized. Two-digit years are 2000-2049 or 1950-1999.
   * durations ``1:02:03`` (hours, minutes and seconds) and times: ``5:30``,
     ``17:30``, ``5:30pm``, ``5 pm``, ``10:00 AM``, ``12:05`` (twelve oh five). With
     ``clock: 12`` 17:30 is "five thirty PM", 9:00 "nine o'clock"; with ``clock: 24``
     17:30 is "seventeen thirty", 17:00 "seventeen hundred" (and 5pm is "seventeen
     hundred"). Other ``a:b`` number pairs (scores, ratios) are "a to b".
   * ``#1`` number one, ``No. 1`` number one; decades ``90s``/``'90s``/``1990s``
     (nineties, nineteen nineties); video resolutions ``1080p`` (ten eighty p).
   * ordinals ``1st 2nd 3rd 22nd 103rd`` (first ... one hundred third).
   * fractions: ``1/2`` one half, ``3/4`` three quarters, ``2/3`` two thirds,
     ``1 1/2`` one and one half, ``1/10`` one tenth; ``7/10`` and ``10/10`` (ratings)
     are "seven out of ten"; ``24/7`` and ``50/50`` are "twenty-four seven", "fifty
     fifty"; a larger numerator is "a over b". With a decimal on either side, ``3.5/5``
     is "three point five out of five" (``7.5/5`` "seven point five over five").
   * ``2x`` and ``x2`` two times, but ``x86``, ``x64``, ``x86_64`` and ``x86-64`` are
     names ("x eighty-six", "x eighty-six sixty-four"); ``3 x 4``, ``3*4``, ``3×4``
     three times four; ``1920x1080`` "nineteen twenty by one thousand eighty" (an
     unspaced ``x`` between numbers is "by"); ``2^10`` two to the power of ten; ``<``,
     ``>``, ``<=``, ``>=`` between numbers.
   * magnitudes: ``10k`` ten thousand, ``1.5M`` one point five million, ``2B`` two
     billion, ``3T`` three trillion; ``2K 4K 5K 8K 16K`` are resolutions: "four K".
   * units right after a number (singular for exactly 1): km, m, cm, mm, mi, ft, kg,
     g, mg, lb/lbs, oz, l/L, ml, mph, km/h, kph, °C, °F, °, KB, MB, GB, TB, Mbps,
     Gbps, fps, Hz, kHz, MHz, GHz, ms, s, sec, min, h, hr, px, dB. Unit letters are
     case-sensitive (``5m`` is meters, ``5M`` million).
   * percent (``50%``, ``50 - 60%``), ranges (``5-10`` and ``5–10`` five to ten;
     ``5 - 3 = 2`` is five minus three), negatives (``-5`` minus five), ``~5`` about
     five.
   * everything else: ``1,234`` and ``1234567`` as numbers ("one thousand two hundred
     thirty-four", no "and"; see :func:`number_to_words`), decimals digit by digit
     after the point (``3.14`` three point one four, ``.5`` point five), versions and
     IP addresses part by part (``1.2.3`` one point two point three). A lone 4-digit
     number 1100-2099 is a year (1999 nineteen ninety-nine, 2005 two thousand five,
     2024 twenty twenty-four, 1500 fifteen hundred), but not with a separator, a
     decimal or a sign (``1,999`` and ``1999.5`` are plain numbers). Numbers with a
     leading zero (``007``) and numbers over 15 digits are read digit by digit.
10. **Symbols.** ``&`` and, ``+`` plus, ``=`` equals, ``≠`` does not equal, ``≈``
    about, ``->``/``→`` to, ``%`` percent, ``@`` at, ``C#`` C sharp, ``/hour`` (and
    other time words) per hour (``$5/month`` five dollars per month), ``friend(s)``
    friends; brackets become comma pauses, dashes (``—``, spaced ``-``) become commas,
    ``node.js`` is "node dot js". Any other symbol is dropped.
11. **Punctuation.** Runs of punctuation collapse to the strongest mark (``?!!`` is
    ``?``, ``,.`` is ``.``; three or more dots stay ``...``); no space before
    punctuation; leading punctuation and trailing commas go; whitespace collapses;
    the result is stripped. Text with no letter left (only emoji, only symbols) is
    ``""``.

Rules 6, 7 and 8 are for chat. ``SpeechText(chat=False)`` skips them, for text that
must say exactly what was spoken (the transcripts of a voice dataset): emotes stay,
chat abbreviations stay, and a word with digits or underscores is only cut where letters
meet digits and at underscores (``PS5`` "PS five", ``CoolGuy42`` "CoolGuy forty-two").

``SpeechText.__call__`` never raises: should a rule ever fail on some input, the text
goes through a plain fallback (symbols dropped, digits read one by one) and a warning
is logged.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Sequence

from streamer.config import SpeechTextSettings
from streamer.text_tables import ANSI_RE, INVISIBLE_RE, SPEECH_TLDS

__all__ = ["SpeechText", "number_to_words"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Numbers as words
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------

_BUILTIN_EMOTES = _words(
    "Kappa KappaPride Keepo PogChamp Pog POGGERS PogU LUL LULW KEKW OMEGALUL monkaS "
    "monkaW monkaHmm PepeHands PepeLaugh Pepega PepePls pepeD FeelsBadMan FeelsGoodMan "
    "FeelsStrongMan Sadge Copium Hopium 4Head BibleThump ResidentSleeper Kreygasm "
    "SeemsGood VoHiYo NotLikeThis FailFish DansGame WutFace HeyGuys catJAM EZ Clap "
    "Jebaited TriHard CoolStoryBob SMOrc BabyRage PJSalt SwiftRage BloodTrail CurseLit "
    "KomodoHype TwitchUnity WeirdChamp peepoHappy peepoSad widepeepoHappy modCheck Okayge "
    "HSWP CoolCat"
)
# Built-in emotes that are also English words: the emote only when no lower-case word
# follows.
_WORD_EMOTES = frozenset({"Clap"})

_ABBREVIATIONS = {
    "gg": "good game",
    "ggs": "good games",
    "brb": "be right back",
    "imo": "in my opinion",
    "imho": "in my humble opinion",
    "tbh": "to be honest",
    "idk": "I don't know",
    "btw": "by the way",
    "afk": "away from keyboard",
    "irl": "in real life",
    "thx": "thanks",
    "np": "no problem",
    "pls": "please",
    "plz": "please",
    "ppl": "people",
    "omg": "oh my god",
}

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

# Read as domains: the TLDs of the chat link filter, less those that are everyday words.
_TLD_ALT = "|".join(sorted(SPEECH_TLDS, key=lambda t: (-len(t), t)))

# ---------------------------------------------------------------------------------------
# Patterns (module level: shared by every SpeechText)
# ---------------------------------------------------------------------------------------

# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions.

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

# Links
_URL = (
    r"[hHfFwW](?<![\w@.][hHfFwW])"
    r"(?:(?<=[hH])(?:[tT][tT][pP][sS]?|[xX][xX][pP][sS]?)://|(?<=[fF])[tT][pP]://"
    r"|(?<=[wW])[wW][wW]\.)"
    r"[^\s<>\"'`]*[^\s<>\"'`.,!?;:)\]}]"
)
_EMAIL = r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_DOMAIN = (
    r"[a-zA-Z0-9](?<![\w.@/-][a-zA-Z0-9])[a-zA-Z0-9-]*\.(?:[a-zA-Z0-9][a-zA-Z0-9-]*\.)*"
    r"(?i:" + _TLD_ALT + r")(?![\w-])"
    r"(?:/[^\s<>\"'`]*[^\s<>\"'`.,!?;:)\]}])?"
)
_TLD_HINT = re.compile(r"\.(?:" + _TLD_ALT + r")(?![\w-])", re.IGNORECASE)
_URL_RE = re.compile(_URL)
_EMAIL_RE = re.compile(_EMAIL)
_DOMAIN_RE = re.compile(_DOMAIN)
_HOST_PORT = re.compile(r":[0-9]*$")
_WWW = re.compile(r"^www[0-9]*\.")
_IP = re.compile(r"[0-9.]+|\[.*")

# Names
_MENTION = re.compile(r"@(?<![\w@]@)(\w+)")
_NAME_WORD = re.compile(r"(?<!\w)(?=\w*[_0-9])(?=\w*[^\W\d_])\w+")
_GLUED = re.compile(r"[0-9](?:(?<=[^\W\d_][0-9])|(?=[^\W\d_]))")
_DECORATION = re.compile(r"[xX]{2,}")
_NAME_SPLIT = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])"
)
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])|_+")

# Abbreviations
# A final "." is kept when the abbreviation ends the sentence.
_KEEP_STOP = r"(?:\.(?![ \t]*$)(?![ \t]+[A-Z]))?"
_LATIN = re.compile(
    r"[eEiIvV](?<![\w.][eEiIvV])"
    r"(?:(?<=[eE])\.[gG]\.?|(?<=[iI])\.[eE]\.?|(?<=[eE])tc" + _KEEP_STOP + r"|(?<=[vV])s\.?)(?!\w)"
)
_LATIN_WORDS = {"e.": "for example", "i.": "that is", "et": "et cetera", "vs": "versus"}
_TITLES = re.compile(r"(?<![\w.])(Mr|Mrs|Dr|Prof)\.(?=[ \t]+[A-Z])")
_TITLE_WORDS = {"Mr": "Mister", "Mrs": "Missus", "Dr": "Doctor", "Prof": "Professor"}
_WITH = re.compile(r"(?<!\w)[wW]/(o(?!\w))?")

# Numbers
_DIGIT = re.compile("[0-9]")
# A whole number, maybe with thousands separators (its first digit matched first).
_WHOLE = r"[0-9](?:[0-9]{0,2}(?:,[0-9]{3})+(?![0-9])|[0-9]*)"
_CODES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD")
_AMOUNT = r"([0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.([0-9]+))?"
_ABOUT = re.compile(r"~(?=[ \t]?[-$€£¥]?[0-9])")
_MONEY_BEFORE = re.compile(
    r"([$€£¥])[ \t]?(-)?" + _AMOUNT + r"(?:(mil|mn|bn|[kKmMbBtT])(?![A-Za-z])"
    r"|[ \t]?(thousand|million|billion|trillion)(?![A-Za-z]))?"
)
_MONEY_AFTER = re.compile(
    r"(" + _WHOLE.replace("[0-9]", r"[0-9](?<![\w.,][0-9])", 1) + r")(?:\.([0-9]+))?"
    r"(?:(bn|[kKMB])(?![A-Za-z]))?"
    r"[ \t]?(" + "|".join(_CODES) + r"|[$€£¥¢])(?![A-Za-z])"
)
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
_DIGITS = re.compile("[0-9]+")

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


def _capitalize_like(original: str, replacement: str) -> str:
    """Capitalize ``replacement`` when ``original`` is Title-case ("Idk", "Gg")."""
    if original[:1].isupper() and (len(original) == 1 or original[1:].islower()):
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _speak_name(name: str) -> str:
    """A user name (or a name-like word) as words: "xX_gamer99_Xx" -> "gamer 99"."""
    parts = [p for p in name.split("_") if p]
    if len(parts) >= 3 and _DECORATION.fullmatch(parts[0]) and _DECORATION.fullmatch(parts[-1]):
        parts = parts[1:-1]
    elif len(parts) == 1:
        parts = [_strip_glued_decoration(parts[0])]
    return " " + " ".join(_NAME_SPLIT.sub(" ", p) for p in parts) + " "


def _split_glued(word: str) -> str:
    """A word with digits or underscores, not read as a name: "PS5" -> "PS 5"."""
    return " " + _LETTER_DIGIT.sub(" ", word) + " "


def _strip_glued_decoration(name: str) -> str:
    """ "xXnameXx" -> "name" (runs of x then X on the left, X then x on the right)."""
    n = len(name)
    head = 0
    while head < n and name[head] == "x":
        head += 1
    start = head
    while start < n and name[start] == "X":
        start += 1
    tail = n
    while tail > start and name[tail - 1] == "x":
        tail -= 1
    end = tail
    while end > start and name[end - 1] == "X":
        end -= 1
    if head == 0 or start == head or tail == n or end == tail or end <= start:
        return name
    return name[start:end]


def _strongest(run: str) -> str:
    marks = "".join(c for c in run if not c.isspace())
    if len(marks) >= 3 and set(marks) == {"."}:
        return "..."
    for mark in "?!.;:":
        if mark in marks:
            return mark
    return ","


def _email(m: re.Match[str]) -> str:
    local, _, domain = m[0].rpartition("@")
    for mark, word in ((".", " dot "), ("_", " underscore "), ("+", " plus "), ("-", " dash ")):
        local = local.replace(mark, word)
    return f" {local} at {' dot '.join(domain.lower().split('.'))} "


def _domain(m: re.Match[str]) -> str:
    words = _host_words(m[0].split("/", 1)[0])
    return f" {words} " if words else m[0]


def _host_words(host: str) -> str | None:
    """ "www.Example.com:8080" -> "example dot com"; None for an IP address."""
    host = host.rsplit("@", 1)[-1]
    host = _HOST_PORT.sub("", host).lower()
    host = _WWW.sub("", host)
    if not host or _IP.fullmatch(host) or not _LETTER.search(host):
        return None
    labels = [label for label in host.split(".") if label]
    return " dot ".join(labels)


class SpeechText:
    """Turns an answer segment into text a voice engine can read (see the module doc).

    Build one per settings object (the patterns are compiled here) and call it on
    each segment; it never raises.

    ``chat=False`` is for text that is not chat, such as the transcripts of a voice
    dataset, which must say what the audio says: emotes are kept (``Pog``, ``EZ`` and
    ``Clap`` are words there), chat abbreviations are not expanded (``idk`` stays
    ``idk``) and words with digits or underscores are only cut where letters meet
    digits and at underscores (``PS5`` is "PS five", ``CoolGuy42`` "CoolGuy
    forty-two"; no camelCase split, no ``xX``/``Xx`` decoration removed). Everything
    else (clean-up, emoji, Markdown, pronunciations, links, written abbreviations such
    as ``e.g.`` and ``Dr.``, numbers and symbols) is the same.
    """

    def __init__(self, settings: SpeechTextSettings | None = None, *, chat: bool = True) -> None:
        self._settings = settings if settings is not None else SpeechTextSettings()
        self._chat = chat
        s = self._settings

        # Pronunciations: whole words, case-insensitive, longest first.
        self._pronunciations: dict[str, str] = {}
        for key, value in s.pronunciations.items():
            norm = self._norm_key(key)
            if norm:
                self._pronunciations[norm] = value
        self._pronounce: re.Pattern[str] | None = None
        self._pronounce_plain: re.Pattern[str] | None = None
        if self._pronunciations:
            alternatives = "|".join(
                r"\s+".join(re.escape(w) for w in key.split(" "))
                for key in sorted(self._pronunciations, key=len, reverse=True)
            )
            self._pronounce = re.compile(
                f"(?P<url>{_URL})|(?P<mail>{_EMAIL})|(?<!\\w)(?P<p>{alternatives})(?!\\w)",
                re.IGNORECASE,
            )
            self._pronounce_plain = re.compile(
                f"(?<!\\w)(?P<p>{alternatives})(?!\\w)", re.IGNORECASE
            )

        # Emotes: case-sensitive whole words; settings add or override.
        self._emotes: dict[str, str] = dict.fromkeys(_BUILTIN_EMOTES, "")
        for key, value in s.emotes.items():
            name = unicodedata.normalize("NFKC", key).strip()
            if name:
                self._emotes[name] = value.strip()
        fragments = []
        for name in sorted(self._emotes, key=len, reverse=True):
            fragment = re.escape(name)
            if name in _WORD_EMOTES and name not in s.emotes:
                fragment += r"(?!\w)(?![ \t]+[a-z])"
            fragments.append(fragment)
        self._emote_names = frozenset(self._emotes)
        # A name that a token split would cut ("D:", "two words") is always searched for.
        self._emote_always = any(
            set(name.translate(_TOKEN_BREAKS).split()) != {name} for name in self._emotes
        )
        self._emote = re.compile(r"(?<![\w@#])(?:" + "|".join(fragments) + r")(?!\w)")
        self._clock = s.clock
        self._read_domains = s.read_url_domains

    @staticmethod
    def _norm_key(key: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", key).lower().split())

    # -- public ---------------------------------------------------------------------

    def __call__(self, text: str) -> str:
        """``text`` as speech-ready text (whitespace collapsed, stripped; maybe "")."""
        try:
            if not isinstance(text, str):
                text = str(text)
            return self._run(text)
        except Exception:
            log.warning(
                "speech text rules failed on a segment; using the plain fallback", exc_info=True
            )
            return _fallback(text)

    # -- the pipeline ---------------------------------------------------------------

    def _run(self, text: str) -> str:
        text = _prepare(text)
        text = _markdown(text)
        if self._pronounce is not None and self._pronounce_plain is not None:
            linkish = "://" in text or "www." in text.lower() or "@" in text
            pattern = self._pronounce if linkish else self._pronounce_plain
            text = pattern.sub(self._pronounce_one, text)
        if "." in text:
            if "://" in text or "www." in text.lower():
                text = _URL_RE.sub(self._url, text)
            if "@" in text:
                text = _EMAIL_RE.sub(_email, text)
            if _TLD_HINT.search(text):
                text = _DOMAIN_RE.sub(_domain, text)
        if self._chat:
            tokens = set(text.translate(_TOKEN_BREAKS).split())
            text = self._remove_emotes(text, tokens)
            if "@" in text:
                text = _MENTION.sub(lambda m: _speak_name(m[1]), text)
            text = _chat_abbreviations(text)
        text = _written_abbreviations(text)
        if _DIGIT.search(text):
            text = self._numbers(text)
        if "_" in text or _GLUED.search(text):
            speak = _speak_name if self._chat else _split_glued
            text = _NAME_WORD.sub(lambda m: speak(m[0]), text)
        if _DIGIT.search(text):
            text = _final_numbers(text)
        return _finish(text)

    def _pronounce_one(self, m: re.Match[str]) -> str:
        if m.lastgroup != "p":
            return m[0]  # a URL or an e-mail address: left for the link rules
        return " " + self._pronunciations.get(self._norm_key(m[0]), m[0]) + " "

    def _url(self, m: re.Match[str]) -> str:
        if not self._read_domains:
            return " a link "
        rest = m[0].split("://", 1)[-1]
        words = _host_words(re.split(r"[/?#]", rest, maxsplit=1)[0])
        return f" a link to {words} " if words else " a link "

    def _remove_emotes(self, text: str, tokens: set[str]) -> str:
        if self._emote_always:
            return self._emote.sub(self._emote_one, text)
        found = self._emote_names.intersection(tokens)
        if not found:
            return text
        # A pattern for just the emotes present (the re module caches it): each
        # alternative starts with its literal, so the search skips ahead quickly.
        alternatives = []
        for name in sorted(found, key=len, reverse=True):
            escaped = re.escape(name)
            alternative = f"{escaped}(?<![\\w@#]{escaped})(?!\\w)"
            if name in _WORD_EMOTES and name not in self._settings.emotes:
                alternative += r"(?![ \t]+[a-z])"
            alternatives.append(alternative)
        return re.sub("|".join(alternatives), self._emote_one, text)

    def _emote_one(self, m: re.Match[str]) -> str:
        return " " + self._emotes.get(m[0], "") + " "

    def _numbers(self, text: str) -> str:
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


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------


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


def _chat_abbreviations(text: str) -> str:
    """gg, brb, idk...: chat shorthand, whole words in any case."""
    low = text.lower()
    found: list[str] = []
    lowered = set(low.translate(_TOKEN_BREAKS).split())
    if not _ABBREVIATIONS.keys().isdisjoint(lowered):
        # The tokens as written (any case); the text may have changed since they were
        # taken (a user name became words), so take them again.
        tokens = set(text.translate(_TOKEN_BREAKS).split())
        found = [t for t in tokens if len(t) <= 4 and t.lower() in _ABBREVIATIONS]
    if found:
        pattern = "|".join(
            f"{re.escape(t)}(?<![\\w']{re.escape(t)})(?![\\w'])"
            for t in sorted(found, key=len, reverse=True)
        )
        text = re.sub(pattern, lambda m: _capitalize_like(m[0], _ABBREVIATIONS[m[0].lower()]), text)
    return text


def _written_abbreviations(text: str) -> str:
    """e.g., i.e., etc., vs, Mr., Dr., w/, w/o: the shorthand of written English."""
    low = text.lower()
    if "e.g" in low or "i.e" in low or "etc" in low or "vs" in low:
        text = _LATIN.sub(_latin, text)
    if "Mr" in text or "Dr." in text or "Prof." in text:
        text = _TITLES.sub(lambda m: _TITLE_WORDS[m[1]], text)
    if "w/" in text or "W/" in text:
        text = _WITH.sub(lambda m: " without " if m[1] else " with ", text)
    return text


def _latin(m: re.Match[str]) -> str:
    return _capitalize_like(m[0], _LATIN_WORDS[m[0][:2].lower()])


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


# A rule that reads the dash before its match ("$5-$10", "9am - 5pm") says so with this
# mark; the dash and the mark are then removed together. No control character is left
# in the text by then, so the mark cannot clash with the input.
_EAT_DASH = "\x00"
_EATEN_DASH = re.compile("[-–][ \t]*\x00|\x00")
_TIME_DASH = re.compile(r"[0-9mM.][ \t]?[-–][ \t]?\Z")


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


def _dash_to(m: re.Match[str]) -> str:
    """ "to" for a time after a dash that follows a number or a time ("9am-5pm")."""
    start = m.start()
    if _TIME_DASH.search(m.string, max(0, start - 4), start):
        return _EAT_DASH + " to "
    return ""


def _money_before(m: re.Match[str]) -> str:
    dash = _dash_before(m)
    amount = _money(bool(m[2]), m[1], m[3], m[4], m[5] or m[6])
    return f"{dash} {amount} "


def _money_after(m: re.Match[str]) -> str:
    dash, currency = _dash_before(m), m[4]
    if currency == "¢":
        return f"{dash} {_read_amount(m[1], m[2])} cents "
    return f"{dash} {_money(False, currency, m[1], m[2], m[3])} "


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


def _fallback(text: object) -> str:
    """The plainest speech-ready text: letters and punctuation, digits one by one."""
    try:
        out = str(text)
        out = _BAD_CHARS.sub(" ", out)
        out = _DIGITS.sub(lambda m: " " + _digit_by_digit(m[0]) + " ", out)
        out = _NOT_SPOKEN.sub(" ", out.translate(_SYMBOL_TABLE))
        out = " ".join(out.split())
        return out if _LETTER.search(out) else ""
    except Exception:
        return ""
