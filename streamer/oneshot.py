"""One-shot jobs on the lip-sync engine: ``streamer avatar prepare`` and ``streamer lipsync``.

``prepare_avatar_file`` detects the face in every frame of an avatar once (with a
progress bar) and caches it where the daemon and ``streamer lipsync`` look, keyed by
the avatar's content and the settings, so both start without detecting again.

``lipsync_file`` is the reference script's job done our way: a face video or image
and a speech file in, one MP4 out. Frames go from the engine straight into one
ffmpeg process (raw BGR on its stdin, the speech file as its second input): no
temporary files and one lossy encode. The face video is used up to the speech's length (at
least ``avatar.max_seconds``); a shorter one loops forwards, as the reference does.
The output has ``ceil(duration * fps)`` frames.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamer.config import Settings
from streamer.lipsync.base import LipSyncError
from streamer.lipsync.wav2lip import avatar_cache_dir, load_core

if TYPE_CHECKING:
    from wav2lip_fast.prepare import AvatarFaces, PreparedAvatar

log = logging.getLogger(__name__)

Size = tuple[int, int] | None  # (width, height); None = the source's own size


class OneShotError(Exception):
    """The job cannot run: bad input, no face, a broken checkpoint, ffmpeg failed."""


def parse_size(text: str | None, settings: Settings) -> Size:
    """``WxH`` -> (W, H); ``native`` -> None; None -> the config's output size."""
    if text is None:
        return (settings.output.width, settings.output.height)
    if text.strip().lower() == "native":
        return None
    width, sep, height = text.lower().partition("x")
    try:
        w, h = int(width), int(height)
    except ValueError:
        w = h = 0
    if not sep or w < 16 or h < 16 or w % 2 or h % 2:
        raise OneShotError(f"--size {text!r}: use WIDTHxHEIGHT with even numbers, or 'native'")
    return (w, h)


def _bar(total: int, desc: str, enabled: bool, unit: str = "frame") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)


def prepare_avatar_file(
    source: Path,
    settings: Settings,
    *,
    size: Size,
    rebuild: bool = False,
    progress: bool = True,
    cancel: threading.Event | None = None,
) -> PreparedAvatar:
    """Detect and cache the face of every frame of ``source`` (module doc).

    Setting ``cancel`` (from another thread) stops a face detection at the next frame.
    """
    from wav2lip_fast.faces import FaceDetectionError
    from wav2lip_fast.prepare import AvatarPrepareError, prepare_avatar

    pads = settings.lipsync.pads
    bar: Any = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if cancel is not None and cancel.is_set():
            raise OneShotError("cancelled")
        if bar is None:
            bar = _bar(total, "finding the face", progress)
        bar.update(done - bar.n)

    try:
        return prepare_avatar(
            source,
            fps=settings.output.fps,
            max_seconds=settings.avatar.max_seconds,
            cache_dir=avatar_cache_dir(settings.data_dir),
            progress=report,
            pads=(pads[0], pads[1], pads[2], pads[3]),
            size=size,
            rebuild=rebuild,
        )
    except (AvatarPrepareError, FaceDetectionError) as exc:
        raise OneShotError(str(exc)) from None
    except OSError as exc:  # an unwritable data_dir, an unreadable file
        raise OneShotError(f"{exc.strerror or exc}: {exc.filename or source}") from None
    finally:
        if bar is not None:
            bar.close()


def _read_avatar(
    face: Path, settings: Settings, size: Size, progress: bool, cancel: threading.Event
) -> AvatarFaces:
    """The prepared avatar's frames, boxes and crops (prepared now if not cached)."""
    from wav2lip_fast.prepare import AvatarFaces, AvatarPrepareError

    prepared = prepare_avatar_file(face, settings, size=size, progress=progress, cancel=cancel)
    try:
        return AvatarFaces.from_prepared(prepared)
    except (AvatarPrepareError, OSError) as exc:
        raise OneShotError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class LipSyncReport:
    out: Path
    frames: int
    generated: int
    silent: int
    fps: int
    size: tuple[int, int]
    seconds: float  # the whole job, start to finish
    render_seconds: float  # engine and encoder, after the model and avatar were loaded


