"""The Twitch tokens a chat source holds: the bot's, and the broadcaster's own.

twitchio revalidates and refreshes user tokens itself; each refreshed pair is taken over
here and written to its file (mode 0600) off the event loop. Every token learned after
start (refreshed pairs, app tokens fetched with the client secret) goes to
``on_secret`` so the log mask knows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from streamer.chat.twitch_client import _Counter
from streamer.secrets import TwitchTokens, save_twitch_tokens

logger = logging.getLogger("streamer.chat.twitch")


class TokenKeeper:
    def __init__(
        self,
        bot_id: str,
        owner_id: str,
        bot: TwitchTokens,
        bot_path: Path | None,
        *,
        broadcaster: TwitchTokens | None = None,
        broadcaster_path: Path | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self._bot_id, self._owner_id = bot_id, owner_id
        self.bot, self._bot_path = bot, bot_path
        self.broadcaster, self._broadcaster_path = broadcaster, broadcaster_path
        self._on_secret = on_secret
        self._tasks: set[asyncio.Task[None]] = set()
        self.saved = _Counter()  # refreshed bot pairs taken over

    def learned(self, secret: str) -> None:
        """Hand a token learned after construction to ``on_secret`` (the log mask)."""
        if self._on_secret is None or not secret:
            return
        try:
            self._on_secret(secret)
        except Exception:
            logger.exception("on_secret failed for a new Twitch token")

    def refreshed(self, user_id: str, access: str, refresh: str) -> None:
        """twitchio refreshed a user's token: keep it and save it (in the background)."""
        self.learned(access)
        self.learned(refresh)
        if user_id == self._bot_id:  # first: a bot on the broadcaster's account is the bot
            self.bot = TwitchTokens(access, refresh, self._bot_id, self.bot.login)
            saving = self._save(self.bot, self._bot_path, bot=True)
        elif user_id == self._owner_id and self.broadcaster is not None:
            old = self.broadcaster
            self.broadcaster = TwitchTokens(access, refresh, old.user_id, old.login)
            saving = self._save(self.broadcaster, self._broadcaster_path, bot=False)
        else:
            return
        task = asyncio.create_task(saving, name="twitch-save-tokens")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save(self, tokens: TwitchTokens, path: Path | None, *, bot: bool) -> None:
        if path is None:
            logger.info("Twitch token refreshed (kept in memory: no token file configured)")
        else:
            try:
                await asyncio.to_thread(save_twitch_tokens, path, tokens)
            except OSError as exc:
                logger.error("could not save the refreshed Twitch token to %s: %s", path, exc)
                return
            logger.info("Twitch token refreshed and saved to %s", path)
        if bot:
            self.saved.add()

    async def wait_saving(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks))
