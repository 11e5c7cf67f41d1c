"""Console chat: the operator types chat lines in the terminal.

Lines are sent as ``chat.console_user`` with ``chat.console_badges``. ``/as NAME
[badge ...]`` switches the user (e.g. ``/as bob subscriber``); ``/quit`` ends the input.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator
from typing import TextIO

from streamer.chat.base import ChatSource
from streamer.messages import ChatMessage

log = logging.getLogger(__name__)


class ConsoleChatSource(ChatSource):
    name = "console"

    def __init__(
        self,
        user: str,
        badges: list[str],
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._user = user.lower()
        self._badges = frozenset(b.lower() for b in badges)
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout

    async def start(self) -> None:
        self._print(
            f"console chat: type messages as {self._user} (e.g. '!ask why is the sky blue?'); "
            "'/as NAME [badge ...]' switches user, '/quit' ends input"
        )

    def _print(self, text: str) -> None:
        print(text, file=self._stdout, flush=True)

    def _reader(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]) -> None:
        # A daemon thread: readline blocks, and a blocked daemon thread never holds up exit.
        while True:
            line = self._stdin.readline()
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            except RuntimeError:  # the loop closed while readline blocked: we are done
                return
            if not line:
                return

    async def messages(self) -> AsyncIterator[ChatMessage]:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(
            target=self._reader, args=(loop, lines), name="console-stdin", daemon=True
        ).start()
        while True:
            line = await lines.get()
            if not line:
                return
            line = line.strip()
            if not line:
                continue
            if line == "/quit":
                return
            if line.startswith("/as"):
                parts = line.split()
                if len(parts) < 2:
                    self._print("usage: /as NAME [badge ...]")
                    continue
                self._user = parts[1].lower()
                self._badges = frozenset(b.lower() for b in parts[2:])
                self._print(f"now typing as {self._user} {sorted(self._badges)}")
                continue
            yield ChatMessage(
                user=self._user, display_name=self._user, text=line, badges=self._badges
            )

    async def send(self, text: str) -> None:
        self._print(f"[chat] {text}")
