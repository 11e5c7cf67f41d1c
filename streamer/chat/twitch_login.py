"""First login of the bot account: the OAuth device-code flow (no browser on this host).

1. ``POST oauth2/device`` with the client id and scopes -> a device code, a user code,
   a verification URI, a poll interval and an expiry.
2. The operator opens the URI (on any device), logs in **as the bot account** and enters
   the code.
3. We poll ``POST oauth2/token`` (grant type ``urn:ietf:params:oauth:grant-type:device_code``)
   every ``interval`` seconds: ``authorization_pending`` -> keep polling, ``slow_down`` ->
   poll 5 s less often, anything else (denied, expired) -> ``TwitchLoginError``.
4. ``GET oauth2/validate`` tells whose token it is (user id and login); the pair is
   saved with mode 0600 and returned.

aiohttp is used directly: twitchio's DCF helpers ignore the ``interval`` and ``slow_down``
answers and are tied to a ``Client``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from streamer.config import TwitchSettings
from streamer.secrets import TwitchTokens, save_twitch_tokens

logger = logging.getLogger(__name__)

BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")
# The broadcaster's own token: bans and timeouts (EventSub channel.ban needs it), channel
# points as questions (redemptions seen, refunded and fulfilled).
BROADCASTER_SCOPES = ("channel:moderate", "channel:manage:redemptions")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP_S = 5.0


class TwitchLoginError(Exception):
    """The device-code login failed: denied, expired, or refused by Twitch."""


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """Twitch's answer to ``POST oauth2/device``."""

    device_code: str
    user_code: str
    verification_uri: str
    interval_s: float
    expires_in_s: float


def _url(settings: TwitchSettings, path: str) -> str:
    base = settings.auth_url if settings.auth_url.endswith("/") else settings.auth_url + "/"
    return base + path


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _reason(data: dict[str, Any]) -> str:
    """Twitch's error text (``message``), or an OAuth ``error`` code."""
    return str(data.get("message") or data.get("error") or "").strip()


