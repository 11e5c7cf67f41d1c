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

from streamer.chat.twitch_client import _http_reason, moderation_subscriptions
from streamer.chat.twitch_points import MANAGE_SCOPE, redemption_subscription
from streamer.config import TwitchSettings
from streamer.secrets import TwitchTokens

with warnings.catch_warnings():  # see twitch_client.py
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    from twitchio.exceptions import HTTPException, InvalidTokenException

logger = logging.getLogger("streamer.chat.twitch")


async def add_broadcaster(
    client: Any, settings: TwitchSettings, tokens: TwitchTokens | None
) -> list[str]:
    """Add the broadcaster's own token, if one is stored; its scopes (or none)."""
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
    if validated.user_id != settings.owner_id:
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
        except HTTPException as exc:
            logger.warning("Twitch moderation: %s are not seen (%s)", name, _http_reason(exc))
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
    except HTTPException as exc:
        logger.warning("channel points: redemptions are not seen (%s)", _http_reason(exc))
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
