"""The writer stage: the build queue's next question -> the LLM's answer -> segments.

One task. It takes the next queued question (``pool.next_to_build``), gives its
:class:`~streamer.answer.Answer` to the :class:`~streamer.answerer.Answerer` and puts
every segment on the sink's queue as soon as it is written. It runs one answer ahead of
what is heard at most: a new answer starts only while fewer than two are being written
or heard. How the text ended is told to the answer (``end_text``); an answer that never
got any text ends here (requeued, failed or moderated); the rest end where they are
played out. With moderation on, the answer's stream is a
:class:`~streamer.moderation.moderator.ModeratedStream`: each segment is checked
before it is put on the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time

from streamer.answer import Answer, Answers, AnswerState
from streamer.answerer import Answerer, AnswerOutcome, AnswerStatus, AnswerStream
from streamer.messages import AnswerAborted, Segment
from streamer.moderation.moderator import ModeratedStream, Moderator
from streamer.pool import QuestionPool
from streamer.sink import SegmentQueue

log = logging.getLogger(__name__)

# Answers being written or heard at once: the one on air and the next one.
AHEAD = 2


class WriterStage:
    def __init__(
        self,
        pool: QuestionPool,
        answers: Answers,
        answerer: Answerer,
        queue: SegmentQueue,
        moderator: Moderator | None = None,
    ) -> None:
        self.pool = pool
        self.moderator = moderator
        self.answers = answers
        self.answerer = answerer
        self.queue = queue
        self.draining = False
        self.current: Answer | None = None  # the answer being written
        self._changed = asyncio.Event()
        answers.subscribe(self._changed.set)

    def _busy(self) -> int:
        return len(self.answers.in_state(AnswerState.WRITING, AnswerState.SPEAKING))

    async def run(self) -> None:
        while not self.draining:
            while self._busy() >= AHEAD:
                self._changed.clear()
                await self._changed.wait()
            # Returns at once (no suspension) when something is queued, so ``current`` is
            # set in the same step: shutdown sees either an answer or an idle writer.
            question = await self.pool.next_to_build()
            answer = self.current = self.answers.create(question)
            if answer.ended:  # skipped while it waited in the queue (cannot happen twice)
                self.current = None
                continue
            answer.start_writing()
            task = asyncio.create_task(self._write(answer), name="answer")
            unhook = answer.on_interrupt(task.cancel)
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                # Shutdown timed out: the question stays 'building' in the database and is
                # answered first at the next start (or, if heard, recorded truncated).
                task.cancel()
                await asyncio.wait({task})
                log.warning("answer %s unfinished; it is settled at the next start", answer.short)
                raise
            finally:
                unhook()
                self.current = None
            await self._settle(answer, task)

    async def _write(self, answer: Answer) -> AnswerOutcome | None:
        question = answer.question
        log.info(
            "writing answer %s for %s (asked %.1f s ago, picked %.1f s ago): %r",
            answer.short,
            question.user,
            max(0.0, time.time() - question.asked_at),
            max(0.0, time.time() - (answer.times.picked or time.time())),
            question.text[:80],
        )
        written = self.answerer.answer(question)
        stream: AnswerStream | ModeratedStream = written
        s = self.answerer.settings
        line = (
            s.question_template.replace("{name}", question.name).replace(
                "{question}", question.text
            )
            if s.read_question
            else None
        )
        if self.moderator is not None and (self.moderator.enabled or line):
            # Every segment is checked before it leaves (a flagged one never does).
            stream = ModeratedStream(
                written, self.moderator, question, self.answerer.amend_memory, read_question=line
            )
        try:
            async for item in stream:
                if isinstance(item, Segment):
                    # The question read aloud is not answer text: an LLM failure after
                    # it still finds nothing said (the answer is asked again).
                    answer.released += 0 if item.reads_question else 1
                    answer.chars += len(item.text)
                    if answer.times.first_segment is None:
                        answer.times.first_segment = time.time()
                    if item.last:
                        # Told before the item leaves: the next stage may play it out at once.
                        if isinstance(stream, ModeratedStream) and stream.flagged:
                            answer.end_text(AnswerState.MODERATED, stream.reason)
                        else:
                            answer.end_text(AnswerState.DONE)
                elif answer.released:
                    outcome = stream.outcome
                    moderated = outcome is not None and outcome.status is AnswerStatus.MODERATED
                    answer.end_text(
                        AnswerState.MODERATED if moderated else AnswerState.TRUNCATED,
                        outcome.reason if outcome else item.reason,
                    )
                else:
                    continue  # nothing was let out: the answer ends here, not downstream
                await self.queue.put(answer, item)
        finally:
            await stream.aclose()
            self._timings(answer, stream.outcome)
        return stream.outcome

    @staticmethod
    def _timings(answer: Answer, outcome: AnswerOutcome | None) -> None:
        if outcome is None or outcome.first_token_s is None or answer.times.writing is None:
            return
        # The answerer's clock starts with the answer, as ``times.writing`` does.
        answer.times.first_token = answer.times.writing + outcome.first_token_s

    async def _settle(self, answer: Answer, task: asyncio.Task[AnswerOutcome | None]) -> None:
        """An answer whose text never came out ends here. Never silent."""
        if answer.ended or task.cancelled() or answer.text_end is not None:
            return  # interrupted (the interrupt recorded it), or ends downstream
        exc = task.exception()
        outcome = None if exc is not None else task.result()
        if outcome is None or outcome.status in (AnswerStatus.DONE, AnswerStatus.TRUNCATED):
            log.error("answer %s: the writer failed unexpectedly", answer.short, exc_info=exc)
            if answer.released:
                # Part of it is out: end it there rather than say it twice.
                answer.end_text(AnswerState.TRUNCATED, "internal error")
                await self.queue.put(answer, AnswerAborted(answer.id, "internal error"))
            else:
                answer.finish(AnswerState.REQUEUED, "internal error")
        elif outcome.status is AnswerStatus.MODERATED:
            answer.finish(AnswerState.MODERATED, outcome.reason)  # nothing of it was heard
        elif outcome.status is AnswerStatus.REQUEUE:
            answer.finish(AnswerState.REQUEUED, outcome.reason)
        else:
            answer.finish(AnswerState.FAILED, outcome.reason)
