"""wav2lip_fast.LipSyncEngine end to end on the CPU with random weights.

Speech in, full frames out: exact frame counts for still and looping-video avatars,
small first batches, output equal to the plain model's forward pasted as the reference
pastes it, soft paste touching only the lower face, silence shown as the avatar's own
frame, and the per-batch face encoder (cache over budget) equal to the cached one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.wav2lip_media import H, W, draw_face, randomize, write_video
from wav2lip_fast import (
    SAMPLE_RATE,
    LipSyncEngine,
    Wav2Lip,
    make_face_input,
    mel_chunks,
    melspectrogram,
    prepare_avatar,
)
from wav2lip_fast.engine import AvatarFaces, batch_schedule
from wav2lip_fast.paste import Paster, faces_to_uint8, soft_mask


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced-sounding audio: harmonics of a gliding pitch under a syllable envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    noise = rng.standard_normal(len(t)) * 0.01
    return (0.2 * voice * syllables + noise).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> Wav2Lip:
    return randomize(Wav2Lip(), seed=3)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> AvatarFaces:
    folder = tmp_path_factory.mktemp("still")
    path = folder / "face.png"
    cv2.imwrite(str(path), draw_face())
    prepared = prepare_avatar(path, fps=25, max_seconds=10, cache_dir=folder / "cache")
    return AvatarFaces.from_prepared(prepared)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> AvatarFaces:
    folder = tmp_path_factory.mktemp("video")
    path = write_video(folder / "face.mp4", [draw_face(shift=(i % 7) - 3) for i in range(20)])
    prepared = prepare_avatar(path, fps=25, max_seconds=10, cache_dir=folder / "cache")
    assert prepared.report["faces_found"] == 20
    return AvatarFaces.from_prepared(prepared)


@pytest.fixture(scope="module")
def engine(model: Wav2Lip) -> LipSyncEngine:
    return LipSyncEngine(model, device="cpu", paste="hard", batch_size=16)


def test_batch_schedule_starts_small_and_grows() -> None:
    assert batch_schedule(75, 4, 32) == [4, 8, 16, 32, 15]
    assert batch_schedule(3, 4, 32) == [3]
    assert batch_schedule(10, 8, 4) == [4, 4, 2]
    assert batch_schedule(0, 4, 32) == []
    assert sum(batch_schedule(1001, 4, 64)) == 1001


def test_three_seconds_give_75_frames_on_a_still_image(
    engine: LipSyncEngine, still: AvatarFaces
) -> None:
    engine.set_avatar(still)
    audio = speech_like(3.0)
    batches = list(engine.render(audio, 25))
    sizes = [len(b) for b in batches]
    assert sum(sizes) == 75 and sizes[0] <= 4
    frames = np.concatenate(batches)
    assert frames.shape == (75, H, W, 3) and frames.dtype == np.uint8
    # The audio keeps its length: 75 frames at 25 fps are exactly its 3.0 s.
    assert len(audio) / SAMPLE_RATE == pytest.approx(75 / 25)
    # Outside the face box nothing changes; inside, the generated face shows.
    x1, y1, x2, y2 = still.boxes[0].tolist()
    outside = frames.copy()
    outside[:, y1:y2, x1:x2] = still.frames[0][y1:y2, x1:x2]
    assert (outside == still.frames[0]).all()
    assert (frames[:, y1:y2, x1:x2] != still.frames[0][y1:y2, x1:x2]).any()


def test_three_seconds_give_75_frames_on_a_looping_video(
    engine: LipSyncEngine, video: AvatarFaces
) -> None:
    engine.set_avatar(video)
    frames = np.concatenate(list(engine.render(speech_like(3.0, seed=1), 25)))
    assert frames.shape == (75, H, W, 3)
    # Looped forwards like the reference: frame i is drawn over avatar frame i % 20,
    # so frames 0 and 20 share everything outside the face box.
    for i in (0, 1, 20, 21, 74):
        x1, y1, x2, y2 = video.boxes[i % 20].tolist()
        mask = np.ones((H, W), bool)
        mask[y1:y2, x1:x2] = False
        assert (frames[i][mask] == video.frames[i % 20][mask]).all()


def test_output_is_the_plain_model_pasted_like_the_reference(
    model: Wav2Lip, video: AvatarFaces
) -> None:
    engine = LipSyncEngine(model, device="cpu", paste="hard", skip_silence=False)
    engine.set_avatar(video)
    audio = speech_like(1.0, seed=2)
    got = np.concatenate(list(engine.render(audio, 25)))
    n = 25
    idx = np.arange(n) % len(video)
    # The reference's computation, written out with the plain (unfolded) model.
    mel = mel_chunks(melspectrogram(audio), 25, n)[:, None]
    faces = make_face_input(np.ascontiguousarray(video.crops[idx].transpose(0, 3, 1, 2)))
    with torch.no_grad():
        out = model(torch.from_numpy(mel), faces).numpy()
    generated = (out.transpose(0, 2, 3, 1) * 255.0).astype(np.uint8)
    worst = 0
    for i in range(n):
        x1, y1, x2, y2 = video.boxes[idx[i]].tolist()
        expected = video.frames[idx[i]].copy()
        expected[y1:y2, x1:x2] = cv2.resize(generated[i], (x2 - x1, y2 - y1))
        diff = np.abs(got[i].astype(int) - expected.astype(int))
        worst = max(worst, int(diff.max()))
        # float32 rounding may move a value across a truncation step: at most 1 level,
        # on a handful of pixels.
        assert (diff > 0).mean() < 0.01
    assert worst <= 1


def test_soft_paste_keeps_the_upper_face_and_the_edges(still: AvatarFaces) -> None:
    frame = still.frames[0]
    x1, y1, x2, y2 = still.boxes[0].tolist()
    face = np.full((96, 96, 3), 255, np.uint8)
    soft = Paster("soft").paste(frame, face, still.boxes[0])
    hard = Paster("hard").paste(frame, face, still.boxes[0])
    h, w = y2 - y1, x2 - x1
    assert (hard[y1:y2, x1:x2] == 255).all()
    # Upper half and everything outside the box: the avatar's own pixels.
    assert (soft[: y1 + h // 2 - 1] == frame[: y1 + h // 2 - 1]).all()
    outside = soft.copy()
    outside[y1:y2, x1:x2] = frame[y1:y2, x1:x2]
    assert (outside == frame).all()
    # Lower middle of the box: the generated face; the box's left and right edges blend.
    assert (soft[y2 - 3, x1 + w // 2] == 255).all()
    assert (soft[y1 + 3 * h // 4, x1] != 255).all()
    mask = soft_mask(w, h)
    assert mask.shape == (h, w, 1) and mask.min() >= 0 and mask.max() <= 1
    assert mask[: h // 2 - 1].max() < 0.01 and mask[-1, w // 2, 0] > 0.99


def test_faces_to_uint8_truncates_like_the_reference() -> None:
    faces = np.array([0.0, 0.5, 0.999, 1.0], np.float32).reshape(1, 1, 1, 4)
    faces = np.repeat(faces, 3, axis=1)
    got = faces_to_uint8(faces)
    assert got.shape == (1, 1, 4, 3)
    assert got[0, 0, :, 0].tolist() == [0, 127, 254, 255]


def test_silence_shows_the_avatar_frame_and_costs_no_generation(
    model: Wav2Lip, video: AvatarFaces
) -> None:
    engine = LipSyncEngine(model, device="cpu")
    engine.set_avatar(video)
    audio = np.zeros(SAMPLE_RATE, np.float32)  # 1 s of silence, then 1 s of speech
    audio = np.concatenate([audio, speech_like(1.0, seed=4)])
    frames = np.concatenate(list(engine.render(audio, 25)))
    assert frames.shape[0] == 50
    # The first frames' 200 ms windows hold only silence: the avatar as it is.
    for i in range(20):
        assert (frames[i] == video.frames[i % len(video)]).all()
    assert engine.stats.silent >= 20
    assert engine.stats.generated == 50 - engine.stats.silent >= 24
    # Quiet noise under about -80 dBFS counts as silence too; -60 dBFS does not.
    rng = np.random.default_rng(0)
    before = engine.stats.generated
    quiet = (rng.standard_normal(SAMPLE_RATE) * 10 ** (-85 / 20)).astype(np.float32)
    list(engine.render(quiet, 25))
    assert engine.stats.generated == before
    louder = (rng.standard_normal(SAMPLE_RATE // 5) * 10 ** (-60 / 20)).astype(np.float32)
    list(engine.render(louder, 25))
    assert engine.stats.generated == before + 5


def test_encoding_faces_per_batch_equals_the_cache(model: Wav2Lip, video: AvatarFaces) -> None:
    audio = speech_like(0.6, seed=5)
    cached = LipSyncEngine(model, device="cpu")
    cached.set_avatar(video)
    per_batch = LipSyncEngine(model, device="cpu", face_cache_bytes=0)
    per_batch.set_avatar(video)
    a = np.concatenate(list(cached.render(audio, 25)))
    b = np.concatenate(list(per_batch.render(audio, 25)))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # the one-shot path asks for it explicitly (each avatar frame shown once)
    asked = LipSyncEngine(model, device="cpu")
    asked.set_avatar(video, cache_faces=False)
    assert asked._avatar is not None and asked._avatar.skips is None
    assert cached._avatar is not None and cached._avatar.skips is not None
    c = np.concatenate(list(asked.render(audio, 25)))
    assert np.array_equal(b, c)


def test_frame_indices_and_backgrounds(model: Wav2Lip, video: AvatarFaces) -> None:
    engine = LipSyncEngine(model, device="cpu")
    engine.set_avatar(video)
    audio = np.zeros(SAMPLE_RATE // 5, np.float32)  # 5 silent frames
    idx = [3, 4, 5, 4, 3]
    frames = np.concatenate(list(engine.render(audio, 25, idx)))
    for i, k in enumerate(idx):
        assert (frames[i] == video.frames[k]).all()
    black = np.zeros_like(video.frames[0])
    frames = np.concatenate(list(engine.render(audio, 25, idx, backgrounds=lambda i: black)))
    assert (frames == 0).all()
    forced = list(engine.render(audio, 25, np.zeros(7, np.int64), n_frames=7))
    assert sum(len(b) for b in forced) == 7
    with pytest.raises(ValueError, match="frame indices"):
        list(engine.render(audio, 25, [0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        list(engine.render(audio, 25, [0, 1, 2, 3, 99]))


def test_render_needs_an_avatar_and_float_audio(model: Wav2Lip) -> None:
    engine = LipSyncEngine(model, device="cpu")
    with pytest.raises(RuntimeError, match="set_avatar"):
        list(engine.render(np.zeros(100, np.float32), 25))
    with pytest.raises(ValueError, match="mode"):
        LipSyncEngine(model, mode="turbo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="paste"):
        LipSyncEngine(model, paste="glue")  # type: ignore[arg-type]


def test_from_checkpoint_loads_a_reference_layout_file(tmp_path: Path, model: Wav2Lip) -> None:
    from wav2lip_fast import save_reference_checkpoint

    path = tmp_path / "wav2lip_gan.pth"
    save_reference_checkpoint(model, path, module_prefix=True)
    engine = LipSyncEngine.from_checkpoint(path, device="cpu")
    assert engine.device.type == "cpu" and engine.batch_size == 32
    mel = torch.zeros(2, 1, 80, 16)
    faces = torch.rand(2, 6, 96, 96)
    with torch.no_grad():
        expected = model(mel, faces)
    got = engine.generator.forward_full(mel, faces)
    assert float((got - expected).abs().max()) < 1e-4


def test_fast_mode_generates_half_the_frames_close_to_exact(
    model: Wav2Lip, video: AvatarFaces
) -> None:
    audio = speech_like(2.0, seed=6)
    exact = LipSyncEngine(model, device="cpu", paste="hard")
    fast = LipSyncEngine(model, device="cpu", paste="hard", mode="fast", fast_stride=2)
    exact.set_avatar(video)
    fast.set_avatar(video)
    a = np.concatenate(list(exact.render(audio, 25)))
    b = np.concatenate(list(fast.render(audio, 25)))
    assert a.shape == b.shape == (50, H, W, 3)
    s = fast.stats
    assert s.generated + s.interpolated + s.silent == 50
    assert exact.stats.interpolated == 0 and s.interpolated >= 18
    assert s.generated <= 32  # every other frame, plus each batch's last frame
    assert not (a == b).all()
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 35
    # Frames at even positions are generated, so they are the exact ones.
    assert (a[0::2] == b[0::2]).all()


def test_soft_paste_decodes_only_the_lower_face_with_the_same_frames(
    model: Wav2Lip, video: AvatarFaces
) -> None:
    from wav2lip_fast.fast import LOWER_FROM_ROW

    engine = LipSyncEngine(model, device="cpu", paste="soft", skip_silence=False)
    engine.set_avatar(video)
    audio = speech_like(0.4, seed=7)
    got = np.concatenate(list(engine.render(audio, 25)))
    n = len(got)
    mel = mel_chunks(melspectrogram(audio), 25, n)[:, None]
    skips = engine.generator.prepare_faces(video.crops[:n].transpose(0, 3, 1, 2))
    full = engine.generator.generate(mel, skips).numpy()
    lower = engine.generator.generate(mel, skips, lower_only=True).numpy()
    assert np.abs(full[:, :, LOWER_FROM_ROW:] - lower[:, :, LOWER_FROM_ROW:]).max() < 1e-4
    assert (lower[:, :, :LOWER_FROM_ROW] == 0).all()
    faces = faces_to_uint8(full)
    paster = Paster("soft")
    for i in range(n):
        expected = paster.paste(video.frames[i], faces[i], video.boxes[i])
        assert np.abs(got[i].astype(int) - expected.astype(int)).max() <= 1


def test_the_soft_paste_never_reads_the_rows_the_lower_decode_leaves_out() -> None:
    """For every box height, face rows above LOWER_FROM_ROW do not change the frame."""
    from wav2lip_fast.fast import LOWER_FROM_ROW

    rng = np.random.default_rng(9)
    face = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    other = face.copy()
    other[:LOWER_FROM_ROW] = 255 - other[:LOWER_FROM_ROW]  # garbage above the cut
    frame = rng.integers(0, 256, (740, 260, 3), dtype=np.uint8)
    paster = Paster("soft")
    for height in range(8, 721):
        box = np.array([10, 5, 10 + max(8, height // 3), 5 + height])
        a = paster.paste(frame, face, box)
        b = paster.paste(frame, other, box)
        assert np.array_equal(a, b), height
    # and one row more would be read: the cut is as low as it can go
    other[LOWER_FROM_ROW] = 255 - other[LOWER_FROM_ROW]
    box = np.array([10, 5, 250, 5 + 720])
    assert not np.array_equal(paster.paste(frame, face, box), paster.paste(frame, other, box))


@pytest.mark.parametrize("stride", [3, 4])
def test_fast_mode_strides_blend_between_generated_frames(
    model: Wav2Lip, video: AvatarFaces, stride: int
) -> None:
    audio = speech_like(1.5, seed=8)
    exact = LipSyncEngine(model, device="cpu", paste="hard")
    fast = LipSyncEngine(model, device="cpu", paste="hard", mode="fast", fast_stride=stride)
    exact.set_avatar(video)
    fast.set_avatar(video)
    a = np.concatenate(list(exact.render(audio, 25)))
    b = np.concatenate(list(fast.render(audio, 25)))
    assert len(a) == len(b) == 38
    assert fast.stats.generated <= 38 // stride + 2 * 4  # + run edges in the 4 batches
    assert (a[0::stride] == b[0::stride]).all()  # the generated ones are exact
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
    with pytest.raises(ValueError, match="fast_stride"):
        LipSyncEngine(model, mode="fast", fast_stride=1)
