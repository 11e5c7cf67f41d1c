"""``streamer voice dataset``: recordings in, an LJSpeech-style dataset out.

Every input (an audio or video file, or an http(s) URL when yt-dlp is installed) is
decoded by ffmpeg straight to mono, 22,050 Hz, 16-bit PCM (ffmpeg's resampler filters
before it decimates; ``--start`` / ``--end`` cut every input the same way). The result
is split on silence with :mod:`pydub.silence`:

* *Silence* is audio quieter than the recording's own average loudness (its dBFS)
  plus ``silence_offset_db`` (default -16 dB) for at least ``min_silence_ms``
  (default 500 ms). Relative, so a quiet and a loud recording split alike.
* Each clip keeps ``keep_silence_ms`` (250 ms) of the silence on both sides (less when
  the pause to the next clip is shorter: the pause is then shared).
* A clip longer than ``max_clip_s`` (15 s) is split again: at pauses half as long,
  then a quarter as long with a threshold 4, then 8 dB higher (each try on what the
  one before left too long), at as few of the pauses found as the length allows
  (neighbours are joined again while they fit). What is still too long is dropped
  ("too long, no pause found"); so are clips under ``min_clip_s`` (1 s, kept silence
  included: "too short").

Each kept clip is brought to ``target_dbfs`` (-20 dBFS, the RMS of the whole clip as
pydub measures it). Loudness never buys clipping: when the gain would lift a peak above
``peak_ceiling_dbfs`` (-1 dBFS), the gain stops there and the clip stays quieter than
the target; the summary counts those clips. Whisper then transcribes the clip (16 kHz
float32); a clip with no text is dropped ("no speech recognised").

Out: ``DIR/wavs/NAME_0001.wav``..., ``DIR/metadata.csv`` (UTF-8, no header,
``NAME_0001|text|normalized text``: ``|``, CR and LF never appear inside a text) and
``DIR/summary.json``. The normalized text is Whisper's made speech-ready by
:class:`streamer.speech_text.SpeechText` with its chat rules off (numbers, dates and
units become words; emotes and chat abbreviations stay as said: the audio says them).
The files are written into a staging folder inside DIR and moved into place at the
end, so a failed run leaves the previous dataset (or nothing) behind.

pydub, Whisper and torch are imported inside the functions that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import math
import os
import pickle
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from streamer.audio import write_wav

if TYPE_CHECKING:
    from pydub import AudioSegment

WHISPER_RATE = 16_000
# Re-splitting a clip that is too long: (share of min_silence_ms, dB added to the threshold).
RESPLIT_TRIES = ((0.5, 0.0), (0.25, 4.0), (0.25, 8.0))
RESPLIT_MIN_SILENCE_MS = 100
SEEK_STEP_MS = 10  # silence detection resolution; 1 ms costs 10x the time for nothing
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
TOO_SHORT = "too short"
TOO_LONG = "too long, no pause found"
NO_SPEECH = "no speech recognised"
SILENT_INPUT = "silent recording"
INSTALL_HINT = "run `make setup` or pip install -e '.[voice]'"
# What a failed model download raises (urllib wraps most of it in URLError).
NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    ssl.SSLError,
)


class DatasetError(Exception):
    """The dataset cannot be built: bad input or options, no model, nothing usable."""


@dataclass(frozen=True)
class DatasetOptions:
    """How recordings become clips (module doc). Invalid values raise DatasetError."""

    sample_rate: int = 22_050
    min_silence_ms: int = 500
    # Silence = quieter than the recording's own dBFS plus this (negative: below it).
    silence_offset_db: float = -16.0
    keep_silence_ms: int = 250
    target_dbfs: float = -20.0
    # The gain towards target_dbfs stops before a peak passes this.
    peak_ceiling_dbfs: float = -1.0
    min_clip_s: float = 1.0
    max_clip_s: float = 15.0
    whisper_model: str = "small"  # a model name (in the Whisper cache) or a .pt path
    language: str | None = None  # None: Whisper detects it per clip
    initial_prompt: str | None = None
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    start_s: float | None = None  # applied to every input
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not 8_000 <= self.sample_rate <= 192_000:
            raise DatasetError(f"sample rate {self.sample_rate}: use 8000 to 192000 Hz")
        if self.min_silence_ms < 10:
            raise DatasetError("--min-silence-ms: use at least 10")
        if self.keep_silence_ms < 0:
            raise DatasetError("--keep-silence-ms: use 0 or more")
        if not -90.0 <= self.silence_offset_db <= 0.0:
            raise DatasetError("--silence-thresh: use -90 to 0 dB (relative to the recording)")
        if not -60.0 <= self.target_dbfs < 0.0 or not -30.0 <= self.peak_ceiling_dbfs <= 0.0:
            raise DatasetError("target loudness: use -60 to 0 dBFS, peak ceiling -30 to 0 dBFS")
        if not 0.0 < self.min_clip_s < self.max_clip_s:
            raise DatasetError(
                f"--min-seconds {self.min_clip_s:g} / --max-seconds {self.max_clip_s:g}: "
                "use 0 < min < max"
            )
        if self.max_clip_s > 30.0:
            raise DatasetError("--max-seconds: Whisper hears 30 s at most; use 30 or less")
        if self.start_s is not None and self.start_s < 0:
            raise DatasetError("--start: use 0 or more seconds")
        if self.end_s is not None and self.end_s <= (self.start_s or 0.0):
            raise DatasetError("--end: must come after --start (and after 0)")
        if not self.whisper_model.strip():
            raise DatasetError("--whisper-model: empty")


class Transcriber(Protocol):
    def transcribe(self, samples_16k: NDArray[np.float32]) -> str:
        """Text spoken in ``samples_16k`` (mono float32 in [-1, 1] at 16 kHz); '' if none."""
        ...


class Rejection(NamedTuple):
    source: str  # the input as given
    start_s: float  # where the clip starts in that input
    reason: str


@dataclass
class DatasetSummary:
    clips: int
    total_s: float
    rejected: list[Rejection]
    out_dir: Path
    metadata: Path
    # Clips left quieter than the target because more gain would have clipped.
    limited: int = 0
    limited_max_db: float = 0.0  # the largest shortfall among them
    target_dbfs: float = -20.0
    peak_ceiling_dbfs: float = -1.0

    def report(self) -> str:
        lines = [
            f"{_count(self.clips, 'clip')}, {self.total_s / 60:.1f} minutes of speech "
            f"in {self.out_dir} (metadata: {self.metadata.name})"
        ]
        if self.rejected:
            lines.append(f"rejected {_count(len(self.rejected), 'clip')}:")
            by_reason: dict[str, list[Rejection]] = {}
            for item in self.rejected:
                by_reason.setdefault(item.reason, []).append(item)
            for reason, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(
                    f"{Path(r.source).name if not _is_url(r.source) else r.source}"
                    f" at {_clock(r.start_s)}"
                    for r in items[:3]
                )
                more = f", +{len(items) - 3} more" if len(items) > 3 else ""
                lines.append(f"  {reason} ({len(items)}): {shown}{more}")
        if self.limited:
            lines.append(
                f"{_count(self.limited, 'clip')} left up to {self.limited_max_db:.1f} dB under "
                f"{self.target_dbfs:g} dBFS: more gain would have pushed their peaks past "
                f"{self.peak_ceiling_dbfs:g} dBFS"
            )
        return "\n".join(lines)


# --- helpers -------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def clean_text(text: str) -> str:
    """One line for metadata.csv: no ``|``, no CR/LF, single spaces, stripped."""
    return " ".join(text.replace("|", " ").split())


def parse_time(text: str) -> float:
    """``90``, ``1:30``, ``01:02:03.5`` -> seconds. ValueError on anything else."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not p.strip() for p in parts):
        raise ValueError(text)
    *whole, last = parts
    seconds = float(last)
    if not math.isfinite(seconds) or seconds < 0 or (whole and seconds >= 60):
        raise ValueError(text)
    total = 0
    for i, part in enumerate(whole):
        if not part.strip().isdigit():
            raise ValueError(text)
        value = int(part)
        if i and value >= 60:  # minutes after hours
            raise ValueError(text)
        total = total * 60 + value
    return total * 60 + seconds


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


