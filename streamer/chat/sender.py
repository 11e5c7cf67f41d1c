"""A rate-limited chat sender: the only way the daemon should write to chat.

Twitch allows a bot 20 chat messages per 30 seconds (100 when the bot is a moderator or
the broadcaster) and locks it out for about 30 minutes when it goes over. twitchio 3 has
no outgoing limiter, so every line goes through ``RateLimitedSender``:

* ``say(text)`` never blocks and never raises: it cleans the text (one line, at most
  ``max_len`` characters) and queues it; when too many lines wait, the oldest is dropped.
* One worker task sends the queue in order so that no sliding window of ``window_s``
  seconds ever holds more than ``limit`` sends. A send is stamped when it *finishes*:
  Twitch receives a message before our request returns, so spacing the stamps by the
  window also spaces Twitch's own receive times by at least the window.
* A failed send is logged and the worker goes on; a rate-limit answer (HTTP 429) makes the
  worker wait until Twitch said the limit resets (``retry_after_s``, from Helix's
  ``Ratelimit-Reset``), else a full window, and the line is tried once more.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streamer.chat.base import ChatSendError

logger = logging.getLogger(__name__)

# Twitch's documented limits (messages per 30 s).
USER_LIMIT = 20
MODERATOR_LIMIT = 100
TWITCH_WINDOW_S = 30.0
TWITCH_MAX_LEN = 500
ELLIPSIS = "…"


def limit_for(is_moderator: bool) -> int:
    """Messages per 30 s window: 100 for a moderator (or the broadcaster), else 20."""
    return MODERATOR_LIMIT if is_moderator else USER_LIMIT


class ChatRateLimitedError(ChatSendError):
    """Twitch answered a send with HTTP 429 (too many requests). ``retry_after_s``: when
    Twitch said when to come back (Helix's ``Ratelimit-Reset``), else None."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def is_rate_limited(exc: BaseException) -> bool:
    """True for a 429-like failure: ``ChatRateLimitedError`` or anything with status 429."""
    return isinstance(exc, ChatRateLimitedError) or getattr(exc, "status", None) == 429


def clean_line(text: str, max_len: int = TWITCH_MAX_LEN) -> str:
    """One chat line: whitespace (newlines included) collapsed, cut to ``max_len``.

    A line that is too long is cut at the last word boundary that keeps at least half of
    it (else mid-word) and ends with "…"; the result is never longer than ``max_len``.
    """
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2, got {max_len}")
    line = " ".join(text.split())
    if len(line) <= max_len:
        return line
    head = line[: max_len - len(ELLIPSIS) + 1]  # one extra char: is the cut on a boundary?
    if head[-1] == " ":
        head = head[:-1]
    else:
        head = head[:-1]
        space = head.rfind(" ")
        if space >= max_len // 2:
            head = head[:space]
    return head.rstrip() + ELLIPSIS


class SlidingWindow:
    """At most ``limit`` events in any window of ``window_s`` seconds (times are given)."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._stamps: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()

    def delay(self, now: float) -> float:
        """Seconds to wait from ``now`` before the next event is allowed (0 = go)."""
        self._expire(now)
        if len(self._stamps) < self.limit:
            return 0.0
        return self._stamps[-self.limit] + self.window_s - now

    def record(self, now: float) -> None:
        """Count one event at ``now``."""
        self._expire(now)
        self._stamps.append(now)

    def block(self, now: float, until: float | None = None) -> None:
        """Treat the window as full from ``now``: the next event waits ``window_s``, or
        until ``until`` when given."""
        last = now if until is None else until - self.window_s
        self._stamps.clear()
        self._stamps.extend([last] * self.limit)

    def __len__(self) -> int:
        return len(self._stamps)


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    attempts: int = 0


class RateLimitedSender:
    """Queues chat lines and sends them within Twitch's rate limit. See the module doc."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        limit: int,
        window_s: float = TWITCH_WINDOW_S,
        max_len: int = TWITCH_MAX_LEN,
        max_pending: int = 200,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        send_timeout_s: float = 10.0,
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._send = send
        self._window = SlidingWindow(limit, window_s)
        self._max_len = max_len
        self._max_pending = max_pending
        self._clock = clock
        self._sleep = sleep
        self._send_timeout_s = send_timeout_s
        self._queue: collections.deque[_Line] = collections.deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Lines waiting to be sent (not counting one being sent right now)."""
        return len(self._queue)

    @property
    def limit(self) -> int:
        return self._window.limit

    @property
    def window_s(self) -> float:
        return self._window.window_s

    def start(self) -> None:
        """Launch the worker task (once)."""
        if self._task is not None:
            raise RuntimeError("RateLimitedSender.start() was already called")
        self._task = asyncio.create_task(self._worker(), name="chat-sender")

    def say(self, text: str) -> None:
        """Queue one chat line. Never blocks, never raises."""
        try:
            self._enqueue(text)
        except Exception:  # say() is called from chat handlers: it must not break them
            logger.exception("could not queue a chat line")

    def _enqueue(self, text: str) -> None:
        if self._closing:
            logger.warning("chat sender is closing: not sending %r", text[:80])
            return
        line = clean_line(text, self._max_len)
        if not line:
            return
        if len(self._queue) >= self._max_pending:
            old = self._queue.popleft()
            self.dropped += 1
            logger.warning(
                "chat sender: %d lines waiting, dropping the oldest: %r",
                self._max_pending,
                old.text[:80],
            )
        self._queue.append(_Line(line))
        self._idle.clear()
        self._wakeup.set()

    async def _next_line(self) -> _Line:
        while not self._queue:
            self._idle.set()
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    async def _wait_for_window(self) -> None:
        delay = self._window.delay(self._clock())
        while delay > 0:
            await self._sleep(delay)
            delay = self._window.delay(self._clock())

    async def _worker(self) -> None:
        while True:
            line = await self._next_line()
            await self._wait_for_window()
            try:
                async with asyncio.timeout(self._send_timeout_s):
                    await self._send(line.text)
            except Exception as exc:
                self._window.record(self._clock())
                self.failed += 1
                if is_rate_limited(exc):
                    now = self._clock()
                    after = getattr(exc, "retry_after_s", None)
                    self._window.block(now, None if after is None else now + after)
                    retry = line.attempts == 0
                    logger.warning(
                        "chat send rate-limited by Twitch; waiting %.1f s%s: %s",
                        self._window.window_s if after is None else after,
                        " and trying once more" if retry else ", line dropped",
                        exc,
                    )
                    if retry:
                        self._queue.appendleft(_Line(line.text, line.attempts + 1))
                else:
                    logger.warning("chat send failed, line dropped (%r): %s", line.text[:80], exc)
            else:
                self._window.record(self._clock())
                self.sent += 1

    async def close(self, drain_timeout: float = 2.0) -> None:
        """Send what can be sent within ``drain_timeout`` seconds, then stop the worker."""
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            if self._queue:
                logger.warning(
                    "chat sender closed before it started: %d lines not sent", len(self._queue)
                )
                self._queue.clear()
            return
        if not task.done() and drain_timeout > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout):
                    await self._idle.wait()
        left = len(self._queue)
        if left:
            logger.warning("chat sender closed with %d unsent lines", left)
            self._queue.clear()
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            logger.error("chat sender worker had failed", exc_info=task.exception())
