"""The chat stage: the chat source made from the settings, read until it ends.

A live source (Twitch) that stops or fails is restarted with backoff (1 s to 60 s); a
finite one (a replay file, the console) ends the stage, and with ``--once`` the daemon
then stops once every question is answered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping

from streamer.chat.base import ChatSource
from streamer.chat.console import ConsoleChatSource
from streamer.chat.replay import ReplayChatSource
from streamer.config import Settings
from streamer.messages import ChatEvent, ChatModeration, Redemption
from streamer.reader import ChatReader
from streamer.secrets import SecretError, from_env, load_twitch_tokens

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
    broadcaster = None
    own_account = settings.twitch.bot_id == settings.twitch.owner_id  # one token for both
    if settings.broadcaster_token_file.is_file() and not own_account:
        try:  # `streamer twitch login --broadcaster`: optional, never a reason not to start
            broadcaster = load_twitch_tokens(settings.broadcaster_token_file, env={})
        except SecretError as exc:
            log.warning("the broadcaster's Twitch token is not used: %s", exc)
    return TwitchChatSource(
        settings.twitch, tokens, secret, token_path=settings.token_file, on_secret=on_secret,
        broadcaster_tokens=broadcaster, broadcaster_token_path=settings.broadcaster_token_file,
    )  # fmt: skip


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
        with contextlib.suppress(Exception):
            owner = load_twitch_tokens(settings.broadcaster_token_file, env={})
            values += [owner.access_token, owner.refresh_token]
    return [v for v in values if v]


# Ids of notifications seen lately: Twitch delivers EventSub notifications at least once.
SEEN_IDS = 5000


class Redeliveries:
    """Remembers the last ``size`` ids; ``seen(id)`` is True for one seen before."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size
        self.count = 0

    def seen(self, key: str) -> bool:
        if not key:
            return False
        if key in self._ids:
            self.count += 1
            return True
        self._ids[key] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False


class ChatStage:
    """Reads ``source`` until it ends; ``done``/``failed`` say how. Chat messages and
    channel points redemptions go to ``reader``, the platform's own moderation events to
    ``on_moderation``; a message or event delivered twice is handled once."""

    def __init__(
        self,
        source: ChatSource,
        reader: ChatReader,
        on_done: Callable[[], None],
        on_moderation: Callable[[ChatModeration], object] = lambda event: None,
    ) -> None:
        self.source = source
        self.reader = reader
        self.done = False
        self.failed = False
        self._on_done = on_done
        self._on_moderation = on_moderation
        self.redelivered = Redeliveries()

    async def _read(self, events: AsyncIterator[ChatEvent]) -> None:
        async for event in events:
            if isinstance(event, ChatModeration):
                if self.redelivered.seen(event.event_id):
                    log.info("chat moderation event %s delivered twice: ignored", event.event_id)
                    continue
                try:
                    self._on_moderation(event)
                except Exception:
                    log.exception("handling chat moderation %s failed", event.kind.value)
                continue
            if isinstance(event, Redemption):
                if self.redelivered.seen(event.event_id):
                    log.info("redemption %s delivered twice: ignored", event.redemption_id[:40])
                    continue
                await self.reader.redeem(event)
                continue
            if self.redelivered.seen(event.message_id):
                log.info("chat message %s delivered twice: ignored", event.message_id[:40])
                continue
            await self.reader.handle(event)

    async def run(self) -> None:
        chat = self.source
        backoff = CHAT_BACKOFF_S[0]
        try:
            while True:
                try:
                    await self._read(chat.messages())
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
