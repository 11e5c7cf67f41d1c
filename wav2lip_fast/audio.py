"""Audio features for Wav2Lip: the mel spectrogram the public checkpoints were trained on.

Steps (reference hyper-parameters in :class:`MelConfig`), all in numpy:

    wav (N,) float32 @ 16 kHz
      -> pre-emphasis y[n] = x[n] - 0.97 x[n-1]                       float64
      -> STFT: reflect-pad 400 each side, periodic Hann 800, hop 200   (401, 1 + N // 200) complex64
      -> magnitude, Slaney mel filterbank (80 bands, 55..7600 Hz)     (80, T) float32
      -> 20 log10(max(1e-5, M)) - 20 dB
      -> clip(8 (S + 100) / 100 - 4, -4, 4)                           (80, T) float32

The STFT is stored as complex64 and the rest computed in float32, as the reference
(librosa 0.7) does.
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from streamer.audio import Audio, resample
from wav2lip_fast.shapes import MEL_STEPS, N_MELS

SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class MelConfig:
    """The reference's audio hyper-parameters (only the ones the mel path uses)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 800
    hop_size: int = 200  # 12.5 ms: 80 mel columns per second
    win_size: int = 800
    num_mels: int = N_MELS
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0  # symmetric output range [-4, 4]

    @property
    def columns_per_second(self) -> float:
        return self.sample_rate / self.hop_size


MEL = MelConfig()
MEL_SILENCE = -MEL.max_abs_value  # the value of every mel bin for digital silence


# --------------------------------------------------------------------------- mel


# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
_MEL_LINEAR_HZ = 200.0 / 3.0  # Hz per mel below the break
_MEL_BREAK_HZ = 1000.0
_MEL_BREAK = _MEL_BREAK_HZ / _MEL_LINEAR_HZ  # 15 mels
_MEL_LOG_STEP = math.log(6.4) / 27.0  # log(Hz ratio) per mel above the break


def _hz_to_mel(hz: float) -> float:
    if hz >= _MEL_BREAK_HZ:
        return _MEL_BREAK + math.log(hz / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return hz / _MEL_LINEAR_HZ


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = _MEL_LINEAR_HZ * mel
    log = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (mel - _MEL_BREAK))
    out: np.ndarray = np.where(mel >= _MEL_BREAK, log, linear)
    return out


@lru_cache(maxsize=4)
def mel_filterbank(config: MelConfig = MEL) -> np.ndarray:
    """(num_mels, n_fft // 2 + 1) float32 triangular filters, Slaney area-normalised."""
    n_bins = config.n_fft // 2 + 1
    fft_hz = np.linspace(0.0, config.sample_rate / 2.0, n_bins)
    edges_mel = np.linspace(_hz_to_mel(config.fmin), _hz_to_mel(config.fmax), config.num_mels + 2)
    edges = _mel_to_hz(edges_mel)  # (num_mels + 2,) band edges in Hz
    widths = np.diff(edges)  # (num_mels + 1,)
    # rise[i, k]: position of bin k on band i's rising slope; fall: on its falling slope.
    rise = (fft_hz[None, :] - edges[:-2, None]) / widths[:-1, None]  # (num_mels, n_bins)
    fall = (edges[2:, None] - fft_hz[None, :]) / widths[1:, None]
    # The reference builds the weights in float32, then scales each band so that its
    # area is constant (2 / bandwidth), rounding to float32 again.
    weights = np.maximum(0.0, np.minimum(rise, fall)).astype(np.float32)
    area = 2.0 / (edges[2:] - edges[:-2])
    out: np.ndarray = (weights * area[:, None]).astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def _hann(size: int) -> np.ndarray:
    """Periodic Hann window (float64)."""
    out: np.ndarray = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)
    out.setflags(write=False)
    return out


