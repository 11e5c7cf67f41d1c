"""SentenceSplitter: tricky texts, limits, and the same result however it is chunked."""

from __future__ import annotations

import random

import pytest

from streamer.splitter import SentenceSplitter


def split_all(text: str, min_chars: int = 1, first: int = 1, max_chars: int = 400) -> list[str]:
    sp = SentenceSplitter(min_chars=min_chars, first_min_chars=first, max_chars=max_chars)
    return sp.feed(text) + sp.finish()


def split_chunked(
    text: str, rng: random.Random, min_chars: int, first: int, max_chars: int
) -> list[str]:
    sp = SentenceSplitter(min_chars=min_chars, first_min_chars=first, max_chars=max_chars)
    out: list[str] = []
    i = 0
    while i < len(text):
        step = rng.choice([1, 1, 2, 3, 5, 8, 13, 40])
        out += sp.feed(text[i : i + step])
        i += step
    return out + sp.finish()


# (text, expected segments) with min_chars=1: every sentence end cuts.
TRICKY: list[tuple[str, list[str]]] = [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    (
        "Mr. Smith met Dr. Jones on St. Mark's street.",
        ["Mr. Smith met Dr. Jones on St. Mark's street."],
    ),
    (
        "Mrs. Brown likes fruit, e.g. apples, i.e. red ones.",
        ["Mrs. Brown likes fruit, e.g. apples, i.e. red ones."],
    ),
    ("Cats vs. dogs is old. Next.", ["Cats vs. dogs is old.", "Next."]),
    (
        "I woke at 7 a.m. and slept at 11 p.m. It was long.",
        ["I woke at 7 a.m. and slept at 11 p.m.", "It was long."],
    ),
    ("The U.S. and the U.K. are allies. Yes.", ["The U.S. and the U.K. are allies.", "Yes."]),
    ("I like apples, pears, etc. and more.", ["I like apples, pears, etc. and more."]),
    ("I like apples, pears, etc. Do you?", ["I like apples, pears, etc.", "Do you?"]),
    ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it.", "Read it."]),
    (
        "Pi is 3.14 and tea is $2.50. That is 1,000 cents.",
        ["Pi is 3.14 and tea is $2.50.", "That is 1,000 cents."],
    ),
    ("Well... maybe not. Hmm… okay.", ["Well... maybe not.", "Hmm… okay."]),
    ("Well... Maybe not.", ["Well...", "Maybe not."]),
    ("Wait for it…", ["Wait for it…"]),
    ('"Yes." She said it.', ['"Yes."', "She said it."]),
    ('"Really?" she asked. "No!" He left.', ['"Really?" she asked.', '"No!"', "He left."]),
    ("He asked (quietly.) Then left.", ["He asked (quietly.)", "Then left."]),
    ("What?! No way!!! Really?", ["What?!", "No way!!!", "Really?"]),
    ("Great! 😄 Next one.", ["Great! 😄", "Next one."]),
    ("Great!😄 Next one.", ["Great!😄", "Next one."]),
    ("I love it 😄. So much 👍🏽!", ["I love it 😄.", "So much 👍🏽!"]),
    ("Family: 👨‍👩‍👧 is cute. Yes!", ["Family: 👨‍👩‍👧 is cute.", "Yes!"]),
    ("Line one\nLine two\n\nPara three", ["Line one", "Line two", "Para three"]),
    ("Visit example.com today. Ok.", ["Visit example.com today.", "Ok."]),
    ("It was in 1999. Then 2000 came.", ["It was in 1999.", "Then 2000 came."]),
    ("   leading and trailing spaces.   ", ["leading and trailing spaces."]),
    ("", []),
    ("   \n\n  ", []),
]


# The table is about sentence ends, so the early first segment (which may end at a
# comma) is used up by an intro sentence first.
INTRO = "Intro. "


@pytest.mark.parametrize(("text", "expected"), TRICKY)
def test_tricky_texts(text: str, expected: list[str]) -> None:
    assert split_all(INTRO + text) == ["Intro.", *expected]


@pytest.mark.parametrize(("text", "expected"), TRICKY)
def test_tricky_texts_one_char_at_a_time(text: str, expected: list[str]) -> None:
    sp = SentenceSplitter(min_chars=1, first_min_chars=1, max_chars=400)
    out: list[str] = []
    for ch in INTRO + text:
        out += sp.feed(ch)
    assert out + sp.finish() == ["Intro.", *expected]


