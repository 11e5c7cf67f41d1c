"""The sink stage: the written segments, in order, to the next stage (media, or print).

The writer puts ``(answer, item)`` pairs on a :class:`SegmentQueue`; the sink hands
each item of an answer that has not ended to the next stage, one at a time, and tells
the answer how far it got. An answer that ended (skipped, failed) has its queued items
dropped here by reading its state: no list of skipped ids is kept anywhere.

Who says an answer was heard and played out: the next stage itself when it
``reports_playback`` (the media stage: the publisher's first frame and end of answer,
through the daemon), else the sink (printing is hearing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TextIO

from streamer.answer import Answer
from streamer.messages import AnswerAborted, AnswerMessage, Segment

log = logging.getLogger(__name__)

# Segments waiting for the next stage. Small on purpose: a slow consumer makes the
# writer wait instead of piling up text nobody will hear for minutes.
SEGMENT_QUEUE_SIZE = 16


class NextStage(Protocol):
    """What the daemon hands segments to: the media pipeline, or a printer."""

    # True: it reports when an answer is heard and played out (``Daemon.media_event``);
    # False: an answer counts as heard when its first item is handed on.
    reports_playback: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def __call__(self, item: AnswerMessage) -> Coroutine[Any, Any, None]: ...

    def skip(self, answer_id: str) -> None:
        """Take this answer off air now and drop what is queued of it."""
        ...

    def status(self) -> dict[str, Any]: ...

    def abort(self) -> None:
        """Synchronous and immediate: kill child processes (before an emergency exit)."""
        ...


class PrintSink:
    """Prints one line per segment on ``out`` (``streamer run --no-video``): what the
    voice would read (``speak``: the speech-ready text), never raw control characters."""

    reports_playback = False

    def __init__(self, out: TextIO | None, speak: Callable[[str], str] | None = None) -> None:
        self._out = out
        self._speak = speak

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def skip(self, answer_id: str) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"kind": "print"}

    def abort(self) -> None:
        return None

    def line(self, item: AnswerMessage) -> str:
        if isinstance(item, Segment):
            flag = " (last)" if item.last else ""
            text = self._speak(item.text) if self._speak is not None else item.text
            text = "".join(c if c.isprintable() else " " for c in text)
            return f"[{item.answer_id[:8]} #{item.index}{flag}] {' '.join(text.split())}"
        return f"[{item.answer_id[:8]} aborted] {item.reason}"

    async def __call__(self, item: AnswerMessage) -> None:
        if self._out is not None:
            print(self.line(item), file=self._out, flush=True)


class SegmentQueue:
    """Writer -> sink. Bounded to ``size`` segments: a slow next stage makes the writer
    (and so the LLM) wait."""

    def __init__(self, size: int = SEGMENT_QUEUE_SIZE) -> None:
        self._items: asyncio.Queue[tuple[Answer, AnswerMessage]] = asyncio.Queue()
        self._room = asyncio.Semaphore(size)

    async def put(self, answer: Answer, item: AnswerMessage) -> None:
        await self._room.acquire()
        self._items.put_nowait((answer, item))

    async def get(self) -> tuple[Answer, AnswerMessage]:
        return await self._items.get()

    def task_done(self) -> None:
        self._room.release()
        self._items.task_done()

    def qsize(self) -> int:
        return self._items.qsize()

    def empty(self) -> bool:
        return self._items.empty()

    async def join(self) -> None:
        await self._items.join()


class SinkStage:
    """One task: takes segments in order and hands them to ``next_stage``."""

    def __init__(
        self,
        queue: SegmentQueue,
        next_stage: NextStage,
        *,
        on_heard: Callable[[Answer], None],
        failed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.queue = queue
        self.next = next_stage
        self._on_heard = on_heard
        # True once the daemon failed for good: answers are then left as they are (the
        # next start settles them) rather than ended by the failure's side effects.
        self._failed = failed
        self.busy: Answer | None = None  # the answer whose item is being handed on
        # Told of each segment as it is handed on (what is said, for the console).
        self.segment_listeners: list[Callable[[Answer, Segment], None]] = []
        # Called each time the stage is through with an item, handed on or dropped
        # (``--once`` may be idle now).
        self.on_free: Callable[[], None] = lambda: None

    async def run(self) -> None:
        while True:
            answer, item = await self.queue.get()
            try:
                if not answer.ended:
                    await self._hand_on(answer, item)
            finally:
                self.queue.task_done()
                self.on_free()

    async def _hand_on(self, answer: Answer, item: AnswerMessage) -> None:
        if answer.handed == 0 and isinstance(item, Segment):
            # From now on the next stage holds work of this answer: a skip takes it off.
            answer.on_interrupt(lambda: self.next.skip(answer.id))
            if not self.next.reports_playback:
                self._on_heard(answer)
        ended = isinstance(item, AnswerAborted) or item.last
        if isinstance(item, Segment):
            for listener in self.segment_listeners:
                listener(answer, item)
        call = asyncio.create_task(self.next(item), name="sink-call")
        unhook = answer.on_interrupt(call.cancel)
        self.busy = answer
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:
            # The sink stage itself is stopping: stop its call too, then go.
            call.cancel()
            await asyncio.wait({call})
            raise
        finally:
            unhook()
            self.busy = None
        if call.cancelled():
            return
        if call.exception() is not None:
            log.error(
                "the next stage failed on answer %s item %s", answer.short, item,
                exc_info=call.exception(),
            )  # fmt: skip
            if ended and not self._failed():
                # Its end never reached the next stage, so nobody would report it: end it
                # here (truncated if heard, else failed) rather than wait forever.
                self.next.skip(answer.id)
                answer.played_out(complete=False, reason="the next stage failed on its end")
                return
        if isinstance(item, Segment):
            answer.handed += 1
        if ended and not self.next.reports_playback:
            # Printed is played: the answer ends here, done or cut short.
            complete = isinstance(item, Segment)
            reason = item.reason if isinstance(item, AnswerAborted) else ""
            answer.played_out(complete=complete, reason=reason)
