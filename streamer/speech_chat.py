"""Speech text for chat: links, e-mail addresses, emotes, user names, abbreviations.

Rules 5 to 8 of the speech text (see ``streamer.speech_text``): the tables and the
functions; the emote pattern, built from the settings, is ``SpeechText``'s own.
"""

from __future__ import annotations

import re

from streamer.speech_markup import _KEEP_STOP, _LETTER, _TOKEN_BREAKS
from streamer.speech_numbers import _words
from streamer.text_tables import SPEECH_TLDS

# Every pattern that starts with a repeated class has a look-behind that stops it from
# starting again in the middle of the same run, so a failed match costs O(run), never
# O(run**2); no pattern nests ambiguous repetitions (this holds in every speech_* module).

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

# Read as domains: the TLDs of the chat link filter, less those that are everyday words.
_TLD_ALT = "|".join(sorted(SPEECH_TLDS, key=lambda t: (-len(t), t)))

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
_LATIN = re.compile(
    r"[eEiIvV](?<![\w.][eEiIvV])"
    r"(?:(?<=[eE])\.[gG]\.?|(?<=[iI])\.[eE]\.?|(?<=[eE])tc" + _KEEP_STOP + r"|(?<=[vV])s\.?)(?!\w)"
)
_LATIN_WORDS = {"e.": "for example", "i.": "that is", "et": "et cetera", "vs": "versus"}
_TITLES = re.compile(r"(?<![\w.])(Mr|Mrs|Dr|Prof)\.(?=[ \t]+[A-Z])")
_TITLE_WORDS = {"Mr": "Mister", "Mrs": "Missus", "Dr": "Doctor", "Prof": "Professor"}
_WITH = re.compile(r"(?<!\w)[wW]/(o(?!\w))?")


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
