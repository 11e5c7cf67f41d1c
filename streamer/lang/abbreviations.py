"""Abbreviations that a period does not end (or ends only before a capital), by language.

The sentence splitter looks a word up here (lower case, without its last period) when a
period follows it. Single letters (initials, "M." for Monsieur) never end a sentence in
any language. German writes ordinals with a period ("am 3. Oktober"): after a number
of one to three digits, a period followed by a month name or a lower-case word does not
end the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Abbreviations:
    never_end: frozenset[str]
    end_if_capital: frozenset[str]
    ordinal_dot: bool = False  # German: "3. Oktober" is an ordinal, not an end
    months: frozenset[str] = frozenset()


_EN = Abbreviations(
    never_end=frozenset(
        {"mr", "mrs", "ms", "dr", "st", "prof", "rev", "gen", "sgt", "capt", "lt", "col"}
        | {"mt", "ft", "e.g", "i.e", "vs", "cf", "approx", "no", "nos", "fig", "vol"}
    ),
    end_if_capital=frozenset(
        {"etc", "a.m", "p.m", "u.s", "u.k", "u.s.a", "e.u", "jr", "sr", "inc", "ltd", "co"}
        | {"corp", "dept", "est", "min", "max", "ca"}
    ),
)

_FR = Abbreviations(
    never_end=frozenset(
        {"mme", "mlle", "mmes", "mm", "dr", "pr", "me", "mgr", "st", "ste", "cf", "ex"}
        | {"p.ex", "env", "vol", "chap", "fig", "av", "bd", "art", "réf", "tél", "vs", "no"}
        | {"n°", "nº", "éd", "coll", "hab", "sq", "apr", "dép"}
    ),
    end_if_capital=frozenset({"etc", "j.-c", "c.-à-d", "min", "max", "sept", "oct", "nov"}),
)

_DE_MONTHS = frozenset(
    {"januar", "jänner", "februar", "märz", "april", "mai", "juni", "juli", "august"}
    | {"september", "oktober", "november", "dezember", "jan", "feb", "mär", "apr", "jun"}
    | {"jul", "aug", "sep", "sept", "okt", "nov", "dez"}
)

_DE = Abbreviations(
    never_end=frozenset(
        {"dr", "prof", "hr", "fr", "z.b", "d.h", "u.a", "bzw", "ca", "nr", "vgl", "sog"}
        | {"evtl", "ggf", "inkl", "exkl", "str", "bspw", "u.ä", "o.ä", "mio", "mrd", "zb"}
        | {"dt", "allg", "bzgl", "gem", "i.d.r", "s", "abs", "art", "min", "max", "hl"}
    ),
    end_if_capital=frozenset({"usw", "etc", "u.s.w", "v.chr", "n.chr", "jh", "jhd", "uvm"}),
    ordinal_dot=True,
    months=_DE_MONTHS,
)

_ES = Abbreviations(
    never_end=frozenset(
        {"sr", "sra", "srta", "sres", "dr", "dra", "d", "dña", "ud", "uds", "p.ej", "ej"}
        | {"pág", "págs", "núm", "aprox", "av", "avda", "vol", "cap", "fig", "lic", "ing"}
        | {"prof", "profa", "dpto", "tel", "vs", "n°", "nº", "no", "cía"}
    ),
    end_if_capital=frozenset({"etc", "a.c", "d.c", "a.m", "p.m", "min", "máx", "mín"}),
)

ABBREVIATIONS = {"en": _EN, "fr": _FR, "de": _DE, "es": _ES}


def abbreviations(language: str) -> Abbreviations:
    """The table of ``language`` (English for a language without one)."""
    return ABBREVIATIONS.get(language, _EN)
