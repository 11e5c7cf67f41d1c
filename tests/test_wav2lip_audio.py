"""wav2lip_fast audio features against an independent librosa computation."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from wav2lip_fast import frame_count, load_audio, mel_chunks, melspectrogram

librosa = pytest.importorskip("librosa")
signal = pytest.importorskip("scipy.signal")  # a librosa dependency

SR = 16_000


def _reference_mel(wav: np.ndarray) -> np.ndarray:
    """The reference pipeline spelled out with librosa/scipy and the reference parameters."""
    y = signal.lfilter([1.0, -0.97], [1.0], wav.astype(np.float64))
    stft = librosa.stft(
        y=y, n_fft=800, hop_length=200, win_length=800, center=True, pad_mode="reflect"
    )
    basis = librosa.filters.mel(
        sr=SR, n_fft=800, n_mels=80, fmin=55, fmax=7600, htk=False, norm="slaney"
    )
    mel = basis @ np.abs(stft)
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - 20.0
    out: np.ndarray = np.clip(8.0 * ((db + 100.0) / 100.0) - 4.0, -4.0, 4.0)
    return out


def _t(n: int) -> np.ndarray:
    return np.arange(n) / SR


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    n_chirp = int(2.3 * SR) + 17
    t = _t(n_chirp)
    chirp = 0.8 * np.sin(2 * np.pi * (100 * t + (7000 - 100) / (2 * 2.3) * t**2))
    return {
        "sine_440_1s": 0.5 * np.sin(2 * np.pi * 440 * _t(SR)),
        "sine_3k_odd": 0.9 * np.sin(2 * np.pi * 3000 * _t(12_345)),
        "chirp": chirp,
        "noise_3s": 0.1 * rng.standard_normal(3 * SR),
        "loud_noise": np.clip(rng.standard_normal(8_011), -1, 1),
        "too_loud_sine": 4.0 * np.sin(2 * np.pi * 2000 * _t(8_011)),  # clips at +4
        "quiet_sine": 1e-4 * np.sin(2 * np.pi * 200 * _t(4_000)),  # clips at -4
        "silence": np.zeros(SR),
        "short": 0.3 * np.sin(2 * np.pi * 1000 * _t(801)),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_mel_matches_librosa_with_reference_parameters(name: str) -> None:
    wav = _signals()[name].astype(np.float32)
    mel = melspectrogram(wav)
    assert mel.dtype == np.float32
    assert mel.shape == (80, 1 + len(wav) // 200)
    expected = _reference_mel(wav)
    assert expected.shape == mel.shape
    np.testing.assert_allclose(mel, expected, rtol=0, atol=1e-4)
    assert float(mel.min()) >= -4.0 and float(mel.max()) <= 4.0


def test_mel_of_silence_is_the_floor() -> None:
    assert np.all(melspectrogram(np.zeros(SR, dtype=np.float32)) == -4.0)


def test_mel_range_is_used() -> None:
    mels = {name: melspectrogram(w.astype(np.float32)) for name, w in _signals().items()}
    assert float(mels["too_loud_sine"].max()) == 4.0
    assert float(mels["quiet_sine"].max()) < 0.0
    # A 440 Hz sine peaks in a low band; a 3 kHz sine in a higher one.
    low = int(np.argmax(mels["sine_440_1s"][:, 40]))
    high = int(np.argmax(mels["sine_3k_odd"][:, 40]))
    assert low < high


def test_mel_frame_count_at_ten_seconds() -> None:
    assert melspectrogram(np.zeros(10 * SR, dtype=np.float32)).shape == (80, 801)


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (np.zeros((2, 1000), dtype=np.float32), r"shape \(N,\)"),
        (np.zeros(1000, dtype=np.int16), "float samples"),
        (np.zeros(1, dtype=np.float32), "N >= 2"),
        (np.full(1000, np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_mel_rejects_bad_input(wav: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        melspectrogram(wav)


# --------------------------------------------------------------------------- chunks


@pytest.mark.parametrize(
    ("duration", "fps", "frames"),
    [
        (3.0, 25, 75),
        (10.0, 25, 250),
        (3.01, 25, 76),
        (1.0, 30, 30),
        (2.5, 24, 60),
        (0.5, 29.97, 15),
        (0.04, 25, 1),
        (7.3, 50, 365),
    ],
)
def test_mel_chunks_give_ceil_duration_times_fps_frames(
    duration: float, fps: float, frames: int
) -> None:
    n_samples = round(duration * SR)
    assert frame_count(n_samples, fps) == frames
    mel = melspectrogram(np.zeros(n_samples, dtype=np.float32))
    chunks = mel_chunks(mel, fps, frames)
    assert chunks.shape == (frames, 80, 16)
    assert chunks.dtype == np.float32


def test_mel_chunks_follow_the_reference_windows_then_pad() -> None:
    rng = np.random.default_rng(3)
    wav = (0.2 * rng.standard_normal(10 * SR)).astype(np.float32)
    mel = melspectrogram(wav)  # (80, 801)
    fps = 25
    n = frame_count(len(wav), fps)
    chunks = mel_chunks(mel, fps, n)
    assert n == 250
    # The reference emits 247 chunks: 246 full windows, then the last 16 columns.
    inside = [i for i in range(n) if int(i * (80.0 / fps)) + 16 <= mel.shape[1]]
    assert len(inside) == 246
    for i in inside:
        start = int(i * (80.0 / fps))
        np.testing.assert_array_equal(chunks[i], mel[:, start : start + 16])
    # Past the end, windows still start at the frame time; missing columns are silence.
    for i in range(246, n):
        start = int(i * (80.0 / fps))
        real = mel.shape[1] - start
        np.testing.assert_array_equal(chunks[i, :, :real], mel[:, start:])
        assert np.all(chunks[i, :, real:] == -4.0)


def test_mel_chunks_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(80, T\)"):
        mel_chunks(np.zeros((40, 100), dtype=np.float32), 25, 3)
    with pytest.raises(ValueError, match="fps"):
        mel_chunks(np.zeros((80, 100), dtype=np.float32), 0, 3)
    assert mel_chunks(np.zeros((80, 100), dtype=np.float32), 25, 0).shape == (0, 80, 16)


# --------------------------------------------------------------------------- loading


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    """int16 (N,) or (N, channels) samples to a 16-bit PCM WAV."""
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())


def test_load_audio_array_at_16k_is_unchanged() -> None:
    wav = (0.1 * np.sin(2 * np.pi * 300 * _t(5000))).astype(np.float32)
    np.testing.assert_array_equal(load_audio(wav, SR), wav)
    pcm = (wav * 32768).astype(np.int16)
    np.testing.assert_allclose(load_audio(pcm, SR), pcm / 32768.0, atol=1e-7)


def test_load_audio_resamples_other_rates() -> None:
    rate = 22_050
    wav = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    out = load_audio(wav, rate)
    assert out.dtype == np.float32 and len(out) == SR
    expected = 0.5 * np.sin(2 * np.pi * 440 * _t(SR))
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=2e-3)


def test_load_audio_reads_stereo_wav_and_averages(tmp_path: Path) -> None:
    left = (np.sin(2 * np.pi * 500 * _t(4000)) * 8000).astype(np.int16)
    right = (np.sin(2 * np.pi * 900 * _t(4000)) * 8000).astype(np.int16)
    path = tmp_path / "stereo.wav"
    _write_wav(path, np.stack([left, right], axis=1), SR)
    out = load_audio(path)
    expected = (left.astype(np.float32) / 32768 + right.astype(np.float32) / 32768) / 2
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_load_audio_wav_at_8k_is_upsampled(tmp_path: Path) -> None:
    path = tmp_path / "phone.wav"
    _write_wav(path, (np.sin(2 * np.pi * 300 * np.arange(8000) / 8000) * 10000).astype(int), 8000)
    assert len(load_audio(str(path))) == SR


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_load_audio_decodes_other_formats_with_ffmpeg(tmp_path: Path) -> None:
    wav_path = tmp_path / "tone.wav"
    pcm = (np.sin(2 * np.pi * 440 * _t(SR)) * 10000).astype(np.int16)
    _write_wav(wav_path, pcm, SR)
    flac = tmp_path / "tone.flac"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav_path), str(flac)], check=True
    )
    np.testing.assert_allclose(load_audio(flac), pcm / 32768.0, atol=1e-6)


def test_load_audio_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sr"):
        load_audio(np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        load_audio(np.zeros((100, 2), dtype=np.float32), SR)
    path = tmp_path / "a.wav"
    _write_wav(path, np.zeros(100, dtype=np.int16), SR)
    with pytest.raises(ValueError, match="only for arrays"):
        load_audio(path, SR)
