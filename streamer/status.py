"""A small local HTTP endpoint with the daemon's state, read by ``streamer status``.

``GET /status`` returns JSON: queue lengths, what is being built and what is on air,
the publisher's state. It binds to loopback by default (``status.host``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)


class StatusServer:
    def __init__(self, host: str, port: int, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.host = host
        self.port = port
        self._snapshot = snapshot
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/status", self._status)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            # Not fatal: the show goes on without the status endpoint.
            log.warning(
                "status endpoint off: cannot listen on %s:%d (%s)",
                self.host,
                self.port,
                exc.strerror or exc,
            )
            return
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("status: http://%s:%d/status (or `streamer status`)", self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self._snapshot(), dumps=lambda d: json.dumps(d, default=str))


async def fetch_status(host: str, port: int, timeout_s: float = 3.0) -> dict[str, Any]:
    url = f"http://{host}:{port}/status"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
        return data


def render_status(data: dict[str, Any]) -> str:
    """A few readable lines for the operator."""
    pool = data.get("pool", {})
    ended = data.get("questions_ended", {})
    lines = [
        f"state: {data.get('state')}{' (paused)' if data.get('paused') else ''}; "
        f"chat: {data.get('chat')}; questions since start: "
        + ", ".join(
            f"{ended.get(k, 0)} {k}"
            for k in ("answered", "truncated", "skipped", "moderated", "failed")
        ),
        f"pool: {pool.get('pooled', 0)} waiting, {pool.get('queued', 0)} picked, "
        f"{pool.get('building', 0)} being answered",
    ]
    revoked = data.get("chat_revoked") or []
    if revoked:
        lines.append("WARNING: Twitch revoked: " + ", ".join(str(r) for r in revoked))
    answers = data.get("answers") or []
    if answers:
        lines.append(
            "answers: "
            + ", ".join(
                f"{a.get('id', '')[:8]} {a.get('state')} ({a.get('user')})" for a in answers
            )
        )
    building = data.get("building")
    if building:
        lines.append(
            f"building: {building.get('id', '')[:8]} from {building.get('user')}: "
            f"{building.get('text')!r}"
        )
    on_air = data.get("on_air")
    lines.append(f"on air: {'answer ' + str(on_air)[:8] if on_air else 'idle loop'}")
    stage = data.get("next_stage", {})
    publisher = stage.get("publisher")
    if isinstance(publisher, dict):
        lines.append(
            "publisher: " + ", ".join(f"{k} {v}" for k, v in publisher.items() if v is not None)
        )
    builder = stage.get("builder")
    if isinstance(builder, dict):
        lines.append("builder: " + ", ".join(f"{k} {v}" for k, v in builder.items()))
    moderation = data.get("moderation")
    if isinstance(moderation, dict):
        lines.append(render_moderation(moderation))
    points = data.get("redemptions") or {}
    if any(points.values()):
        names = {
            "open": "waiting for their answer", "due": "to tell Twitch",
            "FULFILLED": "fulfilled", "CANCELED": "refunded",
        }  # fmt: skip
        order = [*names, *sorted(k for k in points if k not in names)]
        lines.append(
            "channel points: "
            + ", ".join(f"{points[k]} {names.get(k, k)}" for k in order if points.get(k))
        )
    return "\n".join(lines)


def render_moderation(m: dict[str, Any]) -> str:
    """One line (two when the model check fails): what was checked and flagged."""
    if not m.get("enabled"):
        return "moderation: OFF (moderation.enabled is false): answers are not checked"
    flagged = m.get("flagged") or {}
    text = (
        f"moderation: {m.get('checked', 0)} segments checked, "
        f"{sum(flagged.values())} flagged"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in sorted(flagged.items())) + ")"
            if flagged
            else ""
        )
        + f"; model check: {m.get('model') or 'none'}"
    )
    last = m.get("last_flag")
    if isinstance(last, dict):
        text += (
            f"; last: answer {str(last.get('answer_id', ''))[:8]} segment {last.get('segment')} "
            f"{last.get('category')} ({last.get('hint')}), {last.get('action')}"
        )
    if not m.get("healthy", True):
        text += (
            f"\nWARNING: the moderation model check is failing ({m.get('last_error')}); "
            f"segments are {'NOT spoken' if m.get('on_error') == 'block' else 'spoken unchecked'}"
        )
    return text
