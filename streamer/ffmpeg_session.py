"""One ffmpeg publishing session: the child process, its two pipe writers, its stderr.

ffmpeg reads raw BGR frames on stdin and mono s16le PCM on a named FIFO, each pipe
written by its own thread from a small bounded queue (one thread for both pipes
deadlocks: ffmpeg opens and probes its inputs one after another). Any thread of the
session that fails, for whatever reason, marks the session failed at once, so the
publisher's pacing thread replaces it with a fresh one instead of waiting on it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .config import OutputSettings

log = logging.getLogger(__name__)

# close(): ffmpeg gets this long to finish the stream after EOF, then it is killed...
SESSION_CLOSE_S = 3.0
# ...its writer and stderr threads this long, all together.
THREADS_JOIN_S = 1.0


class Session:
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
        except Exception as e:  # a dead writer must end the session, not stall it
            self.fail(f"video writer thread failed ({e!r})")
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
        except Exception as e:
            self.fail(f"audio writer thread failed ({e!r})")
        finally:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _read_stderr(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        try:
            with stderr:
                for raw in stderr:
                    line = raw.decode(errors="replace").rstrip()
                    self.tail.append(line)
                    if line.startswith("Output #0"):
                        self.connected.set()
                    log.debug("ffmpeg[%d]: %s", self.number, line)
        except Exception as e:  # unread, ffmpeg's stderr would fill and block it
            self.fail(f"ffmpeg stderr reader failed ({e!r})")

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


def publish_command(
    ffmpeg: str, s: OutputSettings, fifo: Path, record: Path | None = None
) -> list[str]:
    """The ffmpeg command line of one publishing session."""
    cmd = [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info",
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


def check_record_file(path: Path | None) -> bool:
    """Whether ``output.record_file`` can be written (if not: logged, stream without it)."""
    if path is None:
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".streamer-probe-"):
            pass
    except OSError as e:
        log.error(
            "output.record_file %s cannot be written (%s); streaming WITHOUT recording", path, e
        )
        return False
    return True


def next_record_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``...: never overwrite a recording."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    candidate.parent.mkdir(parents=True, exist_ok=True)
    return candidate