def test_min_chars_groups_sentences() -> None:
    text = "One. Two. Three. Four is longer. Five."
    assert split_all(text, min_chars=10, first=10) == [
        "One. Two. Three.",
        "Four is longer.",
        "Five.",
    ]


def test_first_segment_cut_early_at_comma() -> None:
    text = (
        "Oh wow, what a great question that is, honestly I love it, "
        "and the sky is blue because air scatters blue light more than red light. "
        "That is called Rayleigh scattering."
    )
    segs = split_all(text, min_chars=200, first=40, max_chars=400)
    assert segs[0] == "Oh wow, what a great question that is, honestly I love it,"
    assert len(segs[0]) >= 40
    # After the first segment, only sentence ends at >= min_chars cut (none here).
    assert segs[1:] == [text[len(segs[0]) :].strip()]


def test_first_segment_cut_at_sentence_end() -> None:
    text = "Sure thing! The sky looks blue because of physics. It scatters light."
    segs = split_all(text, min_chars=200, first=40)
    assert segs == ["Sure thing! The sky looks blue because of physics.", "It scatters light."]


def test_comma_in_number_is_not_an_early_cut() -> None:
    text = "There are about 1,000,000,000,000 stars in a big galaxy like ours, maybe more."
    segs = split_all(text, min_chars=200, first=10)
    assert segs == [
        "There are about 1,000,000,000,000 stars in a big galaxy like ours,",
        "maybe more.",
    ]


def test_long_text_without_punctuation_is_cut_at_last_space() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    segs = split_all(words, min_chars=50, first=20, max_chars=100)
    assert all(0 < len(s) <= 100 for s in segs)
    assert " ".join(segs) == words  # cut only at spaces, nothing lost
    assert len(segs[0]) > 90


def test_word_longer_than_max_is_cut_hard() -> None:
    blob = "x" * 250
    segs = split_all(blob, min_chars=20, first=20, max_chars=100)
    assert segs == ["x" * 100, "x" * 100, "x" * 50]


def test_over_the_limit_prefers_last_sentence_end() -> None:
    text = "Short one. " + "filler " * 30 + "end."
    segs = split_all(text, min_chars=150, first=150, max_chars=160)
    assert segs[0] == "Short one."
    assert all(len(s) <= 160 for s in segs)


def test_finish_resets_for_next_answer() -> None:
    sp = SentenceSplitter(min_chars=100, first_min_chars=5)
    assert sp.feed("Hello, world and more") == ["Hello,"]
    assert sp.finish() == ["world and more"]
    # New answer: the first segment is early again.
    assert sp.feed("Again, yes") == ["Again,"]
    sp.reset()
    assert sp.pending == ""
    assert sp.finish() == []


def test_holds_back_only_what_it_needs() -> None:
    sp = SentenceSplitter(min_chars=1, first_min_chars=1)
    assert sp.feed("It costs 3") == []
    assert sp.feed(".") == []  # "3." could be "3.5"
    assert sp.feed("5 dollars. And") == ["It costs 3.5 dollars."]
    assert sp.pending == "And"


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        SentenceSplitter(min_chars=300, first_min_chars=40, max_chars=100)


LONG_TEXT = (
    "Hi there, chat! Mr. Smith and Dr. Who met at 7 a.m. in the U.S. Army base... "
    'or was it the U.K.? Nobody knows. "Really?" she asked. Pi is 3.14159, and a coffee '
    "costs $2.50 (e.g. in Paris). Wow!!! 🎉🎉 That's 1,000 times better?! J. R. R. Tolkien "
    "wrote books etc. The end… or not.\n\nNew paragraph here with words that go on and on "
    "without any punctuation at all so that the maximum length rule has to kick in somewhere "
    "along the way because nobody ever stops talking in this paragraph and it keeps going "
    "and going like a stream of consciousness that never ends no matter how long it runs "
    "further and further still Ok. " + "x" * 130 + " Done."
)


@pytest.mark.parametrize("limits", [(1, 1, 60), (30, 10, 80), (200, 40, 400), (50, 50, 120)])
@pytest.mark.parametrize("seed", range(25))
def test_chunking_does_not_change_segments(seed: int, limits: tuple[int, int, int]) -> None:
    min_chars, first, max_chars = limits
    expected = split_all(LONG_TEXT, min_chars, first, max_chars)
    got = split_chunked(LONG_TEXT, random.Random(seed), min_chars, first, max_chars)
    assert got == expected
    assert all(s and s == s.strip() and len(s) <= max_chars for s in expected)
    # Nothing lost: the segments are the text, only whitespace differs.
    assert "".join(expected).replace(" ", "") == "".join(LONG_TEXT.split())
