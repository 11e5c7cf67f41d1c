"""The shared tables: the chat filters and the speech text agree on every entry."""

from __future__ import annotations

import pytest

from streamer.filters import BannedWords, find_link, sanitize
from streamer.speech_text import SpeechText
from streamer.text_tables import (
    ANSI_RE,
    INVISIBLE,
    INVISIBLE_RE,
    SPEECH_TLDS,
    STRONG_TLDS,
    TLDS,
    WORD_TLDS,
)


def test_subsets() -> None:
    assert STRONG_TLDS <= TLDS
    assert WORD_TLDS <= TLDS
    assert SPEECH_TLDS == TLDS - WORD_TLDS


def test_invisible_re_matches_exactly_the_set() -> None:
    for cp in range(0x110000):
        ch = chr(cp)
        assert (INVISIBLE_RE.fullmatch(ch) is not None) == (ch in INVISIBLE), hex(cp)


def test_every_invisible_character_is_dropped_everywhere() -> None:
    speech = SpeechText()
    banned = BannedWords(["badword"])
    for ch in sorted(INVISIBLE):
        assert sanitize(f"ex{ch}ample") == "example", hex(ord(ch))
        assert banned.find(f"bad{ch}word") == "badword", hex(ord(ch))
        assert find_link(f"ex{ch}ample.com") == "example.com", hex(ord(ch))
        # The emoji rule takes joiners and selectors first, with a space.
        assert speech(f"ex{ch}ample") in ("example", "ex ample"), hex(ord(ch))
        assert speech(f"ex{ch}ample.com") in ("example dot com", "ex ample dot com")


@pytest.mark.parametrize("tld", sorted(TLDS))
def test_every_tld_is_a_link_in_chat(tld: str) -> None:
    assert find_link(f"see example.{tld}/x now") == f"example.{tld}/x"


@pytest.mark.parametrize("tld", sorted(SPEECH_TLDS - {"gg"}))  # gg: "good game" after
def test_every_speech_tld_is_read_as_a_domain(tld: str) -> None:
    text = f"Go to Example.{tld.upper()}/x now"
    assert SpeechText()(text) == f"Go to example dot {tld} now"


@pytest.mark.parametrize("tld", sorted(WORD_TLDS))
def test_word_tlds_after_a_missing_space_are_a_sentence_break(tld: str) -> None:
    word = tld.capitalize()
    assert SpeechText()(f"I did it.{word} way") == f"I did it. {word} way"


@pytest.mark.parametrize(
    "raw", ["\x1b[31mred\x1b[0m", "\x1b[31", "\x9b1mred", "\x1b]0;title\x07red", "\x1bMred"]
)
def test_terminal_escapes_go_whole(raw: str) -> None:
    assert ANSI_RE.sub("", raw) in ("red", "")
    assert sanitize(raw) == ANSI_RE.sub("", raw)
    assert SpeechText()(raw) == ANSI_RE.sub("", raw)
