"""How an answer is heard and played out, as the next stage reports it.

The sink calls :meth:`Playback.heard` when printing is hearing (``--no-video``); with
video the publisher's pacing thread reports ``first_frame``, ``answer_done`` and
``expired`` events, which the daemon hops onto the event loop and hands to
:meth:`Playback.on_media_event`. Either way the answer's state moves here: speaking
(with the "answering now" reply and the database's ``speaking`` mark), then its end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamer.answer import Answer, Answers, AnswerState
from streamer.pool import QuestionPool
from streamer.reader import ChatReader

log = logging.getLogger(__name__)


class Playback:
    def __init__(
        self,
        answers: Answers,
        pool: QuestionPool,
        reader: ChatReader,
        *,
        closed: Callable[[], bool],
    ) -> None:
        self.answers = answers
        self.pool = pool
        self.reader = reader
        self._closed = closed
        # Told of every publisher event and of each answer heard (the console, overlay).
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def heard(self, answer: Answer) -> None:
        """The answer's first frame (or line) is out: it is on air."""
        if not answer.start_speaking():
            return
        self.pool.mark_speaking(answer.id)
        self.reader.answering(answer.question)
        self._tell("on_air", {"answer_id": answer.id})
        log.info(
            "answer %s on air: first frame %s after pick",
            answer.short,
            answer.times.since_pick(answer.times.speaking),
        )

    def on_media_event(self, kind: str, data: dict[str, Any]) -> None:
        """A publisher event, on the event loop."""
        if self._closed():
            return
        self._tell(kind, data)
        answer = self.answers.get(str(data.get("answer_id", "")))
        if kind == "first_frame" and answer is not None:
            self.heard(answer)
        elif kind == "answer_done" and answer is not None and not data.get("expired"):
            if data.get("started"):
                self.heard(answer)
            answer.played_out(complete=bool(data.get("complete")), reason="cut short on air")
        elif kind in ("expired", "answer_done") and answer is not None:
            why = "its clips expired while the stream was down"
            if data.get("started"):
                self.heard(answer)
            if answer.state is AnswerState.SPEAKING:
                answer.finish(AnswerState.TRUNCATED, why)
            else:  # nobody heard it: ask again
                answer.finish(AnswerState.REQUEUED, why)
        elif kind in ("connected", "disconnected"):
            log.info("stream %s %s", kind, data.get("reason", ""))

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(kind, data)
            except Exception:
                log.exception("a playback listener failed on %s", kind)
