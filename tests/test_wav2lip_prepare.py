"""Avatar preparation: face boxes (padding, smoothing, gap filling) and the safe cache.

The Haar detector is tested on a synthetic face drawn here (an oval with dark eyes,
brows, nose and mouth, which OpenCV's frontal-face cascade finds). The box logic and
the cache are tested with a fake detector that returns known boxes: the detector is
the edge of the system.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.wav2lip_media import H, W, draw_face, write_video
from wav2lip_fast import (
    FaceDetectionError,
    HaarFaceDetector,
    PreparedAvatar,
    detect_boxes,
    prepare_avatar,
)
from wav2lip_fast.faces import Box


class FakeDetector:
    """Returns the given box per frame index (in call order); counts calls."""

    def __init__(self, boxes: Sequence[Box | None], name: str = "fake:v1") -> None:
        self.boxes = list(boxes)
        self.name = name
        self.calls = 0
        self.seen = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[Box | None]:
        self.calls += 1
        out = [self.boxes[(self.seen + i) % len(self.boxes)] for i in range(len(frames))]
        self.seen += len(frames)
        return out


class CountingHaar:
    def __init__(self) -> None:
        self.inner = HaarFaceDetector()
        self.name = self.inner.name
        self.calls = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[Box | None]:
        self.calls += 1
        return self.inner.detect(frames)


def blank(n: int) -> np.ndarray:
    return np.zeros((n, H, W, 3), np.uint8)


def reference_smooth(boxes: np.ndarray, window: int) -> np.ndarray:
    """The reference's smoothing as its notes describe it: a plain in-place loop."""
    out = boxes.astype(np.int64).copy()
    n = len(out)
    for i in range(n):
        win = out[n - window :] if i + window > n else out[i : i + window]
        out[i] = np.mean(win, axis=0)
    return out


# --- faces -----------------------------------------------------------------------


def test_haar_finds_the_synthetic_face_and_nothing_in_a_blank_frame() -> None:
    det = HaarFaceDetector()
    (box,) = det.detect([draw_face()])
    assert box is not None
    x1, y1, x2, y2 = box
    # The face oval spans x 97..223, y 38..202 (the cascade's box was 76, 45, 246, 215).
    assert 60 <= x1 <= 110 and 210 <= x2 <= 260
    assert 25 <= y1 <= 70 and 180 <= y2 <= 235
    assert det.detect([np.full((H, W, 3), 90, np.uint8)]) == [None]
    assert "opencv-haar" in det.name and cv2.__version__ in det.name


def test_boxes_are_padded_and_clipped_to_the_frame() -> None:
    raw: list[Box | None] = [(50, 40, 150, 200), (-5, -3, 330, 236)]
    track = detect_boxes(blank(2), FakeDetector(raw), smooth_window=1)
    # Default pads: 10 px below the chin only.
    assert track.boxes.tolist() == [[50, 40, 150, 210], [0, 0, W, H]]
    assert track.boxes.dtype == np.int32
    track = detect_boxes(blank(1), FakeDetector(raw[:1]), pads=(5, 60, 7, 200), smooth_window=1)
    assert track.boxes.tolist() == [[43, 35, W, H]]
    # A box that lies outside the frame still gives at least one pixel inside it.
    track = detect_boxes(blank(1), FakeDetector([(400, 300, 500, 400)]), smooth_window=1)
    (x1, y1, x2, y2) = track.boxes[0].tolist()
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H


def test_smoothing_matches_the_reference_in_place_window_mean() -> None:
    rng = np.random.default_rng(0)
    n = 23
    x1 = rng.integers(0, 100, n)
    y1 = rng.integers(0, 80, n)
    raw = np.stack([x1, y1, x1 + rng.integers(50, 150, n), y1 + rng.integers(50, 140, n)], 1)
    boxes: list[Box | None] = [tuple(int(v) for v in b) for b in raw]  # type: ignore[misc]
    track = detect_boxes(blank(n), FakeDetector(boxes), pads=(0, 0, 0, 0))
    np.testing.assert_array_equal(track.boxes, reference_smooth(raw, 5))
    # The window is a setting; 1 turns smoothing off.
    track3 = detect_boxes(blank(n), FakeDetector(boxes), pads=(0, 0, 0, 0), smooth_window=3)
    np.testing.assert_array_equal(track3.boxes, reference_smooth(raw, 3))
    off = detect_boxes(blank(n), FakeDetector(boxes), pads=(0, 0, 0, 0), smooth_window=1)
    np.testing.assert_array_equal(off.boxes, raw)
    # Fewer frames than the window: each box averages all of them, in place
    # (box 1 sees box 0 already smoothed: mean(1, 3) = 2).
    two = detect_boxes(blank(2), FakeDetector([(0, 0, 10, 10), (3, 3, 13, 13)]), pads=(0, 0, 0, 0))
    assert two.boxes.tolist() == [[1, 1, 11, 11], [2, 2, 12, 12]]


