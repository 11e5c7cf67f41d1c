"""Reading recordings (ffmpeg, yt-dlp for URLs), splitting them on silence and levelling
the clips, for ``streamer voice dataset`` (the rules: ``streamer.voice.dataset``).

pydub is imported inside the functions that use it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from streamer.voice.dataset_options import DatasetError, DatasetOptions

if TYPE_CHECKING:
    from pydub import AudioSegment

WHISPER_RATE = 16_000
# Re-splitting a clip that is too long: (share of min_silence_ms, dB added to the threshold).
RESPLIT_TRIES = ((0.5, 0.0), (0.25, 4.0), (0.25, 8.0))
RESPLIT_MIN_SILENCE_MS = 100
SEEK_STEP_MS = 10  # silence detection resolution; 1 ms costs 10x the time for nothing
TOO_SHORT = "too short"
TOO_LONG = "too long, no pause found"
SILENT_INPUT = "silent recording"


def _yt_dlp_command() -> list[str] | None:
    """How to run yt-dlp: the Python module if importable, else the program on PATH."""
    try:
        found = importlib.util.find_spec("yt_dlp") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return [sys.executable, "-m", "yt_dlp"]
    program = shutil.which("yt-dlp")
    return [program] if program else None


def _ffmpeg() -> str:
    program = shutil.which("ffmpeg")
    if program is None:
        raise DatasetError("ffmpeg is not installed (it decodes the recordings)")
    return program


def _first_error_line(stderr: str, path: str) -> str:
    if "matches no streams" in stderr:
        return "no audio track"
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            return line.removeprefix(f"{path}: ")
    return "ffmpeg failed"


# --- reading ---------------------------------------------------------------------------


def _download(url: str, folder: Path, options: DatasetOptions) -> Path:
    command = _yt_dlp_command()
    if command is None:
        raise DatasetError(f"{url}: install yt-dlp (pip install yt-dlp) to read URLs")
    args = [
        *command,
        "--no-playlist",
        "--quiet",
        "--no-warnings",
        "--no-progress",
        "--format",
        "bestaudio/best",
        "--output",
        str(folder / "source.%(ext)s"),
    ]
    if options.start_s is not None or options.end_s is not None:
        end = "inf" if options.end_s is None else f"{options.end_s:.3f}"
        args += ["--download-sections", f"*{options.start_s or 0.0:.3f}-{end}"]
        args += ["--force-keyframes-at-cuts"]
    args += ["--", url]
    try:
        done = subprocess.run(args, capture_output=True, text=True, errors="replace", check=False)
    except OSError as exc:
        raise DatasetError(f"{url}: cannot run yt-dlp: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [x.strip() for x in done.stderr.splitlines() if x.strip()]
        raise DatasetError(f"{url}: yt-dlp failed: {lines[-1] if lines else 'no message'}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".part"))
    if not files:
        raise DatasetError(f"{url}: yt-dlp downloaded nothing")
    return files[0]


def read_audio(
    path: Path, sample_rate: int, start_s: float | None = None, end_s: float | None = None
) -> AudioSegment:
    """Any file ffmpeg reads -> mono 16-bit PCM at ``sample_rate`` (its first audio track)."""
    from pydub import AudioSegment

    args = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if start_s:
        args += ["-ss", f"{start_s:.3f}"]
    if end_s is not None:
        args += ["-t", f"{end_s - (start_s or 0.0):.3f}"]
    args += ["-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate)]
    args += ["-c:a", "pcm_s16le", "-f", "s16le", "-"]
    try:
        done = subprocess.run(args, capture_output=True, check=False)
    except OSError as exc:
        raise DatasetError(f"cannot run ffmpeg: {exc.strerror or exc}") from None
    if done.returncode != 0:
        reason = _first_error_line(done.stderr.decode("utf-8", "replace"), str(path))
        raise DatasetError(f"{path}: cannot read audio: {reason}")
    data = done.stdout[: len(done.stdout) // 2 * 2]
    if not data:
        where = " between --start and --end" if start_s or end_s is not None else ""
        raise DatasetError(f"{path}: no audio{where}")
    return AudioSegment(data=data, sample_width=2, frame_rate=sample_rate, channels=1)


# --- splitting ---------------------------------------------------------------------------


def _nonsilent(audio: AudioSegment, min_silence_ms: int, thresh_dbfs: float) -> list[list[int]]:
    from pydub.silence import detect_nonsilent

    spans: list[list[int]] = detect_nonsilent(
        audio,
        min_silence_len=min_silence_ms,
        silence_thresh=thresh_dbfs,
        seek_step=min(SEEK_STEP_MS, min_silence_ms),
    )
    return spans


def split_clips(
    audio: AudioSegment, options: DatasetOptions
) -> tuple[list[tuple[int, int]], list[tuple[int, str]]]:
    """Clip spans (start_ms, end_ms, kept silence included) and rejections (start_ms, why)."""
    if audio.rms == 0:
        return [], [(0, SILENT_INPUT)]
    base = audio.dBFS + options.silence_offset_db
    max_ms = options.max_clip_s * 1000
    keep = options.keep_silence_ms

    def refine(start: int, end: int, level: int) -> list[tuple[int, int]]:
        if end - start + 2 * keep <= max_ms or level >= len(RESPLIT_TRIES):
            return [(start, end)]
        share, louder = RESPLIT_TRIES[level]
        min_silence = max(RESPLIT_MIN_SILENCE_MS, int(options.min_silence_ms * share))
        parts = _nonsilent(audio[start:end], min_silence, base + louder)
        pieces: list[tuple[int, int]] = []
        for s, e in parts or [[0, end - start]]:
            pieces += refine(start + s, start + e, level + 1)
        # Cut at as few of the new pauses as the length allows: whole phrases, not words.
        merged = pieces[:1]
        for s, e in pieces[1:]:
            if e - merged[-1][0] + 2 * keep <= max_ms:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        return merged

    speech: list[tuple[int, int]] = []
    for s, e in _nonsilent(audio, options.min_silence_ms, base):
        speech += refine(s, e, 0)

    spans: list[tuple[int, int]] = []
    rejected: list[tuple[int, str]] = []
    total = len(audio)
    for i, (s, e) in enumerate(speech):
        lo, hi = max(0, s - keep), min(total, e + keep)
        if i:  # share a short pause with the clip before
            lo = max(lo, (speech[i - 1][1] + s) // 2)
        if i + 1 < len(speech):
            hi = min(hi, (e + speech[i + 1][0]) // 2)
        length = hi - lo
        if length > max_ms:
            rejected.append((lo, TOO_LONG))
        elif length < options.min_clip_s * 1000:
            rejected.append((lo, TOO_SHORT))
        else:
            spans.append((lo, hi))
    return spans, rejected


def normalise(
    clip: AudioSegment, target_dbfs: float, ceiling_dbfs: float
) -> tuple[AudioSegment, float]:
    """``clip`` at ``target_dbfs`` RMS, or as near as the peak ceiling allows.

    Returns the clip and how many dB it stays under the target (0 when it reached it).
    """
    if clip.rms == 0:
        return clip, 0.0
    gain = target_dbfs - clip.dBFS
    headroom = ceiling_dbfs - clip.max_dBFS
    if gain <= headroom:
        return clip.apply_gain(gain), 0.0
    return clip.apply_gain(headroom), gain - headroom


def _samples_16k(clip: AudioSegment) -> NDArray[np.float32]:
    resampled = clip.set_frame_rate(WHISPER_RATE)
    pcm = np.frombuffer(resampled.raw_data, dtype="<i2")
    samples: NDArray[np.float32] = pcm.astype(np.float32) / np.float32(32768.0)
    return samples
