"""One long-lived RTMP publisher: answers in order, the idle loop between them, one clock.

A single ffmpeg child lives as long as the publisher (it is restarted only when it
dies, e.g. when the RTMP server goes away). It reads raw BGR frames on stdin and
mono s16le PCM on a named FIFO, each pipe written by its own thread from a small
bounded queue (one thread for both pipes deadlocks: ffmpeg opens and probes its
inputs one after another).

A pacing thread owns the clock: it ticks on absolute deadlines of one monotonic
clock (``deadline = t0 + n / fps``) and on every tick hands ffmpeg exactly one
frame and exactly the samples that belong to it (``rate / fps``), from the clip on
air or, between answers, the avatar's idle frame and silence. ffmpeg stamps both
inputs from frame and sample counts, so audio and video cannot drift apart.

The clip queue is bounded in media time (``max_buffer_s``): ``submit`` blocks (and
``put`` awaits) while it is full. While the stream is down the queue is kept, so
answers built meanwhile play when it is back, unless older than
``settings.max_clip_age_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import OutputSettings
from .messages import Clip

log = logging.getLogger(__name__)

# How many frames ahead of the idle loop a new answer's first clip is drawn from: about
# the time the builder takes to render and hand over its first batch.
RENDER_LEAD_FRAMES = 3

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
# Remember this many skipped or expired answers, to drop their late clips.
DROPPED_MEMORY = 256
# close(): ffmpeg gets this long to finish the stream after EOF, then it is killed...
SESSION_CLOSE_S = 3.0
# ...its writer and stderr threads this long, all together...
THREADS_JOIN_S = 1.0
# ...and the answer being kept as MP4 this long.
KEEPER_CLOSE_S = 5.0
# The keeper's queue holds at most this many seconds of frames; an answer whose
# frames overflow it is not kept (the pacing thread never waits for the keeper).
KEEP_BUFFER_S = 3.0
# abort() waits at most this long for anything.
ABORT_WAIT_S = 0.1


class _Session:
    """One ffmpeg child plus its two writer threads and its stderr reader."""

    def __init__(
        self, cmd: list[str], fifo: Path, fps: int, number: int, started_at: float
    ) -> None:
        self.number = number
        self.started_at = started_at
        self.fifo = fifo
        self.frames = 0  # frames handed to ffmpeg: the stream time is frames / fps
        self.connected = threading.Event()
        self.connected_at: float | None = None
        self.blocked_since: float | None = None
        self.tail: deque[str] = deque(maxlen=20)
        self._failure: str | None = None
        self._stop = threading.Event()
        self.video_q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=fps // 2 + 2)
        self.audio_q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4 * fps)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,  # Ctrl-C reaches us; we close ffmpeg in order
        )
        self._threads = [
            threading.Thread(target=self._write_video, name=f"pub-video-{number}", daemon=True),
            threading.Thread(target=self._write_audio, name=f"pub-audio-{number}", daemon=True),
            threading.Thread(target=self._read_stderr, name=f"pub-stderr-{number}", daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- state seen by the pacing thread

    def fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason

    def alive(self) -> bool:
        if self._failure is not None:
            return False
        code = self.proc.poll()
        if code is not None:
            self.fail(f"ffmpeg exited with code {code}")
            return False
        return True

    @property
    def failure(self) -> str:
        reason = self._failure or "closed"
        last = [line for line in self.tail if line.strip()][-3:]
        return f"{reason}: {' | '.join(last)}" if last else reason

    def offer(self, frame: np.ndarray, audio: np.ndarray) -> bool:
        """Queue one tick's frame and samples, both or neither (never blocks)."""
        if self.video_q.full() or self.audio_q.full():
            return False
        # Only the pacing thread puts, so there is room for both now.
        self.video_q.put_nowait(frame)
        self.audio_q.put_nowait(audio)
        self.frames += 1
        return True

    # -- threads

    def _write_all(self, fd: int, data: np.ndarray) -> None:
        view = np.ascontiguousarray(data).data.cast("B")
        while view:
            n = os.write(fd, view)
            view = view[n:]

    def _drain(self, q: queue.Queue[np.ndarray | None], fd: int) -> None:
        while not self._stop.is_set():
            try:
                item = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is None:
                return
            self._write_all(fd, item)

    def _write_video(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            self._drain(self.video_q, stdin.fileno())
        except OSError as e:
            self.fail(f"video pipe to ffmpeg broke ({e.strerror or e})")
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _write_audio(self) -> None:
        fd = -1
        try:
            # Opening a FIFO for writing blocks until ffmpeg opens it; poll instead,
            # so a dead ffmpeg or a close() cannot leave this thread stuck.
            while fd < 0:
                if self._stop.is_set() or self.proc.poll() is not None:
                    return
                try:
                    fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
                    self._stop.wait(0.01)
            os.set_blocking(fd, True)
            self._drain(self.audio_q, fd)
        except OSError as e:
            self.fail(f"audio pipe to ffmpeg broke ({e.strerror or e})")
        finally:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _read_stderr(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        with stderr:
            for raw in stderr:
                line = raw.decode(errors="replace").rstrip()
                self.tail.append(line)
                if line.startswith("Output #0"):
                    self.connected.set()
                log.debug("ffmpeg[%d]: %s", self.number, line)

    def kill(self) -> None:
        """SIGKILL ffmpeg (its whole process group) at once; reap nothing, wait for nothing."""
        self._stop.set()
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own group: start_new_session
            with contextlib.suppress(OSError):
                self.proc.kill()

    def close(self, graceful: bool, timeout: float = SESSION_CLOSE_S) -> None:
        """End ffmpeg: EOF on both inputs (it finishes the stream) or kill; reap it.

        Takes at most ``timeout`` (ffmpeg finishing) + ``THREADS_JOIN_S`` + a little.
        """
        deadline = time.monotonic() + timeout
        if graceful and self.alive():
            for q in (self.video_q, self.audio_q):
                with contextlib.suppress(queue.Full):
                    q.put(None, timeout=max(0.0, deadline - time.monotonic()))
            try:
                self.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("ffmpeg did not finish within %.0f s; killing it", timeout)
        self.kill()
        try:
            self.proc.wait(1.0)
        except subprocess.TimeoutExpired:  # SIGKILLed yet not gone: do not hang on it
            log.error("ffmpeg (pid %d) did not die after SIGKILL", self.proc.pid)
        joins = time.monotonic() + THREADS_JOIN_S
        for t in self._threads:
            t.join(timeout=max(0.0, joins - time.monotonic()))


_KeepItem = tuple[str, str, np.ndarray, np.ndarray]  # (kind, answer id, frame, samples)


class _Keeper:
    """Encodes each answer, as played, to an MP4 in a background thread (off the live path).

    The pacing thread hands it frames through a bounded queue and never waits: when the
    queue is full (the encoder fell behind), that answer is abandoned with a WARNING
    and not kept. Skipped answers are not kept either (``end(..., keep=False)``). The
    temporary video and PCM files are named per answer, in ``tmp_dir``.
    """

    def __init__(
        self,
        ffmpeg: str,
        settings: OutputSettings,
        out_dir: Path,
        tmp_dir: Path,
        *,
        max_frames: int | None = None,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.settings = settings
        self.out_dir = out_dir
        self.tmp_dir = tmp_dir
        self.max_frames = max_frames or max(1, round(KEEP_BUFFER_S * settings.fps))
        self.items: queue.Queue[_KeepItem | None] = queue.Queue(maxsize=self.max_frames)
        self._lock = threading.Lock()
        self._abandoned: OrderedDict[str, None] = OrderedDict()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._seq = 0
        self.thread = threading.Thread(target=self._run, name="pub-keeper", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- the pacing thread's side: never blocks

    def abandoned(self, answer_id: str) -> bool:
        with self._lock:
            return answer_id in self._abandoned

    def _abandon(self, answer_id: str) -> None:
        with self._lock:
            if answer_id in self._abandoned:
                return
            self._abandoned[answer_id] = None
            while len(self._abandoned) > DROPPED_MEMORY:
                self._abandoned.popitem(last=False)
        log.warning(
            "not keeping answer %s as MP4: its encoder fell behind (%d frames waiting)",
            answer_id, self.max_frames,
        )  # fmt: skip

    def frame(self, answer_id: str, frame: np.ndarray, audio: np.ndarray) -> None:
        if self.abandoned(answer_id):
            return
        try:
            self.items.put_nowait(("frame", answer_id, frame, audio))
        except queue.Full:
            self._abandon(answer_id)

    def end(self, answer_id: str, *, keep: bool = True) -> None:
        """The answer is over: save it (``keep``) or throw its file away."""
        empty = np.zeros(0, np.int16)
        try:
            self.items.put_nowait(("end" if keep else "discard", answer_id, empty, empty))
        except queue.Full:
            if keep:
                self._abandon(answer_id)
            else:  # not worth a warning: it was not to be kept anyway
                with self._lock:
                    self._abandoned[answer_id] = None

    def close(self, timeout: float = KEEPER_CLOSE_S) -> None:
        """Finish the answer being kept, for up to ``timeout`` s; then kill its ffmpeg."""
        deadline = time.monotonic() + timeout
        if not self.thread.is_alive():
            return
        with contextlib.suppress(queue.Full):
            self.items.put(None, timeout=timeout)
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            log.warning("keeping the last answer as MP4 took over %.0f s; abandoned", timeout)
            self.kill()
            self.thread.join(ABORT_WAIT_S)

    def kill(self) -> None:
        """SIGKILL its ffmpeg children, now (the thread then ends on its own)."""
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(ABORT_WAIT_S / max(1, len(procs)))

    # -- the keeper thread

    def _popen(self, cmd: list[str], *, stdin: bool) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        with self._lock:
            self._procs.add(proc)
        return proc

    def _reap(self, proc: subprocess.Popen[bytes], timeout: float | None = None) -> bytes:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        return err or b""

    def _run(self) -> None:
        proc: subprocess.Popen[bytes] | None = None
        current = ""
        audio: list[np.ndarray] = []
        video = self.tmp_dir / "unused.mp4"

        def stop(save: bool) -> None:
            nonlocal proc, current, audio
            if proc is not None:
                if save and not self.abandoned(current):
                    self._finish(proc, current, audio, video)
                else:
                    if proc.poll() is None:
                        proc.kill()
                    self._reap(proc)
                    video.unlink(missing_ok=True)
            proc, current, audio = None, "", []

        while True:
            try:
                item = self.items.get(timeout=0.5)
            except queue.Empty:
                if proc is not None and self.abandoned(current):
                    stop(save=False)
                continue
            try:
                if item is None:
                    stop(save=True)
                    return
                kind, answer_id, frame, samples = item
                if proc is not None and (
                    kind != "frame" or answer_id != current or self.abandoned(current)
                ):
                    # A different answer's frame also ends this one (its end was lost).
                    stop(save=not (kind == "discard" and answer_id == current))
                if kind != "frame" or self.abandoned(answer_id):
                    continue
                if proc is None:
                    s = self.settings
                    self._seq += 1
                    video = self.tmp_dir / f"answer-{self._seq}-{answer_id}.mp4"
                    proc = self._popen(
                        [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                         "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{s.width}x{s.height}",
                         "-framerate", str(s.fps), "-i", "pipe:0",
                         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                         str(video)],
                        stdin=True,
                    )  # fmt: skip
                    current = answer_id
                assert proc.stdin is not None
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                audio.append(samples)
            except Exception:
                log.exception("keeping answer %s as MP4 failed", current or "?")
                with contextlib.suppress(Exception):
                    stop(save=False)
                proc, current, audio = None, "", []

    def _finish(
        self, proc: subprocess.Popen[bytes], answer_id: str, audio: list[np.ndarray], video: Path
    ) -> None:
        err = self._reap(proc, timeout=60)
        pcm = video.with_suffix(".pcm")
        try:
            if proc.returncode != 0:
                log.error("encoding answer %s failed: %s", answer_id, err.decode(errors="replace"))
                return
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.out_dir.mkdir(parents=True, exist_ok=True)
            out = self.out_dir / f"{stamp}-{answer_id}.mp4"
            pcm.write_bytes(np.concatenate(audio).astype(np.int16).tobytes() if audio else b"")
            s = self.settings
            mux = self._popen(
                [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
                 "-f", "s16le", "-ar", str(s.sample_rate), "-ac", "1", "-i", str(pcm),
                 "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                 "-b:a", f"{s.audio_bitrate_k}k", "-movflags", "+faststart", str(out)],
                stdin=False,
            )  # fmt: skip
            err = self._reap(mux, timeout=60)
            if mux.returncode != 0:
                log.error("muxing answer %s failed: %s", answer_id, err.decode(errors="replace"))
            else:
                log.info("kept answer %s as %s", answer_id, out)
        finally:
            for tmp in (pcm, video):
                tmp.unlink(missing_ok=True)


class Publisher:
    """Streams clips, and the idle loop between them, as one RTMP stream."""

    def __init__(
        self,
        settings: OutputSettings,
        idle: IdleSource,
        *,
        ffmpeg: str = "ffmpeg",
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_buffer_s: float = 5.0,
    ) -> None:
        if max_buffer_s <= 0:
            raise ValueError(f"max_buffer_s must be > 0, got {max_buffer_s}")
        self.settings = settings
        self.max_buffer_s = max_buffer_s
        self._idle = idle
        self._ffmpeg = ffmpeg
        self._on_event = on_event
        self._clock = clock
        self._fps = settings.fps
        self._rate = settings.sample_rate
        self._shape = (settings.height, settings.width, 3)

        self._cond = threading.Condition()
        self._queue: deque[Clip] = deque()
        self._queued_s = 0.0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._current: Clip | None = None
        self._pos = 0  # next frame of the current clip
        self._sample_pos = 0  # next sample of the current clip
        self._answer: str | None = None  # the answer on air (until its last clip ends)
        self._answer_started = False  # its first frame went out (first_frame was sent)
        self._gap_logged = False
        self._dropped: OrderedDict[str, None] = OrderedDict()
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._session: _Session | None = None

        self._state = "starting"
        self._closed = False
        self._stopping = threading.Event()
        self._aborted = False
        self._record_ok = True  # record_file is usable (checked in start())
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None
        self._keeper: _Keeper | None = None
        self._idle_index = 0
        self._idle_warned = False
        self._frames_sent = 0
        self._frames_dropped = 0
        self._sessions = 0
        self._reconnects = 0
        self._ever_connected = False
        self._resyncs = 0
        self._gaps = 0
        self._last_error: str | None = None
        self._fps_measured = 0.0

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        if self._closed:
            raise RuntimeError("publisher is closed")
        if shutil.which(self._ffmpeg) is None:
            raise FileNotFoundError(
                f"ffmpeg not found ({self._ffmpeg!r}); install it with: sudo apt-get install ffmpeg"
            )
        self._tmp = Path(tempfile.mkdtemp(prefix="streamer-publisher-"))
        os.mkfifo(self._tmp / "audio.fifo")
        self._check_record_file()
        s = self.settings
        if s.keep_answers:
            out = s.answers_dir or Path("media/answers")
            self._keeper = _Keeper(self._ffmpeg, s, out, self._tmp)
            self._keeper.start()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def _check_record_file(self) -> None:
        """Make sure ``record_file`` can be written; if not, stream without recording."""
        path = self.settings.record_file
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".streamer-probe-"):
                pass
        except OSError as e:
            self._record_ok = False
            log.error(
                "output.record_file %s cannot be written (%s); streaming WITHOUT recording",
                path, e,
            )  # fmt: skip

    def close(self, drain_s: float = 0.0) -> None:
        """Stop publishing; first let queued clips play for up to ``drain_s`` seconds.

        Bounded even when the RTMP server is gone or ffmpeg is stuck: at most about
        ``drain_s`` + ``SESSION_CLOSE_S`` (ffmpeg finishing the stream, else SIGKILL)
        + ``THREADS_JOIN_S`` + ``KEEPER_CLOSE_S`` (only with ``keep_answers``: the answer
        being saved), i.e. ``drain_s`` + 4 s, or + 9 s when keeping answers; plus the
        time of an ``on_event`` callback running at that moment.
        """
        if drain_s > 0 and self._thread is not None:
            deadline = time.monotonic() + drain_s
            with self._cond:
                while (self._queue or self._current is not None) and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.warning("publisher: %d clips still queued at close", len(self._queue))
                        break
                    self._cond.wait(left)
        with self._cond:
            self._closed = True
            self._notify_space()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(SESSION_CLOSE_S + THREADS_JOIN_S + 2.0)
            if self._thread.is_alive():
                log.error("publisher: the pacing thread did not stop; killing ffmpeg")
                session = self._session
                if session is not None:
                    session.kill()
            self._thread = None
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None
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
        if self._cond.acquire(timeout=ABORT_WAIT_S):
            try:
                self._closed = True
                self._notify_space()
            finally:
                self._cond.release()
        else:
            self._closed = True
        for _ in range(2):  # again after the join: a session may have been starting
            session = self._session
            if session is not None:
                session.kill()
            if self._keeper is not None:
                self._keeper.kill()
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

    # -- clips in

    def _check(self, clip: Clip) -> None:
        if clip.fps != self._fps or clip.sample_rate != self._rate:
            raise ValueError(
                f"clip of answer {clip.answer_id} is {clip.fps} fps / {clip.sample_rate} Hz; "
                f"the stream is {self._fps} fps / {self._rate} Hz"
            )
        if clip.frames.shape[1:] != self._shape:
            raise ValueError(
                f"clip of answer {clip.answer_id} has frames {clip.frames.shape[1:]}; "
                f"the stream is {self._shape} (output.height, output.width)"
            )

    def _try_add(self, clip: Clip) -> bool:
        """Queue ``clip`` if there is room (caller holds the lock)."""
        if self._queued_s > self.max_buffer_s:
            return False
        if clip.answer_id in self._dropped:
            log.debug("dropping a clip of skipped or expired answer %s", clip.answer_id)
            return True
        self._queue.append(clip)
        self._queued_s += clip.duration_s
        return True

    def submit(self, clip: Clip, timeout: float | None = None) -> bool:
        """Queue a clip; block while more than ``max_buffer_s`` of media wait.

        Returns False when ``timeout`` passes first or the publisher is closed.
        Clips of a skipped answer are accepted and dropped.
        """
        self._check(clip)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                if self._try_add(clip):
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return False

    async def put(self, clip: Clip) -> bool:
        """``submit`` for asyncio callers: waits for room without blocking the loop."""
        self._check(clip)
        loop = asyncio.get_running_loop()
        while True:
            room = asyncio.Event()
            waiter = (loop, room)
            with self._cond:
                if self._closed:
                    return False
                if self._try_add(clip):
                    return True
                self._async_waiters.append(waiter)
            try:
                await room.wait()
            finally:
                with self._cond:
                    if waiter in self._async_waiters:
                        self._async_waiters.remove(waiter)

    def _notify_space(self) -> None:
        """Wake submitters (caller holds the lock)."""
        self._cond.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(event.set)
        self._async_waiters.clear()

    def skip(self, answer_id: str) -> bool:
        """Drop the answer's queued clips and cut its clip on air (the next frame is idle)."""
        with self._cond:
            self._forget(answer_id)
            before = len(self._queue)
            self._remove_queued(answer_id)
            found = len(self._queue) != before
            if self._answer == answer_id:
                self._end_answer(skipped=True)
                found = True
            self._notify_space()
        if found:
            log.info("skipped answer %s", answer_id)
        return found

    # -- status

    def on_air(self) -> str | None:
        with self._cond:
            return self._answer

    def status(self) -> dict[str, Any]:
        with self._cond:
            session = self._session
            return {
                "state": self._state,
                "url": self.settings.rtmp_url,
                "frames_sent": self._frames_sent,
                "frames_dropped": self._frames_dropped,
                "stream_time_s": session.frames / self._fps if session is not None else 0.0,
                "clips_queued": len(self._queue),
                "buffered_s": round(self._queued_s, 3),
                "on_air": self._answer,
                "reconnects": self._reconnects,
                "resyncs": self._resyncs,
                "gaps": self._gaps,
                "last_error": self._last_error,
                "fps": round(self._fps_measured, 2),
            }

    # -- helpers (caller holds the lock)

    def _forget(self, answer_id: str) -> None:
        self._dropped[answer_id] = None
        while len(self._dropped) > DROPPED_MEMORY:
            self._dropped.popitem(last=False)

    def _remove_queued(self, answer_id: str) -> int:
        kept = [c for c in self._queue if c.answer_id != answer_id]
        removed = len(self._queue) - len(kept)
        if removed:
            self._queue = deque(kept)
            self._queued_s = sum(c.duration_s for c in kept)
        return removed

    def _stream_time(self) -> float:
        return self._session.frames / self._fps if self._session is not None else 0.0

    def _end_answer(self, *, skipped: bool = False, complete: bool = True) -> None:
        """Take the answer off air. ``answer_done`` only follows a ``first_frame``."""
        answer = self._answer
        if answer is None:
            return
        if self._answer_started:
            self._events.append(
                ("answer_done", {"answer_id": answer, "skipped": skipped,
                                 "complete": complete and not skipped,
                                 "stream_time_s": self._stream_time()})
            )  # fmt: skip
        if self._keeper is not None:  # skipped answers are not kept
            self._keeper.end(answer, keep=self._answer_started and not skipped)
        self._answer = None
        self._answer_started = False
        self._current = None
        self._gap_logged = False

    def _end_marker(self, clip: Clip) -> None:
        """A zero-frame clip: the builder's "this answer ends here" (caller holds the lock).

        It comes when an answer is cut short (LLM failure, aborted answer, failed last
        segment), so the answer on air ends with ``complete=False``. The marker of an
        answer that is not on air (it never started, or already ended) is dropped
        silently: no ``first_frame``, no ``answer_done``.
        """
        if clip.answer_id == self._answer and clip.last:
            log.info("answer %s ended early (end marker)", clip.answer_id)
            self._end_answer(complete=False)
        else:
            log.debug("dropping the end marker of answer %s (not on air)", clip.answer_id)

    def _expire(self, now: float) -> None:
        """Drop answers with clips older than max_clip_age_s (caller holds the lock)."""
        max_age = self.settings.max_clip_age_s
        old = {c.answer_id for c in self._queue if now - c.created_at > max_age}
        if self._current is not None and now - self._current.created_at > max_age:
            old.add(self._current.answer_id)
        for answer_id in old:
            n = self._remove_queued(answer_id)
            log.warning(
                "dropping answer %s: %d clip(s) older than %.0f s (built while the stream "
                "was down)", answer_id, n, max_age,
            )  # fmt: skip
            self._forget(answer_id)
            if self._answer == answer_id:
                self._end_answer(complete=False)
        if old:
            self._notify_space()

    def _next_clip(self) -> Clip | None:
        """The clip to play now, starting the next queued one if needed."""
        if self._current is not None:
            return self._current
        while self._queue:
            clip = self._queue.popleft()
            self._queued_s = max(0.0, self._queued_s - clip.duration_s)
            self._notify_space()
            if len(clip.frames) == 0:  # an end marker: handle it, play what follows
                self._end_marker(clip)
                continue
            if self._answer is not None and clip.answer_id != self._answer:
                log.warning("answer %s ended without its last clip", self._answer)
                self._end_answer(complete=False)
            if self._answer is None:
                self._answer = clip.answer_id
                self._answer_started = False  # first_frame once a frame is out
            elif self._gap_logged:
                log.info("answer %s resumes after a gap", clip.answer_id)
            self._gap_logged = False
            self._current, self._pos, self._sample_pos = clip, 0, 0
            return clip
        if self._answer is not None and not self._gap_logged:
            self._gap_logged = True
            self._gaps += 1
            log.warning("answer %s: no clip ready mid-answer; showing idle", self._answer)
        return None

    # -- the pacing thread

    def _emit_events(self) -> None:
        with self._cond:
            events, self._events = self._events, []
        for kind, data in events:
            self._emit(kind, data)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(kind, data)
        except Exception:
            log.exception("publisher on_event(%r) failed", kind)

    def _record_path(self) -> Path | None:
        path = self.settings.record_file
        if path is None or not self._record_ok:
            return None
        try:
            n = 1
            candidate = path
            while candidate.exists():  # never overwrite an earlier recording
                n += 1
                candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
            candidate.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a recording must never keep the stream off air
            self._record_ok = False
            log.error("output.record_file %s: %s; streaming WITHOUT recording", path, e)
            return None
        return candidate

    def command(self, fifo: Path, record: Path | None = None) -> list[str]:
        """The ffmpeg command line of one publishing session."""
        s = self.settings
        cmd = [
            self._ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info",
            # Raw inputs need no probing, and probing one input while the other's
            # pipe is full would stall ffmpeg.
            "-probesize", "32", "-analyzeduration", "0",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{s.width}x{s.height}",
            "-framerate", str(s.fps), "-thread_queue_size", "16", "-i", "pipe:0",
            "-probesize", "32", "-analyzeduration", "0",
            "-f", "s16le", "-ar", str(s.sample_rate), "-ac", "1",
            "-thread_queue_size", "256", "-i", str(fifo),
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", s.preset, "-tune", "zerolatency",
            "-g", str(2 * s.fps), "-keyint_min", str(2 * s.fps), "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-b:v", f"{s.video_bitrate_k}k",
            "-maxrate", f"{s.video_bitrate_k}k", "-bufsize", f"{2 * s.video_bitrate_k}k",
            "-c:a", "aac", "-b:a", f"{s.audio_bitrate_k}k",
        ]  # fmt: skip
        if record is None:
            return [*cmd, "-f", "flv", "-flvflags", "no_duration_filesize", s.rtmp_url]
        # The tee muxer: the stream aborts ffmpeg when it fails (so we reconnect; say
        # so explicitly: ffmpeg 5.1 ignores a failed slave when another one may fail);
        # a failing recording is only logged.
        target = str(record).replace("\\", "\\\\").replace("|", "\\|").replace("[", "\\[")
        stream = f"[f=flv:flvflags=no_duration_filesize:onfail=abort]{s.rtmp_url}"
        tee = f"{stream}|[onfail=ignore]{target}"
        return [*cmd, "-flags", "+global_header", "-f", "tee", tee]

    def _open_session(self) -> _Session:
        assert self._tmp is not None
        fifo = self._tmp / "audio.fifo"
        self._sessions += 1
        cmd = self.command(fifo, self._record_path())
        log.info("publisher: starting ffmpeg session %d to %s", self._sessions,
                 self.settings.rtmp_url)  # fmt: skip
        log.debug("publisher: %s", " ".join(cmd))
        return _Session(cmd, fifo, self._fps, self._sessions, self._clock())

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # never die silently
            log.exception("publisher pacing thread crashed; the stream is over")
            self._last_error = f"pacing thread crashed: {e!r}"
            self._state = "closed"
        finally:
            session = self._session
            if session is not None:
                session.close(graceful=not self._aborted)
                with self._cond:
                    self._session = None
            if not self._aborted:
                self._emit_events()

    def _drop_session(self, session: _Session, *, graceful: bool) -> str:
        reason = session.failure
        session.close(graceful=graceful)
        with self._cond:
            self._session = None
        return reason

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
                    with self._cond:
                        self._expire(now)
                    self._emit_events()
                    if now < retry_at:
                        self._stopping.wait(min(retry_at - now, 0.5))
                        continue
                    session = self._open_session()
                    with self._cond:
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

            n += 1
            if now - fps_t >= 1.0:
                self._fps_measured = (self._frames_sent - fps_frames) / (now - fps_t)
                fps_t, fps_frames = now, self._frames_sent
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

    def _tick(self, session: _Session, now: float, *, streaming: bool) -> None:
        """Hand ffmpeg one frame and its samples: the clip's, or idle and silence."""
        k = session.frames
        count = (k + 1) * self._rate // self._fps - k * self._rate // self._fps
        with self._cond:
            clip = self._next_clip() if streaming else None
            if clip is not None:
                try:
                    frame, audio = self._clip_frame(clip, count)
                except Exception:
                    # One bad clip must not take the stream down: drop it, show idle.
                    log.exception(
                        "answer %s: frame %d of a clip (segment %d) cannot be played; "
                        "dropping the clip", clip.answer_id, self._pos, clip.index,
                    )  # fmt: skip
                    self._current = None
                    if clip.last:
                        self._end_answer(complete=False)
                    self._notify_space()
                else:
                    stream_time = self._stream_time()
                    if self._offer(session, now, frame, audio):
                        self._played(clip, frame, audio, count, stream_time)
                    return
        frame = self._idle_frame()
        with self._cond:
            if self._offer(session, now, frame, np.zeros(count, np.int16)):
                self._idle_index += 1

    def next_avatar_position(self) -> int:
        """The avatar loop position where a clip submitted now would start playing.

        After the clips waiting or playing, if they say where they end; else where the
        idle loop will be a few frames from now (a clip takes about that to render).
        """
        with self._cond:
            for clip in (*reversed(self._queue), self._current):
                if clip is not None and clip.avatar_start is not None:
                    return clip.avatar_start + len(clip.frames)
            return self._idle_index + RENDER_LEAD_FRAMES

    def _clip_frame(self, clip: Clip, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The current clip's next frame and its ``count`` samples (padded with silence)."""
        frame = np.asarray(clip.frames[self._pos])
        if frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(f"frame is {frame.shape} {frame.dtype}, not {self._shape} uint8")
        audio = np.asarray(clip.audio[self._sample_pos : self._sample_pos + count], np.int16)
        if len(audio) < count:
            audio = np.concatenate([audio, np.zeros(count - len(audio), np.int16)])
        return frame, audio

    def _played(
        self, clip: Clip, frame: np.ndarray, audio: np.ndarray, count: int, stream_time: float
    ) -> None:
        """One frame of ``clip`` went out (caller holds the lock)."""
        if not self._answer_started:
            self._answer_started = True
            self._events.append(
                ("first_frame", {"answer_id": clip.answer_id, "stream_time_s": stream_time})
            )
        if self._keeper is not None:
            self._keeper.frame(clip.answer_id, frame, audio)
        self._pos += 1
        self._sample_pos += count
        if clip.avatar_start is not None:
            # The idle loop goes on from the avatar frame after this one.
            self._idle_index = clip.avatar_start + self._pos
        if self._pos >= len(clip.frames):
            self._current = None
            if clip.last:
                self._end_answer()
            self._notify_space()

    def _offer(self, session: _Session, now: float, frame: np.ndarray, audio: np.ndarray) -> bool:
        if session.offer(frame, audio):
            self._frames_sent += 1
            session.blocked_since = None
            return True
        self._frames_dropped += 1
        if session.blocked_since is None:
            session.blocked_since = now
            if session.connected_at is not None:  # (while connecting this is normal)
                log.warning("publisher: ffmpeg is not keeping up; dropping frames")
        elif session.connected_at is not None and now - session.blocked_since > STALL_S:
            session.fail(f"ffmpeg read nothing for {STALL_S:.0f} s")
        return False
