"""The words the speech text says for links, symbols and abbreviations in French,
German and Spanish (the English ones are the speech text's own).

Written abbreviations are patterns (case-sensitive, whole words); chat words are
whole words in any case, as in the English table ("mdr", "MDR").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpeechWords:
    link: str  # a link read without its domain
    link_to: str  # "{}": the domain's words
    dot: str
    at: str
    symbols: dict[str, str]  # one character -> its word
    arrows: tuple[tuple[str, str], ...]  # "->", "=>", "!=": read before the symbols
    squared: str
    cubed: str
    written: tuple[tuple[re.Pattern[str], str], ...] = ()
    chat: dict[str, str] = field(default_factory=dict)


def _written(pairs: dict[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(r"(?<![\w.])" + p + r"(?![\w])"), w) for p, w in pairs.items())


_SPACE = r"[ \u00a0]?"

WORDS = {
    "fr": SpeechWords(
        link="un lien",
        link_to="un lien vers {}",
        dot="point",
        at="arobase",
        symbols={"&": "et", "+": "plus", "=": "égale", "@": "arobase", "%": "pour cent"},
        arrows=(("->", " vers "), ("=>", " donc "), ("!=", " différent de ")),
        squared=" au carré",
        cubed=" au cube",
        written=_written(
            {
                r"M\.(?=[ \u00a0]+[A-Z])": "Monsieur",
                r"MM\.(?=[ \u00a0]+[A-Z])": "Messieurs",
                r"Mme": "Madame",
                r"Mmes": "Mesdames",
                r"Mlle": "Mademoiselle",
                r"Dr\.?(?=[ \u00a0]+[A-Z])": "Docteur",
                r"Pr\.?(?=[ \u00a0]+[A-Z])": "Professeur",
                r"p\." + _SPACE + r"ex\.": "par exemple",
                r"c\.-à-d\.": "c'est-à-dire",
                r"etc\.": "et cetera",
                r"cf\.": "voir",
                r"env\.": "environ",
                r"vs\.?": "contre",
            }
        ),
        chat={
            "mdr": "mort de rire",
            "ptdr": "pété de rire",
            "stp": "s'il te plaît",
            "svp": "s'il vous plaît",
            "jsp": "je sais pas",
            "tkt": "t'inquiète",
            "bcp": "beaucoup",
            "pk": "pourquoi",
            "pq": "pourquoi",
            "cc": "coucou",
            "slt": "salut",
            "dsl": "désolé",
            "mtn": "maintenant",
            "jpp": "j'en peux plus",
        },
    ),
    "de": SpeechWords(
        link="ein Link",
        link_to="ein Link zu {}",
        dot="Punkt",
        at="at",
        symbols={"&": "und", "+": "plus", "=": "gleich", "@": "at", "%": "Prozent"},
        arrows=(("->", " zu "), ("=>", " also "), ("!=", " ungleich ")),
        squared=" hoch zwei",
        cubed=" hoch drei",
        written=_written(
            {
                r"z\." + _SPACE + r"B\.": "zum Beispiel",
                r"d\." + _SPACE + r"h\.": "das heißt",
                r"u\." + _SPACE + r"a\.": "unter anderem",
                r"usw\.": "und so weiter",
                r"bzw\.": "beziehungsweise",
                r"ca\.": "circa",
                r"evtl\.": "eventuell",
                r"ggf\.": "gegebenenfalls",
                r"inkl\.": "inklusive",
                r"vgl\.": "vergleiche",
                r"etc\.": "et cetera",
                r"Nr\.": "Nummer",
                r"Dr\.(?=[ \u00a0]+[A-Z])": "Doktor",
                r"Prof\.(?=[ \u00a0]+[A-Z])": "Professor",
                r"Hr\.(?=[ \u00a0]+[A-Z])": "Herr",
                r"Fr\.(?=[ \u00a0]+[A-Z])": "Frau",
            }
        ),
        chat={
            "vllt": "vielleicht",
            "lg": "liebe Grüße",
            "hdl": "hab dich lieb",
            "ka": "keine Ahnung",
            "kp": "keine Ahnung",
            "mmn": "meiner Meinung nach",
            "bzw": "beziehungsweise",
            "zb": "zum Beispiel",
        },
    ),
    "es": SpeechWords(
        link="un enlace",
        link_to="un enlace a {}",
        dot="punto",
        at="arroba",
        symbols={"&": "y", "+": "más", "=": "igual a", "@": "arroba", "%": "por ciento"},
        arrows=(("->", " a "), ("=>", " entonces "), ("!=", " distinto de ")),
        squared=" al cuadrado",
        cubed=" al cubo",
        written=_written(
            {
                r"Sr\.": "señor",
                r"Sra\.": "señora",
                r"Srta\.": "señorita",
                r"Dr\.": "doctor",
                r"Dra\.": "doctora",
                r"Ud\.": "usted",
                r"Uds\.": "ustedes",
                r"p\." + _SPACE + r"ej\.": "por ejemplo",
                r"etc\.": "etcétera",
                r"aprox\.": "aproximadamente",
                r"EE\." + _SPACE + r"UU\.": "Estados Unidos",
            }
        ),
        chat={
            "xq": "porque",
            "pq": "porque",
            "tb": "también",
            "tmb": "también",
            "q": "que",
            "xfa": "por favor",
            "porfa": "por favor",
            "tqm": "te quiero mucho",
            "ntp": "no te preocupes",
            "bn": "bien",
        },
    ),
}
