"""Twitch's moderation events as EventSub sends them, for the fake Twitch server.

Event bodies follow Twitch's EventSub reference (``channel.chat.message_delete``,
``channel.chat.clear_user_messages``, ``channel.chat.clear``, ``channel.ban``), and so
do the authorization rules the fake applies when a client subscribes to them
(``SUBSCRIPTION_RULES``): the chat ones ride on the reading user's ``user:read:chat``
and need ``user_id`` to be that user; ``channel.ban`` needs the broadcaster's own token
with ``channel:moderate`` (a moderator bot's token is refused, as on Twitch), and channel
points redemptions the broadcaster's token with ``channel:read:redemptions`` or
``channel:manage:redemptions``.
"""

from __future__ import annotations

import datetime
from typing import Any

# type -> (scopes of which the token needs one, the condition field that must be the
# token's user)
SUBSCRIPTION_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "channel.chat.message": (("user:read:chat",), "user_id"),
    "channel.chat.message_delete": (("user:read:chat",), "user_id"),
    "channel.chat.clear_user_messages": (("user:read:chat",), "user_id"),
    "channel.chat.clear": (("user:read:chat",), "user_id"),
    "channel.ban": (("channel:moderate",), "broadcaster_user_id"),
    "channel.channel_points_custom_reward_redemption.add": (
        ("channel:read:redemptions", "channel:manage:redemptions"),
        "broadcaster_user_id",
    ),
}


def _iso(at: datetime.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _broadcaster(owner: Any) -> dict[str, str]:
    return {
        "broadcaster_user_id": owner.id,
        "broadcaster_user_login": owner.login,
        "broadcaster_user_name": owner.display_name,
    }


def message_delete(owner: Any, target: Any, message_id: str) -> dict[str, Any]:
    return {
        **_broadcaster(owner),
        "target_user_id": target.id,
        "target_user_login": target.login,
        "target_user_name": target.display_name,
        "message_id": message_id,
    }


def clear_user_messages(owner: Any, target: Any) -> dict[str, Any]:
    return {
        **_broadcaster(owner),
        "target_user_id": target.id,
        "target_user_login": target.login,
        "target_user_name": target.display_name,
    }


def chat_clear(owner: Any) -> dict[str, Any]:
    return _broadcaster(owner)


def ban(owner: Any, target: Any, moderator: Any, *, timeout_s: int | None = None) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    ends = None if timeout_s is None else _iso(now + datetime.timedelta(seconds=timeout_s))
    return {
        **_broadcaster(owner),
        "user_id": target.id,
        "user_login": target.login,
        "user_name": target.display_name,
        "moderator_user_id": moderator.id,
        "moderator_user_login": moderator.login,
        "moderator_user_name": moderator.display_name,
        "reason": "",
        "banned_at": _iso(now),
        "ends_at": ends,
        "is_permanent": timeout_s is None,
    }


def redemption(owner: Any, user: Any, reward: dict[str, Any], redemption_id: str, text: str,
               status: str) -> dict[str, Any]:  # fmt: skip
    """``channel.channel_points_custom_reward_redemption.add`` (version 1)."""
    return {
        "id": redemption_id,
        **_broadcaster(owner),
        "user_id": user.id,
        "user_login": user.login,
        "user_name": user.display_name,
        "user_input": text,
        "status": status,
        "reward": {
            "id": reward["id"],
            "title": reward["title"],
            "cost": reward["cost"],
            "prompt": reward["prompt"],
        },
        "redeemed_at": _iso(datetime.datetime.now(datetime.UTC)),
    }