def _stft_magnitude(y: np.ndarray, config: MelConfig) -> np.ndarray:
    """(N,) float64 -> (n_fft // 2 + 1, 1 + N // hop) float32 |STFT| (centred, reflect)."""
    if config.win_size != config.n_fft:
        raise ValueError("only win_size == n_fft is supported")
    pad = config.n_fft // 2
    padded = np.pad(y, pad, mode="reflect")  # (N + n_fft,)
    n_frames = 1 + (len(padded) - config.n_fft) // config.hop_size
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft)[:: config.hop_size][
        :n_frames
    ]  # (T, n_fft)
    spectrum = np.fft.rfft(frames * _hann(config.win_size), axis=1)  # (T, bins) complex128
    # The reference stores the STFT as complex64 before taking the magnitude.
    magnitude: np.ndarray = np.abs(spectrum.astype(np.complex64)).T  # (bins, T) float32
    return magnitude


def melspectrogram(wav: np.ndarray, config: MelConfig = MEL) -> np.ndarray:
    """(N,) float samples at 16 kHz -> (80, 1 + N // 200) float32 in [-4, 4].

    Needs at least 2 samples (the STFT reflects the signal at both ends).
    """
    x = np.asarray(wav)
    if x.ndim != 1:
        raise ValueError(f"wav must have shape (N,) (mono samples), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"wav must hold float samples in [-1, 1], got dtype {x.dtype}")
    if len(x) < 2:
        raise ValueError(f"wav must have shape (N,) with N >= 2, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("wav contains NaN or infinite samples")
    # Pre-emphasis with x[-1] = 0, in float64.
    y = x.astype(np.float64)
    y[1:] -= config.preemphasis * x[:-1].astype(np.float64)
    magnitude = _stft_magnitude(y, config)  # (bins, T) float32
    mel = mel_filterbank(config) @ magnitude  # (80, T) float32
    floor = np.float32(10.0 ** (config.min_level_db / 20.0))
    db = np.float32(20.0) * np.log10(np.maximum(floor, mel)) - np.float32(config.ref_level_db)
    top = np.float32(config.max_abs_value)
    scaled = np.float32(2.0 * config.max_abs_value) * (
        (db - np.float32(config.min_level_db)) / np.float32(-config.min_level_db)
    )
    out: np.ndarray = np.clip(scaled - top, -top, top).astype(np.float32)
    return out


# --------------------------------------------------------------------------- chunks


def frame_count(n_samples: int, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Video frames for ``n_samples`` of audio: ceil(duration * fps).

    Rounded to 1e-6 frames first, so 3.0 s at 25 fps is 75 and not 76.
    """
    if n_samples < 0 or fps <= 0 or sample_rate <= 0:
        raise ValueError(
            f"need n_samples >= 0, fps > 0, sample_rate > 0; got {n_samples}, {fps}, {sample_rate}"
        )
    return math.ceil(round(n_samples * fps / sample_rate, 6))


def chunk_starts(fps: float, n_frames: int, config: MelConfig = MEL) -> np.ndarray:
    """(n_frames,) int64 first mel column of each video frame: int(i * 80 / fps)."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    multiplier = config.columns_per_second / fps
    starts: np.ndarray = (np.arange(n_frames, dtype=np.float64) * multiplier).astype(np.int64)
    return starts


def mel_chunks(
    mel: np.ndarray, fps: float, n_frames: int, *, pad_value: float = MEL_SILENCE
) -> np.ndarray:
    """(80, T) mel -> (n_frames, 80, 16) float32: one 200 ms window per video frame.

    Frame i's window starts at column int(i * 80 / fps), as in the reference. Where the
    reference would stop (a window reaching past the last column) and repeat the final
    16 columns, the mel is instead extended with ``pad_value`` (silence by default), so a
    clip gets exactly ``n_frames`` frames (use :func:`frame_count`) and every window
    still starts at its frame's time.
    """
    mel = np.asarray(mel)
    if mel.ndim != 2 or mel.shape[0] != N_MELS or mel.shape[1] < 1:
        raise ValueError(f"mel must have shape ({N_MELS}, T) with T >= 1, got {mel.shape}")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    if n_frames == 0:
        return np.zeros((0, N_MELS, MEL_STEPS), dtype=np.float32)
    starts = chunk_starts(fps, n_frames)
    needed = int(starts[-1]) + MEL_STEPS
    t = mel.shape[1]
    if needed > t:
        tail = np.full((N_MELS, needed - t), pad_value, dtype=np.float32)
        mel = np.concatenate([mel.astype(np.float32, copy=False), tail], axis=1)
    index = starts[:, None] + np.arange(MEL_STEPS)[None, :]  # (n_frames, 16)
    chunks = mel[:, index]  # (80, n_frames, 16)
    out: np.ndarray = np.ascontiguousarray(chunks.transpose(1, 0, 2), dtype=np.float32)
    return out


# --------------------------------------------------------------------------- loading


def _read_wav(data: bytes, source: str) -> tuple[np.ndarray, int]:
    """RIFF/WAVE bytes -> ((N, channels) float32, rate). PCM 8/16/24/32 or float 32/64.

    A data chunk whose size runs past the end (a header written to a pipe) is read to
    the end.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{source} is not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: subformat GUID
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError(f"{source}: data chunk before fmt chunk")
            return _decode_pcm(body, fmt, source)
        pos += 8 + size + (size & 1)
    raise ValueError(f"{source}: no data chunk")


def _decode_pcm(body: bytes, fmt: tuple[int, int, int, int], source: str) -> tuple[np.ndarray, int]:
    tag, channels, rate, bits = fmt
    width = bits // 8
    if channels < 1 or rate < 1 or width < 1:
        raise ValueError(f"{source}: bad format {fmt}")
    usable = len(body) - len(body) % (width * channels)
    raw = body[:usable]
    if tag == 3 and width in (4, 8):
        samples = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float32)
    elif tag == 1 and width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == 1 and width in (2, 4):
        scale = float(2 ** (bits - 1))
        samples = (np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64) / scale).astype(
            np.float32
        )
    elif tag == 1 and width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = (ints / float(1 << 23)).astype(np.float32)
    else:
        raise ValueError(f"{source}: unsupported WAV encoding (format {tag}, {bits} bits)")
    return samples.reshape(-1, channels), rate


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Any audio/video file ffmpeg reads -> ((N, channels) float32, native rate)."""
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path)]
    command += ["-vn", "-f", "wav", "-c:a", "pcm_f32le", "-"]
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=600)
    except FileNotFoundError:
        raise ValueError(f"{path} is not a WAV file and ffmpeg is not installed") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", errors="replace").strip()[-500:]
        raise ValueError(f"ffmpeg could not decode {path}: {message}")
    return _read_wav(result.stdout, str(path))


