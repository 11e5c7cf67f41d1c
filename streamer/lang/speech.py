"""The speech text's language-dependent steps for a French, German or Spanish channel.

:class:`LanguageText` gives :class:`~streamer.speech_text.SpeechText` what it asks of a
language: the number rules (``rules`` and ``plain_numbers``, as the English reader
offers them), the words of links and e-mail addresses, the language's written
abbreviations and chat words, and the words of the symbols that are spoken. Everything
else in the speech text (clean-up, emoji, Markdown, emotes, names, punctuation) does
not depend on the language.
"""

from __future__ import annotations

import re

from streamer.lang.numbers import SpokenNumbers
from streamer.lang.speech_words import WORDS, SpeechWords
from streamer.speech_chat import _capitalize_like, _host_words

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_EMAIL_MARKS = {
    "fr": (("_", "tiret bas"), ("+", "plus"), ("-", "tiret")),
    "de": (("_", "Unterstrich"), ("+", "plus"), ("-", "Strich")),
    "es": (("_", "guion bajo"), ("+", "más"), ("-", "guion")),
}


class LanguageText:
    """The language steps of one channel language (``fr``, ``de`` or ``es``)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.numbers = SpokenNumbers(language)
        self.words: SpeechWords = WORDS[language]
        self._symbols = str.maketrans({k: f" {v} " for k, v in self.words.symbols.items()})

    # -- before the clean-up ------------------------------------------------------

    def before(self, text: str) -> str:
        """What the clean-up's NFKC would spoil: ``²`` and ``³`` (read in English
        there), ``º`` and ``ª`` (folded to o and a: "1.º" is read here, "nº" kept)."""
        if "²" in text or "³" in text:
            text = text.replace("²", self.words.squared).replace("³", self.words.cubed)
        if "º" in text or "ª" in text:
            text = text.replace("nº", "n°").replace("Nº", "N°")
            text = self.numbers.ordinal_marks(text)
        return text

    # -- links --------------------------------------------------------------------

    def host(self, host: str) -> str | None:
        words = _host_words(host)
        return words.replace(" dot ", f" {self.words.dot} ") if words else None

    def url(self, host: str | None, read_domains: bool) -> str:
        words = self.host(host) if host and read_domains else None
        return f" {self.words.link_to.format(words)} " if words else f" {self.words.link} "

    def email(self, m: re.Match[str]) -> str:
        local, _, domain = m[0].rpartition("@")
        local = local.replace(".", f" {self.words.dot} ")
        for mark, word in _EMAIL_MARKS[self.language]:
            local = local.replace(mark, f" {word} ")
        domain_words = f" {self.words.dot} ".join(domain.lower().split("."))
        return f" {local} {self.words.at} {domain_words} "

    def domain(self, m: re.Match[str]) -> str:
        words = self.host(m[0].split("/", 1)[0])
        return f" {words} " if words else m[0]

    # -- words --------------------------------------------------------------------

    def chat_words(self, text: str) -> str:
        """The language's chat shorthand ("mdr", "vllt", "tqm"), whole words, any case."""
        table = self.words.chat

        def one(m: re.Match[str]) -> str:
            word = table.get(m[0].lower())
            return _capitalize_like(m[0], word) if word else m[0]

        return _TOKEN.sub(one, text)

    def written(self, text: str) -> str:
        """Written abbreviations: "p. ex.", "z. B.", "Sra."."""
        for pattern, word in self.words.written:
            text = pattern.sub(f" {word} ", text)
        return text

    def symbols(self, text: str) -> str:
        """``&``, ``+``, ``=``, ``@``, ``%``, ``->``... in words, before the last step."""
        for old, new in self.words.arrows:
            text = text.replace(old, new)
        return text.translate(self._symbols)

    # -- numbers (the two steps the English reader has) ------------------------------

    def rules(self, text: str) -> str:
        return self.numbers(text)

    def plain_numbers(self, text: str) -> str:
        return self.numbers(text)
