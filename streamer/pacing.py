"""The publisher's pacing thread: one clock, and the ffmpeg session it feeds.

It ticks on absolute deadlines of one monotonic clock (``deadline = t0 + n / fps``) and
on every tick hands ffmpeg exactly one frame and exactly the samples that belong to it
(``rate / fps``), from the clip on air (``clip_queue.py``) or, between answers, the
avatar's idle frame and silence. A session that dies (the RTMP server went away, a pipe
broke, a writer thread failed) is replaced with backoff; if the thread itself crashes it
starts over with a fresh session, and after more than ``MAX_CRASHES`` crashes within
``CRASH_WINDOW_S`` it closes the clip queue and calls ``on_fatal``. ``Publisher``
(``publisher.py``) is this plus its life cycle and the calls of the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .clip_queue import ClipQueue
from .config import OutputSettings
from .faults import Faults
from .ffmpeg_session import Session, next_record_path, publish_command
from .keeper import Keeper

log = logging.getLogger("streamer.publisher")

IdleSource = Callable[[int], np.ndarray]
EventCallback = Callable[[str, dict[str, Any]], None]

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
# ffmpeg must have connected (printed its output header) within this time.
CONNECT_TIMEOUT_S = 15.0
# ffmpeg reading nothing for this long counts as a dead stream.
STALL_S = 5.0
# Falling further behind than this many frames resynchronises the clock.
RESYNC_FRAMES = 5
# The pacing thread may crash (and start over) this often within the window; one
# crash more closes the publisher...
MAX_CRASHES = 3
CRASH_WINDOW_S = 60.0
# ...and the answer keeper's thread may die this often before answers go unkept.
MAX_KEEPER_RESTARTS = 3


class Pacer:
    """The pacing thread's state and loop (see the module doc)."""

    def __init__(
        self,
        settings: OutputSettings,
        idle: IdleSource,
        *,
        ffmpeg: str = "ffmpeg",
        on_event: EventCallback | None = None,
        on_fatal: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_buffer_s: float = 5.0,
        faults: Faults | None = None,
    ) -> None:
        self.settings = settings
        self._fps = settings.fps
        self._rate = settings.sample_rate
        self._shape = (settings.height, settings.width, 3)
        self.clips = ClipQueue(max_buffer_s, self._shape, self._fps, self._rate)
        self.max_buffer_s = max_buffer_s
        self._idle = idle
        self._ffmpeg = ffmpeg
        self._on_event = on_event
        # Called (on this thread, cheaply) with each frame and its samples ffmpeg took.
        self.tap: Callable[[np.ndarray, np.ndarray], None] | None = None
        self._on_fatal = on_fatal
        self._faults = faults or Faults()
        self._clock = clock
        self._session: Session | None = None
        self._state = "starting"
        self._stopping = threading.Event()
        self._aborted = False
        self._record_ok = True  # record_file is usable (checked in start())
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self._keeper_restarts = 0
        self._idle_index = 0
        self._idle_warned = False
        self._frames_sent = 0
        self._frames_dropped = 0
        self._sessions = 0
        self._reconnects = 0
        self._ever_connected = False
        self._resyncs = 0
        self._crashes = 0
        self._last_error: str | None = None
        self._fps_measured = 0.0

    def _start_keeper(self) -> None:
        assert self._tmp is not None
        out = self.settings.answers_dir or Path("media/answers")
        keeper = Keeper(self._ffmpeg, self.settings, out, self._tmp)
        keeper.start()
        with self.clips.cond:
            self.clips.keeper = keeper

    # -- the pacing thread

    def _emit_events(self) -> None:
        """Events and log lines gathered under the lock, sent out after it is let go."""
        events, logs = self.clips.take_events()
        for level, msg, args in logs:
            log.log(level, msg, *args)
        for kind, data in events:
            self._emit(kind, data)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(kind, data)
        except Exception:
            log.exception("publisher on_event(%r) failed", kind)

    def _open_session(self) -> Session:
        assert self._tmp is not None
        fifo = self._tmp / "audio.fifo"
        self._sessions += 1
        record = None
        if self.settings.record_file is not None and self._record_ok:
            try:
                record = next_record_path(self.settings.record_file)
            except OSError as e:  # a recording must never keep the stream off air
                self._record_ok = False
                log.error("output.record_file %s: %s; streaming WITHOUT recording",
                          self.settings.record_file, e)  # fmt: skip
        cmd = publish_command(self._ffmpeg, self.settings, fifo, record)
        log.info("publisher: starting ffmpeg session %d to %s", self._sessions,
                 self.settings.rtmp_url)  # fmt: skip
        log.debug("publisher: %s", " ".join(cmd))
        return Session(cmd, fifo, self._fps, self._sessions, self._clock())

    def command(self, fifo: Path, record: Path | None = None) -> list[str]:
        """The ffmpeg command line of one publishing session."""
        return publish_command(self._ffmpeg, self.settings, fifo, record)

    def _run(self) -> None:
        crashes: deque[float] = deque()
        try:
            while not self._stopping.is_set():
                try:
                    self._loop()
                    return
                except Exception as e:  # never die silently
                    now = time.monotonic()
                    crashes.append(now)
                    while crashes and now - crashes[0] > CRASH_WINDOW_S:
                        crashes.popleft()
                    self._crashes += 1
                    self._last_error = f"pacing thread crashed: {e!r}"
                    session = self._session
                    if session is not None:
                        self._drop_session(session, graceful=False)
                    if len(crashes) > MAX_CRASHES:
                        self._fail(
                            f"the publisher's pacing thread crashed {len(crashes)} times in "
                            f"{CRASH_WINDOW_S:.0f} s, last: {e!r}"
                        )
                        return
                    log.exception("publisher: the pacing thread crashed; starting over with "
                                  "a fresh ffmpeg session")  # fmt: skip
        finally:
            session = self._session
            if session is not None:
                session.close(graceful=not self._aborted)
                with self.clips.cond:
                    self._session = None
            if not self._aborted:
                self._emit_events()

    def _fail(self, reason: str) -> None:
        """The publisher cannot go on: close it (no put waits forever) and say why."""
        log.error("publisher: %s; the stream is over", reason)
        self._state = "failed"
        self.clips.close()
        if self._on_fatal is not None:
            try:
                self._on_fatal(reason)
            except Exception:
                log.exception("publisher on_fatal failed")

    def _drop_session(self, session: Session, *, graceful: bool) -> str:
        reason = session.failure
        session.close(graceful=graceful)
        with self.clips.cond:
            self._session = None
        return reason

    def _check_keeper(self) -> None:
        keeper = self.clips.keeper
        if keeper is None or keeper.thread.is_alive() or self._stopping.is_set():
            return
        self._keeper_restarts += 1
        if self._keeper_restarts > MAX_KEEPER_RESTARTS:
            log.error("publisher: the answer keeper died %d times; answers are no longer "
                      "kept as MP4", self._keeper_restarts)  # fmt: skip
            with self.clips.cond:
                self.clips.keeper = None
            return
        log.error("publisher: the answer keeper's thread died; starting a new one")
        keeper.kill()  # its encoder child, if one was running
        self._start_keeper()

    def _loop(self) -> None:
        backoff = BACKOFF_START_S
        retry_at = self._clock()
        t0, n = 0.0, 0
        fps_t, fps_frames = self._clock(), 0
        while not self._stopping.is_set():
            now = self._clock()
            session = self._session
            try:
                if session is not None and not session.alive():
                    reason = self._drop_session(session, graceful=False)
                    self._last_error = reason
                    retry_at = now + backoff
                    log.warning(
                        "publisher: stream to %s lost (%s); retrying in %.1f s",
                        self.settings.rtmp_url, reason, backoff,
                    )  # fmt: skip
                    was_streaming = self._state == "streaming"
                    self._state = "reconnecting" if self._ever_connected else "starting"
                    self._fps_measured = 0.0
                    if was_streaming:
                        self._emit("disconnected", {"reason": reason})
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                    continue
                if session is None:
                    with self.clips.cond:
                        self.clips.expire(now, self.settings.max_clip_age_s)
                    self._emit_events()
                    if now < retry_at:
                        self._stopping.wait(min(retry_at - now, 0.5))
                        continue
                    session = self._open_session()
                    with self.clips.cond:
                        self._session = session
                    t0, n = self._clock(), 0
                    fps_t, fps_frames = t0, self._frames_sent
                    continue
                if session.connected_at is None:
                    if session.connected.is_set():
                        session.connected_at = now
                        backoff = BACKOFF_START_S
                        if self._ever_connected:
                            self._reconnects += 1
                        self._ever_connected = True
                        self._state = "streaming"
                        log.info("publisher: streaming to %s", self.settings.rtmp_url)
                        self._emit("connected", {"url": self.settings.rtmp_url,
                                                 "session": session.number})  # fmt: skip
                    elif now - session.started_at > CONNECT_TIMEOUT_S:
                        session.fail(f"not connected within {CONNECT_TIMEOUT_S:.0f} s")
                        continue
                self._tick(session, now, streaming=session.connected_at is not None)
                self._emit_events()
            except Exception as e:
                log.exception("publisher: error in the pacing loop")
                self._last_error = repr(e)
                if session is not None:
                    session.fail(f"pacing error {e!r}")
                else:  # starting ffmpeg failed: back off like a lost stream
                    retry_at = now + backoff
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                self._stopping.wait(1 / self._fps)  # never spin on a repeating error
                continue
            self._faults.check("pacing")  # a test's crash of this thread, not of one tick

            n += 1
            if now - fps_t >= 1.0:
                self._fps_measured = (self._frames_sent - fps_frames) / (now - fps_t)
                fps_t, fps_frames = now, self._frames_sent
                self._check_keeper()
            deadline = t0 + n / self._fps
            now = self._clock()
            if now - deadline > RESYNC_FRAMES / self._fps:
                self._resyncs += 1
                log.warning(
                    "publisher fell %.0f ms behind its clock; resynchronising",
                    (now - deadline) * 1000,
                )
                t0, n = now, 0
            elif deadline > now:
                self._stopping.wait(deadline - now)

    def _idle_frame(self) -> np.ndarray:
        try:
            frame = self._idle(self._idle_index)
        except Exception:
            if not self._idle_warned:
                log.exception("idle frame source failed; sending black")
                self._idle_warned = True
            return np.zeros(self._shape, np.uint8)
        if frame.shape != self._shape or frame.dtype != np.uint8:
            if not self._idle_warned:
                log.warning("idle frames are %s %s; resizing to %s", frame.shape, frame.dtype,
                            self._shape)  # fmt: skip
                self._idle_warned = True
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            frame = cv2.resize(frame[..., :3], (self._shape[1], self._shape[0]))
            frame = frame.astype(np.uint8)
        return frame

    def _tick(self, session: Session, now: float, *, streaming: bool) -> None:
        """Hand ffmpeg one frame and its samples: the clip's, or idle and silence."""
        k = session.frames
        count = (k + 1) * self._rate // self._fps - k * self._rate // self._fps
        clips = self.clips
        with clips.cond:
            clip = clips.next_clip() if streaming else None
            if clip is not None:
                try:
                    frame, audio = clips.clip_frame(clip, count)
                except Exception:
                    # One bad clip must not take the stream down: drop it, show idle.
                    why = "answer %s: frame %d of a clip (segment %d) cannot be played; "
                    args = (clip.answer_id, clips.pos, clip.index, traceback.format_exc())
                    clips.logs.append((logging.ERROR, why + "dropping the clip\n%s", args))
                    clips.drop_current(clip)
                else:
                    clips.stream_time = session.frames / self._fps
                    if self._offer(session, now, frame, audio):
                        shown = clips.played(clip, frame, audio, count)
                        if shown is not None:  # the idle loop goes on from the next frame
                            self._idle_index = shown
                    return
        frame = self._idle_frame()
        with clips.cond:
            if self._offer(session, now, frame, np.zeros(count, np.int16)):
                self._idle_index += 1

    def _offer(self, session: Session, now: float, frame: np.ndarray, audio: np.ndarray) -> bool:
        if session.offer(frame, audio):
            self._frames_sent += 1
            session.blocked_since = None
            tap = self.tap
            if tap is not None:  # the console's preview: what ffmpeg just took
                tap(frame, audio)
            return True
        self._frames_dropped += 1
        if session.blocked_since is None:
            session.blocked_since = now
            if session.connected_at is not None:  # (while connecting this is normal)
                self.clips.logs.append(
                    (logging.WARNING, "publisher: ffmpeg is not keeping up; dropping frames", ())
                )
        elif session.connected_at is not None and now - session.blocked_since > STALL_S:
            session.fail(f"ffmpeg read nothing for {STALL_S:.0f} s")
        return False
