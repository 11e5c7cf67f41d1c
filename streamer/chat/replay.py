"""Replay chat from a JSON Lines file: demos, load tests, reproducing incidents.

One message a line::

    {"user": "alice", "text": "!ask why is the sky blue?", "badges": ["subscriber"],
     "bits": 0, "delay_s": 1.5}

``delay_s`` is the wait before that line (scaled by ``speed``). Every key but ``user``
and ``text`` is optional. A bad line is logged with its number and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from streamer.chat.base import ChatSource
from streamer.messages import ChatMessage

log = logging.getLogger(__name__)

# A line longer than this is still read (and rejected later by the filters), but only
# this much of it is kept: a megabyte line must not cost a megabyte per stage.
MAX_TEXT_CHARS = 8192
MAX_DELAY_S = 3600.0


class ReplayLineError(ValueError):
    pass


def parse_line(line: str) -> tuple[ChatMessage, float]:
    """One JSON line -> (message, delay before it). Raise ReplayLineError if unusable."""
    try:
        data: Any = json.loads(line)
    except ValueError as exc:
        raise ReplayLineError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ReplayLineError("not a JSON object")
    user, text = data.get("user"), data.get("text")
    if not isinstance(user, str) or not user.strip():
        raise ReplayLineError("'user' must be a non-empty string")
    if not isinstance(text, str):
        raise ReplayLineError("'text' must be a string")
    badges = data.get("badges", [])
    if not isinstance(badges, list) or not all(isinstance(b, str) for b in badges):
        raise ReplayLineError("'badges' must be a list of strings")
    bits, delay = data.get("bits", 0), data.get("delay_s", 0)
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 0:
        raise ReplayLineError("'bits' must be a whole number >= 0")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not delay >= 0:
        raise ReplayLineError("'delay_s' must be a number >= 0")
    first = data.get("first_message", False)
    login = user.strip()[:64]
    msg = ChatMessage(
        user=login.lower(),
        display_name=str(data.get("display_name") or login)[:64],
        text=text[:MAX_TEXT_CHARS],
        badges=frozenset(b.lower() for b in badges),
        bits=bits,
        first_message=bool(first),
    )
    return msg, min(float(delay), MAX_DELAY_S)


class ReplayChatSource(ChatSource):
    name = "replay"

    def __init__(self, path: Path, *, speed: float = 1.0, echo: bool = True) -> None:
        self._path = path
        self._speed = speed
        self._echo = echo
        # The last lines sent (read by tests; bounded so a long replay stays flat).
        self.sent: deque[str] = deque(maxlen=1000)
        self.bad_lines = 0
        self.lines = 0

    async def messages(self) -> AsyncIterator[ChatMessage]:
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(None, lambda: self._path.open("rb"))
        try:
            number = 0
            while True:
                raw = await loop.run_in_executor(None, handle.readline)
                if not raw:
                    break
                number += 1
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                self.lines += 1
                try:
                    msg, delay = parse_line(line)
                except ReplayLineError as exc:
                    self.bad_lines += 1
                    log.warning("replay %s line %d skipped: %s", self._path.name, number, exc)
                    continue
                if delay and self._speed:
                    await asyncio.sleep(delay * self._speed)
                yield msg
        finally:
            handle.close()
        log.info(
            "replay %s finished: %d messages, %d bad lines skipped",
            self._path.name,
            self.lines,
            self.bad_lines,
        )

    async def send(self, text: str) -> None:
        self.sent.append(text)
        if self._echo:
            log.info("chat> %s", text)
