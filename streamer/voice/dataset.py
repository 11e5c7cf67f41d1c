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
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamer.audio import write_wav
from streamer.voice.dataset_audio import (
    SILENT_INPUT,
    TOO_LONG,
    TOO_SHORT,
    _download,
    _samples_16k,
    _yt_dlp_command,
    normalise,
    read_audio,
    split_clips,
)
from streamer.voice.dataset_options import (
    DatasetError,
    DatasetOptions,
    DatasetSummary,
    Rejection,
    Transcriber,
    _is_url,
    _one_line,
    add_arguments,
    clean_text,
    options_from_args,
    parse_time,
)
from streamer.voice.dataset_whisper import (
    INSTALL_HINT,
    WhisperTranscriber,
    _resolve_device,
    whisper_cache_dir,
)

__all__ = [
    "INSTALL_HINT",
    "NO_SPEECH",
    "SILENT_INPUT",
    "TOO_LONG",
    "TOO_SHORT",
    "DatasetError",
    "DatasetOptions",
    "DatasetSummary",
    "Rejection",
    "Transcriber",
    "WhisperTranscriber",
    "_resolve_device",
    "add_arguments",
    "build_dataset",
    "check_job",
    "clean_text",
    "normalise",
    "options_from_args",
    "parse_time",
    "read_audio",
    "run",
    "split_clips",
    "whisper_cache_dir",
]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
NO_SPEECH = "no speech recognised"


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
