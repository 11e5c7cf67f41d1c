"""Channel points as questions: the reward's redemptions in, their settlement out.

* In: EventSub ``channel.channel_points_custom_reward_redemption.add`` for the reward
  the operator names (``twitch.channel_points.reward_id``), subscribed with the
  broadcaster's own token (``channel:read:redemptions`` or ``channel:manage:redemptions``):
  each redemption becomes a ``Redemption`` whose text is the question.
* Out: Helix ``PATCH channel_points/custom_rewards/redemptions`` with status ``FULFILLED``
  (answered) or ``CANCELED`` (refunded), with the broadcaster's token and
  ``channel:manage:redemptions``. Twitch lets only the client id that created a reward
  settle its redemptions, and only while they are ``UNFULFILLED``.
* ``create_reward``: Helix ``POST channel_points/custom_rewards`` (``streamer twitch
  reward create``), so the reward belongs to this application's client id.
"""

from __future__ import annotations

import warnings
from typing import Any

import aiohttp

from streamer.chat.base import RedemptionSettleError
from streamer.config import TwitchSettings
from streamer.messages import Redemption

with warnings.catch_warnings():  # see twitch_client.py
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    import twitchio
    from twitchio import eventsub
    from twitchio.exceptions import HTTPException

READ_SCOPES = ("channel:read:redemptions", "channel:manage:redemptions")
MANAGE_SCOPE = "channel:manage:redemptions"
REWARD_TITLE_MAX = 45  # Twitch's limits for a custom reward
REWARD_PROMPT_MAX = 200


def redemption_subscription(settings: TwitchSettings, broadcaster_scopes: list[str]) -> Any:
    """The subscription for the question reward, or None (off, or no token may see it)."""
    reward = settings.channel_points.reward_id
    if not reward or not any(s in broadcaster_scopes for s in READ_SCOPES):
        return None
    return eventsub.ChannelPointsRedeemAddSubscription(
        broadcaster_user_id=settings.owner_id, reward_id=reward
    )


def to_redemption(payload: twitchio.ChannelPointsRedemptionAdd) -> Redemption:
    """Our ``Redemption`` from twitchio's notification."""
    user = payload.user
    login = (user.name or "").lower()
    return Redemption(
        redemption_id=payload.id,
        reward_id=payload.reward.id,
        user=login,
        text=payload.user_input or "",
        display_name=user.display_name or login,
        user_id=user.id,
        status=payload.status,
    )


def _reason(exc: HTTPException) -> str:
    extra: Any = exc.extra
    message = extra.get("message", "") if isinstance(extra, dict) else ""
    return f"HTTP {exc.status}: {message}" if message else f"HTTP {exc.status}"


async def settle(client: Any, settings: TwitchSettings, reward_id: str, redemption_id: str,
                 status: str) -> None:  # fmt: skip
    """Tell Twitch a redemption is ``FULFILLED`` or ``CANCELED`` (refunded).

    ``RedemptionSettleError`` with ``final`` set when trying again cannot help: ``gone``
    (404: not ``UNFULFILLED`` any more, e.g. settled by hand in the dashboard) or
    ``refused`` (400/401/403: another application's reward, a missing scope)."""
    owner = settings.owner_id
    try:
        await client.http.patch_custom_reward_redemption(
            broadcaster_id=owner, token_for=owner, reward_id=reward_id, id=redemption_id,
            status=status,
        )  # fmt: skip
    except HTTPException as exc:
        why = _reason(exc)
        if exc.status == 404:
            raise RedemptionSettleError(f"not unfulfilled on Twitch ({why})", "gone") from None
        if exc.status in (400, 401, 403):
            hint = (
                " (Twitch settles only the rewards this client id created: make it with "
                "`streamer twitch reward create`; the broadcaster's token needs "
                f"{MANAGE_SCOPE}: `streamer twitch login --broadcaster`)"
            )
            raise RedemptionSettleError(f"Twitch refused ({why}){hint}", "refused") from None
        raise RedemptionSettleError(f"Twitch answered {why}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise RedemptionSettleError(f"cannot reach Twitch: {exc or type(exc).__name__}") from None


async def create_reward(
    session: aiohttp.ClientSession,
    settings: TwitchSettings,
    access_token: str,
    *,
    title: str,
    cost: int,
    prompt: str,
) -> dict[str, Any]:
    """Create the question reward on the broadcaster's channel (user input required);
    Twitch's reward object, or ``RuntimeError`` with Twitch's reason."""
    if not 0 < len(title) <= REWARD_TITLE_MAX:
        raise RuntimeError(f"the title must have 1 to {REWARD_TITLE_MAX} characters")
    if cost < 1:
        raise RuntimeError("the cost must be at least 1 channel point")
    if len(prompt) > REWARD_PROMPT_MAX:
        raise RuntimeError(f"the prompt must have at most {REWARD_PROMPT_MAX} characters")
    api = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    body = {"title": title, "cost": cost, "is_user_input_required": True, "prompt": prompt}
    headers = {"Client-Id": settings.client_id, "Authorization": f"Bearer {access_token}"}
    async with session.post(
        api + "channel_points/custom_rewards",
        params={"broadcaster_id": settings.owner_id},
        json=body,
        headers=headers,
    ) as resp:
        data = await resp.json(content_type=None)
    if resp.status != 200 or not isinstance(data, dict) or not data.get("data"):
        message = data.get("message", "") if isinstance(data, dict) else ""
        raise RuntimeError(f"Twitch refused to create the reward (HTTP {resp.status}: {message})")
    reward: dict[str, Any] = data["data"][0]
    return reward
