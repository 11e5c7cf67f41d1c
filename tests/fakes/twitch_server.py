"""A local fake of Twitch that speaks the real protocols, for the real twitchio client.

One aiohttp server on 127.0.0.1 (a free port) plays three Twitch services:

OAuth (``auth_url``, real: https://id.twitch.tv/)
    ``POST /oauth2/token``     grant_type=client_credentials (app token),
                               refresh_token (new user token pair; the old pair dies),
                               urn:ietf:params:oauth:grant-type:device_code (device flow).
                               Parameters may come in the query string (twitchio sends
                               them there) or in a form body (the device flow does).
    ``GET  /oauth2/validate``  ``Authorization: OAuth <token>`` (or Bearer) -> client_id, login,
                               user_id, scopes, expires_in; 401 for a dead token.
    ``POST /oauth2/device``    client_id + scopes -> device_code, user_code, interval...

Helix (``api_url``, real: https://api.twitch.tv/helix/), each request needs the
``Client-Id`` header and ``Authorization: Bearer <token>``; a dead token gets
``401 {"message": "Invalid OAuth token"}``, which is what makes twitchio refresh.
    ``GET  /helix/users``                  users by ``id`` / ``login``.
    ``POST /helix/eventsub/subscriptions`` websocket transport; the user token must be
                                           the ``user_id`` of the condition.
    ``POST /helix/chat/messages``          broadcaster_id, sender_id, message (<= 500).
    ``/helix/channel_points/...``          custom rewards and redemption updates
                                           (``twitch_points.py``: ``FakeTwitch.points``).
    Every Helix answer has ``Ratelimit-*`` headers; an empty bucket answers 429
    (``limit_helix`` shrinks it).

EventSub WebSocket (``eventsub_url``, real: wss://eventsub.wss.twitch.tv/ws)
    ``session_welcome`` on connect, ``session_keepalive`` after ``keepalive_timeout_seconds``
    of silence, ``notification`` for each subscribed event, ``session_reconnect`` on
    demand. A client that sends anything is closed with code 4001, as Twitch does.
    When a connection ends, its subscriptions end with it (Twitch disables them); the
    client must subscribe again on its new session.

Tests drive it through ``inject_chat``, ``drop_websockets``, ``send_reconnect``,
``refuse_websockets``, ``expire_user_tokens``, ``fail_chat`` and ``device_flow``, and read
``sent_chat``, ``chat_attempts``, ``refreshes``, ``issued_tokens`` and friends.
``wait_until(predicate)`` waits for any of that state to change (no sleeping in tests).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from streamer.config import TwitchSettings
from streamer.secrets import TwitchTokens
from tests.fakes import twitch_events
from tests.fakes.twitch_events import SUBSCRIPTION_RULES
from tests.fakes.twitch_points import HELIX_BUCKET, FakeChannelPoints, HelixBucket, rate_limited

BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")
CHAT_MESSAGE = "channel.chat.message"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
WAIT_LIMIT_S = 20.0


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, message: str) -> web.Response:
    """Twitch's error body: ``{"error": ..., "status": ..., "message": ...}``."""
    names = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        429: "Too Many Requests",
    }
    body = {"error": names.get(status, "Error"), "status": status, "message": message}
    return web.json_response(body, status=status)


@dataclass(frozen=True, slots=True)
class FakeUser:
    id: str
    login: str
    display_name: str


@dataclass(frozen=True, slots=True)
class SentChat:
    """One ``POST chat/messages`` the fake accepted (or, in ``chat_attempts``, saw)."""

    broadcaster_id: str
    sender_id: str
    message: str
    at: float  # time.monotonic() when the request arrived
    outcome: str = "sent"  # sent | 429 | dropped | 400


@dataclass(slots=True)
class _Token:
    value: str
    client_id: str
    user_id: str | None  # None for an app token
    scopes: tuple[str, ...]
    refresh: str | None = None
    alive: bool = True
    expires_at: float = float("inf")  # time.monotonic() when it stops working

    def remaining(self) -> int:
        return max(0, int(self.expires_at - time.monotonic()))

    @property
    def valid(self) -> bool:
        return self.alive and time.monotonic() < self.expires_at