def test_frames_without_a_face_are_interpolated_and_counted() -> None:
    seq: list[Box | None] = [None, (10, 10, 50, 50), None, None, (40, 70, 80, 110), None]
    calls: list[tuple[int, int]] = []
    track = detect_boxes(
        blank(6),
        FakeDetector(seq),
        pads=(0, 0, 0, 0),
        smooth_window=1,
        batch_size=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert track.boxes.tolist() == [
        [10, 10, 50, 50],  # before the first face: copied
        [10, 10, 50, 50],
        [20, 30, 60, 70],  # linear between frames 1 and 4
        [30, 50, 70, 90],
        [40, 70, 80, 110],
        [40, 70, 80, 110],  # after the last face: copied
    ]
    assert track.missing.tolist() == [0, 2, 3, 5]
    assert track.report() == {"frames": 6, "faces_found": 2, "interpolated": 4}
    assert calls == [(0, 6), (4, 6), (6, 6)]
    with pytest.raises(FaceDetectionError, match="no face found in any of the 3"):
        detect_boxes(blank(3), FakeDetector([None]))


# --- prepare and cache -----------------------------------------------------------


@pytest.fixture
def face_video(tmp_path: Path) -> Path:
    frames = [draw_face(shift=(i % 5) - 2) for i in range(12)]
    frames[6] = np.full((H, W, 3), 60, np.uint8)  # one frame without a face
    return write_video(tmp_path / "face.mp4", frames)


def test_prepare_with_haar_builds_then_reuses_the_cache(face_video: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    det = CountingHaar()
    progress: list[tuple[int, int]] = []
    first = prepare_avatar(
        face_video,
        fps=25,
        max_seconds=10,
        cache_dir=cache,
        detector=det,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert det.calls > 0
    assert progress[-1] == (12, 12)
    assert first.report["frames"] == 12
    assert first.report["cached"] is False
    assert first.report["interpolated"] >= 1 and 6 in first.missing.tolist()
    assert first.report["faces_found"] + first.report["interpolated"] == 12
    assert first.boxes.shape == (12, 4) and first.crops.shape == (12, 96, 96, 3)
    assert first.crops.dtype == np.uint8 and first.frames is not None
    x1, y1, x2, y2 = first.boxes[0].tolist()
    expected = cv2.resize(first.frames[0][y1:y2, x1:x2], (96, 96))
    np.testing.assert_array_equal(first.crops[0], expected)
    assert first.cache_file.parent == cache and first.cache_file.suffix == ".npz"

    again = CountingHaar()
    second = prepare_avatar(face_video, fps=25, max_seconds=10, cache_dir=cache, detector=again)
    assert again.calls == 0
    assert second.report["cached"] is True and second.frames is None
    np.testing.assert_array_equal(second.boxes, first.boxes)
    np.testing.assert_array_equal(second.crops, first.crops)
    np.testing.assert_array_equal(second.missing, first.missing)
    assert second.source_sha256 == first.source_sha256
    np.testing.assert_array_equal(second.load_frames(), first.frames)


def _prepare(path: Path, cache: Path, det: FakeDetector, **kw: object) -> PreparedAvatar:
    args: dict[str, object] = {"fps": 25, "max_seconds": 10.0, "cache_dir": cache, "detector": det}
    args.update(kw)
    return prepare_avatar(path, **args)  # type: ignore[arg-type]


def test_changed_video_or_setting_rebuilds(tmp_path: Path) -> None:
    video = write_video(tmp_path / "a.mp4", [blank(1)[0]] * 8)
    cache = tmp_path / "cache"
    box: list[Box | None] = [(40, 30, 200, 200)]
    base = _prepare(video, cache, FakeDetector(box))
    assert base.report["cached"] is False
    same = FakeDetector(box)
    _prepare(video, cache, same)
    assert same.calls == 0

    changes: list[dict[str, object]] = [
        {"pads": (0, 20, 0, 0)},
        {"smooth_window": 3},
        {"fps": 10},
        {"max_seconds": 0.2},
        {"size": (160, 120)},
    ]
    for change in changes:
        det = FakeDetector(box)
        got = _prepare(video, cache, det, **change)
        assert det.calls > 0, change
        assert got.report["cached"] is False
    det = FakeDetector(box, name="fake:v2")  # another detector or version
    _prepare(video, cache, det)
    assert det.calls > 0

    # New bytes under the same name: rebuilt, and the new file's hash is recorded.
    write_video(video, [np.full((H, W, 3), 30, np.uint8)] * 8)
    det = FakeDetector(box)
    changed = _prepare(video, cache, det)
    assert det.calls > 0 and changed.source_sha256 != base.source_sha256


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "tamper_boxes", "wrong_key"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    video = write_video(tmp_path / "a.mp4", [blank(1)[0]] * 5)
    cache = tmp_path / "cache"
    box: list[Box | None] = [(40, 30, 200, 200)]
    built = _prepare(video, cache, FakeDetector(box))
    path = built.cache_file
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if damage == "tamper_boxes":
            arrays["boxes"] = arrays["boxes"] + 1000
        else:
            meta = bytes(arrays["meta"]).replace(b'"key": "', b'"key": "0')
            arrays["meta"] = np.frombuffer(meta, np.uint8)
        with path.open("wb") as fh:
            np.savez(fh, **arrays)

    det = FakeDetector(box)
    with caplog.at_level(logging.WARNING, logger="wav2lip_fast.prepare"):
        rebuilt = _prepare(video, cache, det)
    assert det.calls > 0 and rebuilt.report["cached"] is False
    assert any(
        r.levelno == logging.WARNING and "unusable" in r.getMessage() for r in caplog.records
    )
    np.testing.assert_array_equal(rebuilt.boxes, built.boxes)
    # The rebuilt file is good again.
    det = FakeDetector(box)
    assert _prepare(video, cache, det).report["cached"] is True and det.calls == 0


class _Payload:
    """Unpickling this runs os.mkdir(marker): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("member", ["meta", "boxes", "extra"])
def test_loading_a_cache_never_unpickles(
    tmp_path: Path, member: str, caplog: pytest.LogCaptureFixture
) -> None:
    video = write_video(tmp_path / "a.mp4", [blank(1)[0]] * 5)
    cache = tmp_path / "cache"
    box: list[Box | None] = [(40, 30, 200, 200)]
    built = _prepare(video, cache, FakeDetector(box))
    marker = tmp_path / "code-ran"
    with np.load(built.cache_file, allow_pickle=False) as npz:
        arrays: dict[str, Any] = {k: npz[k] for k in npz.files}
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    arrays[member] = evil
    with built.cache_file.open("wb") as fh:
        np.savez(fh, **arrays)  # np.savez pickles object arrays
    with zipfile.ZipFile(built.cache_file) as zf:
        assert f"{member}.npy" in zf.namelist()

    det = FakeDetector(box)
    with caplog.at_level(logging.WARNING, logger="wav2lip_fast.prepare"):
        rebuilt = _prepare(video, cache, det)
    assert not marker.exists(), "loading the cache ran code"
    assert det.calls > 0 and rebuilt.report["cached"] is False
    assert any("unusable" in r.getMessage() for r in caplog.records)


def test_still_image_gives_one_frame(tmp_path: Path) -> None:
    image = tmp_path / "face.png"
    assert cv2.imwrite(str(image), draw_face())
    got = prepare_avatar(image, fps=25, max_seconds=10, cache_dir=tmp_path / "c")
    assert got.report["frames"] == 1 and got.report["faces_found"] == 1
    assert got.crops.shape == (1, 96, 96, 3)
    again = prepare_avatar(image, fps=25, max_seconds=10, cache_dir=tmp_path / "c")
    assert again.report["cached"] is True
    np.testing.assert_array_equal(again.boxes, got.boxes)


def test_video_resampled_to_fps_and_cut_to_max_seconds(tmp_path: Path) -> None:
    video = write_video(tmp_path / "a.mp4", [blank(1)[0]] * 20, fps=25)
    box: list[Box | None] = [(40, 30, 200, 200)]
    # 20 source frames at 25 fps = 0.8 s -> 8 frames at 10 fps; 0.5 s -> 5 frames.
    got = _prepare(video, tmp_path / "c", FakeDetector(box), fps=10, max_seconds=10)
    assert got.report["frames"] == 8
    short = _prepare(video, tmp_path / "c", FakeDetector(box), fps=25, max_seconds=0.5)
    assert short.report["frames"] == 12
    sized = _prepare(video, tmp_path / "c", FakeDetector(box), size=(160, 160))
    assert sized.frames is not None and sized.frames.shape == (20, 160, 160, 3)


def test_frames_given_that_do_not_match_the_cache_rebuild_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = np.stack([draw_face(shift=s) for s in (-2, 0, 2)])
    path = write_video(tmp_path / "face.mp4", list(frames))
    first = prepare_avatar(path, fps=25, max_seconds=10, cache_dir=tmp_path, frames=frames)
    assert first.report["cached"] is False and len(first) == 3
    again = prepare_avatar(path, fps=25, max_seconds=10, cache_dir=tmp_path, frames=frames)
    assert again.report["cached"] is True and again.frames is frames
    with caplog.at_level(logging.WARNING, logger="wav2lip_fast.prepare"):
        fewer = prepare_avatar(path, fps=25, max_seconds=10, cache_dir=tmp_path, frames=frames[:2])
    assert fewer.report["cached"] is False and len(fewer) == 2
    assert "rebuilding" in caplog.text
