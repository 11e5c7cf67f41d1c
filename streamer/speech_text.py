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

This module holds ``SpeechText`` and the order of the rules; the rules are in
``speech_markup`` (1-3, 10, 11), ``speech_chat`` (5-8, and the written abbreviations),
``speech_quantities`` (9: ``EnglishNumbers``, the entry point of every number rule, with
``speech_money`` and ``speech_dates``) and ``speech_numbers`` (English number words).
The invisible characters, the terminal escape pattern and the top-level domains are
those of ``text_tables``, shared with the chat filters.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import TYPE_CHECKING

from streamer.config import SpeechTextSettings
from streamer.speech_chat import (
    _BUILTIN_EMOTES,
    _DOMAIN_RE,
    _EMAIL,
    _EMAIL_RE,
    _GLUED,
    _MENTION,
    _NAME_WORD,
    _TLD_HINT,
    _URL,
    _URL_RE,
    _WORD_EMOTES,
    _chat_abbreviations,
    _domain,
    _email,
    _host_words,
    _speak_name,
    _split_glued,
    _written_abbreviations,
)
from streamer.speech_markup import (
    _BAD_CHARS,
    _LETTER,
    _NOT_SPOKEN,
    _SYMBOL_TABLE,
    _TOKEN_BREAKS,
    _finish,
    _markdown,
    _prepare,
)
from streamer.speech_numbers import _DIGIT, _DIGITS, _digit_by_digit, number_to_words
from streamer.speech_quantities import EnglishNumbers

if TYPE_CHECKING:
    from streamer.lang.speech import LanguageText

__all__ = ["SpeechText", "number_to_words"]

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        settings: SpeechTextSettings | None = None,
        *,
        chat: bool = True,
        language: str = "en",
    ) -> None:
        self._settings = settings if settings is not None else SpeechTextSettings()
        self._chat = chat
        # Another language than English: its numbers, link words, abbreviations and
        # symbols (streamer/lang/speech.py); every other rule is the same.
        self._lang: LanguageText | None = None
        if language != "en":
            from streamer.lang.speech import LanguageText

            self._lang = LanguageText(language)
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
        self._number_rules: EnglishNumbers | LanguageText = self._lang or EnglishNumbers(s.clock)
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
        lang = self._lang
        if lang is not None:
            text = lang.before(text)
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
                text = _EMAIL_RE.sub(lang.email if lang else _email, text)
            if _TLD_HINT.search(text):
                text = _DOMAIN_RE.sub(lang.domain if lang else _domain, text)
        if self._chat:
            tokens = set(text.translate(_TOKEN_BREAKS).split())
            text = self._remove_emotes(text, tokens)
            if "@" in text:
                text = _MENTION.sub(lambda m: _speak_name(m[1]), text)
            text = lang.chat_words(text) if lang else _chat_abbreviations(text)
        text = lang.written(text) if lang else _written_abbreviations(text)
        if _DIGIT.search(text):
            text = self._number_rules.rules(text)
        if "_" in text or _GLUED.search(text):
            speak = _speak_name if self._chat else _split_glued
            text = _NAME_WORD.sub(lambda m: speak(m[0]), text)
        if _DIGIT.search(text):
            text = self._number_rules.plain_numbers(text)
        if lang is not None:
            text = lang.symbols(text)
        return _finish(text)

    def _pronounce_one(self, m: re.Match[str]) -> str:
        if m.lastgroup != "p":
            return m[0]  # a URL or an e-mail address: left for the link rules
        return " " + self._pronunciations.get(self._norm_key(m[0]), m[0]) + " "

    def _url(self, m: re.Match[str]) -> str:
        rest = m[0].split("://", 1)[-1]
        host = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if self._lang is not None:
            return self._lang.url(host, self._read_domains)
        words = _host_words(host) if self._read_domains else None
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
