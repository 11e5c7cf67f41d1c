"""Numbers, money, dates and times read aloud in French, German or Spanish.

:class:`SpokenNumbers` is the number step of the speech text for a channel whose
``channel.language`` is not English (the English rules are the speech text's own).
Every ASCII digit of the text becomes words; the number words come from ``num2words``
and the names around them from :mod:`streamer.lang.number_words`. The rules, in order:

* money: ``5 €``, ``5€``, ``€5``, ``12,50 €``, ``$3``, ``10 EUR`` ("douze euros et
  cinquante centimes", "zwölf Euro und fünfzig Cent", "doce euros con cincuenta
  céntimos");
* dates, day first: ``15/03/2024``, ``15.03.2024``, ``15-03-2024`` and ISO
  ``2024-03-15`` ("quinze mars deux mille vingt-quatre", "fünfzehnter März ...",
  "quince de marzo de ..."); German ordinals before a month or after ``am``
  (``am 3. Oktober``: "am dritten Oktober");
* times on a 24-hour clock: ``17:30``, French ``17 h 30``, ``17h``, German ``17 Uhr``
  and ``17.30 Uhr`` ("dix-sept heures trente", "siebzehn Uhr dreißig", "diecisiete y
  treinta"; 1 h is "une heure", "ein Uhr", "una");
* ordinals: French ``1er``, ``1re``, ``2e``, ``3ème``; Spanish ``1.º``, ``2ª``, ``3er``;
* ``n° 5``, ``Nr. 5``, ``nº 5``; ``50 %``; units after a number (``5 km``, ``2,5 kg``,
  ``20 °C``, ``3 min``: singular for 1, with the unit's gender: "une minute");
  ranges ``5-10`` ("cinq à dix"), ``-5`` ("moins cinq"), ``3x`` / ``3 x 4``, ``~5``;
* plain numbers: thousands grouped with spaces (``10 000``, also no-break spaces) or,
  in German and Spanish, dots (``1.234.567``); decimals with a comma (``3,14``
  "trois virgule quatorze") or a point; a four-digit year 1100-1999 in German is read
  as a year ("neunzehnhundertneunundneunzig"); numbers of more than 15 digits or with a
  leading zero digit by digit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from num2words import num2words

from streamer.lang import number_words as W

log = logging.getLogger(__name__)

LANGUAGES = ("fr", "de", "es")
_MAX_DIGITS = 15

_SPACE = "[ \u00a0\u202f]"
_GROUPED = r"[0-9]{1,3}(?:" + _SPACE + r"[0-9]{3})+(?![0-9])"
_DOTTED = r"[0-9]{1,3}(?:\.[0-9]{3})+(?![0-9]|[.,][0-9])"
_DECIMAL = r"[0-9]+(?:[.,][0-9]+)?"
_MARKED_ORDINAL = re.compile(r"(?<![\w.,])([0-9]+)\.?([ºª])")


class SpokenNumbers:
    """All number rules of one language (see the module doc); never leaves a digit."""

    def __init__(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"no number rules for {language!r}; known: {', '.join(LANGUAGES)}")
        self.language = lang = language
        grouped = _GROUPED + ("|" + _DOTTED if lang in ("de", "es") else "")
        number = f"(?:{grouped}|{_DECIMAL})"
        self._number = re.compile(rf"(?<![\w.,])({number})(?![\w])")
        self._digits = re.compile("[0-9]+")
        symbols = "".join(re.escape(s) for s in W.CURRENCIES[lang])
        codes = "|".join(W.CURRENCY_CODES)
        self._money_after = re.compile(
            rf"(?<![\w.,])({number}){_SPACE}?([{symbols}]|(?:{codes})(?![A-Za-z]))"
        )
        self._money_before = re.compile(rf"([{symbols}]){_SPACE}?({number})(?![\w])")
        self._iso_date = re.compile(r"(?<![\w.])([12][0-9]{3})-([01]?[0-9])-([0-3]?[0-9])(?![\w-])")
        self._date = re.compile(
            r"(?<![\w./-])([0-3]?[0-9])([./-])([01]?[0-9])\2([0-9]{4}|[0-9]{2})(?![\w]|[./-][0-9])"
        )
        if lang == "fr":
            clock = r"([0-2]?[0-9])(?::|" + _SPACE + r"?h" + _SPACE + r"?)([0-5][0-9])?(?![\w:])"
        elif lang == "de":
            clock = (
                r"([0-2]?[0-9])(?::([0-5][0-9])(?:" + _SPACE + r"?Uhr)?(?!\w)"
                r"|(?:[.:]([0-5][0-9]))?" + _SPACE + r"?Uhr(?!\w))"
            )
        else:
            clock = r"([0-2]?[0-9]):([0-5][0-9])(?![\w:])"
        self._clock = re.compile(r"(?<![\w.,:])" + clock)
        self._ordinal = re.compile(
            {
                "fr": r"(?<![\w.,])([0-9]+)(er|re|ère|ers|res|e|es|ème|èmes|eme|nd|nde)(?!\w)",
                "de": r"(?<![\w.,])([0-9]{1,3})\.(?="
                + _SPACE
                + r"?(?:"
                + "|".join(W.MONTHS["de"])
                + r")(?!\w))",
                "es": r"(?<![\w.,])([0-9]+)\.?(º|ª|°|er|ro|ra|do|da|to|ta|vo|va|mo|ma|no|na)(?!\w)",
            }[lang]
        )
        self._german_day = re.compile(
            r"(?i:(?<!\w)(am|vom|zum|ab|seit|bis zum|im))"
            + _SPACE
            + r"+([0-9]{1,2})\.(?="
            + _SPACE
            + ")"
        )
        self._number_sign = re.compile(r"(?:n°|nº|N°|Nº|Nr\.|#)" + _SPACE + r"?(?=[0-9])")
        self._percent = re.compile(rf"({number}){_SPACE}?%")
        units = "|".join(re.escape(u) for u in sorted(W.UNITS[lang], key=len, reverse=True))
        self._unit = re.compile(rf"(?<![\w.,])({number}){_SPACE}?({units})(?![\w/°])")
        self._range = re.compile(rf"(?<![\w.,])({number}){_SPACE}?[-–]{_SPACE}?(?=[0-9])")
        self._negative = re.compile(rf"(?<![\w.,-])-({number})")
        self._times = re.compile(rf"([0-9]){_SPACE}?[x×*]{_SPACE}?(?=[0-9])|([0-9])x(?!\w)")
        self._one_before = re.compile(rf"(?<![\w.,-])1{_SPACE}+(?=([^\W\d_]+))")
        self._about = re.compile(rf"~{_SPACE}?(?=[0-9])")
        # The rules in order (see the module doc), each a pattern and its words.
        self._rules: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
            (self._about, lambda m: f" {W.ABOUT[self.language]} "),
            (self._money_after, lambda m: self._money(m[2], m[1])),
            (self._money_before, lambda m: self._money(m[1], m[2])),
            (self._iso_date, lambda m: self._date_words(m, int(m[3]), int(m[2]), m[1])),
            (self._date, lambda m: self._date_words(m, int(m[1]), int(m[3]), m[4])),
            (self._clock, self._time),
            (self._german_day, self._german_ordinal_day),
            (self._ordinal, lambda m: f" {self._ordinal_words(m)} "),
            (self._number_sign, lambda m: f" {W.NUMBER_SIGN[self.language]} "),
            (
                self._percent,
                lambda m: f" {self.number(m[1], plain_year=True)} {W.PERCENT[self.language]} ",
            ),
            (self._unit, lambda m: f" {self.counted_number(m[1], W.UNITS[self.language][m[2]])} "),
            (self._times, lambda m: f"{m[1] or m[2]} {W.TIMES[self.language]} "),
            (self._range, lambda m: f" {self.number(m[1])} {W.RANGE_TO[self.language]} "),
            (self._negative, lambda m: f" {W.MINUS[self.language]} {self.number(m[1])} "),
            (self._one_before, self._one),
            (self._number, lambda m: f" {self.number(m[1])} "),
        ]

    # ---------------------------------------------------------------- words

    def cardinal(self, n: int) -> str:
        return str(num2words(n, lang=self.language))

    def counted(self, n: int, gender: str) -> str:
        """``n`` before a noun: "une" / "eine" / "una" for one of gender ``f``."""
        if n == 1:
            return W.ONE[self.language][gender == "f"]
        return self.cardinal(n)

    def ordinal(self, n: int) -> str:
        return str(num2words(n, lang=self.language, to="ordinal"))

    def year(self, n: int) -> str:
        if self.language == "de" and 1100 <= n <= 1999:
            return str(num2words(n, lang="de", to="year"))
        return self.cardinal(n)

    def digits(self, text: str) -> str:
        return " ".join(self.cardinal(int(d)) for d in text)

    def _value(self, text: str) -> tuple[str, str | None]:
        """(whole digits, fraction digits or None) of a written number."""
        text = re.sub(_SPACE, "", text)
        if self.language in ("de", "es") and re.fullmatch(_DOTTED, text):
            return text.replace(".", ""), None
        parts = re.split("[.,]", text, maxsplit=1)
        return parts[0], (parts[1] if len(parts) > 1 else None)

    def number(self, text: str, *, plain_year: bool = False) -> str:
        """A written number (grouped, decimal) as words."""
        whole, fraction = self._value(text)
        if len(whole) > _MAX_DIGITS or (len(whole) > 1 and whole.startswith("0")):
            words = self.digits(whole)
        elif not plain_year and fraction is None and len(whole) == 4 and whole == text:
            words = self.year(int(whole))
        else:
            words = self.cardinal(int(whole))
        if fraction is None:
            return words
        if fraction.startswith("0") or len(fraction) > 2 or self.language == "de":
            tail = self.digits(fraction)
        else:
            tail = self.cardinal(int(fraction))
        return f"{words} {W.DECIMAL_POINT[self.language]} {tail}"

    def counted_number(self, text: str, noun: W.Noun) -> str:
        """A number and the noun it counts: "une minute", "deux virgule cinq kilos"."""
        one, many, gender = noun
        whole, fraction = self._value(text)
        if fraction is None and whole == "1":
            return f"{self.counted(1, gender)} {one}".strip()
        return f"{self.number(text, plain_year=True)} {many}".strip()

    # ---------------------------------------------------------------- rules

    def __call__(self, text: str) -> str:
        if not any(c.isdigit() for c in text):
            return text
        for pattern, words in self._rules:
            text = pattern.sub(words, text)
        return self._digits.sub(lambda m: f" {self.number(m[0])} ", text)

    def ordinal_marks(self, text: str) -> str:
        """Ordinals written with ``º`` or ``ª`` ("1.º", "2ª"), before anything folds them."""
        return _MARKED_ORDINAL.sub(lambda m: f" {self._ordinal_words(m)} ", text)

    def _one(self, m: re.Match[str]) -> str:
        """A lone 1 before a word counts it: "une minute", "eine Frage", "un día"."""
        feminine = m[1].lower() in W.FEMININE[self.language]
        return f" {W.ONE[self.language][feminine]} "

    def _money(self, symbol: str, amount: str) -> str:
        symbol = W.CURRENCY_CODES.get(symbol, symbol)
        unit, hundredth = W.CURRENCIES[self.language][symbol]
        whole, fraction = self._value(amount)
        if fraction is not None and (hundredth is None or len(fraction) > 2):
            return f" {self.number(amount, plain_year=True)} {unit[1]} "
        cents = int(fraction.ljust(2, "0")) if fraction is not None else 0
        main = self.counted_number(whole, unit)
        if not cents or hundredth is None:
            return f" {main} "
        if int(whole) == 0:
            return f" {self.counted_number(str(cents), hundredth)} "
        small = self.counted_number(str(cents), hundredth)
        return f" {main} {W.MONEY_AND[self.language]} {small} "

    def _date_words(self, m: re.Match[str], day: int, month: int, year: str) -> str:
        if not (1 <= day <= 31 and 1 <= month <= 12):
            return m[0]
        full = int(year) if len(year) == 4 else 2000 + int(year)
        name = W.MONTHS[self.language][month - 1]
        if self.language == "fr":
            return f" {'premier' if day == 1 else self.cardinal(day)} {name} {self.year(full)} "
        if self.language == "es":
            first = "primero" if day == 1 else self.cardinal(day)
            return f" {first} de {name} de {self.year(full)} "
        return f" {self._german_day_word(day, m.string[: m.start()])} {name} {self.year(full)} "

    def _german_day_word(self, day: int, before: str) -> str:
        """``3.`` as a German ordinal: "dritten" after am/vom/zum, "dritte" after an
        article, else "dritter" (as in a letter's date)."""
        word = self.ordinal(day)
        last = before.split()[-1].lower() if before.split() else ""
        if last in ("am", "vom", "zum", "ab", "seit", "im", "dem", "den"):
            return word + "n"
        if last in ("der", "die", "das"):
            return word
        return word + "r"

    def _german_ordinal_day(self, m: re.Match[str]) -> str:
        return f"{m[1]} {self.ordinal(int(m[2]))}n"

    def _ordinal_words(self, m: re.Match[str]) -> str:
        n = int(m[1])
        if self.language == "de":
            return self._german_day_word(n, m.string[: m.start()])
        word = self.ordinal(n)
        suffix = m[2]
        if self.language == "fr":
            if n == 1 and suffix in ("re", "ère", "res"):
                word = "première"
            if suffix.endswith("s") and not word.endswith("s"):
                word += "s"
            return word
        if suffix in ("ª", "ra", "da", "ta", "va", "ma", "na") and word.endswith("o"):
            word = word[:-1] + "a"
        if suffix == "er" and word in ("primero", "tercero"):
            word = word[:-1]  # "1er piso": primer
        return word

    def _time(self, m: re.Match[str]) -> str:
        hour = int(m[1])
        minute_text = m[2] if self.language != "de" else (m[2] or m[3])
        minute = int(minute_text) if minute_text else 0
        if hour > 24 or (self.language == "es" and minute_text is None):
            return m[0]
        one, many, gender = W.HOUR[self.language]
        if self.language == "es":
            words = self.counted(hour, gender)
            tail = f" y {self.cardinal(minute)}" if minute else ""
            return f" {words}{tail} "
        noun = one if hour == 1 else many
        words = f"{self.counted(hour, gender)} {noun}"
        if minute:
            words += f" {self.cardinal(minute)}"
        return f" {words} "
