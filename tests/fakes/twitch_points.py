"""Channel points and Helix rate limits for the fake Twitch server.

As Twitch's Helix reference has them:

``POST /helix/channel_points/custom_rewards?broadcaster_id=``
    The broadcaster's user token with ``channel:manage:redemptions`` (401 without the
    scope or for another user's channel); ``title`` 1-45 characters, unique in the
    channel (400 ``CREATE_CUSTOM_REWARD_DUPLICATE_REWARD``), ``cost`` >= 1, ``prompt`` at
    most 200. The reward remembers the client id that created it.
``GET /helix/channel_points/custom_rewards?broadcaster_id=[&id=][&only_manageable_rewards=]``
``PATCH /helix/channel_points/custom_rewards/redemptions?broadcaster_id=&reward_id=&id=``
    Body ``{"status": "FULFILLED" | "CANCELED"}`` (400 otherwise); the broadcaster's token
    with ``channel:manage:redemptions`` (401); 403 when the reward was created by another
    client id; 404 when no such redemption is ``UNFULFILLED``.

Every Helix answer carries ``Ratelimit-Limit``, ``Ratelimit-Remaining`` and
``Ratelimit-Reset`` (epoch seconds when the bucket is full again); a request to an empty
bucket is answered 429 with the same headers. The bucket holds 800 points a minute, as
Twitch's does for an app; tests shrink it with ``FakeTwitch.helix_bucket``.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import twitch_events

if TYPE_CHECKING:
    from tests.fakes.twitch_server import FakeTwitch

REDEMPTION_ADD = "channel.channel_points_custom_reward_redemption.add"
MANAGE = "channel:manage:redemptions"


def _error(status: int, message: str) -> web.Response:
    names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    body = {"error": names.get(status, "Error"), "status": status, "message": message}
    return web.json_response(body, status=status)


@dataclass(slots=True)
class FakeRedemption:
    id: str
    reward_id: str
    user_id: str
    text: str
    status: str = "UNFULFILLED"  # UNFULFILLED | FULFILLED | CANCELED
    updates: list[str] = field(default_factory=list)  # every status asked for, in order


class HelixBucket:
    """Twitch's token bucket for Helix: ``limit`` points, refilled every ``window_s``."""

    def __init__(self, limit: int = 800, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self.remaining = limit
        self.reset_at = time.time() + window_s
        self.refused = 0

    def take(self) -> bool:
        now = time.time()
        if now >= self.reset_at:
            self.remaining, self.reset_at = self.limit, now + self.window_s
        if self.remaining <= 0:
            self.refused += 1
            return False
        self.remaining -= 1
        return True

    def headers(self) -> dict[str, str]:
        return {
            "Ratelimit-Limit": str(self.limit),
            "Ratelimit-Remaining": str(self.remaining),
            "Ratelimit-Reset": str(math.ceil(self.reset_at)),
        }


HELIX_BUCKET = web.AppKey("helix_bucket", HelixBucket)


@web.middleware
async def rate_limited(request: web.Request, handler: Any) -> web.StreamResponse:
    """Helix requests take a point from the bucket; every answer says what is left."""
    if not request.path.startswith("/helix/"):
        return await handler(request)
    bucket = request.app[HELIX_BUCKET]
    if not bucket.take():
        response: web.StreamResponse = web.json_response(
            {"error": "Too Many Requests", "status": 429, "message": "Too Many Requests"},
            status=429,
        )
    else:
        response = await handler(request)
    response.headers.update(bucket.headers())
    return response


class FakeChannelPoints:
    """The channel's custom rewards and their redemptions (see the module doc)."""

    def __init__(self, twitch: FakeTwitch) -> None:
        self._twitch = twitch
        self.rewards: dict[str, dict[str, Any]] = {}
        self.redemptions: dict[str, FakeRedemption] = {}
        self.update_answers: list[int] = []  # the HTTP status of every PATCH of a redemption

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/helix/channel_points/custom_rewards", self._create)
        app.router.add_get("/helix/channel_points/custom_rewards", self._list)
        app.router.add_patch("/helix/channel_points/custom_rewards/redemptions", self._update)

    # ------------------------------------------------------------------ test controls

    def create_reward(
        self, title: str = "Ask the avatar", cost: int = 100, *, client_id: str | None = None,
        skip_queue: bool = False,
    ) -> str:  # fmt: skip
        """A reward on the owner's channel, made by ``client_id`` (ours unless said)."""
        reward = self._reward(title, cost, "Your question", client_id or self._twitch.client_id)
        reward["should_redemptions_skip_request_queue"] = skip_queue
        return str(reward["id"])

    async def redeem(self, login: str, reward_id: str, text: str, *, times: int = 1) -> str:
        """A viewer spends points on ``reward_id`` with ``text``; returns the redemption
        id. ``times`` > 1 delivers the notification again (at-least-once)."""
        reward = self.rewards[reward_id]
        user = self._twitch.user(login)
        auto = bool(reward["should_redemptions_skip_request_queue"])
        redemption = FakeRedemption(
            str(uuid.uuid4()), reward_id, user.id, text, "FULFILLED" if auto else "UNFULFILLED"
        )
        self.redemptions[redemption.id] = redemption
        event = twitch_events.redemption(
            self._twitch.owner, user, reward, redemption.id, text, redemption.status.lower()
        )
        await self._twitch.notify(
            REDEMPTION_ADD, event, times=times, narrow={"reward_id": reward_id}
        )
        return redemption.id

    def status(self, redemption_id: str) -> str:
        return self.redemptions[redemption_id].status

    # ------------------------------------------------------------------ Helix

    def _reward(self, title: str, cost: int, prompt: str, client_id: str) -> dict[str, Any]:
        owner = self._twitch.owner
        reward: dict[str, Any] = {
            "broadcaster_id": owner.id,
            "broadcaster_login": owner.login,
            "broadcaster_name": owner.display_name,
            "id": str(uuid.uuid4()),
            "title": title,
            "prompt": prompt,
            "cost": cost,
            "image": None,
            "default_image": {},
            "background_color": "#9147FF",
            "is_enabled": True,
            "is_user_input_required": True,
            "max_per_stream_setting": {"is_enabled": False, "max_per_stream": 0},
            "max_per_user_per_stream_setting": {"is_enabled": False, "max_per_user_per_stream": 0},
            "global_cooldown_setting": {"is_enabled": False, "global_cooldown_seconds": 0},
            "is_paused": False,
            "is_in_stock": True,
            "should_redemptions_skip_request_queue": False,
            "redemptions_redeemed_current_stream": None,
            "cooldown_expires_at": None,
            "_client_id": client_id,  # not sent: who may manage it
        }
        self.rewards[reward["id"]] = reward
        return reward

    def _auth(self, request: web.Request) -> Any:
        """The broadcaster's own token with channel:manage:redemptions, or an error."""
        token = self._twitch._helix_auth(request)
        if isinstance(token, web.Response):
            return token
        if token.user_id is None or MANAGE not in token.scopes:
            return _error(401, f"Missing scope: {MANAGE}")
        if request.query.get("broadcaster_id") != token.user_id:
            return _error(401, "The ID in broadcaster_id must match the user ID in the token")
        return token

    @staticmethod
    def _public(reward: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in reward.items() if not k.startswith("_")}

    async def _create(self, request: web.Request) -> web.Response:
        auth = self._auth(request)
        if isinstance(auth, web.Response):
            return auth
        body = await request.json()
        title, cost = str(body.get("title", "")), body.get("cost")
        if not 0 < len(title) <= 45:
            return _error(400, "The title field is required and at most 45 characters")
        if not isinstance(cost, int) or cost < 1:
            return _error(400, "The cost field is required and must be at least 1")
        prompt = str(body.get("prompt", ""))
        if len(prompt) > 200:
            return _error(400, "The prompt is at most 200 characters")
        if any(r["title"].casefold() == title.casefold() for r in self.rewards.values()):
            return _error(400, "CREATE_CUSTOM_REWARD_DUPLICATE_REWARD")
        reward = self._reward(title, cost, prompt, request.headers.get("Client-Id", ""))
        reward["is_user_input_required"] = bool(body.get("is_user_input_required", False))
        return web.json_response({"data": [self._public(reward)]})

    async def _list(self, request: web.Request) -> web.Response:
        token = self._twitch._helix_auth(request)
        if isinstance(token, web.Response):
            return token
        wanted = request.query.getall("id", [])
        client = request.headers.get("Client-Id", "")
        only_ours = request.query.get("only_manageable_rewards", "false").lower() == "true"
        found = [
            self._public(r)
            for r in self.rewards.values()
            if (not wanted or r["id"] in wanted) and (not only_ours or r["_client_id"] == client)
        ]
        return web.json_response({"data": found})

    async def _update(self, request: web.Request) -> web.Response:
        response = await self._do_update(request)
        self.update_answers.append(response.status)
        await self._twitch._notify()
        return response

    async def _do_update(self, request: web.Request) -> web.Response:
        auth = self._auth(request)
        if isinstance(auth, web.Response):
            return auth
        body = await request.json()
        status = body.get("status")
        if status not in ("FULFILLED", "CANCELED"):
            return _error(400, "The status field must be FULFILLED or CANCELED")
        reward = self.rewards.get(request.query.get("reward_id", ""))
        if reward is None:
            return _error(404, "The reward was not found")
        if reward["_client_id"] != request.headers.get("Client-Id"):
            return _error(
                403,
                "The ID in the Client-Id header must match the client ID used to create "
                "the custom reward.",
            )
        ids = request.query.getall("id", [])
        found = [self.redemptions.get(i) for i in ids]
        open_ = [r for r in found if r is not None and r.reward_id == reward["id"]]
        open_ = [r for r in open_ if r.status == "UNFULFILLED"]
        if not ids or not open_:
            return _error(404, "No redemption with that ID has the status UNFULFILLED")
        owner = self._twitch.owner
        data = []
        for redemption in open_:
            redemption.status = status
            redemption.updates.append(status)
            user = self._twitch._users[redemption.user_id]
            data.append(
                {
                    "broadcaster_id": owner.id,
                    "broadcaster_login": owner.login,
                    "broadcaster_name": owner.display_name,
                    "id": redemption.id,
                    "user_id": user.id,
                    "user_login": user.login,
                    "user_name": user.display_name,
                    "user_input": redemption.text,
                    "status": status,
                    "redeemed_at": "2026-12-07T20:00:00Z",
                    "reward": {
                        "id": reward["id"],
                        "title": reward["title"],
                        "prompt": reward["prompt"],
                        "cost": reward["cost"],
                    },
                }
            )
        return web.json_response({"data": data})
