"""The options of ``streamer voice dataset`` (the dataclass and its command-line
arguments), its errors and results, and the small text helpers the voice dataset
modules share (the rules: ``streamer.voice.dataset``)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray


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


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
