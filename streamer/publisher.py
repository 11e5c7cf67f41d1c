"""One long-lived RTMP publisher: answers in order, the idle loop between them, one clock.

The parts: ``ffmpeg_session.py`` (one ffmpeg child and its pipe threads), ``clip_queue.py``
(the clips waiting and the one on air), ``keeper.py`` (answers kept as MP4) and
``pacing.py`` (the pacing thread and its clock, which :class:`Publisher` extends). This
module is the publisher's life cycle (start, close, abort) and what the event loop calls
(``put``, ``skip``, ``status``). ffmpeg stamps both inputs from frame and sample counts,
so audio and video cannot drift apart. While the stream is down the clip queue is kept,
so answers built meanwhile play when it is back, unless older than
``settings.max_clip_age_s``. After repeated crashes of the pacing thread the publisher
closes (every waiting ``put`` returns False) and ``on_fatal`` says why, so the daemon
exits with that reason instead of hanging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from .ffmpeg_session import (
    SESSION_CLOSE_S,
    THREADS_JOIN_S,
    check_record_file,
)
from .keeper import ABORT_WAIT_S, Keeper
from .messages import Clip
from .pacing import EventCallback, IdleSource, Pacer

__all__ = [
    "RENDER_LEAD_FRAMES",
    "SESSION_CLOSE_S",
    "THREADS_JOIN_S",
    "EventCallback",
    "IdleSource",
    "Keeper",
    "Publisher",
]

log = logging.getLogger(__name__)

# How many frames ahead of the idle loop a new answer's first clip is drawn from: about
# the time the builder takes to render and hand over its first batch.
RENDER_LEAD_FRAMES = 3


class Publisher(Pacer):
    """Streams clips, and the idle loop between them, as one RTMP stream."""

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        if self.clips.closed:
            raise RuntimeError("publisher is closed")
        if shutil.which(self._ffmpeg) is None:
            raise FileNotFoundError(
                f"ffmpeg not found ({self._ffmpeg!r}); install it with: sudo apt-get install ffmpeg"
            )
        self._tmp = Path(tempfile.mkdtemp(prefix="streamer-publisher-"))
        os.mkfifo(self._tmp / "audio.fifo")
        self._record_ok = check_record_file(self.settings.record_file)
        if self.settings.keep_answers:
            self._start_keeper()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def close(self, drain_s: float = 0.0) -> None:
        """Stop publishing; first let queued clips play for up to ``drain_s`` seconds.

        Bounded even when the RTMP server is gone or ffmpeg is stuck: at most about
        ``drain_s`` + ``SESSION_CLOSE_S`` (ffmpeg finishing the stream, else SIGKILL)
        + ``THREADS_JOIN_S`` + the keeper's close (only with ``keep_answers``: the answer
        being saved), i.e. ``drain_s`` + 4 s, or + 9 s when keeping answers; plus the
        time of an ``on_event`` callback running at that moment.
        """
        clips = self.clips
        if drain_s > 0 and self._thread is not None:
            with clips.cond:
                drained = clips.cond.wait_for(
                    lambda: clips.closed or not (clips.queue or clips.current), drain_s
                )
                left = len(clips.queue)
            if not drained:
                log.warning("publisher: %d clips still queued at close", left)
        clips.close()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(SESSION_CLOSE_S + THREADS_JOIN_S + 2.0)
            if self._thread.is_alive():
                log.error("publisher: the pacing thread did not stop; killing ffmpeg")
                session = self._session
                if session is not None:
                    session.kill()
            self._thread = None
        keeper = clips.keeper
        if keeper is not None:
            keeper.close()
            clips.keeper = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._state = "closed"

    def abort(self) -> None:
        """Stop now, best effort, from any thread (e.g. right before ``os._exit``).

        SIGKILLs the ffmpeg children (the stream's and the answer keeper's) and removes
        the temp folder (the audio FIFO, partly kept answers). Never waits more than a
        few tenths of a second; queued clips are lost and no events follow.
        """
        self._aborted = True
        self._stopping.set()
        if self.clips.cond.acquire(timeout=ABORT_WAIT_S):
            try:
                self.clips.closed = True
                self.clips.notify_space()
            finally:
                self.clips.cond.release()
        else:
            self.clips.closed = True
        for _ in range(2):  # again after the join: a session may have been starting
            session = self._session
            if session is not None:
                session.kill()
            if self.clips.keeper is not None:
                self.clips.keeper.kill()
            if self._thread is not None:
                self._thread.join(ABORT_WAIT_S)
        session = self._session
        if session is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                session.proc.wait(ABORT_WAIT_S)  # reap it: no zombie left
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._state = "closed"

    def __enter__(self) -> Publisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clips in (any thread / the event loop)

    def submit(self, clip: Clip, timeout: float | None = None) -> bool:
        """Queue a clip; block while more than ``max_buffer_s`` of media wait.
        False when ``timeout`` passes first or the publisher is closed."""
        return self.clips.submit(clip, timeout)

    async def put(self, clip: Clip) -> bool:
        """``submit`` for asyncio callers; False once the publisher is closed."""
        return await self.clips.put(clip)

    def skip(self, answer_id: str) -> bool:
        """Drop the answer's queued clips and cut its clip on air (the next frame is idle)."""
        return self.clips.skip(answer_id)

    def hold(self, answer_id: str, lead_s: float, wait_s: float = 0.0) -> None:
        """Start the answer only once ``lead_s`` of it is queued and ``wait_s`` has passed
        since it could have (``ClipQueue.hold``)."""
        self.clips.hold(answer_id, lead_s, wait_s)

    def next_avatar_position(self) -> int:
        """The avatar loop position where a clip submitted now would start playing.

        After the clips waiting or playing, if they say where they end; else where the
        idle loop will be a few frames from now (a clip takes about that to render).
        """
        return self.clips.next_avatar_position(self._idle_index, RENDER_LEAD_FRAMES)

    # -- status

    def on_air(self) -> str | None:
        with self.clips.cond:
            return self.clips.answer

    def status(self) -> dict[str, Any]:
        with self.clips.cond:
            session = self._session
            return {
                "state": self._state,
                "url": self.settings.rtmp_url,
                "frames_sent": self._frames_sent,
                "frames_dropped": self._frames_dropped,
                "stream_time_s": session.frames / self._fps if session is not None else 0.0,
                "clips_queued": len(self.clips.queue),
                "buffered_s": round(self.clips.queued_s, 3),
                "on_air": self.clips.answer,
                "reconnects": self._reconnects,
                "resyncs": self._resyncs,
                "gaps": self.clips.gaps,
                "crashes": self._crashes,
                "last_error": self._last_error,
                "fps": round(self._fps_measured, 2),
            }
