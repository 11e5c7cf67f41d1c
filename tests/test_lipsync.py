"""The puppet lip-sync engine: frame counts, batches, and a mouth that follows the voice."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from streamer.audio import Audio
from streamer.avatar import Avatar, load_avatar
from streamer.config import LipSyncSettings
from streamer.lipsync import (
    FIRST_BATCH,
    LipSyncEngine,
    LipSyncError,
    PuppetEngine,
    frame_count,
    make_lipsync,
)
from streamer.lipsync.puppet import analyse

RATE = 24000
LEVEL = 0.1  # RMS of the test signals: -20 dBFS, a typical speech level


def vowel(seconds: float, rate: int = RATE) -> np.ndarray:
    """An "ah": harmonics of 140 Hz shaped by a formant around 700 Hz."""
    t = np.arange(round(seconds * rate)) / rate
    x = sum(
        np.exp(-(((k * 140.0 - 700.0) / 250.0) ** 2)) * np.sin(2 * np.pi * k * 140.0 * t + k)
        for k in range(1, 25)
    )
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return np.zeros(0, np.float32)
    return (x * (LEVEL / float(np.sqrt(np.mean(x * x))))).astype(np.float32)


def hiss(seconds: float, rate: int = RATE) -> np.ndarray:
    """An "ss": white noise with everything below 4 kHz removed."""
    n = round(seconds * rate)
    spectrum = np.fft.rfft(np.random.default_rng(1).standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / rate) < 4000] = 0
    x = np.fft.irfft(spectrum, n)
    return (x * (LEVEL / float(np.sqrt(np.mean(x * x))))).astype(np.float32)


@pytest.fixture(scope="module")
def still() -> Avatar:
    return load_avatar(None, 320, 180, 25, 10.0)


def video_avatar() -> Avatar:
    """Eight frames, each a different flat colour, with a mouth box."""
    frames = np.stack([np.full((72, 128, 3), 20 + 25 * k, np.uint8) for k in range(8)])
    frames[:, :, :, 2] = 200  # a reddish skin
    return Avatar(frames=frames, fps=25, mouth_box=(44, 40, 40, 24), source=Path("loop.mp4"))


def engine(avatar: Avatar, **kw: object) -> PuppetEngine:
    e = PuppetEngine(LipSyncSettings.model_validate(kw))
    e.load(avatar)
    return e


def render_all(e: LipSyncEngine, audio: Audio, start: int = 0, fps: int = 25) -> np.ndarray:
    batches = list(e.render(audio, start, fps))
    return np.concatenate(batches) if batches else np.zeros((0, 1, 1, 3), np.uint8)


def outside_box(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    mask = np.ones(frames.shape[1:3], bool)
    mask[y : y + h, x : x + w] = False
    return frames[:, mask]


def changed_in_box(frames: np.ndarray, avatar: Avatar, start: int = 0) -> int:
    assert avatar.mouth_box is not None
    x, y, w, h = avatar.mouth_box
    ref = np.stack([avatar.frame(start + i) for i in range(len(frames))])
    diff = frames[:, y : y + h, x : x + w].astype(int) - ref[:, y : y + h, x : x + w]
    return int((np.abs(diff).sum(axis=3) > 30).sum())


def test_make_lipsync_builds_the_puppet() -> None:
    e = make_lipsync(LipSyncSettings())
    assert isinstance(e, PuppetEngine) and e.name == "puppet"


@pytest.mark.parametrize(
    ("seconds", "rate", "fps", "frames"),
    [
        (3.0, 24000, 25, 75),
        (3.0, 48000, 30, 90),
        (1.001, 16000, 25, 26),
        (0.01, 22050, 25, 1),
        (2.5, 44100, 24, 60),
        (0.0, 24000, 25, 0),
    ],
)
def test_exact_frame_count_and_small_first_batch(
    still: Avatar, seconds: float, rate: int, fps: int, frames: int
) -> None:
    av = Avatar(frames=still.frames, fps=fps, mouth_box=still.mouth_box, source=still.source)
    audio = Audio(vowel(seconds, rate), rate)
    assert frame_count(audio, fps) == frames
    batches = list(engine(av).render(audio, 0, fps))
    assert sum(len(b) for b in batches) == frames
    if frames:
        assert len(batches[0]) <= FIRST_BATCH
    for b in batches:
        assert b.ndim == 4 and b.shape[1:] == (180, 320, 3) and b.dtype == np.uint8


def test_batches_grow_gradually(still: Avatar) -> None:
    # Each batch must render while the previous one plays: it is at most twice as long.
    audio = Audio(vowel(3.0, RATE), RATE)
    sizes = [len(b) for b in engine(still).render(audio, 0, 25)]
    assert sizes == [4, 8, 16, 25, 22]
    av = Avatar(frames=still.frames, fps=60, mouth_box=still.mouth_box, source=still.source)
    sizes = [len(b) for b in engine(av).render(audio, 0, 60)]
    assert sizes[:6] == [4, 8, 16, 32, 60, 60] and sum(sizes) == 180


def test_silence_gives_the_avatar_frames_unchanged(still: Avatar) -> None:
    out = render_all(engine(still), Audio(np.zeros(RATE * 2, np.float32), RATE))
    assert len(out) == 50
    assert (out == still.frames[0]).all()
    quiet = (np.random.default_rng(2).standard_normal(RATE) * 1e-3).astype(np.float32)  # -60 dB
    assert (render_all(engine(still), Audio(quiet, RATE)) == still.frames[0]).all()


def test_a_vowel_opens_the_mouth_and_only_the_mouth(still: Avatar) -> None:
    assert still.mouth_box is not None
    out = render_all(engine(still), Audio(vowel(1.0), RATE))
    assert changed_in_box(out[5:], still) > 0
    assert all(changed_in_box(out[i : i + 1], still) > 50 for i in range(10, 25))
    assert (outside_box(out, still.mouth_box) == outside_box(still.frames, still.mouth_box)).all()


def test_a_vowel_opens_wider_than_a_hiss_of_equal_loudness(still: Avatar) -> None:
    ah = analyse(Audio(vowel(1.0), RATE), 25, 0.5).openness
    ss = analyse(Audio(hiss(1.0), RATE), 25, 0.5).openness
    assert ah[10:].min() > 0.8
    assert ss[10:].max() < 0.25
    open_ah = changed_in_box(render_all(engine(still), Audio(vowel(1.0), RATE)), still)
    open_ss = changed_in_box(render_all(engine(still), Audio(hiss(1.0), RATE)), still)
    assert open_ah > 3 * open_ss


def test_low_hum_like_a_closed_m_keeps_the_mouth_nearly_shut() -> None:
    t = np.arange(RATE) / RATE
    m = np.sin(2 * np.pi * 120 * t) + 0.5 * np.sin(2 * np.pi * 240 * t)
    m = (m * (LEVEL / float(np.sqrt(np.mean(m * m))))).astype(np.float32)
    assert analyse(Audio(m, RATE), 25, 0.5).openness.max() < 0.25


def test_mouth_opens_fast_and_closes_slower_then_shuts_in_silence() -> None:
    x = np.concatenate([np.zeros(RATE // 2, np.float32), vowel(0.5), np.zeros(RATE, np.float32)])
    o = analyse(Audio(x, RATE), 25, 0.5).openness
    assert o[:12].max() == 0.0
    assert o[15] > 0.8  # three frames after the onset
    rise = int(np.argmax(o > 0.5)) - 12
    fall = int(np.argmax(o[25:] < 0.5))
    assert fall >= rise
    assert o[-1] < 0.04  # closed again: the last frames are the avatar's own
    # No smoothing: the openness jumps straight to the target.
    assert analyse(Audio(x, RATE), 25, 0.0).openness[14] > 0.95


def test_video_avatar_continues_from_start_frame() -> None:
    av = video_avatar()
    assert av.mouth_box is not None
    e = engine(av)
    audio = Audio(vowel(1.2), RATE)
    out = render_all(e, audio, start=7)
    ref = np.stack([av.frame(7 + i) for i in range(len(out))])
    assert len(out) == 30
    assert (outside_box(out, av.mouth_box) == outside_box(ref, av.mouth_box)).all()
    assert changed_in_box(out, av, start=7) > 0
    silent = render_all(e, Audio(np.zeros(RATE, np.float32), RATE), start=11)
    assert (silent == np.stack([av.frame(11 + i) for i in range(25)])).all()


def test_settings_mouth_box_overrides_the_avatar(still: Avatar) -> None:
    box = [10, 10, 60, 40]
    out = render_all(engine(still, mouth_box=box), Audio(vowel(1.0), RATE))
    moved = Avatar(frames=still.frames, fps=25, mouth_box=(10, 10, 60, 40), source=still.source)
    assert changed_in_box(out, moved) > 0
    assert (outside_box(out, (10, 10, 60, 40)) == outside_box(still.frames, (10, 10, 60, 40))).all()


def test_no_mouth_box_leaves_the_avatar_alone_and_says_so_once(
    still: Avatar, caplog: pytest.LogCaptureFixture
) -> None:
    av = Avatar(frames=still.frames, fps=25, mouth_box=None, source=still.source)
    with caplog.at_level(logging.WARNING, logger="streamer.lipsync"):
        e = engine(av)
        for _ in range(3):
            assert (render_all(e, Audio(vowel(0.4), RATE)) == still.frames[0]).all()
    assert len([r for r in caplog.records if "no mouth box" in r.message]) == 1


def test_render_needs_load_and_the_avatar_fps(still: Avatar) -> None:
    audio = Audio(vowel(0.2), RATE)
    with pytest.raises(LipSyncError, match="before load"):
        next(PuppetEngine(LipSyncSettings()).render(audio, 0, 25))
    with pytest.raises(LipSyncError, match="fps"):
        next(engine(still).render(audio, 0, 30))
    with pytest.raises(LipSyncError, match="start_frame"):
        next(engine(still).render(audio, -1, 25))


def test_open_scale_makes_a_wider_opening(still: Avatar) -> None:
    audio = Audio(vowel(1.0), RATE)
    small = changed_in_box(render_all(engine(still, open_scale=0.3), audio), still)
    large = changed_in_box(render_all(engine(still, open_scale=1.0), audio), still)
    assert large > small
