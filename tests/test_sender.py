"""RateLimitedSender and its sliding window, on virtual time (no real waiting).

The end-to-end burst against the fake Twitch lives in tests/test_twitch.py.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from streamer.chat.base import ChatSendError
from streamer.chat.sender import (
    ChatRateLimitedError,
    RateLimitedSender,
    SlidingWindow,
    clean_line,
    limit_for,
)


class VirtualTime:
    """A clock and a sleep that advances it: the worker's waits cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class Recorder:
    """A ``send`` that records (virtual time, text) and can fail on demand."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.sent: list[tuple[float, str]] = []
        self.failures: list[BaseException] = []
        self.done = asyncio.Event()
        self.expected = 0

    async def __call__(self, text: str) -> None:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((self.time.now, text))
        if len(self.sent) >= self.expected:
            self.done.set()

    async def wait(self, count: int) -> None:
        self.expected = count
        if len(self.sent) < count:
            self.done.clear()
            await asyncio.wait_for(self.done.wait(), 5)


def max_in_window(stamps: list[float], window: float) -> int:
    """The most stamps any half-open window [t, t + window) holds."""
    return max(sum(1 for s in stamps if t <= s < t + window) for t in stamps)


# ---------------------------------------------------------------------- the window


def test_sliding_window_with_injected_times() -> None:
    window = SlidingWindow(limit=3, window_s=30.0)
    for t in (0.0, 1.0, 2.0):
        assert window.delay(t) == 0.0
        window.record(t)
    assert window.delay(2.0) == pytest.approx(28.0)  # the stamp at 0 leaves at 30
    assert window.delay(29.999) == pytest.approx(0.001)
    assert window.delay(30.0) == 0.0
    window.record(30.0)
    assert window.delay(30.0) == pytest.approx(1.0)  # now the stamp at 1 is the oldest
    assert window.delay(31.0) == 0.0
    window.block(31.0)
    assert window.delay(31.0) == pytest.approx(30.0)
    assert window.delay(61.0) == 0.0


def test_sliding_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 30.0)
    with pytest.raises(ValueError):
        SlidingWindow(20, 0.0)


def test_limit_for() -> None:
    assert limit_for(False) == 20
    assert limit_for(True) == 100


# ---------------------------------------------------------------------- text


def test_clean_line_joins_lines_and_keeps_short_text() -> None:
    assert clean_line("hello\nthere\r\n  you ") == "hello there you"
    assert clean_line("x" * 500) == "x" * 500


def test_clean_line_cuts_at_a_word_with_ellipsis() -> None:
    text = "word " * 200
    cut = clean_line(text)
    assert len(cut) <= 500 and cut.endswith("word…")
    assert cut[:-1].split(" ") == ["word"] * len(cut[:-1].split(" "))
    exact = clean_line("a" * 499 + " bbb")  # the cut falls right on the space
    assert exact == "a" * 499 + "…"
    one_word = clean_line("y" * 800)  # no space: cut mid-word
    assert one_word == "y" * 499 + "…"
    assert len(clean_line("ab cd ef gh", max_len=8)) <= 8


# ---------------------------------------------------------------------- the sender


async def test_sender_never_overfills_a_window() -> None:
    time = VirtualTime()
    send = Recorder(time)
    sender = RateLimitedSender(send, limit=5, window_s=30.0, clock=time.clock, sleep=time.sleep)
    sender.start()
    for i in range(23):
        sender.say(f"line {i}")
    await send.wait(23)
    await sender.close()

    assert [text for _, text in send.sent] == [f"line {i}" for i in range(23)]
    stamps = [t for t, _ in send.sent]
    assert max_in_window(stamps, 30.0) == 5
    # 23 lines at 5 per window: four full waits of 30 s, no more.
    assert stamps[-1] - stamps[0] == pytest.approx(4 * 30.0)
    assert sender.sent == 23 and sender.pending == 0


async def test_sender_sends_at_once_when_the_window_has_room() -> None:
    time = VirtualTime()
    send = Recorder(time)
    sender = RateLimitedSender(send, limit=20, clock=time.clock, sleep=time.sleep)
    sender.start()
    for i in range(20):
        sender.say(f"ack {i}")
    await send.wait(20)
    await sender.close()
    assert time.sleeps == []


async def test_say_never_raises_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    time = VirtualTime()
    send = Recorder(time)
    sender = RateLimitedSender(send, limit=20, max_pending=3, clock=time.clock, sleep=time.sleep)
    for i in range(5):
        sender.say(f"line {i}")  # not started yet: they wait
    sender.say("   \n ")  # nothing to say
    sender.say(None)  # type: ignore[arg-type]  # a bug upstream must not break chat handling
    assert sender.pending == 3 and sender.dropped == 2
    assert "dropping the oldest" in caplog.text
    assert "could not queue" in caplog.text
    sender.start()
    await send.wait(3)
    await sender.close()
    assert [text for _, text in send.sent] == ["line 2", "line 3", "line 4"]


async def test_failed_sends_are_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="streamer.chat.sender")
    time = VirtualTime()
    send = Recorder(time)
    send.failures = [ChatSendError("dropped: msg_duplicate"), RuntimeError("boom")]
    sender = RateLimitedSender(send, limit=20, clock=time.clock, sleep=time.sleep)
    sender.start()
    for text in ("a", "b", "c"):
        sender.say(text)
    await send.wait(1)
    await sender.close()
    assert [text for _, text in send.sent] == ["c"]
    assert sender.failed == 2 and sender.sent == 1
    assert "msg_duplicate" in caplog.text and "boom" in caplog.text


async def test_rate_limited_send_backs_off_a_window_and_retries_once() -> None:
    time = VirtualTime()
    send = Recorder(time)
    send.failures = [ChatRateLimitedError("HTTP 429")]
    sender = RateLimitedSender(send, limit=20, window_s=30.0, clock=time.clock, sleep=time.sleep)
    start = time.now
    sender.start()
    sender.say("hello")
    sender.say("world")
    await send.wait(2)
    await sender.close()
    assert [text for _, text in send.sent] == ["hello", "world"]
    assert send.sent[0][0] - start == pytest.approx(30.0)


async def test_close_drains_within_the_timeout() -> None:
    release = asyncio.Event()
    sent: list[str] = []

    async def slow_send(text: str) -> None:
        if text == "stuck":
            await release.wait()
        sent.append(text)

    sender = RateLimitedSender(slow_send, limit=20)
    sender.start()
    sender.say("quick")
    sender.say("stuck")
    sender.say("never")
    await sender.close(drain_timeout=0.05)
    assert sent == ["quick"]
    assert sender.pending == 0
    sender.say("after close")  # ignored, with a warning
    assert sender.pending == 0


async def test_close_sends_what_is_pending() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        await asyncio.sleep(0)
        sent.append(text)

    sender = RateLimitedSender(send, limit=20)
    sender.start()
    for i in range(5):
        sender.say(str(i))
    await sender.close()
    assert sent == ["0", "1", "2", "3", "4"]
