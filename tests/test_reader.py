"""ChatReader: parsing, every reason code, cooldowns, replies, the hostile corpus.

The reader works on a real ``QuestionPool`` over a real ``QuestionStore`` in ``tmp_path``
(no fakes of our own code), with one injected clock for both.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from streamer.config import CommandSettings, FilterSettings, PoolSettings
from streamer.filters import BannedWords
from streamer.messages import ChatMessage, ModAction, ModCommand, Question, Role
from streamer.pool import QuestionPool
from streamer.reader import ChatReader, Outcome, Reason, Verdict
from streamer.store import QuestionStore
from tests.hostile_corpus import BANNED_WORDS, write_corpus


class Clock:
    """Drives the reader's cooldowns and the pool's expiry; moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    reader: ChatReader
    pool: QuestionPool
    store: QuestionStore
    said: list[str]
    mods: list[ModCommand]
    clock: Clock


class Maker:
    """Builds readers over a fresh pool and store each; closes the stores at the end."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.stores: list[QuestionStore] = []

    def __call__(
        self,
        *,
        commands: dict[str, Any] | None = None,
        filters: dict[str, Any] | None = None,
        pool: dict[str, Any] | None = None,
        banned: Iterable[str] | None = None,
        on_mod: Callable[[ModCommand], Awaitable[None] | None] | None = None,
        reply: bool = True,
        say: Callable[[str], None] | None = None,
        blocked: Callable[[str], bool] = lambda user: False,
    ) -> Harness:
        said: list[str] = []
        mods: list[ModCommand] = []
        clock = Clock()
        store = QuestionStore(self._folder / f"questions-{len(self.stores)}.db")
        self.stores.append(store)
        question_pool = QuestionPool(PoolSettings(**(pool or {})), store, clock=clock)
        reader = ChatReader(
            CommandSettings(**(commands or {})),
            FilterSettings(**(filters or {})),
            question_pool,
            say=say if say is not None else said.append if reply else None,
            on_mod=on_mod if on_mod is not None else mods.append,
            banned=BannedWords(banned) if banned is not None else None,
            clock=clock,
            blocked=blocked,
        )
        return Harness(reader, question_pool, store, said, mods, clock)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Maker]:
    maker = Maker(tmp_path)
    yield maker
    for store in maker.stores:
        store.close()


def chat(
    text: str,
    user: str = "alice",
    *,
    badges: Iterable[str] = (),
    display_name: str = "",
    bits: int = 0,
) -> ChatMessage:
    return ChatMessage(
        user=user,
        text=text,
        display_name=display_name or user.capitalize(),
        badges=frozenset(badges),
        bits=bits,
        received_at=1_700_000_000.0,
    )


def assert_clean_question(question: Question) -> None:
    """Names fit for a reply, a log line and the LLM prompt."""
    assert 1 <= len(question.display_name) <= 25
    assert question.display_name.isprintable(), repr(question.display_name)
    assert question.display_name == question.display_name.strip()
    for login in (question.user, *question.askers):
        assert 1 <= len(login) <= 25 and re.fullmatch(r"\w+", login), repr(login)
        assert login == login.lower()
    assert question.text.isprintable()


REASONS: frozenset[str] = frozenset(get_args(Reason))
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))

# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text",
    [
        "!ask why is the sky blue?",
        "!ASK why is the sky blue?",
        "!Ask why is the sky blue?",
        "!q why is the sky blue?",
        "!Q why is the sky blue?",
        "!question why is the sky blue?",
        "  !ask   why is the sky blue?  ",
        "!ask\twhy is the sky blue?",
        "\u200b!ask why is the sky blue?",
    ],
)
async def test_ask_and_aliases(make: Maker, text: str) -> None:
    h = make()
    verdict = await h.reader.handle(chat(text))
    assert (verdict.outcome, verdict.reason) == ("accepted", "ok")
    assert verdict.question is not None
    assert verdict.question.text == "why is the sky blue?"


async def test_accepted_question_fields(make: Maker) -> None:
    h = make()
    msg = chat("!ask what is love?", "bob", badges={"subscriber"}, display_name="Bob_", bits=100)
    verdict = await h.reader.handle(msg)
    q = verdict.question
    assert q is not None and h.pool.pooled() == [q]
    assert (q.user, q.display_name, q.text, q.role, q.bits) == (
        "bob",
        "Bob_",
        "what is love?",
        Role.SUBSCRIBER,
        100,
    )
    assert q.asked_at == msg.received_at
    assert q.askers == ("bob",)
    assert len(q.id) == 32


@pytest.mark.parametrize(
    ("text", "outcome", "reason"),
    [
        ("hello chat", "ignored", "not_a_command"),
        ("ask me anything", "ignored", "not_a_command"),
        ("", "ignored", "empty"),
        ("\u200b\u200b \x00", "ignored", "empty"),
        ("!askwhy is this", "ignored", "unknown_command"),
        ("!uptime", "ignored", "unknown_command"),
        ("!", "ignored", "unknown_command"),
        ("!ask", "rejected", "empty"),
        ("!ask     ", "rejected", "empty"),
        ("!ask hi", "rejected", "too_short"),
        ("!ask " + "abcdefghij" * 31, "rejected", "too_long"),
        ("!ask see https://example.com", "rejected", "link"),
        ("!ask go to bit.ly/xyz now", "rejected", "link"),
        ("!ask you are a b4dw0rd!", "rejected", "banned_word"),
    ],
)
async def test_reasons(make: Maker, text: str, outcome: str, reason: str) -> None:
    h = make(banned=["badword"])
    verdict = await h.reader.handle(chat(text))
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert verdict.question is None
    assert h.pool.pooled() == []


async def test_length_limits_are_inclusive_and_counted_after_sanitize(make: Maker) -> None:
    h = make(filters={"min_chars": 5, "max_chars": 20, "user_cooldown_s": 0})
    assert (await h.reader.handle(chat("!ask abcde"))).reason == "ok"
    assert (await h.reader.handle(chat("!ask abcd"))).reason == "too_short"
    assert (await h.reader.handle(chat("!ask ab\u200bcd"))).reason == "too_short"
    assert (await h.reader.handle(chat("!ask " + "abcdefghij" * 2))).reason == "ok"
    assert (await h.reader.handle(chat("!ask " + "abcdefghij" * 2 + "k"))).reason == "too_long"


async def test_too_long_is_not_truncated(make: Maker) -> None:
    h = make()
    verdict = await h.reader.handle(chat("!ask " + "abcdefghij" * 100))
    assert verdict.reason == "too_long"
    assert "1000 characters" in verdict.detail
    assert h.pool.pooled() == []


async def test_links_allowed_by_setting(make: Maker) -> None:
    h = make(filters={"allow_links": True})
    assert (await h.reader.handle(chat("!ask is example.com safe?"))).reason == "ok"


async def test_banned_words_from_settings_when_no_list_is_given(make: Maker) -> None:
    h = make(filters={"banned_words": ["trollface"]})
    assert (await h.reader.handle(chat("!ask nice tr0llf4ce"))).reason == "banned_word"
    assert (await h.reader.handle(chat("!ask nice troll and face"))).reason == "ok"


async def test_scunthorpe_questions_pass(make: Maker) -> None:
    h = make(banned=["ass"], filters={"user_cooldown_s": 0})
    for text in ("!ask is the class assistant here?", "!ask do you play bass?"):
        assert (await h.reader.handle(chat(text))).reason == "ok"


async def test_custom_prefix_and_names(make: Maker) -> None:
    h = make(commands={"prefix": "?!", "ask": "Frage", "ask_aliases": ["F"], "skip": "next"})
    assert (await h.reader.handle(chat("?!frage wie geht es dir?"))).reason == "ok"
    assert (await h.reader.handle(chat("?!F wie geht es dir heute?", "bob"))).reason == "ok"
    assert (await h.reader.handle(chat("!ask how are you?", "carol"))).reason == "not_a_command"
    verdict = await h.reader.handle(chat("?!next", "mod", badges={"moderator"}))
    assert verdict.outcome == "command"
    assert h.mods == [ModCommand(ModAction.SKIP, "mod")]


# ---------------------------------------------------------------------------- cooldown


async def test_cooldown_with_injected_clock(make: Maker) -> None:
    h = make(filters={"user_cooldown_s": 60})
    assert (await h.reader.handle(chat("!ask first question?"))).reason == "ok"
    h.clock.now += 59.5
    verdict = await h.reader.handle(chat("!ask second question?"))
    assert (verdict.outcome, verdict.reason) == ("rejected", "cooldown")
    assert verdict.detail == "wait 1 s"
    # Another user is not affected.
    assert (await h.reader.handle(chat("!ask my own question?", "bob"))).reason == "ok"
    h.clock.now += 0.5
    assert (await h.reader.handle(chat("!ask third question?"))).reason == "ok"


async def test_rejected_and_pool_full_do_not_start_a_cooldown(make: Maker) -> None:
    h = make(banned=["badword"], pool={"max_size": 1})
    assert (await h.reader.handle(chat("!ask hi"))).reason == "too_short"
    assert (await h.reader.handle(chat("!ask a badword here"))).reason == "banned_word"
    assert (await h.reader.handle(chat("!ask fills the pool?", "bob"))).reason == "ok"
    assert (await h.reader.handle(chat("!ask the pool is full?"))).reason == "pool_full"
    assert h.pool.pick() is not None  # to the build queue: room in the pool again
    assert (await h.reader.handle(chat("!ask now there is room?"))).reason == "ok"


async def test_cooldown_in_a_case_insensitive_way(make: Maker) -> None:
    h = make()
    assert (await h.reader.handle(chat("!ask first question?", "Alice"))).reason == "ok"
    assert (await h.reader.handle(chat("!ask second question?", "alice"))).reason == "cooldown"


@pytest.mark.parametrize("badge", ["broadcaster", "moderator"])
async def test_broadcaster_and_moderators_are_exempt(make: Maker, badge: str) -> None:
    h = make()
    for i in range(5):
        verdict = await h.reader.handle(chat(f"!ask question number {i}?", badges={badge}))
        assert verdict.reason == "ok"
    assert h.reader.cooldown_entries == 0


async def test_vip_is_not_exempt(make: Maker) -> None:
    h = make()
    assert (await h.reader.handle(chat("!ask first one?", badges={"vip"}))).reason == "ok"
    assert (await h.reader.handle(chat("!ask second one?", badges={"vip"}))).reason == "cooldown"


async def test_zero_cooldown(make: Maker) -> None:
    h = make(filters={"user_cooldown_s": 0})
    for i in range(3):
        assert (await h.reader.handle(chat(f"!ask question {i}?"))).reason == "ok"
    assert h.reader.cooldown_entries == 0


async def test_cooldown_table_is_bounded(make: Maker) -> None:
    h = make(filters={"user_cooldown_s": 1}, pool={"max_size": 10_000})
    for i in range(1500):
        h.clock.now += 0.01  # 100 users a second, each remembered for 1 s
        assert (await h.reader.handle(chat(f"!ask question {i}?", f"user{i}"))).reason == "ok"
    assert h.reader.cooldown_entries <= 1024  # pruned once, past 1024: not 1500
    # Still correct right after pruning: the last user is on cooldown.
    assert (await h.reader.handle(chat("!ask once more?", "user1499"))).reason == "cooldown"


# ---------------------------------------------------------------------------- pool results


async def test_duplicates_are_merged_and_acknowledged(make: Maker) -> None:
    h = make()
    first = await h.reader.handle(chat("!ask What is your favourite colour?", "alice"))
    second = await h.reader.handle(chat("!ask what is your FAVOURITE colour", "bob"))
    assert (second.outcome, second.reason) == ("merged", "duplicate")
    assert first.question is not None and second.question is not None
    assert second.question.id == first.question.id
    assert second.question.askers == ("alice", "bob")
    assert h.said == [
        "@Alice, your question is in the queue",
        "@Bob, your question is in the queue",
    ]
    # A merge counts as an accepted ask for the cooldown.
    assert (await h.reader.handle(chat("!ask something else now?", "bob"))).reason == "cooldown"


async def test_pool_full(make: Maker) -> None:
    h = make(pool={"max_size": 1})
    assert (await h.reader.handle(chat("!ask the only one that fits?", "bob"))).reason == "ok"
    verdict = await h.reader.handle(chat("!ask will this fit?"))
    assert (verdict.outcome, verdict.reason) == ("rejected", "pool_full")
    assert verdict.question is None
    assert h.said[-1] == "@Alice, too many questions right now, please try again later"
    assert [q.user for q in h.pool.pooled()] == ["bob"]
    # A duplicate still merges into a full pool: it adds no question.
    merged = await h.reader.handle(chat("!ask The only one that fits", "carol"))
    assert (merged.outcome, merged.reason) == ("merged", "duplicate")


# ---------------------------------------------------------------------------- moderators


@pytest.mark.parametrize(
    ("text", "action", "argument"),
    [
        ("!skip", ModAction.SKIP, ""),
        ("!CLEAR", ModAction.CLEAR, ""),
        ("!pause now", ModAction.PAUSE, "now"),
        ("!resume", ModAction.RESUME, ""),
        ("!block @Troll for spam", ModAction.BLOCK, "@Troll"),
        ("!unblock troll", ModAction.UNBLOCK, "troll"),
    ],
)
@pytest.mark.parametrize("badge", ["moderator", "broadcaster"])
async def test_moderator_commands_allowed(
    make: Maker, text: str, action: ModAction, argument: str, badge: str
) -> None:
    h = make()
    verdict = await h.reader.handle(chat(text, "boss", badges={badge}))
    assert (verdict.outcome, verdict.reason) == ("command", "ok")
    assert h.mods == [ModCommand(action, "boss", argument)]


@pytest.mark.parametrize("badges", [(), ("vip",), ("subscriber",), ("moderator/1",), ("mod",)])
async def test_moderator_commands_denied(make: Maker, badges: tuple[str, ...]) -> None:
    h = make(commands={"reply_on": ["not_moderator"]})
    verdict = await h.reader.handle(chat("!skip", "troll", badges=badges))
    assert (verdict.outcome, verdict.reason) == ("rejected", "not_moderator")
    assert h.mods == []
    assert h.said == ["@Troll, that command is for moderators"]


async def test_async_on_mod_is_awaited(make: Maker) -> None:
    seen: list[ModCommand] = []

    async def on_mod(command: ModCommand) -> None:
        seen.append(command)

    h = make(on_mod=on_mod)
    await h.reader.handle(chat("!pause", "boss", badges={"moderator"}))
    assert seen == [ModCommand(ModAction.PAUSE, "boss")]


async def test_failing_on_mod_is_an_internal_error(
    make: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    async def on_mod(command: ModCommand) -> None:
        raise RuntimeError("boom")

    h = make(on_mod=on_mod)
    with caplog.at_level(logging.ERROR, logger="streamer.reader"):
        verdict = await h.reader.handle(chat("!clear", "boss", badges={"moderator"}))
    assert (verdict.outcome, verdict.reason) == ("rejected", "internal_error")
    assert "RuntimeError: boom" in caplog.text


# ---------------------------------------------------------------------------- internal errors


async def test_pool_exception_is_an_internal_error(
    make: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    h = make()
    h.store.close()  # the database is gone: pool.add raises
    with caplog.at_level(logging.ERROR, logger="streamer.reader"):
        verdict = await h.reader.handle(chat("!ask will it blow up?"))
    assert verdict == Verdict("rejected", "internal_error", "internal error; see the log")
    assert "closed database" in caplog.text
    assert h.reader.stats["reason.internal_error"] == 1
    assert h.said == []


async def test_garbage_message_fields_are_an_internal_error(make: Maker) -> None:
    h = make()
    bad = ChatMessage(user="x", text=None)  # type: ignore[arg-type]
    assert (await h.reader.handle(bad)).reason == "internal_error"
    worse = ChatMessage(user="x", text="!ask fine text?", bits="lots")  # type: ignore[arg-type]
    assert (await h.reader.handle(worse)).reason == "internal_error"


async def test_failing_say_does_not_lose_the_question(make: Maker) -> None:
    def say(text: str) -> None:
        raise RuntimeError("chat is down")

    h = make(say=say)
    assert (await h.reader.handle(chat("!ask still accepted?"))).reason == "ok"
    assert [q.text for q in h.pool.pooled()] == ["still accepted?"]


# ---------------------------------------------------------------------------- replies


async def test_replies_follow_templates_and_reply_on(make: Maker) -> None:
    h = make(banned=["badword"])
    await h.reader.handle(chat("!ask what is up?", display_name="Ally"))
    await h.reader.handle(chat("!ask what is up now?", display_name="Ally"))  # cooldown
    await h.reader.handle(chat("!ask hi", "bob"))  # too_short
    await h.reader.handle(chat("!ask " + "abcdefghij" * 40, "carol"))  # too_long
    await h.reader.handle(chat("!ask visit example.com", "dave"))  # link
    await h.reader.handle(chat("!ask a badword for you", "erin"))  # not in reply_on
    await h.reader.handle(chat("!ask", "frank"))  # empty: not in reply_on
    assert h.said == [
        "@Ally, your question is in the queue",
        "@Ally, please wait 60 s before asking again",
        "@Bob, your question is too short (at least 5 characters)",
        "@Carol, your question is too long (at most 300 characters)",
        "@Dave, links are not allowed in questions",
    ]


async def test_banned_word_reply_does_not_repeat_the_word(make: Maker) -> None:
    h = make(banned=["badword"], commands={"reply_on": ["banned_word"]})
    verdict = await h.reader.handle(chat("!ask you b.a.d.w.o.r.d person", display_name="Eve"))
    assert verdict.reason == "banned_word"
    assert "badword" not in verdict.detail
    assert h.said == ["@Eve, your question contains a word that is not allowed"]


async def test_no_replies_without_say_or_with_empty_templates(make: Maker) -> None:
    h = make(reply=False)
    assert (await h.reader.handle(chat("!ask hi"))).reason == "too_short"
    h2 = make(commands={"ack_template": "", "reject_template": ""})
    await h2.reader.handle(chat("!ask a fine question?"))
    await h2.reader.handle(chat("!ask hi", "bob"))
    assert h2.said == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("@{user} {nope}", "@Alice"),
        ("{0} and {user}", "@Alice"),
        ("{user", "@Alice"),
        ("{user!z}", "@Alice"),
    ],
)
async def test_broken_ack_template_falls_back(make: Maker, template: str, expected: str) -> None:
    h = make(commands={"ack_template": template})
    assert (await h.reader.handle(chat("!ask does it crash?"))).reason == "ok"
    assert h.said == [expected]


async def test_broken_reject_template_falls_back(make: Maker) -> None:
    h = make(commands={"reject_template": "@{user}: {why}"})
    await h.reader.handle(chat("!ask hi"))
    assert h.said == ["@Alice your question is too short (at least 5 characters)"]


async def test_reply_is_never_a_chat_command(make: Maker) -> None:
    h = make(commands={"ack_template": "/ban {user}"})
    await h.reader.handle(chat("!ask a fine question?", display_name="Eve"))
    assert h.said == ["ban Eve"]


async def test_hostile_display_name_is_sanitized_in_replies(make: Maker) -> None:
    h = make()
    name = "\u202eEvil\x1b[31m\u200bName" + "x" * 100
    await h.reader.handle(chat("!ask a fine question?", "eve", display_name=name))
    assert h.said == [f"@EvilName{'x' * 17}, your question is in the queue"]
    h2 = make()
    await h2.reader.handle(chat("!ask a fine question?", "eve", display_name="\u200b"))
    assert h2.said == ["@eve, your question is in the queue"]  # the login name


HOSTILE_NAMES = [
    # (login, display name, the display name the question carries)
    ("forger", "x\n2026-01-01 INFO forged line\u202e", "x 2026-01-01 INFO forged"),
    ("crlf", "Nice\r\nERROR streamer: crashed", "Nice ERROR streamer: cras"),
    ("ansi", "\x1b[2J\x1b[31mRed\x1b[0m\x07Name\x00", "RedName"),
    ("rtl", "\u202eemanlivE\u202c\u2066iso\u2069", "emanlivEiso"),
    ("zw", "\u200b\u200c\u200d\u2060\ufeff\u00ad", "zw"),
    ("long", "N" * 1000, "N" * 25),
    ("zalgo", "Z" + "\u0301\u0336" * 500, "\u0179\u0336\u0336\u0336"),
    ("seps", "Line\u2028Sep\u2029Para\x85Next", "Line Sep Para Next"),
    ("Mixed_Case99", "", "mixed_case99"),
    ("bad\nlogin\u202e\x1b[31m", "\u202e\n", "badlogin31m"),
    ("\u200b\u202e\n\x00", "\x00", "viewer"),
    ("ユーザー\u200b", "", "ユーザー"),
    ("u" * 5000, "", "u" * 25),
]


@pytest.mark.parametrize(("login", "display_name", "shown"), HOSTILE_NAMES)
async def test_hostile_names_never_reach_the_question_or_a_reply(
    make: Maker, caplog: pytest.LogCaptureFixture, login: str, display_name: str, shown: str
) -> None:
    h = make(commands={"reply_on": ["too_short"]})
    msg = ChatMessage(user=login, display_name=display_name, text="!ask a fine question?")
    with caplog.at_level(logging.DEBUG, logger="streamer"):
        verdict = await h.reader.handle(msg)
        assert verdict.question is not None
        h.reader.answering(verdict.question)
        await h.reader.handle(ChatMessage(user=login, display_name=display_name, text="!ask hi"))
    question = verdict.question
    assert question.display_name == shown
    assert_clean_question(question)
    assert h.pool.get(question.id) == question  # stored clean, so the LLM prompt gets it
    assert h.said == [
        f"@{shown}, your question is in the queue",
        f"@{shown}, answering now",
        f"@{shown}, your question is too short (at least 5 characters)",
    ]
    for text in [*h.said, *(r.getMessage() for r in caplog.records)]:
        assert text.isprintable(), repr(text)
        assert "forged line" not in text and "crashed" not in text


async def test_clean_login_keeps_letters_digits_and_underscore(make: Maker) -> None:
    h = make(filters={"user_cooldown_s": 0})
    for login, clean in [
        ("Alice", "alice"),
        ("user\nINFO forged", "userinfoforged"),
        ("\x1b[31mred_user", "31mred_user"),
        ("üser_ñame", "üser_ñame"),
        ("zal\u0301\u0302go", "zaĺgo"),
        ("İnci", "inci"),
        ("a.b-c d", "abcd"),
    ]:
        msg = ChatMessage(user=login, text=f"!ask what about {clean}?")
        verdict = await h.reader.handle(msg)
        assert verdict.question is not None
        assert (verdict.question.user, verdict.question.askers) == (clean, (clean,))


async def test_picked(make: Maker) -> None:
    h = make()
    verdict = await h.reader.handle(chat("!ask pick me?", display_name="Ally"))
    assert verdict.question is not None
    h.reader.answering(verdict.question)
    assert h.said[-1] == "@Ally, answering now"
    make(reply=False).reader.answering(verdict.question)  # no say: nothing, no error


async def test_picked_mentions_every_asker_of_merged_duplicates(make: Maker) -> None:
    h = make()
    await h.reader.handle(chat("!ask Is the sky blue?", "alice", display_name="Ally"))
    await h.reader.handle(chat("!ask is the SKY blue", "bob"))
    await h.reader.handle(chat("!ask is the sky blue?!", "Carol"))
    await h.reader.handle(chat("!ask is the sky blue", "alice", badges={"moderator"}))
    picked = h.pool.pick()
    assert picked is not None and picked.askers == ("alice", "bob", "carol")
    h.reader.answering(picked)
    assert h.said[-1] == "@Ally @bob @carol, answering now"


async def test_picked_names_at_most_five_askers(make: Maker) -> None:
    h = make()
    for i in range(8):
        verdict = await h.reader.handle(chat("!ask who is first?", f"user{i}"))
        assert verdict.reason == ("ok" if i == 0 else "duplicate")
    picked = h.pool.pick()
    assert picked is not None and len(picked.askers) == 8
    h.reader.answering(picked)
    assert h.said[-1] == "@User0 @user1 @user2 @user3 @user4 and 3 more, answering now"


async def test_picked_cleans_names_of_a_question_stored_before(make: Maker) -> None:
    # A question written by an older version may carry raw names: cleaned on the way out.
    h = make(commands={"picked_template": "{user} " + "x" * 480})
    raw = "\u202eEvil\n2026-01-01 INFO forged" + "N" * 1000
    question = Question(
        id="old",
        user=raw,
        display_name=raw,
        text="an old question?",
        role=Role.VIEWER,
        askers=(raw, *(f"{i}\x1b[2J{raw}" for i in range(10))),
    )
    h.reader.answering(question)
    (reply,) = h.said
    logins = " ".join(f"@{i}2jevil20260101infoforged" for i in range(4))
    assert reply == f"Evil 2026-01-01 INFO forg {logins} and 6 more {'x' * 480}"[:500]
    assert reply.isprintable()


# ---------------------------------------------------------------------------- logs and stats


async def test_rejections_are_logged_on_one_line(
    make: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    h = make()
    with caplog.at_level(logging.INFO, logger="streamer.reader"):
        await h.reader.handle(
            chat("!ask x\nINFO forged\r\x1b[2J line " + "abcdefghij" * 40, "ev\nil")
        )
    records = [
        r for r in caplog.records if r.levelno == logging.INFO and r.name == "streamer.reader"
    ]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "too_long" in line and "'ev\\nil'" in line
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert len(line) < 300


async def test_normal_chat_is_logged_at_debug_only(
    make: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    h = make()
    with caplog.at_level(logging.DEBUG, logger="streamer.reader"):
        await h.reader.handle(chat("hello everyone"))
    reader_records = [r for r in caplog.records if r.name == "streamer.reader"]
    assert [r.levelno for r in reader_records] == [logging.DEBUG]


async def test_run_handles_every_message_and_counts(make: Maker) -> None:
    h = make(banned=["badword"])
    texts = [
        "hi all",
        "!ask first question?",
        "!ask again please?",
        "!ask a badword here",
        "!skip",
        "!q another one here?",
    ]

    async def messages() -> AsyncIterator[ChatMessage]:
        for i, text in enumerate(texts):
            yield chat(text, "bob" if i == 5 else "alice")

    await h.reader.run(messages())
    assert h.reader.stats == {
        "total": 6,
        "outcome.ignored": 1,
        "outcome.accepted": 2,
        "outcome.rejected": 3,
        "reason.not_a_command": 1,
        "reason.ok": 2,
        "reason.cooldown": 1,
        "reason.banned_word": 1,
        "reason.not_moderator": 1,
    }
    stats = h.reader.stats
    stats["total"] = 0  # a copy: callers cannot change the counts
    assert h.reader.stats["total"] == 6


# ---------------------------------------------------------------------------- hostile corpus


def load_corpus(path: Path) -> tuple[list[tuple[int, ChatMessage]], int]:
    """A minimal replay reader for this test (the daemon has the real one)."""
    messages: list[tuple[int, ChatMessage]] = []
    malformed = 0
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw:
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            malformed += 1
            continue
        if not isinstance(obj, dict) or "user" not in obj or "text" not in obj:
            malformed += 1
            continue
        messages.append(
            (
                number,
                ChatMessage(
                    user=obj["user"],
                    text=obj["text"],
                    display_name=obj.get("display_name", ""),
                    badges=frozenset(obj["badges"]),
                    bits=obj["bits"],
                    received_at=1_700_000_000.0 + number,
                ),
            )
        )
    return messages, malformed


def test_corpus_is_deterministic_and_big_enough(tmp_path: Path) -> None:
    a = write_corpus(tmp_path / "a.jsonl", seed=7)
    b = write_corpus(tmp_path / "b.jsonl", seed=7)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert a.lines == b.lines >= 200
    assert a.valid >= 200 and 5 <= a.malformed < 20
    assert sum(a.categories.values()) == a.lines
    assert a.categories["flood"] == 50
    assert a.categories["hostile_name"] >= 10
    sizes = [len(line) for line in (tmp_path / "a.jsonl").read_bytes().split(b"\n")]
    assert sum(size >= 1_000_000 for size in sizes) >= 3


async def test_hostile_corpus_through_handle(
    make: Maker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    summary = write_corpus(tmp_path / "hostile.jsonl")
    messages, malformed = load_corpus(summary.path)
    assert malformed == summary.malformed
    assert len(messages) == summary.valid
    reply_on = [
        "cooldown",
        "too_short",
        "too_long",
        "link",
        "pool_full",
        "banned_word",
        "not_moderator",
        "empty",
    ]
    h = make(commands={"reply_on": reply_on}, banned=BANNED_WORDS)
    reader, said, mods = h.reader, h.said, h.mods
    wrong: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="streamer"):
        for number, msg in messages:
            verdict = await reader.handle(msg)
            assert verdict.outcome in OUTCOMES and verdict.reason in REASONS
            assert verdict.reason != "internal_error", (number, msg.text[:80])
            expected = summary.expected.get(number)
            if expected is not None and verdict.reason != expected:
                wrong.append(f"line {number}: {verdict.reason} != {expected}: {msg.text[:60]!r}")
    assert not wrong, "\n".join(wrong)
    assert reader.stats["total"] == summary.valid
    assert mods == []  # every moderator command came from a non-moderator
    # Every question in the pool, and its "answering now" reply, is clean.
    pooled = h.pool.pooled()
    assert len(pooled) == reader.stats["outcome.accepted"] > 0
    for question in pooled:
        assert_clean_question(question)
        assert 5 <= len(question.text) <= 300
        reader.answering(question)
    # Replies: short, one clean line, never the hostile text or a banned word.
    hostile = [m.text for _, m in messages if len(m.text) > 20]
    hostile += [m.display_name for _, m in messages if not m.display_name.isprintable()]
    for reply in said:
        assert len(reply) <= 500
        assert reply.isprintable()
        folded = reply.casefold()
        assert not any(word in folded.split() for word in BANNED_WORDS)
        assert "http" not in folded and "example" not in folded
        assert not any(text in reply for text in hostile)
    # Logs (reader and pool): every record is one printable line, whatever the input held.
    for record in caplog.records:
        message = record.getMessage()
        assert message.isprintable(), repr(message[:200])
        assert len(message) < 1000


async def test_blocked_users_are_not_taken(make: Maker) -> None:
    h = make(blocked={"troll"}.__contains__)  # the daemon wires its block list here
    verdict = await h.reader.handle(chat("!ask a perfectly fine question", "troll"))
    assert (verdict.outcome, verdict.reason) == ("rejected", "blocked")
    assert h.pool.counts().get("pooled", 0) == 0
    ok = await h.reader.handle(chat("!ask a perfectly fine question", "friend"))
    assert ok.outcome == "accepted"
