"""The publisher's clip queue: clips waiting, the clip on air, and the answer they belong to.

Bounded in media time (``max_buffer_s``): ``submit`` blocks (and ``put`` awaits) while
it is full. The pacing thread takes frames from it (``next_clip``/``played``) under its
lock; the event loop adds clips and skips answers. Everything that happens to an answer
on air is reported as an event, in order: ``first_frame``, ``segment`` (each segment as
it goes on air), ``answer_done`` (with
``complete``, ``skipped`` and ``started``) and ``expired``; log lines about it are
collected too and written by the pacing thread after it lets the lock go, so no
thread waits on the disk while holding the lock the event loop takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from .keeper import Keeper
from .messages import Clip

log = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]


class ClipQueue:
    def __init__(self, max_buffer_s: float, shape: tuple[int, int, int], fps: int, rate: int):
        if max_buffer_s <= 0:
            raise ValueError(f"max_buffer_s must be > 0, got {max_buffer_s}")
        self.max_buffer_s = max_buffer_s
        self.shape = shape
        self.fps = fps
        self.rate = rate
        self.cond = threading.Condition()
        self.closed = False
        self.keeper: Keeper | None = None
        self.queue: deque[Clip] = deque()
        self.queued_s = 0.0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.current: Clip | None = None
        self.pos = 0  # next frame of the current clip
        self.sample_pos = 0  # next sample of the current clip
        self.answer: str | None = None  # the answer on air (until its last clip ends)
        self._answer_started = False  # its first frame went out (first_frame was sent)
        self._segment: tuple[str, int] | None = None  # (answer, segment) of the last frame
        self._gap_logged = False
        self.gaps = 0
        self.events: list[Event] = []
        self.logs: list[tuple[int, str, tuple[Any, ...]]] = []
        self.stream_time = 0.0  # set by the pacing thread before it plays a frame
        # An answer whose builder is slower than real time starts only once this much of
        # it is queued (media seconds), so it never runs dry mid-sentence (``hold``).
        self.holds: dict[str, tuple[float, float]] = {}  # answer: (media lead, wait)
        self._held_since: dict[str, float] = {}
        self.held_s = 0.0  # start delay added by holds since start

    # -- the event loop's side

    def check(self, clip: Clip) -> None:
        if clip.fps != self.fps or clip.sample_rate != self.rate:
            raise ValueError(
                f"clip of answer {clip.answer_id} is {clip.fps} fps / {clip.sample_rate} Hz; "
                f"the stream is {self.fps} fps / {self.rate} Hz"
            )
        if clip.frames.shape[1:] != self.shape:
            raise ValueError(
                f"clip of answer {clip.answer_id} has frames {clip.frames.shape[1:]}; "
                f"the stream is {self.shape} (output.height, output.width)"
            )

    def _try_add(self, clip: Clip) -> bool:
        """Queue ``clip`` if there is room (caller holds the lock)."""
        if self.queued_s > self.max_buffer_s:
            return False
        self.queue.append(clip)
        self.queued_s += clip.duration_s
        return True

    def submit(self, clip: Clip, timeout: float | None = None) -> bool:
        """Queue a clip; block while more than ``max_buffer_s`` of media wait.

        Returns False when ``timeout`` passes first or the queue is closed.
        """
        self.check(clip)
        with self.cond:
            ok = self.cond.wait_for(lambda: self.closed or self._try_add(clip), timeout)
            return bool(ok) and not self.closed

    async def put(self, clip: Clip) -> bool:
        """``submit`` for asyncio callers: waits for room without blocking the loop.
        False once the queue is closed (the publisher stopped or failed for good)."""
        self.check(clip)
        loop = asyncio.get_running_loop()
        while True:
            room = asyncio.Event()
            waiter = (loop, room)
            with self.cond:
                if self.closed:
                    return False
                if self._try_add(clip):
                    return True
                self._async_waiters.append(waiter)
            try:
                await room.wait()
            finally:
                with self.cond:
                    if waiter in self._async_waiters:
                        self._async_waiters.remove(waiter)

    def close(self) -> None:
        """No more clips: every waiting ``submit``/``put`` returns False now."""
        with self.cond:
            self.closed = True
            self.notify_space()

    def notify_space(self) -> None:
        """Wake submitters (caller holds the lock)."""
        self.cond.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(event.set)
        self._async_waiters.clear()

    def hold(self, answer_id: str, lead_s: float, wait_s: float = 0.0) -> None:
        """Start ``answer_id`` only once ``lead_s`` of it is queued and ``wait_s`` has
        passed since its first clip could have started (either is waived by its last
        clip, or a nearly full queue: the builder would wait for room). 0, 0 lifts it."""
        with self.cond:
            if lead_s > 0 or wait_s > 0:
                self.holds[answer_id] = (lead_s, wait_s)
            else:
                self.holds.pop(answer_id, None)

    def skip(self, answer_id: str) -> bool:
        """Drop the answer's queued clips and cut its clip on air (the next frame is idle)."""
        with self.cond:
            found = self._remove_queued(answer_id) > 0
            if self.answer == answer_id:
                self.end_answer(skipped=True)
                found = True
            self.notify_space()
        if found:
            log.info("skipped answer %s", answer_id)
        return found

    def next_avatar_position(self, idle_index: int, lead: int) -> int:
        """The avatar loop position where a clip queued now would start playing."""
        with self.cond:
            for clip in (*reversed(self.queue), self.current):
                if clip is not None and clip.avatar_start is not None:
                    return clip.avatar_start + len(clip.frames)
            return idle_index + lead

    # -- the pacing thread's side (caller holds the lock)

    def _log(self, level: int, msg: str, *args: Any) -> None:
        self.logs.append((level, msg, args))

    def _held(self, clip: Clip, now: float) -> bool:
        """Whether the next answer must wait for more of its clips (caller holds the lock)."""
        hold = self.holds.get(clip.answer_id)
        if hold is None:
            return False
        lead, wait = hold
        mine = [c for c in self.queue if c.answer_id == clip.answer_id]
        full = self.queued_s >= 0.9 * self.max_buffer_s
        if any(c.last for c in mine) or full:
            return False
        since = self._held_since.setdefault(clip.answer_id, now)
        return sum(c.duration_s for c in mine) < lead or now - since < wait

    def _release(self, answer_id: str, now: float) -> None:
        self.holds.pop(answer_id, None)
        since = self._held_since.pop(answer_id, None)
        if since is not None:
            self.held_s += now - since
            self._log(logging.INFO, "answer %s: start held %.2f s so the slower-than-real-time "
                      "builder never runs dry mid-answer", answer_id, now - since)  # fmt: skip

    def _remove_queued(self, answer_id: str) -> int:
        self.holds.pop(answer_id, None)
        self._held_since.pop(answer_id, None)
        kept = [c for c in self.queue if c.answer_id != answer_id]
        removed = len(self.queue) - len(kept)
        if removed:
            self.queue = deque(kept)
            self.queued_s = sum(c.duration_s for c in kept)
        return removed

    def end_answer(
        self, *, skipped: bool = False, complete: bool = True, expired: bool = False
    ) -> None:
        """Take the answer off air and say so (``started``: a frame of it went out;
        ``expired``: its clips were too old to play)."""
        answer = self.answer
        if answer is None:
            return
        self.events.append(
            ("answer_done", {"answer_id": answer, "skipped": skipped,
                             "complete": complete and not skipped and not expired,
                             "expired": expired, "started": self._answer_started,
                             "stream_time_s": self.stream_time})
        )  # fmt: skip
        if self.keeper is not None:  # skipped answers are not kept
            self.keeper.end(answer, keep=self._answer_started and not skipped)
        self.answer = None
        self._answer_started = False
        self.current = None
        self._gap_logged = False

    def _end_marker(self, clip: Clip) -> None:
        """A zero-frame clip: the builder's "this answer ends here".

        It comes when an answer is cut short (LLM failure, aborted answer, failed last
        segment), so the answer on air ends with ``complete=False``. The marker of an
        answer that never got a frame on air still ends it (``started`` False), so
        whoever waits for its end hears of it.
        """
        if clip.answer_id != self.answer:
            if self.answer is not None:
                self._log(logging.WARNING, "answer %s ended without its last clip", self.answer)
                self.end_answer(complete=False)
            self.answer = clip.answer_id
        self._log(logging.INFO, "answer %s ended early (end marker)", clip.answer_id)
        self.end_answer(complete=False)

    def expire(self, now: float, max_age: float) -> None:
        """Drop answers with clips older than ``max_age`` (built while the stream was down)."""
        clips = [self.current, *self.queue] if self.current is not None else list(self.queue)
        # In play order, each answer once: the one on air is said first.
        old = dict.fromkeys(c.answer_id for c in clips if now - c.created_at > max_age)
        for answer_id in old:
            n = self._remove_queued(answer_id)
            self._log(
                logging.WARNING,
                "dropping answer %s: %d clip(s) older than %.0f s (built while the stream "
                "was down)", answer_id, n, max_age,
            )  # fmt: skip
            if self.answer == answer_id:
                self.end_answer(expired=True)
            else:
                self.events.append(("expired", {"answer_id": answer_id}))
        if old:
            self.notify_space()

    def next_clip(self) -> Clip | None:
        """The clip to play now, starting the next queued one if needed."""
        if self.current is not None:
            return self.current
        while self.queue:
            head = self.queue[0]
            starts = self.answer is None and len(head.frames) > 0
            if starts and self._held(head, time.monotonic()):
                return None  # the idle loop plays on: nothing of this answer is on air yet
            if starts:
                self._release(head.answer_id, time.monotonic())
            clip = self.queue.popleft()
            self.queued_s = max(0.0, self.queued_s - clip.duration_s)
            self.notify_space()
            if len(clip.frames) == 0:  # an end marker: handle it, play what follows
                self._end_marker(clip)
                continue
            if self.answer is not None and clip.answer_id != self.answer:
                self._log(logging.WARNING, "answer %s ended without its last clip", self.answer)
                self.end_answer(complete=False)
            if self.answer is None:
                self.answer = clip.answer_id
                self._answer_started = False  # first_frame once a frame is out
            elif self._gap_logged:
                self._log(logging.INFO, "answer %s resumes after a gap", clip.answer_id)
            self._gap_logged = False
            self.current, self.pos, self.sample_pos = clip, 0, 0
            return clip
        if self.answer is not None and not self._gap_logged:
            self._gap_logged = True
            self.gaps += 1
            self._log(logging.WARNING, "answer %s: no clip ready mid-answer; showing idle",
                      self.answer)  # fmt: skip
        return None

    def clip_frame(self, clip: Clip, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The current clip's next frame and its ``count`` samples (padded with silence)."""
        frame = np.asarray(clip.frames[self.pos])
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(f"frame is {frame.shape} {frame.dtype}, not {self.shape} uint8")
        audio = np.asarray(clip.audio[self.sample_pos : self.sample_pos + count], np.int16)
        if len(audio) < count:
            audio = np.concatenate([audio, np.zeros(count - len(audio), np.int16)])
        return frame, audio

    def drop_current(self, clip: Clip) -> None:
        """A clip that cannot be played: drop it, show idle."""
        self.current = None
        if clip.last:
            self.end_answer(complete=False)
        self.notify_space()

    def played(self, clip: Clip, frame: np.ndarray, audio: np.ndarray, count: int) -> int | None:
        """One frame of ``clip`` went out; returns the avatar position it showed, if known."""
        if not self._answer_started:
            self._answer_started = True
            self.events.append(
                ("first_frame", {"answer_id": clip.answer_id, "stream_time_s": self.stream_time})
            )
        if self._segment != (clip.answer_id, clip.index):  # a segment goes on air (captions)
            self._segment = (clip.answer_id, clip.index)
            self.events.append(
                ("segment", {"answer_id": clip.answer_id, "index": clip.index,
                             "stream_time_s": self.stream_time})
            )  # fmt: skip
        if self.keeper is not None:
            self.keeper.frame(clip.answer_id, frame, audio)
        self.stream_time += 1 / self.fps  # an end of answer is stamped after its frame
        self.pos += 1
        self.sample_pos += count
        shown = None if clip.avatar_start is None else clip.avatar_start + self.pos
        if self.pos >= len(clip.frames):
            self.current = None
            if clip.last:
                self.end_answer()
            self.notify_space()
        return shown

    def take_events(self) -> tuple[list[Event], list[tuple[int, str, tuple[Any, ...]]]]:
        with self.cond:
            events, self.events = self.events, []
            logs, self.logs = self.logs, []
            if self.keeper is not None:
                logs += self.keeper.take_logs()
        return events, logs
