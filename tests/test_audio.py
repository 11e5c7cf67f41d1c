"""Audio helpers: resampling, loudness, int16 conversion, padding to video frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamer.audio import (
    Audio,
    loudness_dbfs,
    normalize_loudness,
    pad_to_frames,
    resample,
    to_int16,
)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    return Audio((amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def peak_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples * np.hanning(len(audio.samples))))
    return float(np.argmax(spectrum) * audio.rate / len(audio.samples))


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))


# --------------------------------------------------------------------------- resample


@pytest.mark.parametrize(
    ("rate_in", "rate_out", "freq"),
    [
        (22050, 16000, 1000.0),
        (22050, 16000, 5000.0),
        (16000, 48000, 440.0),
        (48000, 22050, 3000.0),
        (22050, 44100, 7000.0),
        (22050, 44101, 440.0),  # a ratio with many phases
    ],
)
def test_resample_keeps_frequency_and_length_ratio(
    rate_in: int, rate_out: int, freq: float
) -> None:
    audio = sine(freq, rate_in, 2.0)
    out = resample(audio, rate_out)
    assert out.rate == rate_out
    assert out.samples.dtype == np.float32
    assert len(out.samples) == round(len(audio.samples) * rate_out / rate_in)
    # FFT bins are 0.5 Hz wide for 2 s of audio.
    assert abs(peak_hz(out) - freq) <= 1.0
    # Away from the edges the result is the same sine, sampled at the new rate.
    expected = sine(freq, rate_out, 2.0).samples[: len(out.samples)]
    mid = slice(rate_out // 10, -rate_out // 10)
    assert np.max(np.abs(out.samples[mid] - expected[mid])) < 1e-3


def test_resample_down_removes_what_the_new_rate_cannot_hold() -> None:
    out = resample(sine(9000.0, 22050, 1.0), 16000)  # above the new Nyquist (8 kHz)
    assert np.max(np.abs(out.samples[1000:-1000])) < 1e-3


def test_resample_keeps_dc_and_edges_bounded() -> None:
    audio = Audio(np.full(22050, 0.5, dtype=np.float32), 22050)
    out = resample(audio, 16000)
    assert np.allclose(out.samples[200:-200], 0.5, atol=1e-4)
    assert np.all(np.abs(out.samples) <= 1.0)


def test_resample_full_scale_stays_in_range() -> None:
    square = np.sign(np.sin(2 * np.pi * 300 * np.arange(22050) / 22050)).astype(np.float32)
    out = resample(Audio(square, 22050), 48000)
    assert np.max(np.abs(out.samples)) <= 1.0


def test_resample_trivial_cases() -> None:
    audio = sine(440.0, 16000, 0.1)
    assert resample(audio, 16000) is audio
    empty = resample(Audio(np.zeros(0, dtype=np.float32), 22050), 16000)
    assert empty.rate == 16000 and len(empty.samples) == 0
    with pytest.raises(ValueError, match="rate must be > 0"):
        resample(audio, 0)


# --------------------------------------------------------------------------- loudness


def speechlike(rate: int = 16000) -> Audio:
    """Bursts of tone at different levels, separated by exact silence."""
    parts = []
    for amplitude, freq in [(0.05, 220.0), (0.2, 330.0), (0.1, 440.0)]:
        parts.append(sine(freq, rate, 0.5, amplitude).samples)
        parts.append(np.zeros(rate // 2, dtype=np.float32))
    return Audio(np.concatenate(parts), rate)


@pytest.mark.parametrize("target", [-20.0, -26.0, -16.0])
def test_normalize_reaches_target_ignoring_silence(target: float) -> None:
    audio = speechlike()
    out = normalize_loudness(audio, target_dbfs=target)
    voiced = np.abs(audio.samples) > 0
    # Measured independently: RMS over the voiced samples only.
    assert abs(rms_db(out.samples[voiced]) - target) < 0.5
    measured = loudness_dbfs(out)
    assert measured is not None and abs(measured - target) < 0.5
    assert np.all(out.samples[~voiced] == 0.0)


def test_normalize_from_quiet_and_from_loud() -> None:
    for amplitude in (0.003, 0.9):  # about -53 and -4 dBFS RMS
        out = normalize_loudness(sine(500.0, 22050, 1.0, amplitude), target_dbfs=-20.0)
        assert abs(rms_db(out.samples) - (-20.0)) < 0.5


def test_normalize_respects_peak_limit() -> None:
    x = sine(200.0, 16000, 1.0, 0.01).samples.copy()
    x[::1600] = 0.5  # sharp clicks: a high crest factor
    out = normalize_loudness(Audio(x, 16000), target_dbfs=-10.0, peak_limit_dbfs=-3.0)
    assert 20 * np.log10(np.max(np.abs(out.samples))) <= -3.0 + 1e-4


def test_silence_stays_silence() -> None:
    silent = Audio(np.zeros(16000, dtype=np.float32), 16000)
    assert np.all(normalize_loudness(silent).samples == 0.0)
    hiss = Audio(np.full(16000, 1e-5, dtype=np.float32), 16000)  # -100 dBFS
    assert np.array_equal(normalize_loudness(hiss).samples, hiss.samples)
    assert loudness_dbfs(silent) is None
    assert normalize_loudness(Audio(np.zeros(0, dtype=np.float32), 16000)).samples.size == 0


# --------------------------------------------------------------------------- int16


def test_to_int16_scales_and_clips() -> None:
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -7.0, np.nan, np.inf, -np.inf])
    pcm = to_int16(x.astype(np.float32))
    assert pcm.dtype == np.int16
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32767, 0, 32767, -32767]


def test_to_int16_keeps_shape() -> None:
    assert to_int16(np.zeros(0, dtype=np.float32)).shape == (0,)
    assert to_int16(np.full(5, 0.25, dtype=np.float64)).tolist() == [8192] * 5


# --------------------------------------------------------------------------- frames


@pytest.mark.parametrize(
    ("rate", "fps", "n_samples"),
    [
        (16000, 25, 0),
        (16000, 25, 1),
        (16000, 25, 640),
        (16000, 25, 641),
        (16000, 25, 16000),
        (22050, 25, 22049),
        (22050, 30, 12345),
        (48000, 30, 1599),
        (48000, 60, 48001),
    ],
)
def test_pad_to_frames_exact_lengths(rate: int, fps: int, n_samples: int) -> None:
    x = np.linspace(-0.5, 0.5, n_samples, dtype=np.float32)
    padded, frames = pad_to_frames(Audio(x, rate), fps)
    assert frames == math.ceil(n_samples / rate * fps - 1e-9)
    assert len(padded.samples) == frames * rate // fps
    assert padded.rate == rate
    assert np.array_equal(padded.samples[:n_samples], x)
    assert np.all(padded.samples[n_samples:] == 0.0)
    assert padded.duration_s == pytest.approx(frames / fps)


def test_pad_to_frames_rejects_rate_not_multiple_of_fps() -> None:
    with pytest.raises(ValueError, match=r"44110 Hz is not a multiple of 30 fps.*44100 or 44130"):
        pad_to_frames(sine(440.0, 44110, 0.1), 30)
    with pytest.raises(ValueError, match="fps must be > 0"):
        pad_to_frames(sine(440.0, 16000, 0.1), 0)