def lipsync_file(
    face: Path,
    audio: Path,
    out: Path,
    settings: Settings,
    *,
    size: Size,
    preset: str = "veryfast",
    crf: int = 20,
    progress: bool = True,
    started: float | None = None,
) -> LipSyncReport:
    """Lip-sync ``face`` to ``audio`` into ``out`` (an .mp4); see the module doc."""
    started = time.perf_counter() if started is None else started
    from wav2lip_fast.audio import SAMPLE_RATE, frame_count, load_audio

    lip = settings.lipsync
    if lip.checkpoint is None:
        raise OneShotError("no checkpoint: pass --checkpoint FILE or set lipsync.checkpoint")
    if not audio.is_file():
        raise OneShotError(f"audio file not found: {audio}")
    if shutil.which("ffmpeg") is None:
        raise OneShotError("ffmpeg is not installed (run `make setup`)")
    fps = settings.output.fps
    try:
        wav = load_audio(audio)
    except (OSError, ValueError, RuntimeError) as exc:
        raise OneShotError(f"cannot read the audio {audio}: {exc}") from None
    if len(wav) == 0:
        raise OneShotError(f"the audio {audio} is empty")
    # The whole face video is used up to the speech's length (longer than
    # avatar.max_seconds if need be), then it loops forwards as the reference does.
    seconds = max(settings.avatar.max_seconds, math.ceil(len(wav) / SAMPLE_RATE))
    settings = settings.model_copy(
        update={"avatar": settings.avatar.model_copy(update={"max_seconds": float(seconds)})}
    )
    # The avatar (cache lookup, face detection on a miss, frame decoding) is read in a
    # thread while torch imports and the checkpoint loads: those mostly hold the GIL
    # or wait on the disk, the video decoder releases the GIL (0.5-1 s saved on the
    # benchmark's 10 s clip).
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lipsync-avatar")
    try:
        avatar_job = pool.submit(_read_avatar, face, settings, size, progress, cancel)
        try:
            engine = load_core(lip)
        except LipSyncError as exc:
            raise OneShotError(str(exc)) from None
        faces = avatar_job.result()
    finally:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
    n = frame_count(len(wav), fps)
    # Caching the face encoder's work pays only when avatar frames repeat.
    engine.set_avatar(faces, cache_faces=n > len(faces))
    height, width = faces.frames.shape[1:3]

    render_started = time.perf_counter()
    encoder = _Encoder(out, audio, width, height, fps, preset, crf)
    bar = _bar(n, "lip-sync", progress)
    try:
        for batch in engine.render(wav, fps):
            encoder.put(batch)
            bar.update(len(batch))
        encoder.finish()
    except BaseException:
        encoder.abort()
        raise
    finally:
        bar.close()
    done = time.perf_counter()
    stats = engine.stats
    return LipSyncReport(
        out=out,
        frames=stats.frames,
        generated=stats.generated,
        silent=stats.silent,
        fps=fps,
        size=(width, height),
        seconds=done - started,
        render_seconds=done - render_started,
    )


class _Encoder:
    """One ffmpeg: raw BGR frames on stdin (written by a thread), speech file, one MP4.

    It writes to a hidden ``.part`` file next to ``out`` and renames it over ``out``
    only when the encode succeeded, so a failure or Ctrl-C never leaves a broken file
    or destroys an existing one. ffmpeg's messages go to a temporary file (a pipe
    nobody reads could fill up and stall it).
    """

    def __init__(
        self, out: Path, audio: Path, width: int, height: int, fps: int, preset: str, crf: int
    ) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.part = out.with_name(f".{out.stem}.part{out.suffix}")
        cmd = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
            "-framerate", str(fps), "-i", "pipe:0",
            "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0",
            # x264 needs even sizes: a native-size odd frame loses its last row/column.
            "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "160k",
            "-movflags", "+faststart",
            str(self.part),
        ]  # fmt: skip
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish/abort
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._said = ""
        self._thread = threading.Thread(target=self._write, name="lipsync-encoder", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while (batch := self._queue.get()) is not None:
                stdin.write(np.ascontiguousarray(batch).data.cast("B"))
        except (BrokenPipeError, OSError) as exc:
            self._error = exc
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _put(self, item: np.ndarray | None) -> None:
        """Queue ``item`` for the writer; fail (never hang) if the writer or ffmpeg died."""
        while True:
            self._check()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def put(self, batch: np.ndarray) -> None:
        self._put(batch)

    def _check(self) -> None:
        if self._error is not None or not self._thread.is_alive():
            self.abort()
            raise OneShotError(f"ffmpeg failed: {self._messages()}")

    def _messages(self) -> str:
        """What ffmpeg said (kept once the log file is closed)."""
        if not self._log.closed:
            self._log.seek(0)
            self._said = self._log.read().decode(errors="replace").strip()[-800:]
        return self._said or f"exit code {self._proc.returncode}"

    def finish(self, timeout: float = 300.0) -> None:
        self._put(None)
        self._thread.join(timeout)
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.abort()
            raise OneShotError("ffmpeg did not finish encoding in time") from None
        if code != 0 or self._error is not None:
            message = self._messages()
            self.abort()
            raise OneShotError(f"ffmpeg failed: {message}")
        os.replace(self.part, self.out)
        self._log.close()

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        # Unblock the writer thread if it waits on the queue.
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        with contextlib.suppress(OSError):
            self.part.unlink()
        self._messages()
        self._log.close()


__all__ = [
    "LipSyncReport",
    "OneShotError",
    "lipsync_file",
    "parse_size",
    "prepare_avatar_file",
]
