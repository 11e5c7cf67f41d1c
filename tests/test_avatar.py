"""The avatar loader: images and videos at the output size and fps, and the mouth box."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.avatar import (
    Avatar,
    AvatarError,
    default_avatar_path,
    detect_face,
    load_avatar,
    mouth_from_face,
)

STEP = 12  # grey level step between the frames of a test video


def write_video(path: Path, fps: float, n: int, size: tuple[int, int] = (64, 48)) -> None:
    """A video whose frame k is flat grey k * STEP (decodable back to k)."""
    fourcc = cv2.VideoWriter.fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened()
    for k in range(n):
        writer.write(np.full((size[1], size[0], 3), k * STEP, np.uint8))
    writer.release()


def index_of(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / STEP)


def test_default_avatar_is_shipped_with_its_mouth_box() -> None:
    path = default_avatar_path()
    assert path.name == "avatar.png" and path.parent.name == "media"
    assert path.stat().st_size < 300_000
    av = load_avatar(None, 1280, 720, 25, 10.0)
    assert av.source == path
    assert av.frames.shape == (1, 720, 1280, 3) and av.frames.dtype == np.uint8
    assert av.is_still and len(av) == 1 and av.fps == 25
    side = json.loads(path.with_suffix(".json").read_text())["mouth_box"]
    assert av.mouth_box == tuple(side)


def test_default_avatar_scaled_scales_the_mouth_box() -> None:
    av = load_avatar(None, 640, 360, 30, 10.0)
    assert av.frames.shape == (1, 360, 640, 3)
    assert av.mouth_box == (288, 214, 64, 40)


def test_image_covers_the_output_with_a_centre_crop(tmp_path: Path) -> None:
    img = np.zeros((100, 200, 3), np.uint8)  # 2:1, to a square output
    img[:, :50] = (0, 0, 255)  # left quarter red: cropped away
    img[:, 50:150] = (0, 255, 0)  # centre half green: kept
    img[:, 150:] = (255, 0, 0)
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), img)
    path.with_suffix(".json").write_text(json.dumps({"mouth_box": [60, 10, 20, 30]}))
    av = load_avatar(path, 50, 50, 25, 5.0)
    assert av.frames.shape == (1, 50, 50, 3)
    assert (av.frames[0, :, 2:-2] == (0, 255, 0)).all()
    # Scale 0.5, crop 25 px on the left: the sidecar box lands at (5, 5, 10, 15).
    assert av.mouth_box == (5, 5, 10, 15)


def test_portrait_image_is_cropped_top_and_bottom(tmp_path: Path) -> None:
    img = np.zeros((400, 100, 3), np.uint8)
    img[150:250] = 200
    path = tmp_path / "tall.jpg"
    cv2.imwrite(str(path), img)
    av = load_avatar(path, 200, 200, 25, 5.0)
    assert av.frames.shape == (1, 200, 200, 3)
    assert abs(float(av.frames[0, 100].mean()) - 200) < 4  # the middle band fills it


def test_transparent_png_goes_over_white_and_grey_images_work(tmp_path: Path) -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)
    path = tmp_path / "clear.png"
    cv2.imwrite(str(path), rgba)
    assert (load_avatar(path, 20, 20, 25, 1.0).frames == 255).all()
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((20, 20), 77, np.uint8))
    assert (load_avatar(grey, 20, 20, 25, 1.0).frames == 77).all()


def test_given_mouth_box_wins_over_the_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), np.zeros((100, 100, 3), np.uint8))
    path.with_suffix(".json").write_text(json.dumps({"mouth_box": [1, 2, 3, 4]}))
    av = load_avatar(path, 100, 100, 25, 1.0, mouth_box=[40, 60, 20, 10])
    assert av.mouth_box == (40, 60, 20, 10)
    # Clipped to the frame when it overhangs.
    assert load_avatar(path, 100, 100, 25, 1.0, mouth_box=[90, 95, 20, 10]).mouth_box == (
        90,
        95,
        10,
        5,
    )
    with pytest.raises(AvatarError, match="outside"):
        load_avatar(path, 100, 100, 25, 1.0, mouth_box=[200, 200, 5, 5])


def test_no_sidecar_and_no_face_gives_no_mouth_box(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), np.full((90, 160, 3), 128, np.uint8))
    with caplog.at_level(logging.WARNING, logger="streamer.avatar"):
        av = load_avatar(path, 160, 90, 25, 1.0)
    assert av.mouth_box is None
    assert "no mouth box" in caplog.text and "lipsync.mouth_box" in caplog.text


def test_bad_sidecar_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), np.zeros((10, 10, 3), np.uint8))
    path.with_suffix(".json").write_text(json.dumps({"mouth_box": [1, 2, -3, 4]}))
    with pytest.raises(AvatarError, match="mouth_box"):
        load_avatar(path, 10, 10, 25, 1.0)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(AvatarError, match="sidecar"):
        load_avatar(path, 10, 10, 25, 1.0)


def test_mouth_from_face_proportions_and_no_face_on_a_blank_frame() -> None:
    assert mouth_from_face((100, 200, 400, 400)) == (200.0, 472.0, 200.0, 96.0)
    assert detect_face(np.full((240, 320, 3), 90, np.uint8)) is None


@pytest.mark.parametrize("suffix", [".avi", ".mp4", ".mkv"])
def test_video_is_resampled_up_to_the_output_fps(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"face{suffix}"
    write_video(path, 10, 20)  # 2 s at 10 fps
    av = load_avatar(path, 32, 24, 25, 10.0)
    assert av.frames.shape == (50, 24, 32, 3) and not av.is_still and av.fps == 25
    assert [index_of(f) for f in av.frames] == [j * 10 // 25 for j in range(50)]


def test_video_is_resampled_down_and_cut_at_max_seconds(tmp_path: Path) -> None:
    path = tmp_path / "fast.avi"
    write_video(path, 30, 20)  # 0.67 s at 30 fps
    av = load_avatar(path, 64, 48, 10, 10.0)
    assert [index_of(f) for f in av.frames] == [0, 3, 6, 9, 12, 15]
    path = tmp_path / "long.avi"
    write_video(path, 10, 20)
    av = load_avatar(path, 64, 48, 25, 1.0)
    assert len(av) == 25
    assert index_of(av.frames[-1]) == 24 * 10 // 25


def test_video_loops_ping_pong_and_is_read_only(tmp_path: Path) -> None:
    frames = np.stack([np.full((4, 4, 3), k, np.uint8) for k in range(4)])
    av = Avatar(frames=frames, fps=25, mouth_box=None, source=tmp_path / "x.mp4")
    assert [av.index(i) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert int(av.frame(1000)[0, 0, 0]) == av.index(1000)
    with pytest.raises(ValueError):
        av.frame(0)[0, 0, 0] = 9
    still = Avatar(frames=frames[:1], fps=25, mouth_box=None, source=tmp_path / "x.png")
    assert still.is_still and still.index(12345) == 0


def test_missing_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AvatarError, match="not found"):
        load_avatar(tmp_path / "nope.png", 64, 48, 25, 1.0)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(AvatarError, match="cannot read"):
        load_avatar(bad, 64, 48, 25, 1.0)
    bad_video = tmp_path / "bad.mp4"
    bad_video.write_bytes(b"\x00" * 1000)
    with pytest.raises(AvatarError, match=r"bad\.mp4"):
        load_avatar(bad_video, 64, 48, 25, 1.0)
    text = tmp_path / "face.txt"
    text.write_text("hello")
    with pytest.raises(AvatarError, match="unknown file type"):
        load_avatar(text, 64, 48, 25, 1.0)


def test_the_default_avatar_blinks_now_and_then() -> None:
    avatar = load_avatar(None, 640, 360, 25, 10)
    assert avatar.blink is not None and avatar.is_still
    shown = [avatar.blinking(i) for i in range(25 * 12)]
    assert not shown[0]  # never at the start (the puppet samples lip colour there)
    # About every 4 s, for about 0.12 s (3 frames at 25 fps): 3 blinks in 12 s.
    starts = [i for i in range(1, len(shown)) if shown[i] and not shown[i - 1]]
    assert len(starts) == 3 and all(b - a == 100 for a, b in itertools.pairwise(starts))
    assert sum(shown) == 9
    closed = avatar.frame(starts[0])
    assert closed is avatar.blink
    changed = np.argwhere((closed != avatar.frames[0]).any(axis=2))
    assert len(changed) > 0
    # Only the eyes change: nothing at or below the mouth box.
    assert avatar.mouth_box is not None
    assert changed[:, 0].max() < avatar.mouth_box[1]


def test_a_blink_image_must_sit_next_to_the_avatar(tmp_path: Path) -> None:
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((40, 60, 3), 128, np.uint8))
    (tmp_path / "face.json").write_text(json.dumps({"blink_image": "../x.png"}))
    with pytest.raises(AvatarError, match="blink_image"):
        load_avatar(image, 60, 40, 25, 10)
    (tmp_path / "face.json").write_text(json.dumps({"blink_image": "closed.png"}))
    with pytest.raises(AvatarError, match="not found"):
        load_avatar(image, 60, 40, 25, 10)
    cv2.imwrite(str(tmp_path / "closed.png"), np.full((40, 60, 3), 90, np.uint8))
    avatar = load_avatar(image, 60, 40, 25, 10)
    assert avatar.blink is not None and int(avatar.blink.mean()) == 90
