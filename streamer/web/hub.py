"""The daemon's web side, wired to its stages: events, metrics, the console, the overlay.

``WebHub`` listens where the stages already report (an answer's end, a chat verdict, a
segment handed on, the publisher's events) and turns what it hears into the
``EventBus``'s events and the metrics; ``WebServer`` (``server.py``) serves them. The
daemon makes one hub and starts and closes it with the status port.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.answer import Answer, AnswerState
from streamer.messages import Question, Role, Segment, new_id
from streamer.moderation.blocklist import login
from streamer.pool import AddStatus
from streamer.reader import Verdict
from streamer.web.auth import ConsoleTokenError, console_token, is_loopback
from streamer.web.console import Console, answer_json
from streamer.web.events import EventBus
from streamer.web.host_voice import HostVoice
from streamer.web.metrics import Metrics
from streamer.web.preview import PreviewFeed
from streamer.web.server import WebServer

if TYPE_CHECKING:
    from streamer.daemon import Daemon

log = logging.getLogger(__name__)


class WebHub:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.bus = EventBus()
        self.notes: dict[str, str] = {}  # the last error of a stage, until it works again
        self.console = Console(daemon, self.bus, self.notes)
        self.metrics = Metrics(self._stage_counts)
        self._showing: str | None = None  # the answer whose question the overlay shows
        daemon.answers.end_listeners.append(self._ended)
        daemon.answers.subscribe(self.bus.changed)
        daemon.reader.verdict_listeners.append(self._verdict)
        daemon.playback.listeners.append(self._playback)
        daemon.sink_stage.segment_listeners.append(self._segment)
        status = daemon.settings.status
        output = daemon.settings.output
        size = (status.preview_width, status.preview_height)
        self.preview = PreviewFeed(output.fps, output.sample_rate, size)
        self.host_voice: HostVoice | None = None
        if status.host_voice:
            self.host_voice = HostVoice(
                status.host_voice_model, status.host_voice_language,
                on_question=self.host_question,
                on_state=lambda state, text: self.bus.publish("host_voice", state=state, text=text),
            )  # fmt: skip
            self.preview.on_microphone = self.host_voice.listen
        self.server = WebServer(
            status.host, status.port, self, overlay_css=status.overlay_css,
        )  # fmt: skip

    # ------------------------------------------------------------------ life cycle

    def token(self) -> str:
        """The console's action token (see ``auth.py``); shown once when created."""
        settings = self.daemon.settings
        path = Path(settings.data_dir) / "console_token"
        status = settings.status
        chosen = self.daemon.env.get(status.token_env, "").strip() or path.is_file()
        if not is_loopback(status.host) and not chosen:
            raise ConsoleTokenError(
                f"status.host is {status.host}, not loopback: the console needs a token "
                f"chosen on purpose first: set ${status.token_env} (16+ characters), or "
                f"start once with status.host 127.0.0.1 to create {path}"
            )
        try:
            token, created = console_token(path, self.daemon.env, status.token_env)
        except OSError as exc:
            log.warning("console actions are off: no token (%s)", exc)
            return ""
        if created:  # shown this once (the log's own format), then masked in every line
            log.warning("console token created (actions need it; saved in %s): %s", path, token)
        if self.daemon.on_secret is not None:
            self.daemon.on_secret(token)
        return token

    @property
    def publisher(self) -> Any:
        """The publisher whose frames the preview shows (None without video)."""
        if not self.daemon.settings.status.preview:
            return None
        return getattr(self.daemon.sink, "publisher", None)

    async def start(self) -> None:
        if self.daemon.settings.status.port:
            await self.server.start(self.token())
            if self.publisher is not None:
                self.publisher.tap = self.preview.tap

    async def close(self) -> None:
        if self.publisher is not None:
            self.publisher.tap = None
        await self.preview.close()
        if self.host_voice is not None:
            await self.host_voice.close()
        await self.server.close()

    def host_question(self, text: str) -> None:
        """The host asked (push-to-talk): a question of the host, answered next."""
        d = self.daemon
        name = d.settings.status.host_name
        user = login(name) or "host"
        question = Question(
            id=new_id(), user=user, display_name=name, text=text[: d.settings.filters.max_chars],
            role=Role.BROADCASTER, askers=(user,),
        )  # fmt: skip
        result = d.pool.add(question)
        if result.status is AddStatus.POOL_FULL:
            log.warning("host question not asked: the pool is full: %r", text)
            self.bus.publish("host_voice", state="error", text="the question pool is full")
            return
        stored = result.question
        picked = d.pool.pick_now(stored.id)
        if picked is not None:
            d.answers.create(picked)
        log.info("host question %s asked (answered next): %r", stored.id[:8], text)
        self.bus.publish("host_voice", state="asked", text=text)
        self.bus.changed()

    # ------------------------------------------------------------------ listeners

    def _verdict(self, user: str, verdict: Verdict) -> None:
        self.metrics.verdict(verdict.outcome, verdict.reason)
        if verdict.outcome in ("accepted", "merged", "rejected"):
            self.bus.publish(
                "verdict", user=user, outcome=verdict.outcome, reason=verdict.reason,
                detail=verdict.detail,
            )  # fmt: skip
        self.bus.changed()

    def _segment(self, answer: Answer, segment: Segment) -> None:
        spoken = self.console.spoken.setdefault(answer.id, [])
        spoken.append(segment.text)
        if not self.daemon.sink.reports_playback:  # printed is heard: on air now
            self._show(answer)
            self._caption(answer.id, segment.index, segment.text)
        self.bus.changed()

    def _playback(self, kind: str, data: dict[str, Any]) -> None:
        answer = self.daemon.answers.get(str(data.get("answer_id", "")))
        if kind == "on_air" and answer is not None:
            self._show(answer)
        elif kind == "segment" and answer is not None:
            spoken = self.console.spoken.get(answer.id, [])
            index = int(data.get("index", 0))
            text = spoken[index] if index < len(spoken) else ""
            self._show(answer)
            self._caption(answer.id, index, text)
        elif kind in ("answer_done", "expired") and data.get("answer_id") == self._showing:
            self._hide()
        self.bus.changed()

    def _ended(self, answer: Answer) -> None:
        self.metrics.answer_ended(answer)
        self.bus.publish("answer", **answer_json(answer, self.console.spoken.pop(answer.id, [])))
        llm_failed = answer.state in (AnswerState.REQUEUED, AnswerState.FAILED) and (
            "llm" in answer.reason.lower()
        )
        if llm_failed:
            self.notes["llm"] = answer.reason
        elif answer.state is AnswerState.DONE:
            self.notes.pop("llm", None)
        if answer.id == self._showing:
            self._hide()

    # ------------------------------------------------------------------ overlay

    def _show(self, answer: Answer) -> None:
        if self._showing == answer.id:
            return
        self._showing = answer.id
        q = answer.question
        self.bus.publish(
            "question",
            question={"answer_id": answer.id, "user": q.user, "name": q.name, "text": q.text},
        )

    def _hide(self) -> None:
        self._showing = None
        self.bus.publish("question", question=None)

    def _caption(self, answer_id: str, index: int, text: str) -> None:
        self.bus.publish("caption", answer_id=answer_id, index=index, text=text)

    def _stage_counts(self) -> dict[str, Any]:
        d = self.daemon
        stage = d.sink.status()
        return {
            "llm_errors": dict(d.answerer.errors),
            "chat": {"sent": d.sender.sent, "failed": d.sender.failed, "dropped": d.sender.dropped},
            "publisher": stage.get("publisher"),
            "builder": stage.get("builder"),
        }
