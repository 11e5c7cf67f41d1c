"""twitchio 3, wired for our Twitch chat source: endpoints, errors, the client.

``TwitchChatSource`` (``twitch.py``) owns the connection; this module holds what it is
built from: the process-wide twitchio endpoints (``point_twitchio_at``), the start-up
errors, the conversion of a chat notification into our ``ChatMessage``, and ``_Client``,
a plain ``twitchio.Client`` whose event handlers call back into its source.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from streamer.chat.base import ChatSendError
from streamer.chat.sender import ChatRateLimitedError
from streamer.config import TwitchSettings
from streamer.messages import ChatMessage, ChatModeration, ChatModerationKind

with warnings.catch_warnings():
    # twitchio.web subclasses aiohttp's web.Application, which aiohttp answers with a
    # DeprecationWarning at import time (attributed to `typing`, so a "twitchio.*" filter
    # misses it). Harmless, but fatal under `-W error`.
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    import twitchio
    import twitchio.http
    from twitchio import eventsub
    from twitchio.authentication import ClientCredentialsPayload
    from twitchio.eventsub import websockets as eventsub_websockets
    from twitchio.eventsub.websockets import WebsocketClosed
    from twitchio.exceptions import (
        HTTPException,
        InvalidTokenException,
        MessageRejectedError,
        WebsocketConnectionException,
    )

if TYPE_CHECKING:
    from streamer.chat.twitch import TwitchChatSource

REQUIRED_SCOPES = ("user:read:chat", "user:write:chat")
MAX_MESSAGE_LEN = 500
CLOSE_TIMEOUT_S = 15.0


class TwitchError(Exception):
    """Base class for Twitch start-up failures."""


class TwitchAuthError(TwitchError):
    """Twitch refused our credentials (client id/secret, bot token, or permissions)."""


class TwitchConnectError(TwitchError):
    """Twitch could not be reached, or did not answer in time."""


def point_twitchio_at(settings: TwitchSettings) -> None:
    """Make twitchio talk to ``settings.api_url`` / ``auth_url`` / ``eventsub_url``.

    twitchio 3 has no constructor argument for its endpoints; it reads these three
    class/module attributes each time it builds a request or opens a socket. Setting
    them is process-wide state, the one deliberate exception to "no module-level mutable
    state" in this project: every Twitch client in one process talks to one Twitch.
    """
    set_twitchio_endpoints(settings.api_url, settings.auth_url, settings.eventsub_url)


def twitchio_endpoints() -> tuple[str, str, str]:
    """twitchio's current ``(Helix base, OAuth base, EventSub WebSocket URL)``."""
    return twitchio.http.Route.BASE, twitchio.http.Route.ID_BASE, eventsub_websockets.WSS


def set_twitchio_endpoints(api_url: str, auth_url: str, eventsub_url: str) -> None:
    """Set twitchio's three endpoint globals (see ``point_twitchio_at``)."""
    twitchio.http.Route.BASE = _with_slash(api_url)
    twitchio.http.Route.ID_BASE = _with_slash(auth_url)
    eventsub_websockets.WSS = eventsub_url


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _http_reason(exc: HTTPException) -> str:
    """``HTTP 403: invalid client secret``: status and Twitch's message, no secrets."""
    extra: Any = exc.extra
    message = extra.get("message", "") if isinstance(extra, dict) else ""
    return f"HTTP {exc.status}: {message}" if message else f"HTTP {exc.status}"


# Why Twitch revokes a subscription (EventSub's ``revocation`` message), in words.
REVOCATION_REASONS = {
    "authorization_revoked": "the bot's authorization was revoked: run `streamer twitch login`",
    "user_removed": "a user in its condition was removed from Twitch",
    "chat_user_banned": "the bot was banned from the channel's chat",
    "version_removed": "Twitch removed this subscription version: upgrade streamer",
}


def moderation_event(payload: Any) -> ChatModeration:
    """Our ``ChatModeration`` from twitchio's moderation payloads. ``event_id`` is a
    natural key (the deleted message, the ban's time), so a notification Twitch delivers
    twice is handled once."""
    user = (getattr(getattr(payload, "user", None), "name", None) or "").lower()
    if isinstance(payload, twitchio.ChatMessageDelete):
        kind, key = ChatModerationKind.MESSAGE_DELETED, f"delete:{payload.message_id}"
        return ChatModeration(kind, user, payload.message_id, event_id=key)
    if isinstance(payload, twitchio.ChannelBan):
        by = (payload.moderator.name or "").lower()
        key = f"ban:{payload.user.id}:{payload.banned_at.isoformat()}"
        return ChatModeration(ChatModerationKind.USER_BANNED, user, by=by, event_id=key)
    # No natural key: EventSub's message id, the same in every delivery of one event.
    metadata = getattr(payload, "metadata", None)
    key = f"eventsub:{metadata.message_id}" if metadata is not None else ""
    if isinstance(payload, twitchio.ChannelChatClearUserMessages):
        return ChatModeration(ChatModerationKind.USER_CLEARED, user, event_id=key)
    return ChatModeration(ChatModerationKind.CHAT_CLEARED, event_id=key)