def check_job(inputs: Sequence[str], out: Path, name: str, *, force: bool = False) -> None:
    """The cheap checks, done before any model loads. DatasetError if one fails."""
    if not inputs:
        raise DatasetError("no input: give audio or video files (or URLs)")
    if not NAME_RE.fullmatch(name):
        raise DatasetError(
            f"--name {name!r}: use letters, digits, '_' and '-' (it names the clips)"
        )
    for item in inputs:
        if _is_url(item):
            if _yt_dlp_command() is None:
                raise DatasetError(f"{item}: install yt-dlp (pip install yt-dlp) to read URLs")
        elif not Path(item).is_file():
            raise DatasetError(
                f"{item}: no such file" if not Path(item).exists() else f"{item}: not a file"
            )
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out}: exists and is not a folder")
    wavs = out / "wavs"
    taken = (wavs.exists() and (not wavs.is_dir() or any(wavs.iterdir()))) or (
        out / "metadata.csv"
    ).exists()
    if taken and not force:
        raise DatasetError(f"{out} already holds a dataset: pass --force to replace it")


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


# --- Whisper -----------------------------------------------------------------------------


def whisper_cache_dir() -> Path:
    """Where openai-whisper keeps downloaded models (it honours XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "whisper"


def _import_error(what: str, exc: BaseException) -> DatasetError:
    """A DatasetError for a failed import of the voice extra, with the way to fix it."""
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing is not None and missing.split(".")[0] in ("whisper", "torch"):
        name = "Whisper" if missing.startswith("whisper") else "torch"
        return DatasetError(f"{name} is not installed: {INSTALL_HINT}")
    return DatasetError(f"{what} cannot be imported ({_one_line(exc)}): {INSTALL_HINT}")


def _resolve_device(device: str) -> str:
    try:
        import torch
    except (ImportError, OSError) as exc:  # a torch build that does not load: OSError
        raise _import_error("torch", exc) from None

    wanted = device.strip().lower()
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(wanted)
    except RuntimeError:
        raise DatasetError(f"--device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if parsed.type not in ("cpu", "cuda"):
        raise DatasetError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise DatasetError(f"--device {device}: no CUDA GPU is available (use cpu or auto)")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise DatasetError(
                f"--device {device}: there is no GPU {parsed.index} "
                f"({_count(count, 'CUDA GPU')}: use {have})"
            )
    return wanted


def _cached_model(whisper: Any, name: str, root: Path) -> Path | None:
    """Where openai-whisper keeps the model ``name`` in ``root`` (None: unknown)."""
    url = getattr(whisper, "_MODELS", {}).get(name)
    return root / os.path.basename(url) if isinstance(url, str) else None


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class WhisperTranscriber:
    """openai-whisper, from a model name (the user's cache, else a download) or a .pt file.

    ``temperature`` and ``sample_len`` (the most tokens per clip) pass to Whisper's
    decoder; the defaults are Whisper's own. fp16 runs on CUDA only.
    """

    def __init__(
        self,
        model: str = "small",
        *,
        device: str = "auto",
        language: str | None = None,
        initial_prompt: str | None = None,
        download_root: Path | None = None,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        sample_len: int | None = None,
    ) -> None:
        self.device = _resolve_device(device)
        try:
            import whisper
            from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE
        except (ImportError, OSError) as exc:
            raise _import_error("Whisper", exc) from None

        self.language = self._language(language, LANGUAGES, TO_LANGUAGE_CODE)
        self.initial_prompt = initial_prompt or None
        self.temperature = temperature
        self.sample_len = sample_len
        root = download_root or whisper_cache_dir()
        path = Path(model).expanduser()
        names: list[str] = whisper.available_models()
        by_name = not path.is_file() and model in names
        if path.is_file():
            source = str(path)
        elif by_name:
            source = model
        elif path.suffix or os.sep in model or "/" in model:
            raise DatasetError(f"Whisper model {model}: no such file")
        else:
            raise DatasetError(
                f"unknown Whisper model {model!r}: use one of {', '.join(names)} "
                "or the path to a .pt file"
            )
        cached = _cached_model(whisper, model, root) if by_name else None
        was_cached = cached is not None and cached.is_file()
        try:
            with warnings.catch_warnings():
                # A damaged file in the cache: Whisper warns, then downloads it again.
                warnings.filterwarnings("ignore", message=".*SHA256 checksum does not match")
                # It reads a download without closing the file.
                warnings.filterwarnings("ignore", category=ResourceWarning)
                self.model = whisper.load_model(source, device=self.device, download_root=str(root))
        except Exception as exc:  # a corrupt checkpoint raises anything
            raise self._load_error(exc, model, by_name, cached, was_cached, root) from None
        if self.language not in (None, "en") and not self.model.is_multilingual:
            raise DatasetError(
                f"Whisper model {model} knows English only: drop --language "
                f"{self.language} or use a multilingual model"
            )

    def _load_error(
        self,
        exc: Exception,
        model: str,
        by_name: bool,
        cached: Path | None,
        was_cached: bool,
        root: Path,
    ) -> DatasetError:
        """One line on why ``whisper.load_model`` failed."""
        if _out_of_memory(exc):
            where = "the GPU" if self.device.startswith("cuda") else "the machine"
            hint = "use a smaller model" + (" or --device cpu" if where == "the GPU" else "")
            return DatasetError(
                f"Whisper model {model}: {where} has not enough memory for it "
                f"({_one_line(exc)}): {hint}"
            )
        if by_name:  # from the cache, else downloaded
            download_failed = isinstance(exc, NETWORK_ERRORS) or (
                isinstance(exc, RuntimeError) and "SHA256" in str(exc)
            )
            if download_failed and cached is not None and not was_cached:
                with contextlib.suppress(OSError):  # what the failed download left
                    cached.unlink(missing_ok=True)
            if download_failed and not was_cached:
                return DatasetError(
                    f"Whisper model {model!r} is not in {root} and could not be downloaded "
                    f"({_one_line(exc)}): pass --whisper-model PATH.pt, or connect to the "
                    "internet once"
                )
            if download_failed:
                return DatasetError(
                    f"Whisper model {model!r}: {cached} is damaged and could not be "
                    f"downloaded again ({_one_line(exc)}): delete it and connect to the "
                    "internet, or pass --whisper-model PATH.pt"
                )
            return DatasetError(f"Whisper model {model!r} cannot be loaded: {_one_line(exc)}")
        if isinstance(exc, pickle.UnpicklingError | EOFError):
            reason = "torch cannot read it"
        elif isinstance(exc, KeyError):
            reason = f"no {exc}"
        else:
            reason = _one_line(exc)
        return DatasetError(f"{Path(model).expanduser()}: not a Whisper checkpoint ({reason})")

    @staticmethod
    def _language(language: str | None, codes: dict[str, str], names: dict[str, str]) -> str | None:
        if language is None or not language.strip():
            return None
        wanted = language.strip().lower()
        if wanted in codes:
            return wanted
        if wanted in names:
            return names[wanted]
        raise DatasetError(f"--language {language!r}: not a language Whisper knows (e.g. en, de)")

    def transcribe(self, samples_16k: NDArray[np.float32]) -> str:
        import whisper

        options: dict[str, Any] = {
            "language": self.language,
            "initial_prompt": self.initial_prompt,
            "fp16": self.device.startswith("cuda"),
            "temperature": self.temperature,
            # One clip is one 30 s window: no timestamps, nothing carried between clips.
            "without_timestamps": True,
            "condition_on_previous_text": False,
            "verbose": None,
        }
        if self.sample_len is not None:
            options["sample_len"] = self.sample_len
        with warnings.catch_warnings():
            # --device cpu on a machine with a GPU is the user's choice.
            warnings.filterwarnings("ignore", message="Performing inference on CPU")
            # Whisper's tokenizer leaves its vocabulary file for the GC to close.
            warnings.filterwarnings("ignore", category=ResourceWarning)
            result = whisper.transcribe(self.model, samples_16k, **options)
        return str(result.get("text", "")).strip()


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the job -----------------------------------------------------------------------------


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".dataset-", dir=out))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if created:  # a failed run leaves no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()


def _bar(enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=0, desc="clips", unit="clip", disable=not enabled, dynamic_ncols=True)


@dataclass
class _State:
    kept: list[tuple[str, str, str]] = field(default_factory=list)  # id, text, normalized
    rejected: list[Rejection] = field(default_factory=list)
    total_s: float = 0.0
    limited: int = 0
    limited_max_db: float = 0.0


def build_dataset(
    inputs: Sequence[str],
    out: Path,
    name: str,
    options: DatasetOptions,
    *,
    normalize: Callable[[str], str],
    transcriber: Transcriber,
    progress: bool = True,
    force: bool = False,
) -> DatasetSummary:
    """Split, level, transcribe and write the dataset (module doc). DatasetError on failure."""
    check_job(inputs, out, name, force=force)
    state = _State()
    try:
        with _staging(out) as staging:
            wavs = staging / "wavs"
            wavs.mkdir()
            bar = _bar(progress)
            try:
                for source in inputs:
                    _one_input(
                        source, staging, wavs, name, options, state, bar, normalize, transcriber
                    )
            finally:
                bar.close()
            if not state.kept:
                raise DatasetError(f"no usable clips: {_reasons(state.rejected)}")
            metadata = staging / "metadata.csv"
            with metadata.open("w", encoding="utf-8", newline="\n") as f:
                for clip_id, text, normalized in state.kept:
                    f.write(f"{clip_id}|{text}|{normalized}\n")
            summary = DatasetSummary(
                clips=len(state.kept),
                total_s=state.total_s,
                rejected=state.rejected,
                out_dir=out,
                metadata=out / "metadata.csv",
                limited=state.limited,
                limited_max_db=state.limited_max_db,
                target_dbfs=options.target_dbfs,
                peak_ceiling_dbfs=options.peak_ceiling_dbfs,
            )
            (staging / "summary.json").write_text(
                json.dumps(
                    {
                        "name": name,
                        "clips": summary.clips,
                        "total_s": round(summary.total_s, 3),
                        "rejected": [r._asdict() for r in summary.rejected],
                        "limited": summary.limited,
                        "inputs": list(inputs),
                        "options": asdict(options),
                    },
                    indent=2,
                    ensure_ascii=False,
                )
                + "\n",
                encoding="utf-8",
            )
            _replace(out / "wavs", wavs)
            os.replace(metadata, out / "metadata.csv")
            os.replace(staging / "summary.json", out / "summary.json")
    except OSError as exc:
        raise DatasetError(f"{exc.strerror or _one_line(exc)}: {exc.filename or out}") from None
    return summary


def _replace(target: Path, new: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    new.rename(target)


def _reasons(rejected: Sequence[Rejection]) -> str:
    if not rejected:
        return "no speech found"
    counts: dict[str, int] = {}
    for item in rejected:
        counts[item.reason] = counts.get(item.reason, 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def _one_input(
    source: str,
    staging: Path,
    wavs: Path,
    name: str,
    options: DatasetOptions,
    state: _State,
    bar: Any,
    normalize: Callable[[str], str],
    transcriber: Transcriber,
) -> None:
    offset = options.start_s or 0.0
    if _is_url(source):
        folder = Path(tempfile.mkdtemp(prefix="download-", dir=staging))
        try:
            audio = read_audio(_download(source, folder, options), options.sample_rate)
        finally:  # yt-dlp cut it already
            shutil.rmtree(folder, ignore_errors=True)
    else:
        audio = read_audio(Path(source), options.sample_rate, options.start_s, options.end_s)
    spans, rejected = split_clips(audio, options)
    for start_ms, reason in rejected:
        state.rejected.append(Rejection(source, offset + start_ms / 1000, reason))
    bar.total += len(spans)
    bar.refresh()
    for start_ms, end_ms in spans:
        clip, short_db = normalise(
            audio[start_ms:end_ms], options.target_dbfs, options.peak_ceiling_dbfs
        )
        text = clean_text(transcriber.transcribe(_samples_16k(clip)))
        normalized = clean_text(normalize(text)) if text else ""
        bar.update(1)
        if not normalized:
            state.rejected.append(Rejection(source, offset + start_ms / 1000, NO_SPEECH))
            continue
        clip_id = f"{name}_{len(state.kept) + 1:04d}"
        write_wav(wavs / f"{clip_id}.wav", np.frombuffer(clip.raw_data, "<i2"), clip.frame_rate)
        state.kept.append((clip_id, text, normalized))
        state.total_s += len(clip) / 1000
        if short_db > 0:
            state.limited += 1
            state.limited_max_db = max(state.limited_max_db, short_db)


# --- command line ------------------------------------------------------------------------


def _time_arg(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use seconds (90, 12.5) or [HH:]MM:SS (1:30, 01:02:03.5)"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``streamer voice dataset``."""
    d = DatasetOptions()
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="audio or video files, or URLs (yt-dlp)"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="dataset folder")
    parser.add_argument(
        "--name", required=True, help="clip name prefix: NAME_0001.wav... (letters, digits, _ -)"
    )
    parser.add_argument(
        "--whisper-model",
        default=d.whisper_model,
        metavar="MODEL",
        help=f"a Whisper model name in ~/.cache/whisper or a .pt file (default {d.whisper_model})",
    )
    parser.add_argument(
        "--language", help="spoken language, e.g. en (default: detected clip by clip)"
    )
    parser.add_argument(
        "--initial-prompt", help="text that shows Whisper the style and spelling of names"
    )
    parser.add_argument(
        "--min-silence-ms",
        type=int,
        default=d.min_silence_ms,
        help=f"shortest pause that splits (default {d.min_silence_ms})",
    )
    parser.add_argument(
        "--silence-thresh",
        type=float,
        default=d.silence_offset_db,
        metavar="DB",
        help="silence is quieter than the recording's average loudness plus DB "
        f"(default {d.silence_offset_db:g})",
    )
    parser.add_argument(
        "--keep-silence-ms",
        type=int,
        default=d.keep_silence_ms,
        help=f"silence kept on each side of a clip (default {d.keep_silence_ms})",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=d.min_clip_s,
        help=f"drop shorter clips (default {d.min_clip_s:g})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=d.max_clip_s,
        help=f"split again or drop longer clips (default {d.max_clip_s:g})",
    )
    parser.add_argument(
        "--start", type=_time_arg, help="skip each input up to here (seconds or [HH:]MM:SS)"
    )
    parser.add_argument("--end", type=_time_arg, help="stop each input here")
    parser.add_argument(
        "--device", default=d.device, help="Whisper on auto, cpu, cuda or cuda:N (default auto)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing dataset")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> DatasetOptions:
    return DatasetOptions(
        min_silence_ms=args.min_silence_ms,
        silence_offset_db=args.silence_thresh,
        keep_silence_ms=args.keep_silence_ms,
        min_clip_s=args.min_seconds,
        max_clip_s=args.max_seconds,
        whisper_model=args.whisper_model,
        language=args.language,
        initial_prompt=args.initial_prompt,
        device=args.device,
        start_s=args.start,
        end_s=args.end,
    )


def run(args: argparse.Namespace) -> int:
    """``streamer voice dataset``: 0 done, 1 failed, 2 bad options (one line on stderr)."""
    try:
        options = options_from_args(args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        check_job(args.inputs, args.out, args.name, force=args.force)
        from streamer.speech_text import SpeechText

        # Chat rules off: the transcripts must say what the clips say (emotes, "idk").
        # Numbers are written out in the clips' language when it is one we read.
        spoken = options.language if options.language in ("fr", "de", "es") else "en"
        normalize = SpeechText(chat=False, language=spoken)
        if not args.quiet:
            print(f"loading Whisper model {options.whisper_model}...", file=sys.stderr)
        transcriber = WhisperTranscriber(
            options.whisper_model,
            device=options.device,
            language=options.language,
            initial_prompt=options.initial_prompt,
        )
        summary = build_dataset(
            args.inputs,
            args.out,
            args.name,
            options,
            normalize=normalize,
            transcriber=transcriber,
            progress=not args.quiet,
            force=args.force,
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or _one_line(exc)}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(summary.report())
    return 0
