"""Keeps each answer, as played, as an MP4 (``output.keep_answers``), off the live path.

The pacing thread hands the keeper frames through a bounded queue and never waits: when
the queue is full (the encoder fell behind), that answer is abandoned with a WARNING and
not kept. If the keeper's thread dies, ``alive()`` says so and the publisher starts a
new keeper (or, after repeated deaths, streams on without keeping answers).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .config import OutputSettings

log = logging.getLogger(__name__)

# Remember this many abandoned answers, to drop their late frames.
DROPPED_MEMORY = 256
# close(): the answer being kept as MP4 may take this long to finish.
KEEPER_CLOSE_S = 5.0
# The keeper's queue holds at most this many seconds of frames; an answer whose
# frames overflow it is not kept (the pacing thread never waits for the keeper).
KEEP_BUFFER_S = 3.0
# kill() waits at most this long for anything.
ABORT_WAIT_S = 0.1


_KeepItem = tuple[str, str, np.ndarray, np.ndarray]  # (kind, answer id, frame, samples)


class Keeper:
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
        self._logs: list[tuple[int, str, tuple[Any, ...]]] = []
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
        # Called under the publisher's clip-queue lock: the line is written after it.
        self._logs.append((
            logging.WARNING,
            "not keeping answer %s as MP4: its encoder fell behind (%d frames waiting)",
            (answer_id, self.max_frames),
        ))  # fmt: skip

    def take_logs(self) -> list[tuple[int, str, tuple[Any, ...]]]:
        """Log lines gathered on the pacing thread's side (the caller writes them)."""
        with self._lock:
            logs, self._logs = self._logs, []
        return logs

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
        try:
            self._work()
        except BaseException:  # the publisher sees the thread gone and replaces it
            log.exception("the answer keeper's thread crashed")

    def _work(self) -> None:
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