def moderation_subscriptions(
    settings: TwitchSettings, broadcaster_scopes: list[str]
) -> list[tuple[str, Any, str]]:
    """(name, subscription, whose token) of the moderation events we may subscribe to:
    deletes and clears ride on the bot's chat token; bans need the broadcaster's own
    token with ``channel:moderate``."""
    bot, owner = settings.bot_id, settings.owner_id
    chat = {"broadcaster_user_id": owner, "user_id": bot}
    subs: list[tuple[str, Any, str]] = [
        ("deleted messages", eventsub.ChatMessageDeleteSubscription(**chat), bot),
        ("cleared users", eventsub.ChatClearUserMessagesSubscription(**chat), bot),
        ("cleared chat", eventsub.ChatClearSubscription(**chat), bot),
    ]
    if "channel:moderate" in broadcaster_scopes:
        ban = eventsub.ChannelBanSubscription(broadcaster_user_id=owner)
        subs.append(("bans and timeouts", ban, owner))
    return subs


def to_chat_message(payload: twitchio.ChatMessage) -> ChatMessage:
    """Our ``ChatMessage`` from twitchio's ``channel.chat.message`` event."""
    chatter = payload.chatter
    login = (chatter.name or "").lower()
    return ChatMessage(
        user=login,
        text=payload.text,
        display_name=chatter.display_name or login,
        user_id=chatter.id,
        badges=frozenset(badge.set_id for badge in payload.badges),
        bits=payload.cheer.bits if payload.cheer is not None else 0,
        first_message=payload.type == "user_intro",
        message_id=payload.id,
    )


