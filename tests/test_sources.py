"""The replay and console chat sources."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from streamer.chat.console import ConsoleChatSource
from streamer.chat.replay import ReplayChatSource, ReplayLineError, parse_line
from streamer.messages import Role


def test_parse_line_full() -> None:
    msg, delay = parse_line(
        json.dumps(
            {
                "user": "Alice",
                "text": "!ask why?",
                "badges": ["Subscriber"],
                "bits": 50,
                "delay_s": 1.5,
                "first_message": True,
            }
        )
    )
    assert msg.user == "alice" and msg.display_name == "Alice"
    assert msg.badges == frozenset({"subscriber"})
    assert msg.bits == 50 and msg.first_message
    assert msg.role is Role.SUBSCRIBER
    assert delay == 1.5


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"text": "hi"}', "'user'"),
        ('{"user": "", "text": "hi"}', "'user'"),
        ('{"user": "a"}', "'text'"),
        ('{"user": "a", "text": 5}', "'text'"),
        ('{"user": "a", "text": "x", "badges": "vip"}', "'badges'"),
        ('{"user": "a", "text": "x", "bits": -1}', "'bits'"),
        ('{"user": "a", "text": "x", "bits": true}', "'bits'"),
        ('{"user": "a", "text": "x", "delay_s": -2}', "'delay_s'"),
        ('{"user": "a", "text": "x", "delay_s": "soon"}', "'delay_s'"),
    ],
)
def test_parse_line_rejects(line: str, why: str) -> None:
    with pytest.raises(ReplayLineError, match=why):
        parse_line(line)


def test_parse_line_caps_huge_text() -> None:
    msg, _ = parse_line(json.dumps({"user": "x" * 500, "text": "a" * 2_000_000}))
    assert len(msg.text) <= 8192
    assert len(msg.user) <= 64


async def test_replay_skips_bad_lines_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(
        '{"user": "a", "text": "one", "delay_s": 100}\n'
        "garbage\n"
        "\n"
        '{"user": "b", "text": "two"}\n'
        '{"user": "c", "text": "three", "delay_s": 100}\n',
        encoding="utf-8",
    )
    source = ReplayChatSource(path, speed=0, echo=False)  # speed 0: no waiting
    got = [m.text async for m in source.messages()]
    assert got == ["one", "two", "three"]
    assert source.bad_lines == 1
    await source.send("hello")
    assert list(source.sent) == ["hello"]


async def test_console_switches_user_and_quits() -> None:
    stdin = io.StringIO("!ask first?\n\n/as bob subscriber vip\n!ask second?\n/quit\nignored\n")
    stdout = io.StringIO()
    source = ConsoleChatSource("operator", ["broadcaster"], stdin=stdin, stdout=stdout)
    await source.start()
    got = [m async for m in source.messages()]
    assert [(m.user, m.text) for m in got] == [("operator", "!ask first?"), ("bob", "!ask second?")]
    assert got[0].role is Role.BROADCASTER
    assert got[1].badges == frozenset({"subscriber", "vip"})
    await source.send("@bob, your question is in the queue")
    assert "[chat] @bob, your question is in the queue" in stdout.getvalue()
