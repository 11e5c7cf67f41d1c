"""What the operator console shows (``/api/state``) and what its buttons do.

One object over the daemon's parts; every action is one call the chat commands make
too (``Control``, the pool, an ``Answer``), so a click and a moderator's ``!skip`` take
the same path through the answer's life.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from streamer.answer import Answer, AnswerState
from streamer.messages import ModAction, ModCommand
from streamer.moderation.blocklist import login
from streamer.store import Status, StoredQuestion
from streamer.web.events import EventBus

if TYPE_CHECKING:
    from streamer.daemon import Daemon

ACTOR = "console"
_SECRET_WORDS = ("secret", "password", "api_key", "access_token", "refresh_token")


class ActionError(Exception):
    """An action that cannot be done as asked (a bad id or user): HTTP 400."""


def mask_url(url: str) -> str:
    """An RTMP address without its last path part: a stream key lives there
    (``rtmp://live.twitch.tv/app/live_123_abc`` -> ``rtmp://live.twitch.tv/app/****``)."""
    if not url.lower().startswith(("rtmp://", "rtmps://")):
        return url
    head, sep, _ = url.rstrip("/").rpartition("/")
    return f"{head}{sep}****" if head.count("/") >= 3 else url


def masked(value: Any, key: str = "") -> Any:
    """What a page shows of the settings or the state: anything that could be a secret
    masked (the settings model refuses secrets: this is a second belt), and the stream
    key of an RTMP address."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str) and value.lower().startswith(("rtmp://", "rtmps://")):
        return mask_url(value)
    name = key.lower()
    if value and any(w in name for w in _SECRET_WORDS) and not name.endswith(("_env", "_file")):
        return "********"
    return value


def _timings(answer: Answer) -> dict[str, float | None]:
    t = answer.times

    def since(at: float | None) -> float | None:
        return None if at is None or t.picked is None else round(at - t.picked, 3)

    return {
        "first_token_s": since(t.first_token),
        "first_segment_s": since(t.first_segment),
        "first_frame_s": since(t.speaking),
        "end_s": since(t.ended),
    }


def answer_json(answer: Answer, spoken: list[str]) -> dict[str, Any]:
    q = answer.question
    return {
        "id": answer.id, "user": q.user, "name": q.name, "question": q.text,
        "state": answer.state.value, "reason": answer.reason, "spoken": spoken,
        "timings": _timings(answer),
    }  # fmt: skip


def _pooled_json(s: StoredQuestion, now: float) -> dict[str, Any]:
    q = s.question
    return {
        "id": s.id, "user": q.user, "name": q.name, "askers": list(q.askers),
        "role": q.role.name.lower(), "bits": q.bits, "text": q.text, "attempts": s.attempts,
        "age_s": round(now - q.asked_at, 1),
    }  # fmt: skip


def _history_json(s: StoredQuestion) -> dict[str, Any]:
    return {
        "id": s.id, "user": s.question.user, "question": s.question.text,
        "status": s.status.value, "outcome": s.outcome, "reason": s.reason,
        "ended_at": s.updated_at,
    }  # fmt: skip


class Console:
    def __init__(self, daemon: Daemon, bus: EventBus, notes: dict[str, str]) -> None:
        self.daemon = daemon
        self.bus = bus
        self.notes = notes  # a stage's last error (the LLM's), until it works again
        self.spoken: dict[str, list[str]] = {}  # answer id -> its segments as said so far

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        d = self.daemon
        now = time.time()
        pooled = [_pooled_json(s, now) for s in d.store.with_status(Status.POOLED)]
        answers = [answer_json(a, self.spoken.get(a.id, [])) for a in d.answers]
        history = [_history_json(s) for s in d.pool.history(20)]
        snapshot = d.snapshot()
        return {
            "state": snapshot["state"],
            "paused": snapshot["paused"],
            "pool": pooled,
            "answers": answers,
            "on_air": snapshot["on_air"],
            "history": history,
            "recent": list(self.bus.recent),
            "counts": snapshot["pool"],
            "questions_ended": snapshot["questions_ended"],
            "redemptions": snapshot["redemptions"],
            "health": self.health(snapshot),
            "settings": masked(d.settings.model_dump(mode="json")),
        }

    def health(self, snapshot: dict[str, Any]) -> dict[str, dict[str, str]]:
        """Each stage: ``up``, ``degraded`` (with the last error) or ``down``."""
        d = self.daemon

        def part(state: str, detail: str = "") -> dict[str, str]:
            return {"state": state, "detail": detail}

        revoked = snapshot.get("chat_revoked") or []
        if d.chat_stage.failed:
            chat = part("down", "the chat source failed (see the log)")
        elif revoked:
            chat = part("degraded", "Twitch revoked: " + ", ".join(revoked))
        elif d.chat_stage.done:
            chat = part("up", "the chat source has ended")
        else:
            chat = part("up", d.chat.name)
        errors = d.answerer.errors
        last_llm = self.notes.get("llm", "")
        llm = part("degraded", last_llm) if last_llm else part("up", d.settings.llm.provider)
        if errors and not last_llm:
            llm = part("up", f"{sum(errors.values())} failures since start, none lately")
        moderation = snapshot.get("moderation") or {}
        if not moderation.get("enabled"):
            mod = part("degraded", "off (moderation.enabled is false)")
        elif moderation.get("healthy") is False:
            mod = part("degraded", f"model check failing: {moderation.get('last_error')}")
        else:
            mod = part("up", f"model check: {moderation.get('model') or 'none'}")
        result = {"chat": chat, "llm": llm, "moderation": mod}
        stage = snapshot.get("next_stage") or {}
        builder = stage.get("builder")
        if isinstance(builder, dict):
            failed = int(builder.get("failed_segments") or 0)
            text = f"real-time factor {builder.get('real_time_factor')}"
            result["voice_lipsync"] = part("degraded" if failed else "up", text + (
                f", {failed} segments failed" if failed else ""
            ))  # fmt: skip
        publisher = stage.get("publisher")
        if isinstance(publisher, dict):
            connected = publisher.get("state") == "streaming"
            error = str(publisher.get("last_error") or "")
            result["publisher"] = part(
                "up" if connected else "down",
                f"{publisher.get('state')}, {publisher.get('fps')} fps"
                + (f"; last error: {error}" if error else ""),
            )
            result["rtmp"] = part(
                "up" if connected else "down", mask_url(str(publisher.get("url")))
            )
        return result

    # ------------------------------------------------------------------ actions

    def act(self, action: str, body: dict[str, Any]) -> str:
        """Do one console action; returns what happened (for the page's line)."""
        d = self.daemon
        if action == "skip":
            return d.control.skip("skipped from the console")
        if action in ("pause", "resume"):
            return d.control.pause(action == "pause")
        if action == "clear":
            count = d.pool.clear(reason="cleared from the console")
            return d.control.replies.count("cleared", count)
        if action in ("block", "unblock"):
            user = login(str(body.get("user", "")))
            if not user:
                raise ActionError("give a Twitch login: letters, digits and _ only")
            return d.control.block(ModCommand(ModAction(action), ACTOR, user))
        question_id = str(body.get("id", ""))
        if action == "drop":
            answer = d.answers.get(question_id)
            if answer is not None:
                taken = answer.interrupt("dropped from the console", AnswerState.SKIPPED)
                return "answer taken away" if taken else "it had ended"
            if d.pool.drop(question_id, "dropped from the console"):
                return "question dropped"
            raise ActionError("no waiting question or live answer with that id")
        if action == "next":
            question = d.pool.pick_now(question_id)
            if question is None:
                raise ActionError("no waiting question with that id")
            d.answers.create(question)
            d.reader.queued(question, position=len(d.answers))
            return "answered next"
        raise ActionError(f"unknown action {action!r}")
