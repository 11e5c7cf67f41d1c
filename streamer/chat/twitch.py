"""Twitch chat over EventSub (twitchio 3): read ``channel.chat.message``, send via Helix.

How it works:

* ``start()`` points twitchio at the configured servers, then runs a ``twitchio.Client``
  (its ``start()`` is the client's main loop) as a background task owned by the source.
  The client fetches an app token with the client id/secret, and its ``setup_hook``
  adds the bot's user token and subscribes to ``channel.chat.message`` for the owner's
  channel as the bot, over the EventSub WebSocket. ``start()`` returns once that
  subscription exists, or raises ``TwitchAuthError`` / ``TwitchConnectError``.
* Each chat notification becomes a ``ChatMessage`` in a bounded queue (the oldest is
  dropped when it is full, so the WebSocket handler never blocks); ``messages()`` reads it.
* ``send()`` posts to Helix ``chat/messages`` as the bot; it does not rate-limit
  (``RateLimitedSender`` does).
* twitchio revalidates and refreshes the user token itself; each refreshed pair is
  written to ``token_path`` with mode 0600. twitchio's own token file
  (``.tio.tokens.json``, plain JSON in the working folder) is never read or written.
  Every token learned after construction (each refreshed user access/refresh token, each
  app token fetched with the client secret) is passed to ``on_secret`` so the log mask
  knows it.
* The source is ``live`` and restartable: ``close()`` then ``start()`` again builds a fresh
  client. If the client stops on its own (its EventSub WebSocket closed for good, e.g. by
  close code 4001/4003 or a revoked subscription, or its main loop failed), a WARNING says
  why and ``messages()`` ends, so the daemon can ``close()`` and ``start()`` it again.
  Messages received but not yet read are kept for the next ``messages()``; an iterator
  from before a restart ends at once.
  twitchio itself retries a dropped WebSocket forever (backoff up to 90 s) and
  resubscribes; that is not a stop.

EventSub's ``channel.chat.message`` has no general "first message in this channel" flag
(IRC's ``first-msg`` tag has no EventSub counterpart). ``first_message`` is True only for
``message_type == "user_intro"``, the message a first-time chatter sends when they choose
to introduce themselves.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from streamer.chat.base import ChatSendError, ChatSource, RedemptionSettleError
from streamer.chat.sender import ChatRateLimitedError
from streamer.chat.twitch_client import (
    CLOSE_TIMEOUT_S,
    MAX_MESSAGE_LEN,
    REQUIRED_SCOPES,
    REVOCATION_REASONS,
    TwitchAuthError,
    TwitchConnectError,
    TwitchError,
    _Client,
    explain_start_failure,
    point_twitchio_at,
    send_chat,
    set_twitchio_endpoints,
    twitchio_endpoints,
)
from streamer.chat.twitch_inbox import TwitchInbox
from streamer.chat.twitch_moderation import add_broadcaster, subscribe_moderation
from streamer.chat.twitch_points import settle
from streamer.chat.twitch_tokens import TokenKeeper
from streamer.config import TwitchSettings
from streamer.messages import ChatEvent
from streamer.secrets import TwitchTokens

with warnings.catch_warnings():  # see twitch_client.py
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    import twitchio
    from twitchio import eventsub

logger = logging.getLogger(__name__)

# Subscriptions made with the broadcaster's own token.
BROADCASTER_TYPES = ("channel.ban", "channel.channel_points_custom_reward_redemption.add")

__all__ = [
    "TwitchAuthError",
    "TwitchChatSource",
    "TwitchConnectError",
    "TwitchError",
    "point_twitchio_at",
    "set_twitchio_endpoints",
    "twitchio_endpoints",
]


class TwitchChatSource(ChatSource):
    """Chat of the owner's channel, read and written as the bot. See the module doc."""

    name = "twitch"

    def __init__(
        self,
        settings: TwitchSettings,
        tokens: TwitchTokens,
        client_secret: str,
        *,
        token_path: Path | None = None,
        connect_timeout_s: float = 20.0,
        send_timeout_s: float = 10.0,
        queue_size: int = 1000,
        on_secret: Callable[[str], None] | None = None,
        broadcaster_tokens: TwitchTokens | None = None,
        broadcaster_token_path: Path | None = None,
    ) -> None:
        missing = [k for k in ("client_id", "bot_id", "owner_id") if not getattr(settings, k)]
        if missing:
            raise ValueError(f"twitch.{', twitch.'.join(missing)} must be set for Twitch chat")
        if not client_secret:
            raise ValueError(f"the Twitch client secret is empty: set {settings.client_secret_env}")
        self.settings = settings
        self._client_secret = client_secret
        self._connect_timeout_s = connect_timeout_s
        self._send_timeout_s = send_timeout_s
        # The bot's tokens, and the broadcaster's own (`twitch login --broadcaster`: bans).
        self._keeper = TokenKeeper(
            settings.bot_id, settings.owner_id, tokens, token_path,
            broadcaster=broadcaster_tokens, broadcaster_path=broadcaster_token_path,
            on_secret=on_secret,
        )  # fmt: skip
        self.revoked: list[str] = []  # "type: reason" of each subscription Twitch revoked
        self.inbox = TwitchInbox(settings, queue_size)  # what the handlers hand in
        self._queue, self._wakeup = self.inbox.queue, self.inbox.wakeup
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stage = "not started"
        self._stopped = False  # the current run is over (closed, or the client stopped)
        self._closing = False  # close() was called for the current run
        self._stop_reason: str | None = None
        self._run_id = 0  # one per start(); a messages() iterator belongs to one run

    # ------------------------------------------------------------------ properties

    @property
    def bot_is_moderator(self) -> bool:
        return self.settings.bot_is_moderator

    @property
    def tokens(self) -> TwitchTokens:
        """The bot's current token pair (changes when twitchio refreshes it)."""
        return self._keeper.bot

    @property
    def tokens_saved(self) -> int:
        """How many refreshed token pairs were taken over (and written to ``token_path``,
        when one is set)."""
        return self._keeper.saved.value

    async def wait_tokens_saved(self, count: int = 1) -> None:
        """Wait until ``tokens_saved >= count`` (for tests and diagnostics)."""
        await self._keeper.saved.wait_for(count)

    @property
    def received(self) -> int:
        """Chat messages received (the bot's own not counted; dropped ones counted)."""
        return self.inbox.received.value

    async def wait_received(self, count: int) -> None:
        """Wait until ``received >= count`` (for tests and diagnostics)."""
        await self.inbox.received.wait_for(count)

    @property
    def live(self) -> bool:
        return True

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("TwitchChatSource.start() was called again without close()")
        self._run_id += 1
        self._stopped = False
        self._closing = False
        self._stop_reason = None
        self._wakeup.set()  # iterators of the previous run end
        point_twitchio_at(self.settings)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._ready = ready
        self._stage = "getting an app token with the client id and secret"
        self._client = _Client(self, self._client_secret)
        self._task = asyncio.create_task(self._run(self._client, ready), name="twitch-chat")
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await asyncio.shield(ready)
        except TimeoutError:
            stage = self._stage
            await self.close()
            raise TwitchConnectError(
                f"Twitch did not answer within {self._connect_timeout_s:.0f} s while {stage} "
                f"(api {self.settings.api_url}, auth {self.settings.auth_url}, "
                f"EventSub {self.settings.eventsub_url})"
            ) from None
        except BaseException:
            await self.close()
            raise
        logger.info(
            "connected to Twitch chat of channel %s as bot %s",
            self.settings.owner_id,
            self.settings.bot_id,
        )

    async def _run(self, client: _Client, ready: asyncio.Future[None]) -> None:
        """The client's main loop; it ends when the client is closed."""
        try:
            await client.start(with_adapter=False, load_tokens=False, save_tokens=False)
        except Exception as exc:
            error = self._explain(exc)
            if not ready.done():
                ready.set_exception(error)
            elif self._stop_reason is None:
                self._stop_reason = str(error)
        finally:
            was_connected = ready.done() and not ready.cancelled() and ready.exception() is None
            if not ready.done():
                ready.set_exception(TwitchConnectError("the Twitch client stopped while starting"))
            if client is self._client and not self._closing:
                if was_connected:
                    logger.warning(
                        "Twitch chat stopped: %s; the chat source must be restarted",
                        self._stop_reason or "the twitchio client stopped",
                    )
                self._stopped = True
                self._wakeup.set()

    async def _on_revoked(self, client: _Client, sub_type: str, status: str) -> None:
        """Twitch revoked a subscription: one clear line; without chat, the client
        stops (``messages()`` ends, so the daemon restarts the source or stops)."""
        why = REVOCATION_REASONS.get(status, status)
        if sub_type in BROADCASTER_TYPES and status == "authorization_revoked":
            why = "the broadcaster's authorization was revoked: run `streamer twitch login "
            why += "--broadcaster`"
        self.revoked.append(f"{sub_type}: {status}")
        if sub_type != "channel.chat.message":
            logger.warning("Twitch revoked the %s subscription (%s): %s", sub_type, status, why)
            return
        logger.error("Twitch revoked the chat subscription (%s): %s", status, why)
        if client is self._client and not self._closing and self._stop_reason is None:
            self._stop_reason = f"Twitch revoked the chat subscription ({status}: {why})"
            await client.close()

    async def _on_websocket_closed(self, client: _Client) -> None:
        """An EventSub WebSocket closed: if none is left, chat is gone; stop the client."""
        if client is not self._client or self._closing or self._stage != "connected":
            return
        if client.has_eventsub_socket(self.settings.bot_id):
            return  # reconnected (or reconnecting): twitchio carries on
        if self._stop_reason is None:
            self._stop_reason = (
                "the EventSub WebSocket was closed and twitchio will not reconnect it "
                "(Twitch closed it with a final close code, or revoked the subscription)"
            )
        await client.close()  # ends the client's main loop; _run logs and ends messages()

    async def _setup(self, client: _Client) -> None:
        """twitchio's ``setup_hook``: app token is there; add the bot token, subscribe."""
        settings = self.settings
        self._stage = "checking the bot's user token"
        bot = self._keeper.bot
        validated = await client.add_token(bot.access_token, bot.refresh_token)
        if validated.user_id != settings.bot_id:
            raise TwitchAuthError(
                f"the Twitch token belongs to user {validated.user_id} ({validated.login}), "
                f"but twitch.bot_id is {settings.bot_id}: fix twitch.bot_id or run "
                "`streamer twitch login` as the bot account"
            )
        missing = [s for s in REQUIRED_SCOPES if s not in validated.scopes]
        if missing:
            raise TwitchAuthError(
                f"the bot's Twitch token lacks the scopes {', '.join(missing)}: "
                "run `streamer twitch login` again"
            )
        if validated.login and validated.login != bot.login:
            self._keeper.bot = TwitchTokens(
                bot.access_token,
                bot.refresh_token,
                settings.bot_id,
                validated.login,
            )
        self._stage = "subscribing to channel.chat.message over the EventSub WebSocket"
        subscription = eventsub.ChatMessageSubscription(
            broadcaster_user_id=settings.owner_id, user_id=settings.bot_id
        )
        await client.subscribe_websocket(subscription, token_for=settings.bot_id)
        owner_scopes = await add_broadcaster(
            client, settings, self._keeper.broadcaster, list(validated.scopes)
        )
        await self._subscribe_moderation(client, owner_scopes)
        self._stage = "connected"
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def _subscribe_moderation(self, client: _Client, broadcaster_scopes: list[str]) -> None:
        await subscribe_moderation(client, self.settings, broadcaster_scopes)

    def _explain(self, exc: Exception) -> Exception:
        """A clear exception for a start-up failure (never with a token in its text)."""
        return explain_start_failure(exc, self.settings, self._stage)

    async def close(self) -> None:
        self._closing = True
        self._stopped = True
        self._wakeup.set()
        client, task, ready = self._client, self._task, self._ready
        if client is not None:
            await client.close()
            await client.aclose_session()
        if task is not None:
            # A closed client ends its main loop at once; one still starting finishes its
            # current step first (twitchio waits up to 11 s for a WebSocket welcome).
            await asyncio.wait([task], timeout=CLOSE_TIMEOUT_S)
            if not task.done():
                logger.warning(
                    "the Twitch client did not stop in %.0f s; cancelling it", CLOSE_TIMEOUT_S
                )
                task.cancel()
                await asyncio.wait([task])
        if ready is not None and ready.done() and not ready.cancelled():
            ready.exception()  # retrieved: no "exception was never retrieved" noise
        await self._keeper.wait_saving()
        if client is self._client:  # not restarted meanwhile: start() may run again
            self._client, self._task, self._ready = None, None, None

    # ------------------------------------------------------------------ reading

    @property
    def dropped(self) -> int:
        return self.inbox.dropped

    @property
    def shared_ignored(self) -> int:
        return self.inbox.shared_ignored

    async def messages(self) -> AsyncGenerator[ChatEvent, None]:
        """Messages of the current run; ends after ``close()`` or when the client stops
        (the unread rest is kept for the next run), and at once after a restart."""
        run = self._run_id
        while True:
            while not self._queue:
                if self._stopped or run != self._run_id:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if run != self._run_id:
                return
            yield self._queue.popleft()

    # ------------------------------------------------------------------ sending

    async def send(self, text: str) -> None:
        client = self._client
        if client is None or self._stopped:
            raise ChatSendError("Twitch chat is not connected")
        if len(text) > MAX_MESSAGE_LEN:
            raise ChatSendError(f"chat message has {len(text)} characters; Twitch allows 500")
        wait = client.helix.wait_s()
        if wait > 0:  # Helix's bucket is empty: do not earn a 429
            raise ChatRateLimitedError("Helix's rate limit is used up", retry_after_s=wait)
        self.inbox.sending(text)  # before: its echo may come back before the answer
        try:
            await send_chat(client, self.settings, text, self._send_timeout_s)
        except BaseException:
            self.inbox.not_sent(text)
            raise

    async def settle_redemption(self, reward_id: str, redemption_id: str, status: str) -> None:
        client = self._client
        if client is None or self._stopped:
            raise RedemptionSettleError("Twitch chat is not connected")
        async with asyncio.timeout(self._send_timeout_s):
            await settle(client, self.settings, reward_id, redemption_id, status)

    # ------------------------------------------------------------------ tokens

    def _learned_secret(self, secret: str) -> None:
        self._keeper.learned(secret)

    def _on_token_refreshed(self, payload: twitchio.TokenRefreshedPayload) -> None:
        self._keeper.refreshed(payload.user_id, payload.token, payload.refresh_token)
