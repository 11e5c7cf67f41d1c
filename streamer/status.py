"""``streamer status``: the daemon's state (``daemon_snapshot``) as ``GET /status``
serves it (``web/server.py``, loopback by default), fetched and rendered as a few
readable lines."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from streamer.answer import AnswerState

if TYPE_CHECKING:
    from streamer.daemon import Daemon

log = logging.getLogger(__name__)


def daemon_snapshot(d: Daemon) -> dict[str, Any]:
    """The daemon's state, JSON-ready (called on the event loop)."""
    writing = d.writer.current
    on_air = d.answers.in_state(AnswerState.SPEAKING)
    building = None
    if writing is not None:
        q = writing.question
        building = {"id": writing.id, "user": q.user, "text": q.text[:120]}
    return {
        "state": "stopping" if d.draining else "running",
        "paused": d.state.paused,
        "chat": d.chat.name,
        "chat_done": d.chat_stage.done,
        "chat_revoked": list(getattr(d.chat, "revoked", [])),
        "pool": d.pool.counts(),
        "answers": [
            {"id": a.id, "user": a.question.user, "state": a.state.value} for a in d.answers
        ],
        "building": building,
        "on_air": on_air[0].id if on_air else None,
        "questions_ended": dict(d.answers.questions),
        "segments_waiting": d.queue.qsize(),
        "chat_stats": d.reader.stats,
        "redemptions": d.store.redemptions.counts(),
        "next_stage": d.sink.status(),
        "moderation": d.moderator.status(),
        "heap": d.heap.trimmer.status(),
    }


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