def load_audio(source: str | os.PathLike[str] | np.ndarray, sr: int | None = None) -> np.ndarray:
    """Mono float32 samples at 16 kHz from a file or an array.

    A file (``str``/path) is read at its own rate (``sr`` must be None): WAV directly,
    other formats through ``ffmpeg``. An array must be 1-D float (or int16) samples at
    ``sr`` Hz. Channels are averaged; other rates are resampled to 16 kHz
    (Kaiser-windowed sinc, :func:`streamer.audio.resample`; the reference used
    resampy's kaiser_best, so non-16 kHz input can differ slightly from it).
    """
    if isinstance(source, np.ndarray):
        if sr is None:
            raise ValueError("sr (the array's sample rate) is required for an array")
        if source.ndim != 1:
            raise ValueError(f"audio array must have shape (N,) (mono), got {source.shape}")
        if source.dtype == np.int16:
            samples = source.astype(np.float32) / 32768.0
        elif np.issubdtype(source.dtype, np.floating):
            samples = source.astype(np.float32)
        else:
            raise ValueError(f"audio array must be float or int16, got {source.dtype}")
        rate = sr
    else:
        if sr is not None:
            raise ValueError("sr is only for arrays; a file's rate comes from the file")
        path = Path(source)
        data = path.read_bytes()
        if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
            frames, rate = _read_wav(data, str(path))
        else:
            frames, rate = _decode_with_ffmpeg(path)
        samples = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if rate != SAMPLE_RATE:
        samples = resample(Audio(samples, rate), SAMPLE_RATE).samples
    return samples


__all__ = [
    "MEL",
    "MEL_SILENCE",
    "SAMPLE_RATE",
    "MelConfig",
    "chunk_starts",
    "frame_count",
    "load_audio",
    "mel_chunks",
    "mel_filterbank",
    "melspectrogram",
]