class _Counter:
    """A count that can be awaited: ``await counter.wait_for(n)`` returns once it reaches n."""

    def __init__(self) -> None:
        self.value = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, n: int = 1) -> None:
        self.value += n
        for target, future in self._waiters:
            if self.value >= target and not future.done():
                future.set_result(None)

    async def wait_for(self, target: int) -> None:
        if self.value >= target:
            return
        entry = (target, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        finally:
            self._waiters.remove(entry)


class HelixLimit:
    """Helix's rate-limit bucket as its answers' ``Ratelimit-*`` headers last said.

    twitchio 3.3 keeps no response headers (a 429 reaches us without them), so the
    client's HTTP session reports every answer here (an aiohttp trace hook).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.remaining: int | None = None
        self.reset_at = 0.0  # wall clock, seconds
        self._clock = clock

    def seen(self, headers: Mapping[str, str]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            remaining, reset = (
                int(headers["Ratelimit-Remaining"]),
                float(headers["Ratelimit-Reset"]),
            )
            self.remaining, self.reset_at = remaining, reset

    def wait_s(self) -> float:
        """Seconds until the bucket refills when it is empty now, else 0."""
        if self.remaining is None or self.remaining > 0:
            return 0.0
        return max(0.0, self.reset_at - self._clock())

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
        ) -> None:
            self.seen(params.response.headers)

        config.on_request_end.append(on_request_end)
        return config


class _Client(twitchio.Client):
    """A plain twitchio client wired to one ``TwitchChatSource``. Its HTTP session is
    ours (created in the running loop, closed by ``aclose_session``), so Helix's rate
    limit headers reach ``helix``."""

    def __init__(self, source: TwitchChatSource, client_secret: str) -> None:
        settings = source.settings
        self.helix = HelixLimit()
        self._session = aiohttp.ClientSession(trace_configs=[self.helix.trace()])
        super().__init__(
            client_id=settings.client_id,
            client_secret=client_secret,
            bot_id=settings.bot_id,
            fetch_client_user=False,
            session=self._session,
        )
        self._source = source
        # twitchio has no hook for the app tokens it fetches with the client secret (at
        # login, and again when Helix answers 401 for the app token); both go through
        # this one method of its HTTP client, so report each token it returns.
        fetch = self.http.client_credentials_token

        async def fetch_app_token() -> ClientCredentialsPayload:
            payload = await fetch()
            source._learned_secret(payload.access_token)
            return payload

        self.http.client_credentials_token = fetch_app_token  # type: ignore[method-assign]

    async def aclose_session(self) -> None:
        """Close the HTTP session (twitchio leaves a session it was given open)."""
        await self._session.close()

    def has_eventsub_socket(self, user_id: str) -> bool:
        """Whether an EventSub WebSocket for ``user_id``'s token is still registered.

        twitchio 3.3 has no public view of these sockets on a plain ``Client``; a socket
        closed for good is removed (before ``event_websocket_closed`` is dispatched), one
        that reconnects stays or is replaced by its successor first.
        """
        return bool(self._websockets.get(user_id))

    async def setup_hook(self) -> None:
        await self._source._setup(self)

    async def event_message(self, payload: twitchio.ChatMessage) -> None:
        self._source.inbox.on_chat(payload)

    # Twitch's own moderation: a message deleted, a user's messages cleared, the chat
    # cleared, a ban or timeout (twitchio names the handlers after the event types).
    async def event_message_delete(self, payload: twitchio.ChatMessageDelete) -> None:
        self._source.inbox.on_moderation(payload.broadcaster.id, moderation_event(payload))

    async def event_chat_clear_user(self, payload: twitchio.ChannelChatClearUserMessages) -> None:
        self._source.inbox.on_moderation(payload.broadcaster.id, moderation_event(payload))

    async def event_chat_clear(self, payload: twitchio.ChannelChatClear) -> None:
        self._source.inbox.on_moderation(payload.broadcaster.id, moderation_event(payload))

    async def event_ban(self, payload: twitchio.ChannelBan) -> None:
        self._source.inbox.on_moderation(payload.broadcaster.id, moderation_event(payload))

    async def event_custom_redemption_add(
        self, payload: twitchio.ChannelPointsRedemptionAdd
    ) -> None:
        self._source.inbox.on_redemption(payload)

    async def event_subscription_revoked(self, payload: Any) -> None:
        await self._source._on_revoked(self, str(payload.type), str(payload.status.value))

    async def event_token_refreshed(self, payload: twitchio.TokenRefreshedPayload) -> None:
        self._source._on_token_refreshed(payload)

    async def event_websocket_closed(self, payload: WebsocketClosed) -> None:
        await self._source._on_websocket_closed(self)

    # Tokens come from our 0600 token file and are saved there on every refresh; twitchio's
    # plain-JSON `.tio.tokens.json` must never be read or written.
    async def load_tokens(self, path: str | None = None, /) -> None:
        return None

    async def save_tokens(self, path: str | None = None, /) -> None:
        return None


def explain_start_failure(exc: Exception, settings: TwitchSettings, stage: str) -> Exception:
    """A clear exception for a start-up failure while ``stage`` (never with a token in
    its text)."""
    if isinstance(exc, TwitchError):
        return exc
    if isinstance(exc, InvalidTokenException):
        return TwitchAuthError(
            "the bot's Twitch token is invalid and could not be refreshed "
            f"({_http_reason(exc)}): "
            "run `streamer twitch login` again"
        )
    if isinstance(exc, WebsocketConnectionException):
        return TwitchConnectError(f"cannot open the EventSub WebSocket at {settings.eventsub_url}")
    if isinstance(exc, HTTPException):
        reason = _http_reason(exc)
        if stage.startswith("getting an app token"):
            return TwitchAuthError(
                f"Twitch refused the client id and secret ({reason}): check twitch.client_id "
                f"and the environment variable {settings.client_secret_env}"
            )
        if stage.startswith("subscribing") and exc.status in (401, 403):
            return TwitchAuthError(
                f"Twitch refused to let bot {settings.bot_id} read the chat of channel "
                f"{settings.owner_id} ({reason}): the broadcaster must grant channel:bot "
                "(or make the bot a moderator), and the bot token needs user:read:chat"
            )
        return TwitchConnectError(f"Twitch answered an error while {stage} ({reason})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TwitchConnectError(f"cannot reach Twitch while {stage}: {exc}")
    return TwitchConnectError(f"Twitch start-up failed while {stage}: {exc!r}")


async def send_chat(client: Any, settings: TwitchSettings, text: str, timeout_s: float) -> None:
    """Post one chat line as the bot (Helix ``chat/messages``); ``ChatSendError`` (or
    ``ChatRateLimitedError`` for a 429) with Twitch's reason when it is not sent."""
    channel = client.create_partialuser(settings.owner_id)
    try:
        async with asyncio.timeout(timeout_s):
            sent = await channel.send_message(
                text, sender=settings.bot_id, token_for=settings.bot_id
            )
    except MessageRejectedError as exc:
        raise ChatSendError(
            f"Twitch dropped the chat message: {exc.message} ({exc.code})"
        ) from None
    except HTTPException as exc:
        if exc.status == 429:
            wait = getattr(client, "helix", HelixLimit()).wait_s()
            raise ChatRateLimitedError(
                f"Twitch rate-limited the chat message ({_http_reason(exc)})",
                retry_after_s=wait or None,  # the bucket's Ratelimit-Reset when it is empty
            ) from None
        raise ChatSendError(f"Twitch refused the chat message ({_http_reason(exc)})") from None
    except TimeoutError:
        raise ChatSendError(f"no answer from Twitch within {timeout_s:.0f} s") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ChatSendError(f"cannot send to Twitch: {exc}") from None
    if not sent.sent:
        raise ChatSendError(
            f"Twitch dropped the chat message: {sent.dropped_message} ({sent.dropped_code})"
        )
