"""The chat stage: the chat source made from the settings, read until it ends.

A live source (Twitch) that stops or fails is restarted with backoff (1 s to 60 s); a
finite one (a replay file, the console) ends the stage, and with ``--once`` the daemon
then stops once every question is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from streamer.chat.base import ChatSource
from streamer.chat.console import ConsoleChatSource
from streamer.chat.replay import ReplayChatSource
from streamer.config import Settings
from streamer.reader import ChatReader
from streamer.secrets import from_env, load_twitch_tokens

log = logging.getLogger(__name__)

# A live chat source (Twitch) that stops is restarted after 1, 2, 4 ... 60 s.
CHAT_BACKOFF_S = (1.0, 60.0)


def make_chat_source(
    settings: Settings, env: Mapping[str, str], on_secret: Callable[[str], None] | None = None
) -> ChatSource:
    chat = settings.chat
    if chat.source == "replay":
        assert chat.replay_file is not None  # checked by the settings model
        return ReplayChatSource(chat.replay_file, speed=chat.replay_speed)
    if chat.source == "console":
        return ConsoleChatSource(chat.console_user, chat.console_badges)
    from streamer.chat.twitch import TwitchChatSource

    tokens = load_twitch_tokens(settings.token_file, env)
    secret = from_env(
        settings.twitch.client_secret_env,
        purpose="your Twitch application's client secret",
        env=env,
    )
    return TwitchChatSource(
        settings.twitch, tokens, secret, token_path=settings.token_file, on_secret=on_secret
    )


def collect_secrets(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Every secret value known at start, so the log filter can mask it."""
    names = [
        settings.llm.api_key_env,
        settings.moderation.model.api_key_env,
        settings.twitch.client_secret_env,
        "TWITCH_ACCESS_TOKEN",
        "TWITCH_REFRESH_TOKEN",
    ]
    values = [env.get(n, "") for n in names]
    if settings.chat.source == "twitch":
        with contextlib.suppress(Exception):
            tokens = load_twitch_tokens(settings.token_file, env)
            values += [tokens.access_token, tokens.refresh_token]
    return [v for v in values if v]


class ChatStage:
    """Reads ``source`` through ``reader`` until it ends; ``done``/``failed`` say how."""

    def __init__(self, source: ChatSource, reader: ChatReader, on_done: Callable[[], None]) -> None:
        self.source = source
        self.reader = reader
        self.done = False
        self.failed = False
        self._on_done = on_done

    async def run(self) -> None:
        chat = self.source
        backoff = CHAT_BACKOFF_S[0]
        try:
            while True:
                try:
                    await self.reader.run(chat.messages())
                    if not chat.live:
                        return
                    log.warning("chat %s stopped; reconnecting in %.0f s", chat.name, backoff)
                except Exception:
                    if not chat.live:
                        self.failed = True
                        log.exception("chat %s failed", chat.name)
                        return
                    log.exception("chat %s failed; reconnecting in %.0f s", chat.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, CHAT_BACKOFF_S[1])
                try:
                    await chat.close()
                    await chat.start()
                except Exception as exc:
                    log.warning("chat %s reconnect failed: %s", chat.name, exc)
                else:
                    log.info("chat %s reconnected", chat.name)
                    backoff = CHAT_BACKOFF_S[0]
        finally:
            self.done = True
            log.info("chat input ended")
            self._on_done()
