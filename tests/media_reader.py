"""Read an RTMP stream back with a real ffmpeg, for tests.

``StreamReader(url).start()`` runs one ffmpeg subscriber with ``-copyts`` (so the
timestamps are the stream's own) and three outputs:

* ``framecrc`` of the copied video and audio packets to stdout, parsed live: the
  per-packet timestamps of both streams, plus the stream's codecs, size and rate.
  ``wait_video()`` / ``wait_until(t)`` block (with a timeout) until packets arrive.
* the audio decoded to mono s16le PCM in a temp file: ``StreamReport.rms()`` gives
  its loudness per window, to tell speech (a tone) from silence.
* the video decoded to 16x16 grey frames: ``StreamReport.luma`` is each frame's
  mean brightness, to tell clip frames from idle frames.

``stop()`` ends ffmpeg with SIGINT (it finishes its outputs) and returns a
:class:`StreamReport`. The reader gives up by itself when the stream stalls for
``rw_timeout_s`` (an RTMP reader without ``-rw_timeout`` never exits).

``read_stream(url, seconds)`` does it all for ``seconds`` of stream time.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LUMA_SIZE = 16


@dataclass
class StreamReport:
    """What a reader saw. Times are stream timestamps in seconds."""

    video_pts: np.ndarray  # per video packet, in arrival order
    audio_pts: np.ndarray  # per audio packet
    video_duration: float  # of one video packet
    audio_duration: float  # of one audio packet
    pcm: np.ndarray  # decoded audio, mono int16
    sample_rate: int
    luma: np.ndarray  # mean brightness (0-255) of each decoded video frame
    info: dict[str, str] = field(default_factory=dict)  # framecrc header: codecs, size
    stderr: str = ""

    @property
    def video_end(self) -> float:
        return float(self.video_pts[-1] + self.video_duration) if len(self.video_pts) else 0.0

    @property
    def audio_end(self) -> float:
        return float(self.audio_pts[-1] + self.audio_duration) if len(self.audio_pts) else 0.0

    @property
    def pcm_start(self) -> float:
        """Stream time of ``pcm[0]``: the first audio packet's timestamp."""
        return float(self.audio_pts[0]) if len(self.audio_pts) else 0.0

    def rms(self, window_s: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
        """(start time of each window, RMS of the window in [0, 1])."""
        n = max(1, round(window_s * self.sample_rate))
        count = len(self.pcm) // n
        blocks = self.pcm[: count * n].astype(np.float64).reshape(count, n) / 32768.0
        values = np.sqrt((blocks**2).mean(axis=1)) if count else np.zeros(0)
        times = self.pcm_start + np.arange(count) * n / self.sample_rate
        return times, values

    def loud_spans(
        self, threshold: float = 0.05, window_s: float = 0.02
    ) -> list[tuple[float, float]]:
        """Stream-time spans where the audio's RMS is above ``threshold``."""
        times, values = self.rms(window_s)
        spans: list[tuple[float, float]] = []
        start: float | None = None
        for t, v in zip(times, values, strict=True):
            if v > threshold and start is None:
                start = float(t)
            elif v <= threshold and start is not None:
                spans.append((start, float(t)))
                start = None
        if start is not None:
            spans.append((start, float(times[-1] + window_s)))
        return spans


_PACKET = re.compile(r"^\s*(\d+),\s*(-?\d+),\s*(-?\d+),\s*(\d+),\s*(\d+),")
_HEADER = re.compile(r"^#(\w+) (\d+): (.*)$")


class StreamReader:
    """One ffmpeg subscriber to ``url``; see the module docstring."""

    def __init__(self, url: str, *, sample_rate: int = 48000, rw_timeout_s: float = 5.0) -> None:
        self.url = url
        self.sample_rate = sample_rate
        self.rw_timeout_s = rw_timeout_s
        self._tmp = Path(tempfile.mkdtemp(prefix="media-reader-"))
        self._cond = threading.Condition()
        self._video: list[float] = []
        self._audio: list[float] = []
        self._durations: dict[int, float] = {}
        self._info: dict[str, str] = {}
        self._timebase: dict[int, float] = {}
        self._ended = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._stderr: list[str] = []

    def start(self) -> StreamReader:
        cmd = [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-nostdin",
            "-rw_timeout", str(int(self.rw_timeout_s * 1e6)), "-copyts", "-i", self.url,
            "-map", "0:v", "-map", "0:a", "-c", "copy", "-flush_packets", "1",
            "-f", "framecrc", "pipe:1",
            "-map", "0:a", "-c:a", "pcm_s16le", "-ac", "1", "-ar", str(self.sample_rate),
            "-f", "s16le", str(self._tmp / "audio.pcm"),
            "-map", "0:v", "-vf", f"scale={LUMA_SIZE}:{LUMA_SIZE},format=gray",
            "-fps_mode", "passthrough", "-f", "rawvideo", str(self._tmp / "luma.raw"),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._threads = [
            threading.Thread(target=self._read_packets, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _read_packets(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode(errors="replace").strip()
            header = _HEADER.match(line)
            with self._cond:
                if header:
                    key, index, value = header.groups()
                    self._info[f"{key} {index}"] = value
                    if key == "tb":
                        num, den = value.split("/")
                        self._timebase[int(index)] = int(num) / int(den)
                    continue
                packet = _PACKET.match(line)
                if not packet:
                    continue
                index = int(packet.group(1))
                tb = self._timebase.get(index, 1e-3)
                pts = int(packet.group(3)) * tb
                self._durations[index] = int(packet.group(4)) * tb
                (self._video if index == 0 else self._audio).append(pts)
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())

    def wait_video(self, timeout: float = 10.0) -> float:
        """Block until the first video packet arrives; return its timestamp."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._video or self._ended, timeout):
                raise TimeoutError(f"no video from {self.url} within {timeout} s")
            if not self._video:
                raise RuntimeError(f"reader ended without video: {self.stderr_tail()}")
            return self._video[0]

    def wait_until(self, pts: float, timeout: float = 10.0) -> None:
        """Block until a video and an audio packet at or after ``pts`` arrived."""

        def reached() -> bool:
            return self._ended or (
                bool(self._video and self._audio)
                and self._video[-1] >= pts
                and self._audio[-1] >= pts
            )

        with self._cond:
            if not self._cond.wait_for(reached, timeout):
                last = self._video[-1] if self._video else None
                raise TimeoutError(f"stream did not reach {pts:.2f} s in {timeout} s (at {last})")
            if self._ended and not (self._video and self._video[-1] >= pts):
                raise RuntimeError(f"reader ended before {pts:.2f} s: {self.stderr_tail()}")

    def last_video_pts(self) -> float | None:
        with self._cond:
            return self._video[-1] if self._video else None

    def stderr_tail(self, lines: int = 10) -> str:
        return "\n".join(self._stderr[-lines:])

    def stop(self, timeout: float = 10.0) -> StreamReport:
        """End ffmpeg (SIGINT: it finishes its files) and report what it saw."""
        proc = self._proc
        assert proc is not None, "start() first"
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for t in self._threads:
            t.join(timeout)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        pcm_file, luma_file = self._tmp / "audio.pcm", self._tmp / "luma.raw"
        pcm = np.fromfile(pcm_file, np.int16) if pcm_file.exists() else np.zeros(0, np.int16)
        raw = np.fromfile(luma_file, np.uint8) if luma_file.exists() else np.zeros(0, np.uint8)
        frames = raw[: len(raw) // LUMA_SIZE**2 * LUMA_SIZE**2].reshape(-1, LUMA_SIZE**2)
        for f in (pcm_file, luma_file):
            f.unlink(missing_ok=True)
        self._tmp.rmdir()
        with self._cond:
            return StreamReport(
                video_pts=np.array(self._video),
                audio_pts=np.array(self._audio),
                video_duration=self._durations.get(0, 0.0),
                audio_duration=self._durations.get(1, 0.0),
                pcm=pcm,
                sample_rate=self.sample_rate,
                luma=frames.mean(axis=1) if len(frames) else np.zeros(0),
                info=dict(self._info),
                stderr="\n".join(self._stderr),
            )

    def __enter__(self) -> StreamReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self.stop()


def read_stream(url: str, seconds: float, *, timeout: float | None = None) -> StreamReport:
    """Read ``seconds`` of stream time from ``url`` (giving up after ``timeout`` s)."""
    limit = timeout if timeout is not None else seconds + 15.0
    started = time.monotonic()
    reader = StreamReader(url).start()
    try:
        first = reader.wait_video(limit)
        reader.wait_until(first + seconds, max(0.1, limit - (time.monotonic() - started)))
    finally:
        report = reader.stop()
    return report
