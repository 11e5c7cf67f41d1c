"""Audio values passed between the voice, lip-sync and publishing stages."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.dtype != np.float32:
            raise ValueError(
                f"samples must be mono float32, got {self.samples.shape} {self.samples.dtype}"
            )
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


# --------------------------------------------------------------------------- helpers

_RESAMPLE_ZEROS = 16  # zero crossings of the sinc kernel on each side
_RESAMPLE_BETA = 8.6  # Kaiser window shape: about 80 dB stopband
_RESAMPLE_ROLLOFF = 0.94  # cutoff as a fraction of the lower Nyquist frequency
_RESAMPLE_MAX_PHASES = 4096  # weight rows in the table; more phases interpolate
_RESAMPLE_CHUNK = 16384  # output samples per vectorised block


def _kaiser_sinc(distance: np.ndarray, cutoff: float, half_width: float) -> np.ndarray:
    """Low-pass kernel at ``distance`` input samples; ``cutoff`` in cycles per 2 samples."""
    x = np.clip(distance / half_width, -1.0, 1.0)
    window = np.i0(_RESAMPLE_BETA * np.sqrt(1.0 - x * x)) / np.i0(_RESAMPLE_BETA)
    window = np.where(np.abs(distance) < half_width, window, 0.0)
    kernel: np.ndarray = cutoff * np.sinc(cutoff * distance) * window
    return kernel


def resample(audio: Audio, rate: int) -> Audio:
    """``audio`` at ``rate`` Hz: band-limited (Kaiser-windowed sinc) interpolation.

    Linear phase, no delay; the output has ``round(len * rate / audio.rate)`` samples.
    When lowering the rate, content above the new Nyquist frequency is filtered out.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    if rate == audio.rate:
        return audio
    n_in = len(audio.samples)
    n_out = (n_in * rate + audio.rate // 2) // audio.rate
    if n_in == 0 or n_out == 0:
        return Audio(np.zeros(n_out, dtype=np.float32), rate)

    g = np.gcd(audio.rate, rate)
    up, down = rate // int(g), audio.rate // int(g)
    cutoff = min(1.0, rate / audio.rate) * _RESAMPLE_ROLLOFF
    half_width = _RESAMPLE_ZEROS / cutoff  # in input samples
    reach = int(np.ceil(half_width))
    offsets = np.arange(-reach + 1, reach + 1)  # taps relative to floor(position)

    padded = np.concatenate(
        [np.zeros(reach), audio.samples.astype(np.float64), np.zeros(reach + 1)]
    )
    # One row of weights per fractional position k / n_phases; rates with more phases
    # than that interpolate linearly between rows (error far below the stopband).
    exact = up <= _RESAMPLE_MAX_PHASES
    n_phases = up if exact else _RESAMPLE_MAX_PHASES
    positions = np.arange(n_phases + 1)[:, None] / n_phases
    table = _kaiser_sinc(offsets[None, :] - positions, cutoff, half_width)

    out = np.empty(n_out, dtype=np.float64)
    for start in range(0, n_out, _RESAMPLE_CHUNK):
        n = np.arange(start, min(start + _RESAMPLE_CHUNK, n_out), dtype=np.int64)
        base, phase = np.divmod(n * down, up)
        # padded[reach + i] is input sample i.
        frame = padded[(base + reach)[:, None] + offsets[None, :]]
        if exact:
            weights = table[phase]
        else:
            where = phase * (n_phases / up)
            row = np.minimum(where.astype(np.int64), n_phases - 1)
            t = (where - row)[:, None]
            weights = (1.0 - t) * table[row] + t * table[row + 1]
        weights = weights / weights.sum(axis=1, keepdims=True)
        out[start : start + len(n)] = np.einsum("ij,ij->i", frame, weights)
    return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), rate)


def _dbfs(power: float) -> float:
    return float(10.0 * np.log10(max(power, 1e-20)))


def loudness_dbfs(audio: Audio, *, block_s: float = 0.02, gate_dbfs: float = -60.0) -> float | None:
    """RMS level in dBFS of the blocks louder than ``gate_dbfs`` (None: all silent).

    Blocks are ``block_s`` long; of those above the absolute gate, blocks more than
    30 dB under their mean level are ignored too (pauses with breath or hiss).
    """
    x = audio.samples.astype(np.float64)
    size = max(1, round(block_s * audio.rate))
    if len(x) == 0:
        return None
    n_blocks = max(1, len(x) // size)
    blocks = x[: n_blocks * size].reshape(n_blocks, size) if len(x) >= size else x[None, :]
    power = np.mean(blocks * blocks, axis=1)
    loud = power[power > 10.0 ** (gate_dbfs / 10.0)]
    if len(loud) == 0:
        return None
    relative = float(np.mean(loud)) * 10.0 ** (-30.0 / 10.0)
    loud = loud[loud > relative]
    return _dbfs(float(np.mean(loud)))


def normalize_loudness(
    audio: Audio, target_dbfs: float = -20.0, peak_limit_dbfs: float = -1.0
) -> Audio:
    """``audio`` scaled so its speech (near-silent parts ignored) is ``target_dbfs`` RMS.

    The gain is lowered when it would lift the highest peak above ``peak_limit_dbfs``
    (the level then stays below the target rather than distorting). Silence, or audio
    with nothing above -60 dBFS, is returned unchanged.
    """
    level = loudness_dbfs(audio)
    if level is None:
        return audio
    gain = 10.0 ** ((target_dbfs - level) / 20.0)
    peak = float(np.max(np.abs(audio.samples)))
    limit = 10.0 ** (peak_limit_dbfs / 20.0)
    if peak * gain > limit:
        gain = limit / peak
    scaled = np.clip(audio.samples.astype(np.float64) * gain, -1.0, 1.0)
    return Audio(scaled.astype(np.float32), audio.rate)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16 PCM; values outside are clipped, NaN is 0."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    pcm: np.ndarray = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
    return pcm


def pad_to_frames(audio: Audio, fps: int) -> tuple[Audio, int]:
    """Pad ``audio`` with silence to a whole number of video frames.

    Returns the padded audio and its frame count ``ceil(duration * fps)``; the audio
    then has exactly ``frames * rate / fps`` samples. ``rate`` must be a multiple of
    ``fps`` (e.g. 16000 or 22050 Hz at 25 fps, 48000 Hz at 30 fps).
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if audio.rate % fps:
        raise ValueError(
            f"audio rate {audio.rate} Hz is not a multiple of {fps} fps: expected a rate "
            f"with rate % fps == 0 (e.g. {fps * (audio.rate // fps)} or "
            f"{fps * (audio.rate // fps + 1)} Hz); resample first"
        )
    per_frame = audio.rate // fps
    n = len(audio.samples)
    frames = -(-n // per_frame)
    missing = frames * per_frame - n
    if missing == 0:
        return audio, frames
    samples = np.concatenate([audio.samples, np.zeros(missing, dtype=np.float32)])
    return Audio(samples, audio.rate), frames


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """A mono 16-bit PCM WAV file of ``samples``: int16 PCM as it is, or float in
    [-1, 1] (clipped, NaN as silence). Written under a hidden ``.part`` name and renamed
    when complete, so a reader never sees half a file."""
    pcm = samples if samples.dtype == np.int16 else to_int16(samples)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    try:
        with wave.open(str(part), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(np.ascontiguousarray(pcm.reshape(-1), dtype="<i2").tobytes())
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