@dataclass(slots=True)
class _Subscription:
    id: str
    type: str
    version: str
    condition: dict[str, str]
    session_id: str
    created_at: str = field(default_factory=_now_iso)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": "enabled",
            "type": self.type,
            "version": self.version,
            "condition": self.condition,
            "created_at": self.created_at,
            "transport": {
                "method": "websocket",
                "session_id": self.session_id,
                "connected_at": self.created_at,
            },
            "cost": 0,
        }


@dataclass(slots=True)
class _Session:
    id: str
    ws: web.WebSocketResponse
    request: web.Request
    keepalive_s: float
    last_sent: float = field(default_factory=time.monotonic)  # any message to the client
    moved_from: str = ""  # the session it replaced after a session_reconnect

    async def send(self, message: dict[str, Any]) -> None:
        self.last_sent = time.monotonic()
        await self.ws.send_json(message)


@dataclass(slots=True)
class _DeviceCode:
    device_code: str
    user_code: str
    scopes: tuple[str, ...]
    pending_polls: int
    outcome: Literal["approve", "deny", "expire"]
    slow_down_polls: set[int]
    polls: int = 0
    used: bool = False
    user_id: str = ""  # who approves it in the browser


class FakeTwitch:
    """The fake server: ``async with FakeTwitch() as twitch:`` (see tests/test_twitch.py)."""

    def __init__(
        self,
        *,
        client_id: str = "fakeclientid",
        client_secret: str = "fakeclientsecret",
        bot: FakeUser = FakeUser("1001", "askbot", "AskBot"),
        owner: FakeUser = FakeUser("2002", "streamer", "Streamer"),
        token_lifetime_s: int = 14400,
        device_interval_s: float = 5,
        device_expires_in_s: int = 1800,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.bot = bot
        self.owner = owner
        self.token_lifetime_s = token_lifetime_s
        self.device_interval_s = device_interval_s
        self.device_expires_in_s = device_expires_in_s

        self._users: dict[str, FakeUser] = {bot.id: bot, owner.id: owner}
        self._next_user_id = itertools.count(5000)
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}
        self._sessions: dict[str, _Session] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._devices: dict[str, _DeviceCode] = {}
        self._device_plan: tuple[int, Literal["approve", "deny", "expire"], set[int]] = (
            0,
            "approve",
            set(),
        )
        self._chat_failures: collections.deque[Literal["429", "drop"]] = collections.deque()
        self._refuse_websockets = False
        # As Twitch: a new connection has this long after its welcome to subscribe, or it
        # is closed with 4003 "connection unused"; keepalives come after this much silence
        # at the least (Twitch allows 10-600 s; tests may lower the floor).
        self.subscribe_deadline_s = 10.0
        # After session_reconnect the client has this long to connect to the new URL;
        # then the old connection is closed with 4004 "reconnect grace time expired".
        self.reconnect_grace_s = 30.0
        self._grace: set[asyncio.Task[None]] = set()
        self.keepalive_floor_s = 10.0
        self.keepalives_sent = 0
        self._changed = asyncio.Condition()
        self._last_notes: dict[str, tuple[_Session, dict[str, Any]]] = {}
        self.points = FakeChannelPoints(self)  # custom rewards and their redemptions
        self.helix = HelixBucket()  # Helix's rate limit (Ratelimit-* headers, 429)
        self._runner: web.AppRunner | None = None
        self._port = 0

        # What happened, for tests to assert on.
        self.sent_chat: list[SentChat] = []
        self.chat_attempts: list[SentChat] = []
        self.refreshes = 0
        self.app_tokens_issued = 0
        self.subscriptions_created = 0
        self.connections = 0
        self.validations = 0
        self.device_polls = 0
        self.client_messages: list[str] = []  # anything a client dared to send on the socket
        self.issued_tokens: list[str] = []  # every token value minted (access, refresh, app)
        self.refused_connections = 0
        self.unauthorized = 0  # 401 answers for a dead or unknown token

        # The bot's user token, as `streamer twitch login` would have stored it.
        self.bot_tokens = self.issue_user_token(bot.id, BOT_SCOPES)

    # ------------------------------------------------------------------ life cycle

    async def __aenter__(self) -> FakeTwitch:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(middlewares=[rate_limited])
        app[HELIX_BUCKET] = self.helix
        self.points.add_routes(app)
        app.router.add_post("/oauth2/token", self._oauth_token)
        app.router.add_get("/oauth2/validate", self._oauth_validate)
        app.router.add_post("/oauth2/device", self._oauth_device)
        app.router.add_get("/helix/users", self._helix_users)
        app.router.add_post("/helix/eventsub/subscriptions", self._helix_subscribe)
        app.router.add_get("/helix/eventsub/subscriptions", self._helix_list_subscriptions)
        app.router.add_post("/helix/chat/messages", self._helix_chat)
        app.router.add_get("/ws", self._eventsub_ws)
        # No access log: twitchio puts the client secret and refresh tokens in query strings.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        for task in list(self._grace):
            task.cancel()
        await asyncio.gather(*self._grace, return_exceptions=True)
        for session in list(self._sessions.values()):
            await session.ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ addresses

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/helix/"

    @property
    def auth_url(self) -> str:
        return f"{self.base}/"

    @property
    def eventsub_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/ws"

    def settings(self, **overrides: Any) -> TwitchSettings:
        """``TwitchSettings`` that point at this fake, for its bot and owner."""
        values: dict[str, Any] = {
            "client_id": self.client_id,
            "bot_id": self.bot.id,
            "owner_id": self.owner.id,
            "api_url": self.api_url,
            "auth_url": self.auth_url,
            "eventsub_url": self.eventsub_url,
        }
        values.update(overrides)
        return TwitchSettings(**values)

    # ------------------------------------------------------------------ test controls

    def issue_user_token(self, user_id: str, scopes: Iterable[str] = BOT_SCOPES) -> TwitchTokens:
        """Mint a user access + refresh token pair (as an OAuth grant would)."""
        user = self._users[user_id]
        token = _Token(
            value=secrets.token_hex(15),
            client_id=self.client_id,
            user_id=user_id,
            scopes=tuple(scopes),
            refresh=secrets.token_hex(25),
            expires_at=time.monotonic() + self.token_lifetime_s,
        )
        self._tokens[token.value] = token
        assert token.refresh is not None
        self._refresh[token.refresh] = token
        self.issued_tokens += [token.value, token.refresh]
        return TwitchTokens(token.value, token.refresh, user.id, user.login)

    def expire_user_tokens(self) -> None:
        """Every user access token dies (validate and Helix answer 401); refresh still works."""
        for token in self._tokens.values():
            if token.user_id is not None:
                token.alive = False

    def limit_helix(self, limit: int, window_s: float) -> None:
        """Shrink Helix's rate-limit bucket to ``limit`` requests per ``window_s``, starting
        full now (Twitch's own is 800 points a minute)."""
        self.helix.limit, self.helix.window_s = limit, window_s
        self.helix.remaining, self.helix.reset_at = limit, time.time() + window_s

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token dies too: the user must log in again."""
        self._refresh.clear()

    def fail_chat(self, kind: Literal["429", "drop"], times: int = 1) -> None:
        """The next ``times`` chat sends fail: HTTP 429, or 200 with ``is_sent: false``."""
        self._chat_failures.extend([kind] * times)

    def device_flow(
        self,
        *,
        pending_polls: int = 1,
        outcome: Literal["approve", "deny", "expire"] = "approve",
        slow_down_polls: Iterable[int] = (),
        approver: FakeUser | None = None,
    ) -> None:
        """Plan the next device-code login: answer ``authorization_pending`` ``pending_polls``
        times (``slow_down`` at the 1-based poll numbers given), then the outcome; the
        token is ``approver``'s (the bot unless said)."""
        self._device_plan = (pending_polls, outcome, set(slow_down_polls))
        self._device_approver = (approver or self.bot).id

    def user(self, login: str, user_id: str | None = None) -> FakeUser:
        """The chatter with this login (created on first use)."""
        for known in self._users.values():
            if known.login == login.lower():
                return known
        new = FakeUser(user_id or str(next(self._next_user_id)), login.lower(), login)
        self._users[new.id] = new
        return new

    @property
    def open_sessions(self) -> int:
        """EventSub WebSocket connections open right now."""
        return len(self._sessions)

    @property
    def chat_sessions(self) -> list[str]:
        """Sessions that hold a channel.chat.message subscription for the owner."""
        return sorted({s.session_id for s in self._chat_subscriptions()})

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true; it is checked whenever the fake's state changes.

        Gives up after ``WAIT_LIMIT_S`` (a broken test fails instead of hanging); wrap the
        call in ``asyncio.timeout`` for a tighter limit.
        """
        async with asyncio.timeout(WAIT_LIMIT_S), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def inject_chat(
        self,
        user: str,
        text: str,
        *,
        badges: Iterable[str] | Mapping[str, str] = (),
        bits: int = 0,
        message_type: str = "text",
        user_id: str | None = None,
        display_name: str | None = None,
        times: int = 1,
        shared_from: FakeUser | None = None,
        source_badges: Iterable[str] = (),
    ) -> str:
        """A viewer types ``text`` in the owner's chat; returns Twitch's message id.

        ``badges`` are set ids ("broadcaster", "moderator", "vip", "subscriber", ...) or a
        mapping set id -> version id (e.g. {"subscriber": "12"}).
        """
        chatter = self.user(user, user_id)
        if display_name is not None:
            chatter = FakeUser(chatter.id, chatter.login, display_name)
        badge_map = dict(badges) if isinstance(badges, Mapping) else {b: "1" for b in badges}
        message_id = str(uuid.uuid4())
        event = {
            "broadcaster_user_id": self.owner.id,
            "broadcaster_user_login": self.owner.login,
            "broadcaster_user_name": self.owner.display_name,
            # Shared Chat: sent in another channel of the session. ``badges`` are then the
            # chatter's badges in this channel, ``source_badges`` those in the other one.
            "source_broadcaster_user_id": shared_from.id if shared_from else None,
            "source_broadcaster_user_login": shared_from.login if shared_from else None,
            "source_broadcaster_user_name": shared_from.display_name if shared_from else None,
            "chatter_user_id": chatter.id,
            "chatter_user_login": chatter.login,
            "chatter_user_name": chatter.display_name,
            "message_id": message_id,
            "source_message_id": str(uuid.uuid4()) if shared_from else None,
            "is_source_only": None,
            "message": {"text": text, "fragments": _fragments(text)},
            "color": "#1E90FF",
            "badges": [
                {
                    "set_id": set_id,
                    "id": version,
                    "info": version if set_id in ("subscriber", "founder") else "",
                }
                for set_id, version in badge_map.items()
            ],
            "source_badges": (
                [{"set_id": b, "id": "1", "info": ""} for b in source_badges]
                if shared_from
                else None
            ),
            "message_type": message_type,
            "cheer": {"bits": bits} if bits else None,
            "reply": None,
            "channel_points_custom_reward_id": None,
            "channel_points_animation_id": None,
        }
        if not self._chat_subscriptions():
            raise RuntimeError("no EventSub session is subscribed to the owner's chat")
        await self.notify(CHAT_MESSAGE, event, times=times)
        return message_id

    async def notify(
        self,
        sub_type: str,
        event: dict[str, Any],
        *,
        times: int = 1,
        narrow: Mapping[str, str] | None = None,
    ) -> int:
        """Send ``event`` to every session subscribed to ``sub_type`` for the owner;
        ``times`` > 1 sends the same notification again (same message id), as Twitch's
        at-least-once delivery may. ``narrow``: optional condition fields (a reward id)
        that a subscription either leaves empty or sets to these values. Returns the
        sessions reached."""
        subs = [
            s
            for s in self._subscriptions.values()
            if s.type == sub_type
            and s.condition.get("broadcaster_user_id") == self.owner.id
            and s.session_id in self._sessions
            and all(s.condition.get(k) in (None, "", v) for k, v in (narrow or {}).items())
        ]
        for sub in subs:
            session = self._sessions[sub.session_id]
            note = {
                "metadata": {
                    "message_id": str(uuid.uuid4()),
                    "message_type": "notification",
                    "message_timestamp": _now_iso(),
                    "subscription_type": sub.type,
                    "subscription_version": sub.version,
                },
                "payload": {"subscription": sub.as_json(), "event": event},
            }
            self._last_notes[sub_type] = (session, note)
            for _ in range(times):
                await session.send(note)
        return len(subs)

    async def redeliver(self, sub_type: str) -> None:
        """Send the last ``sub_type`` notification again, same message id, later (Twitch
        delivers at least once, and a retry may come after newer messages)."""
        session, note = self._last_notes[sub_type]
        await session.send(note)

    async def revoke(self, sub_type: str, status: str = "authorization_revoked") -> int:
        """Twitch revokes every ``sub_type`` subscription: a ``revocation`` message with
        the reason in ``subscription.status``, and the subscription is gone."""
        revoked = [s for s in self._subscriptions.values() if s.type == sub_type]
        for sub in revoked:
            del self._subscriptions[sub.id]
            session = self._sessions.get(sub.session_id)
            if session is None:
                continue
            body = {**sub.as_json(), "status": status}
            await session.send(
                {
                    "metadata": {
                        **_metadata("revocation"),
                        "subscription_type": sub.type,
                        "subscription_version": sub.version,
                    },
                    "payload": {"subscription": body},
                }
            )
        return len(revoked)

    async def delete_message(self, login: str, message_id: str, *, times: int = 1) -> int:
        event = twitch_events.message_delete(self.owner, self.user(login), message_id)
        return await self.notify("channel.chat.message_delete", event, times=times)

    async def clear_user(self, login: str, *, times: int = 1) -> int:
        event = twitch_events.clear_user_messages(self.owner, self.user(login))
        return await self.notify("channel.chat.clear_user_messages", event, times=times)

    async def clear_chat(self, *, times: int = 1) -> int:
        event = twitch_events.chat_clear(self.owner)
        return await self.notify("channel.chat.clear", event, times=times)

    async def ban(self, login: str, moderator: str, *, timeout_s: int | None = None) -> int:
        """A ban or timeout: ``channel.ban`` and, as Twitch does, the user's messages
        cleared (``channel.chat.clear_user_messages``, to the chat readers)."""
        event = twitch_events.ban(
            self.owner, self.user(login), self.user(moderator), timeout_s=timeout_s
        )
        reached = await self.notify("channel.ban", event)
        return reached + await self.clear_user(login)

    async def drop_websockets(self, code: int | None = None) -> None:
        """End every EventSub connection: abruptly (a network drop) or with a close code
        (Twitch uses 4000-4007)."""
        for session in list(self._sessions.values()):
            if code is None:
                transport = session.request.transport
                if transport is not None:
                    transport.abort()
            else:
                await session.ws.close(code=code)

    def refuse_websockets(self, refuse: bool = True) -> None:
        """While set, new EventSub connections are refused with HTTP 503 (Twitch is down for
        the client); open ones are not touched (``drop_websockets`` ends those)."""
        self._refuse_websockets = refuse

    async def send_reconnect(self) -> None:
        """Send ``session_reconnect``: the client must connect to ``reconnect_url``; its
        subscriptions move to the new connection."""
        for session in list(self._sessions.values()):
            url = f"{self.eventsub_url}?reconnect_from={session.id}"
            task = asyncio.create_task(self._reconnect_grace(session), name="fake-twitch-4004")
            self._grace.add(task)
            task.add_done_callback(self._grace.discard)
            await session.send(
                {
                    "metadata": _metadata("session_reconnect"),
                    "payload": {"session": _session_json(session, "reconnecting", url)},
                }
            )

    # ------------------------------------------------------------------ helpers

    def _chat_subscriptions(self) -> list[_Subscription]:
        return [
            s
            for s in self._subscriptions.values()
            if s.type == CHAT_MESSAGE
            and s.condition.get("broadcaster_user_id") == self.owner.id
            and s.session_id in self._sessions
        ]

    async def _params(self, request: web.Request) -> dict[str, str]:
        """OAuth parameters: query string and form body (Twitch accepts both)."""
        params = dict(request.query)
        if request.can_read_body:
            form = await request.post()
            params.update({k: str(v) for k, v in form.items()})
        return params

    def _bearer(self, request: web.Request) -> _Token | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme not in ("Bearer", "OAuth"):
            return None
        token = self._tokens.get(value.strip())
        return token if token is not None and token.valid else None

    def _helix_auth(self, request: web.Request) -> _Token | web.Response:
        if request.headers.get("Client-Id") != self.client_id:
            return _error(401, "Client ID and OAuth token do not match")
        token = self._bearer(request)
        if token is None:
            self.unauthorized += 1
            return _error(401, "Invalid OAuth token")
        return token

    def _user_json(self, user: FakeUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "login": user.login,
            "display_name": user.display_name,
            "type": "",
            "broadcaster_type": "",
            "description": "",
            "profile_image_url": "",
            "offline_image_url": "",
            "view_count": 0,
            "created_at": "2020-01-01T00:00:00Z",
        }

    # ------------------------------------------------------------------ OAuth

    async def _oauth_token(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params.get("client_id") != self.client_id:
            return _error(400, "invalid client")
        grant = params.get("grant_type", "")
        if grant == "client_credentials":
            if params.get("client_secret") != self.client_secret:
                return _error(403, "invalid client secret")
            token = _Token(secrets.token_hex(15), self.client_id, None, ())
            self._tokens[token.value] = token
            self.issued_tokens.append(token.value)
            self.app_tokens_issued += 1
            return web.json_response(
                {"access_token": token.value, "expires_in": 5011271, "token_type": "bearer"}
            )
        if grant == "refresh_token":
            if params.get("client_secret") != self.client_secret:
                return _error(403, "invalid client secret")
            old = self._refresh.pop(params.get("refresh_token", ""), None)
            if old is None or old.user_id is None:
                return _error(400, "Invalid refresh token")
            old.alive = False
            new = self.issue_user_token(old.user_id, old.scopes)
            self.refreshes += 1
            await self._notify()
            return web.json_response(
                {
                    "access_token": new.access_token,
                    "refresh_token": new.refresh_token,
                    "expires_in": self.token_lifetime_s,
                    "scope": list(old.scopes),
                    "token_type": "bearer",
                }
            )
        if grant == DEVICE_GRANT:
            return await self._device_poll(params)
        return _error(400, "unsupported grant type")

    async def _device_poll(self, params: Mapping[str, str]) -> web.Response:
        device = self._devices.get(params.get("device_code", ""))
        self.device_polls += 1
        await self._notify()
        if device is None or device.used:
            return _error(400, "invalid device code")
        device.polls += 1
        if device.polls in device.slow_down_polls:
            return _error(400, "slow_down")
        if device.polls <= device.pending_polls:
            return _error(400, "authorization_pending")
        if device.outcome == "deny":
            device.used = True
            return _error(400, "access_denied")
        if device.outcome == "expire":
            device.used = True
            return _error(400, "invalid device code")
        device.used = True
        tokens = self.issue_user_token(device.user_id or self.bot.id, device.scopes)
        return web.json_response(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_in": self.token_lifetime_s,
                "scope": list(device.scopes),
                "token_type": "bearer",
            }
        )

    async def _oauth_device(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params.get("client_id") != self.client_id:
            return _error(400, "invalid client")
        scopes = tuple(params.get("scopes", "").split())
        pending, outcome, slow = self._device_plan
        device = _DeviceCode(
            device_code=secrets.token_hex(20),
            user_code=secrets.token_hex(4).upper(),
            scopes=scopes,
            pending_polls=pending,
            outcome=outcome,
            slow_down_polls=set(slow),
            user_id=getattr(self, "_device_approver", self.bot.id),
        )
        self._devices[device.device_code] = device
        return web.json_response(
            {
                "device_code": device.device_code,
                "expires_in": self.device_expires_in_s,
                "interval": self.device_interval_s,
                "user_code": device.user_code,
                "verification_uri": "https://www.twitch.tv/activate?public=true&device-code="
                + device.user_code,
            }
        )

    async def _oauth_validate(self, request: web.Request) -> web.Response:
        self.validations += 1
        # Twitch documents `OAuth <token>`; it accepts `Bearer <token>` too, and twitchio
        # sends that for the app token.
        header = request.headers.get("Authorization", "")
        if not header.startswith(("OAuth ", "Bearer ")):
            return _error(401, "missing authorization token")
        token = self._bearer(request)
        if token is None:
            self.unauthorized += 1
            return web.json_response({"status": 401, "message": "invalid access token"}, status=401)
        body: dict[str, Any] = {
            "client_id": token.client_id,
            "scopes": list(token.scopes),
            # Counts down, as Twitch's does: a client that never refreshes meets a 401.
            "expires_in": token.remaining() if token.user_id else 5011271,
        }
        if token.user_id is not None:
            body["login"] = self._users[token.user_id].login
            body["user_id"] = token.user_id
        return web.json_response(body)

    # ------------------------------------------------------------------ Helix

    async def _helix_users(self, request: web.Request) -> web.Response:
        auth = self._helix_auth(request)
        if isinstance(auth, web.Response):
            return auth
        ids = request.query.getall("id", [])
        logins = [name.lower() for name in request.query.getall("login", [])]
        if not ids and not logins and auth.user_id:
            ids = [auth.user_id]
        found = [u for u in self._users.values() if u.id in ids or u.login in logins]
        return web.json_response({"data": [self._user_json(u) for u in found]})

    async def _helix_subscribe(self, request: web.Request) -> web.Response:
        auth = self._helix_auth(request)
        if isinstance(auth, web.Response):
            return auth
        body = await request.json()
        transport = body.get("transport", {})
        if transport.get("method") != "websocket":
            return _error(400, "this fake only supports the websocket transport")
        if auth.user_id is None:
            return _error(400, "websocket subscriptions need a user access token")
        session_id = transport.get("session_id", "")
        if session_id not in self._sessions:
            return _error(400, "websocket session not found")
        condition = {str(k): str(v) for k, v in body.get("condition", {}).items()}
        rule = SUBSCRIPTION_RULES.get(str(body.get("type")))
        if rule is None:
            return _error(400, f"this fake does not know the type {body.get('type')!r}")
        scopes, user_field = rule
        if condition.get(user_field) != auth.user_id:
            return _error(403, "subscription missing proper authorization")
        if not any(scope in auth.scopes for scope in scopes):
            return _error(403, "subscription missing proper authorization")
        for existing in self._subscriptions.values():
            if (existing.type, existing.condition, existing.session_id) == (
                body.get("type"),
                condition,
                session_id,
            ):
                return _error(409, f"subscription already exists id={existing.id}")
        sub = _Subscription(
            str(uuid.uuid4()),
            str(body.get("type")),
            str(body.get("version")),
            condition,
            session_id,
        )
        self._subscriptions[sub.id] = sub
        self.subscriptions_created += 1
        await self._notify()
        return web.json_response(
            {
                "data": [sub.as_json()],
                "total": len(self._subscriptions),
                "total_cost": 0,
                "max_total_cost": 10,
            },
            status=202,
        )

    async def _helix_list_subscriptions(self, request: web.Request) -> web.Response:
        auth = self._helix_auth(request)
        if isinstance(auth, web.Response):
            return auth
        data = [s.as_json() for s in self._subscriptions.values()]
        return web.json_response(
            {
                "data": data,
                "total": len(data),
                "total_cost": 0,
                "max_total_cost": 10,
                "pagination": {},
            }
        )

    async def _helix_chat(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        auth = self._helix_auth(request)
        if isinstance(auth, web.Response):
            return auth
        body = await request.json()
        record = SentChat(
            broadcaster_id=str(body.get("broadcaster_id", "")),
            sender_id=str(body.get("sender_id", "")),
            message=str(body.get("message", "")),
            at=arrived,
        )
        if auth.user_id is not None and auth.user_id != record.sender_id:
            return _error(403, "The sender must be the user of the access token")
        if auth.user_id is not None and "user:write:chat" not in auth.scopes:
            return _error(401, "Missing scope: user:write:chat")
        if not record.message or len(record.message) > 500:
            self.chat_attempts.append(_with(record, "400"))
            await self._notify()
            return _error(400, "The message field is required and at most 500 characters")
        failure = self._chat_failures.popleft() if self._chat_failures else None
        if failure == "429":
            self.chat_attempts.append(_with(record, "429"))
            await self._notify()
            return _error(429, "Too Many Requests")
        message_id = uuid.uuid4().hex
        if failure == "drop":
            self.chat_attempts.append(_with(record, "dropped"))
            await self._notify()
            return web.json_response(
                {
                    "data": [
                        {
                            "message_id": "",
                            "is_sent": False,
                            "drop_reason": {
                                "code": "msg_duplicate",
                                "message": "Your message is identical to one you sent "
                                "within the last 30 seconds.",
                            },
                        }
                    ]
                }
            )
        self.chat_attempts.append(record)
        self.sent_chat.append(record)
        await self._notify()
        return web.json_response(
            {"data": [{"message_id": message_id, "is_sent": True, "drop_reason": None}]}
        )

    # ------------------------------------------------------------------ EventSub WebSocket

    async def _eventsub_ws(self, request: web.Request) -> web.StreamResponse:
        if self._refuse_websockets:
            self.refused_connections += 1
            await self._notify()
            return _error(503, "EventSub is unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        keepalive_s = float(request.query.get("keepalive_timeout_seconds", "10"))
        session = _Session(
            uuid.uuid4().hex, ws, request, max(self.keepalive_floor_s, min(keepalive_s, 600))
        )
        moved_from = request.query.get("reconnect_from")
        session.moved_from = moved_from or ""
        if moved_from:  # session_reconnect: the subscriptions follow the client
            for sub in self._subscriptions.values():
                if sub.session_id == moved_from:
                    sub.session_id = session.id
        self._sessions[session.id] = session
        self.connections += 1
        keepalive = asyncio.create_task(self._keepalive(session), name="fake-twitch-keepalive")
        deadline = asyncio.create_task(self._subscribe_deadline(session), name="fake-twitch-4003")
        try:
            await session.send(
                {
                    "metadata": _metadata("session_welcome"),
                    "payload": {"session": _session_json(session, "connected", None)},
                }
            )
            await self._notify()
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self.client_messages.append(str(message.data))
                    await ws.close(code=4001, message=b"client sent inbound traffic")
        finally:
            keepalive.cancel()
            deadline.cancel()
            await asyncio.wait([keepalive, deadline])
            del self._sessions[session.id]
            for sub_id in [k for k, s in self._subscriptions.items() if s.session_id == session.id]:
                del self._subscriptions[sub_id]
            with contextlib.suppress(Exception):
                await self._notify()
        return ws

    async def _keepalive(self, session: _Session) -> None:
        """Twitch sends ``session_keepalive`` only after the session was silent for
        ``keepalive_s``; every notification starts the silence over."""
        while not session.ws.closed:
            quiet = time.monotonic() - session.last_sent
            if quiet < session.keepalive_s:
                await asyncio.sleep(session.keepalive_s - quiet)
                continue
            self.keepalives_sent += 1
            await session.send({"metadata": _metadata("session_keepalive"), "payload": {}})

    async def _reconnect_grace(self, old: _Session) -> None:
        await asyncio.sleep(self.reconnect_grace_s)
        moved = any(s.moved_from == old.id for s in self._sessions.values())
        if not moved and not old.ws.closed:
            await old.ws.close(code=4004, message=b"reconnect grace time expired")

    async def _subscribe_deadline(self, session: _Session) -> None:
        await asyncio.sleep(self.subscribe_deadline_s)
        if not any(s.session_id == session.id for s in self._subscriptions.values()):
            await session.ws.close(code=4003, message=b"connection unused")


def _metadata(message_type: str) -> dict[str, str]:
    return {
        "message_id": str(uuid.uuid4()),
        "message_type": message_type,
        "message_timestamp": _now_iso(),
    }


def _session_json(session: _Session, status: str, reconnect_url: str | None) -> dict[str, Any]:
    return {
        "id": session.id,
        "status": status,
        "connected_at": _now_iso(),
        "keepalive_timeout_seconds": None if status == "reconnecting" else session.keepalive_s,
        "reconnect_url": reconnect_url,
        "recovery_url": None,
    }


_CHEER = re.compile(r"(?i)\b(cheer)(\d+)\b")


def _fragments(text: str) -> list[dict[str, Any]]:
    """Split chat text into EventSub fragments: plain text and cheermotes ("Cheer100")."""
    fragments: list[dict[str, Any]] = []
    pos = 0
    for match in _CHEER.finditer(text):
        if match.start() > pos:
            fragments.append(_text_fragment(text[pos : match.start()]))
        fragments.append(
            {
                "type": "cheermote",
                "text": match.group(0),
                "cheermote": {
                    "prefix": match.group(1).lower(),
                    "bits": int(match.group(2)),
                    "tier": 1,
                },
                "emote": None,
                "mention": None,
            }
        )
        pos = match.end()
    if pos < len(text) or not fragments:
        fragments.append(_text_fragment(text[pos:]))
    return fragments


def _text_fragment(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cheermote": None, "emote": None, "mention": None}


def _with(record: SentChat, outcome: str) -> SentChat:
    return SentChat(record.broadcaster_id, record.sender_id, record.message, record.at, outcome)
