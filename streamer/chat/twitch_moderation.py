"""Twitch's own moderation on our EventSub connection: which events, with whose token.

Deletes and clears ride on the bot's chat token (``user:read:chat``); bans and timeouts
(``channel.ban``) need the broadcaster's own token with ``channel:moderate``, stored by
``streamer twitch login --broadcaster``. A feature no token may see is off and said once
at start; it is never a reason not to start.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import aiohttp

from streamer.chat.twitch_client import _http_reason, moderation_subscriptions
from streamer.chat.twitch_points import MANAGE_SCOPE, redemption_subscription
from streamer.config import TwitchSettings
from streamer.secrets import TwitchTokens

with warnings.catch_warnings():  # see twitch_client.py
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    from twitchio.exceptions import (
        HTTPException,
        InvalidTokenException,
        WebsocketConnectionException,
    )

logger = logging.getLogger("streamer.chat.twitch")

# What a subscription with the broadcaster's token may raise: Helix refusing it, or the
# broadcaster's own EventSub socket failing to open. Either turns one feature off.
SUBSCRIBE_FAILURES = (
    HTTPException, WebsocketConnectionException, aiohttp.ClientError, OSError, TimeoutError,
    ValueError,
)  # fmt: skip


def _why(exc: Exception) -> str:
    return _http_reason(exc) if isinstance(exc, HTTPException) else str(exc) or repr(exc)


async def add_broadcaster(
    client: Any, settings: TwitchSettings, tokens: TwitchTokens | None, bot_scopes: list[str]
) -> list[str]:
    """Add the broadcaster's own token, if one is stored; its scopes (or none). A bot on
    the broadcaster's own account has one token for both: its scopes are returned and
    nothing is added (twitchio keeps one token per user: a second would replace the
    bot's chat token). Never raises: without it those features are off."""
    if settings.bot_id == settings.owner_id:
        return bot_scopes
    if tokens is None:
        return []
    try:
        validated = await client.add_token(tokens.access_token, tokens.refresh_token)
    except (HTTPException, InvalidTokenException) as exc:
        logger.warning(
            "the broadcaster's Twitch token does not work (%s): run `streamer twitch "
            "login --broadcaster` again",
            _http_reason(exc) if isinstance(exc, HTTPException) else "invalid",
        )
        return []
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        logger.warning("the broadcaster's Twitch token could not be checked: %s", exc)
        return []
    if validated.user_id != settings.owner_id:
        client.remove_token(validated.user_id)  # never another user's token in the client
        logger.warning(
            "the broadcaster token belongs to %s (%s), not twitch.owner_id %s: not used",
            validated.login, validated.user_id, settings.owner_id,
        )  # fmt: skip
        return []
    return list(validated.scopes)


async def subscribe_moderation(
    client: Any, settings: TwitchSettings, broadcaster_scopes: list[str]
) -> None:
    """Twitch's own moderation, each a feature that is off (said once) when no token
    may see it; never a reason not to start."""
    seen = []
    for name, subscription, as_user in moderation_subscriptions(settings, broadcaster_scopes):
        try:
            await client.subscribe_websocket(subscription, token_for=as_user)
            seen.append(name)
        except SUBSCRIBE_FAILURES as exc:
            logger.warning("Twitch moderation: %s are not seen (%s)", name, _why(exc))
    if "channel:moderate" not in broadcaster_scopes:
        logger.warning(
            "Twitch moderation: bans and timeouts are not seen: they need the "
            "broadcaster's own token (`streamer twitch login --broadcaster`); a "
            "moderator's `!block user` still works"
        )
    logger.info("Twitch moderation seen: %s", ", ".join(seen) or "none")
    await _subscribe_points(client, settings, broadcaster_scopes)


async def _subscribe_points(
    client: Any, settings: TwitchSettings, broadcaster_scopes: list[str]
) -> None:
    """Channel points as questions, when a reward is named and the broadcaster's token
    may see its redemptions; else said once, never fatal."""
    if not settings.channel_points.reward_id:
        return
    subscription = redemption_subscription(settings, broadcaster_scopes)
    if subscription is None:
        logger.warning(
            "channel points: redemptions are not seen: they need the broadcaster's own "
            "token with %s (`streamer twitch login --broadcaster`)", MANAGE_SCOPE,
        )  # fmt: skip
        return
    try:
        await client.subscribe_websocket(subscription, token_for=settings.owner_id)
    except SUBSCRIBE_FAILURES as exc:
        logger.warning("channel points: redemptions are not seen (%s)", _why(exc))
        return
    if MANAGE_SCOPE not in broadcaster_scopes:
        logger.warning(
            "channel points: redemptions are questions, but they cannot be refunded or "
            "fulfilled: the broadcaster's token lacks %s", MANAGE_SCOPE,
        )  # fmt: skip
    logger.info(
        "channel points: redemptions of reward %s are questions",
        settings.channel_points.reward_id,
    )
