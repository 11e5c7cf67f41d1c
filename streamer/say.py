"""``streamer say``: try the configured voice without going live.

The text takes the daemon's path to the voice: cut into segments by the sentence
splitter, made speech-ready, spoken by the configured engine, loudness-normalised like
every segment on air, and written as one 16-bit mono WAV.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.audio import Audio, normalize_loudness, resample, write_wav
from streamer.config import Settings
from streamer.speech_text import SpeechText
from streamer.splitter import SentenceSplitter
from streamer.tts import make_tts

PAUSE_S = 0.25
"""Silence between two segments (the stream has its own pacing; this is for listening)."""


@dataclass(frozen=True)
class SayReport:
    out: Path
    engine: str
    rate: int
    duration_s: float
    load_s: float
    synth_s: float
    spoken: list[str]  # the speech-ready text of each segment

    @property
    def real_time_factor(self) -> float:
        return self.synth_s / self.duration_s if self.duration_s else 0.0


def say(text: str, settings: Settings, out: Path, *, rate: int | None = None) -> SayReport:
    """Speak ``text`` with the configured voice into the WAV file ``out``.

    Raises :class:`~streamer.tts.TTSError` when the voice cannot load or speak, and
    ``OSError`` when the file cannot be written.
    """
    engine = make_tts(settings.tts, settings.channel.language)
    started = time.perf_counter()
    engine.load()
    loaded = time.perf_counter()
    split = settings.split
    splitter = SentenceSplitter(
        split.min_chars, split.first_min_chars, split.max_chars,
        language=settings.channel.language,
    )  # fmt: skip
    segments = [*splitter.feed(text), *splitter.finish()]
    speech_text = SpeechText(settings.tts.text, language=settings.channel.language)
    spoken = [speech_text(segment) for segment in segments]
    pieces: list[Audio] = [normalize_loudness(engine.synthesize(t)) for t in spoken if t]
    synth_s = time.perf_counter() - loaded
    out_rate = rate or (pieces[0].rate if pieces else 22050)
    pause = np.zeros(round(PAUSE_S * out_rate), np.float32)
    joined: list[np.ndarray] = []
    for i, piece in enumerate(pieces):
        if i:
            joined.append(pause)
        joined.append(resample(piece, out_rate).samples)
    samples = np.concatenate(joined) if joined else pause
    write_wav(out, samples, out_rate)
    return SayReport(
        out=out,
        engine=engine.describe,
        rate=out_rate,
        duration_s=len(samples) / out_rate,
        load_s=loaded - started,
        synth_s=synth_s,
        spoken=spoken,
    )