async def request_device_code(
    session: aiohttp.ClientSession, settings: TwitchSettings, scopes: Sequence[str]
) -> DeviceCode:
    form = {"client_id": settings.client_id, "scopes": " ".join(scopes)}
    async with session.post(_url(settings, "oauth2/device"), data=form) as response:
        data = await _json(response)
        if response.status != 200:
            raise TwitchLoginError(
                f"Twitch refused to start the login (HTTP {response.status}: {_reason(data)}): "
                "check twitch.client_id"
            )
    try:
        return DeviceCode(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=str(data["verification_uri"]),
            interval_s=float(data.get("interval", 5)),
            expires_in_s=float(data.get("expires_in", 1800)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TwitchLoginError(f"unexpected answer from oauth2/device (missing {exc})") from None


async def poll_for_token(
    session: aiohttp.ClientSession,
    settings: TwitchSettings,
    device: DeviceCode,
    scopes: Sequence[str],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``oauth2/token`` until the user has approved; return the token answer."""
    form = {
        "client_id": settings.client_id,
        "scopes": " ".join(scopes),
        "device_code": device.device_code,
        "grant_type": DEVICE_GRANT,
    }
    interval = max(device.interval_s, 0.0)
    deadline = clock() + device.expires_in_s
    while True:
        await sleep(interval)
        if clock() >= deadline:
            raise TwitchLoginError("the login code expired before it was entered: try again")
        async with session.post(_url(settings, "oauth2/token"), data=form) as response:
            data = await _json(response)
            status = response.status
        if status == 200:
            return data
        reason = _reason(data)
        code = reason.lower()
        if code == "authorization_pending":
            continue
        if code == "slow_down":
            interval += SLOW_DOWN_STEP_S
            logger.debug("Twitch asked to poll more slowly: every %.0f s", interval)
            continue
        if code in ("invalid device code", "expired_token"):
            raise TwitchLoginError("the login code expired or was already used: try again")
        if code in ("access_denied", "authorization_declined"):
            raise TwitchLoginError("the login was denied on Twitch")
        raise TwitchLoginError(f"Twitch refused the login (HTTP {status}: {reason})")


async def validate_token(
    session: aiohttp.ClientSession, settings: TwitchSettings, access_token: str
) -> tuple[str, str, list[str]]:
    """``(user_id, login, scopes)`` of an access token."""
    headers = {"Authorization": f"OAuth {access_token}"}
    async with session.get(_url(settings, "oauth2/validate"), headers=headers) as response:
        data = await _json(response)
        if response.status != 200:
            raise TwitchLoginError(
                f"Twitch did not accept the new token (HTTP {response.status}: {_reason(data)})"
            )
    user_id, login = str(data.get("user_id") or ""), str(data.get("login") or "")
    if not user_id:
        raise TwitchLoginError("the new token is not a user token (no user id): try again")
    scopes = [str(s) for s in data.get("scopes") or []]
    return user_id, login, scopes


async def device_code_login(
    settings: TwitchSettings,
    *,
    scopes: Sequence[str] = BOT_SCOPES,
    show: Callable[[str], None] = print,
    token_path: Path,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout_s: float = 30.0,
    account: str = "the BOT account",
    expect_user: str = "",
) -> TwitchTokens:
    """Log ``account`` in with the device-code flow; save and return its tokens.

    ``show`` receives each line meant for the operator. ``sleep`` and ``clock`` exist for
    tests; ``timeout_s`` bounds each HTTP request (not the wait for the operator).
    ``expect_user``: the user id the token must belong to; another user's token is
    refused before anything is saved (a good token in ``token_path`` stays).
    """
    if not settings.client_id:
        raise TwitchLoginError(
            "twitch.client_id is not set: register an application at dev.twitch.tv/console"
        )
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            device = await request_device_code(session, settings, scopes)
            show(f"Open {device.verification_uri} and log in as {account},")
            show(f"then enter the code: {device.user_code}")
            show(f"(the code expires in {device.expires_in_s / 60:.0f} minutes)")
            answer = await poll_for_token(
                session, settings, device, scopes, sleep=sleep, clock=clock
            )
            try:
                access, refresh = str(answer["access_token"]), str(answer["refresh_token"])
            except KeyError as exc:
                raise TwitchLoginError(
                    f"unexpected token answer from Twitch (missing {exc})"
                ) from None
            user_id, login, granted = await validate_token(session, settings, access)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TwitchLoginError(f"cannot reach Twitch at {settings.auth_url}: {exc!r}") from None

    if expect_user and user_id != expect_user:
        raise TwitchLoginError(
            f"that is {login} ({user_id}), not user {expect_user}: log in with {account}; "
            f"nothing was saved"
        )
    missing = [s for s in scopes if s not in granted]
    if missing:
        show(f"Warning: Twitch did not grant the scopes {', '.join(missing)}.")
    tokens = TwitchTokens(access, refresh, user_id, login)
    await asyncio.to_thread(save_twitch_tokens, token_path, tokens)
    logger.info("Twitch tokens of %s (%s) saved to %s", login, user_id, token_path)

    show(f"Logged in as {login}. Saved the tokens to {token_path} (readable by you only).")
    if "user:bot" not in scopes:  # the broadcaster's own token (checked to be theirs)
        return tokens
    show(f'The bot\'s user id is {user_id}: put it into your config as twitch.bot_id: "{user_id}".')
    if settings.bot_id and settings.bot_id != user_id:
        show(f'Warning: the config says twitch.bot_id: "{settings.bot_id}"; it must be {user_id}.')
    show(
        "The broadcaster must allow the bot in their channel: either make it a moderator "
        f"(type /mod {login or 'BOTNAME'} in chat) or authorize this application with the "
        "channel:bot scope."
    )
    return tokens
