"""The avatar: the still image or looping face video that the lip-sync engine animates.

``load_avatar`` reads the source once, at start-up, and keeps it in memory already at
the output size and frame rate, so rendering never decodes or scales anything:

* **Scaling** covers the output: the source is scaled (aspect ratio kept) until it
  fills both width and height, then the overflow is cropped evenly on both sides
  (centre crop). No black bars; a little of the edges may be lost.
* **Frame rate**: a video is resampled to the output fps by frame index (output frame
  ``j`` shows source frame ``floor(j * source_fps / fps)``), and at most
  ``max_seconds`` of it are kept.
* **Looping**: ``Avatar.frame(i)`` plays a video forwards then backwards (ping-pong:
  0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...), so the loop never jumps from the last
  frame back to the first. A still image has one frame.
* **Mouth box** (output pixels, ``(x, y, w, h)``), first found wins: the ``mouth_box``
  argument; a sidecar ``<avatar>.json`` next to the file with
  ``{"mouth_box": [x, y, w, h]}`` in the source's pixels (scaled and cropped like the
  image); OpenCV's Haar frontal-face detector on the first frame (see
  ``mouth_from_face`` for the proportions); else ``None`` with a warning.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import streamer

log = logging.getLogger(__name__)

BLINK_EVERY_S = 4.0
BLINK_S = 0.12

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".gif"})

Box = tuple[int, int, int, int]


class AvatarError(Exception):
    """The avatar cannot be used: missing, unreadable or of an unknown kind."""


def default_avatar_path() -> Path:
    """The avatar shipped with the project: ``media/avatar.png`` in the repository."""
    return Path(streamer.__file__).resolve().parent.parent / "media" / "avatar.png"


@dataclass(frozen=True, slots=True, eq=False)
class Avatar:
    """Frames at the output size and fps, read-only. ``frames`` is (n, H, W, 3) uint8 BGR."""

    frames: np.ndarray
    fps: int
    mouth_box: Box | None
    source: Path
    # A still avatar may blink: this frame (eyes closed) is shown for BLINK_S every
    # BLINK_EVERY_S, so the idle loop is not a frozen picture.
    blink: np.ndarray | None = None

    def __post_init__(self) -> None:
        f = self.frames
        if f.ndim != 4 or f.shape[0] < 1 or f.shape[3] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be (n>=1, h, w, 3) uint8, got {f.shape} {f.dtype}")
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        f.flags.writeable = False
        if self.blink is not None:
            if self.blink.shape != f.shape[1:] or self.blink.dtype != np.uint8:
                raise ValueError(f"blink must be {f.shape[1:]} uint8, got {self.blink.shape}")
            self.blink.flags.writeable = False

    def blinking(self, i: int) -> bool:
        """Whether loop position ``i`` shows the blink frame (never at position 0)."""
        if self.blink is None or len(self.frames) != 1:
            return False
        period = max(2, round(BLINK_EVERY_S * self.fps))
        length = max(1, round(BLINK_S * self.fps))
        return i % period >= period - length

    @property
    def is_still(self) -> bool:
        return len(self.frames) == 1

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    def __len__(self) -> int:
        return len(self.frames)

    def index(self, i: int) -> int:
        """The stored frame shown at loop position ``i`` (ping-pong)."""
        if i < 0:
            raise ValueError(f"frame index must be >= 0, got {i}")
        n = len(self.frames)
        if n == 1:
            return 0
        period = 2 * n - 2
        k = i % period
        return k if k < n else period - k

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` of the endless loop, (H, W, 3) uint8 BGR, read-only: copy to draw."""
        if self.blink is not None and self.blinking(i):
            return self.blink
        return self.frames[self.index(i)]  # type: ignore[no-any-return]


def load_avatar(
    source: Path | None,
    width: int,
    height: int,
    fps: int,
    max_seconds: float,
    mouth_box: Sequence[int] | None = None,
) -> Avatar:
    """Read an image or video avatar at the output size and fps; see the module doc."""
    if width <= 0 or height <= 0 or fps <= 0 or max_seconds <= 0:
        raise ValueError(
            f"width, height, fps and max_seconds must be > 0, got "
            f"{width}x{height} {fps} fps {max_seconds} s"
        )
    path = default_avatar_path() if source is None else Path(source)
    if not path.is_file():
        hint = " (the default avatar: run scripts/draw_avatar.py)" if source is None else ""
        raise AvatarError(f"avatar file not found: {path}{hint}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        image = read_image(path)
        frames = [cover(image, width, height)]
        src_w, src_h = image.shape[1], image.shape[0]
    elif suffix in VIDEO_SUFFIXES:
        frames, (src_w, src_h) = read_video(path, fps, max_seconds, (width, height))
    else:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise AvatarError(f"avatar {path}: unknown file type {suffix!r}; use one of {kinds}")

    stack = np.stack(frames)
    box = _find_mouth(path, stack[0], (src_w, src_h), mouth_box)
    log.info(
        "avatar %s: %d frame(s) at %dx%d, %d fps, mouth box %s",
        path.name,
        len(stack),
        width,
        height,
        fps,
        box,
    )
    blink = _sidecar_blink(path, width, height) if len(stack) == 1 else None
    return Avatar(frames=stack, fps=fps, mouth_box=box, source=path, blink=blink)


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise AvatarError(f"avatar {path}: cannot read it as an image (damaged or not an image)")
    if img.dtype == np.uint16:
        img = np.right_shift(img, 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) * (255.0 / max(hi - lo, 1e-12))).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        # Transparent parts over white.
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return img


def _cover_geometry(src_w: int, src_h: int, width: int, height: int) -> tuple[float, int, int]:
    """Scale and crop offsets (x, y) that make a src_w x src_h image cover the output."""
    scale = max(width / src_w, height / src_h)
    scaled_w = max(width, round(src_w * scale))
    scaled_h = max(height, round(src_h * scale))
    return scale, (scaled_w - width) // 2, (scaled_h - height) // 2


def cover(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale (aspect kept) to cover width x height, then crop the overflow evenly."""
    src_h, src_w = img.shape[:2]
    scale, x0, y0 = _cover_geometry(src_w, src_h, width, height)
    scaled_w = max(width, round(src_w * scale))
    scaled_h = max(height, round(src_h * scale))
    if (scaled_w, scaled_h) != (src_w, src_h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (scaled_w, scaled_h), interpolation=interp)
    return np.ascontiguousarray(img[y0 : y0 + height, x0 : x0 + width])


def read_video(
    path: Path, fps: int, max_seconds: float, size: tuple[int, int] | None = None
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Decode up to ``max_seconds`` of a video and resample it to ``fps`` by frame index
    (output frame ``j`` is source frame ``floor(j * source_fps / fps)``); each frame is
    scaled to cover ``size`` (width, height) if given. Returns the frames and the
    source's (width, height)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise AvatarError(f"avatar {path}: cannot open it as a video")
        src_fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(src_fps) or src_fps <= 0 or src_fps > 1000:
            log.warning("avatar %s: no usable frame rate in the file; assuming %d fps", path, fps)
            src_fps = float(fps)
        limit = max(1, math.floor(max_seconds * src_fps + 1e-9))
        src_size: tuple[int, int] | None = None
        src: list[np.ndarray] = []
        while len(src) < limit:
            ok, img = cap.read()
            if not ok or img is None:
                break
            if src_size is None:
                src_size = (img.shape[1], img.shape[0])
            src.append(img if size is None else cover(img, *size))
    finally:
        cap.release()
    if src_size is None:
        raise AvatarError(f"avatar {path}: no frame could be decoded from the video")
    n_out = math.floor(len(src) * fps / src_fps + 1e-9)
    n_out = max(1, min(n_out, math.floor(max_seconds * fps + 1e-9)))
    picks = [min(len(src) - 1, math.floor(j * src_fps / fps + 1e-9)) for j in range(n_out)]
    return [src[k] for k in picks], src_size


def _clip_box(box: Sequence[float], width: int, height: int) -> Box | None:
    x0 = max(0, round(box[0]))
    y0 = max(0, round(box[1]))
    x1 = min(width, round(box[0] + box[2]))
    y1 = min(height, round(box[1] + box[3]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _sidecar_entry(path: Path, key: str) -> object:
    """``key`` of the avatar's sidecar ``<avatar>.json``, or None if it has none."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AvatarError(f"avatar sidecar {sidecar}: cannot read it: {exc}") from None
    return data.get(key) if isinstance(data, dict) else None


def _sidecar_blink(path: Path, width: int, height: int) -> np.ndarray | None:
    """The sidecar's ``"blink_image"`` (next to the avatar), at the output size."""
    sidecar = path.with_suffix(".json")
    name = _sidecar_entry(path, "blink_image")
    if name is None:
        return None
    if not isinstance(name, str) or Path(name).name != name:
        raise AvatarError(
            f'avatar sidecar {sidecar}: "blink_image" must be a file name next to the '
            f"avatar, got {name!r}"
        )
    blink_path = path.parent / name
    if not blink_path.is_file():
        raise AvatarError(f"avatar sidecar {sidecar}: blink image {blink_path} not found")
    return cover(read_image(blink_path), width, height)


def _sidecar_box(path: Path) -> list[float] | None:
    sidecar = path.with_suffix(".json")
    box = _sidecar_entry(path, "mouth_box")
    if box is None:
        return None
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        or box[2] <= 0
        or box[3] <= 0
    ):
        raise AvatarError(
            f'avatar sidecar {sidecar}: "mouth_box" must be [x, y, width, height] '
            f"in the image's pixels with width, height > 0, got {box!r}"
        )
    return [float(v) for v in box]


def mouth_from_face(face: Sequence[int]) -> tuple[float, float, float, float]:
    """Where the mouth sits in a Haar frontal-face box ``(x, y, w, h)``.

    The cascade's box spans about brows to chin; the mouth is centred horizontally,
    half the face wide, from 68% to 92% of the box height.
    """
    x, y, w, h = face
    return (x + 0.25 * w, y + 0.68 * h, 0.5 * w, 0.24 * h)


def detect_face(frame: np.ndarray) -> Box | None:
    """The largest frontal face in a BGR frame, or None (OpenCV Haar cascade)."""
    cv2_data: Any = importlib.import_module("cv2.data")  # cv2.data: not in the type stubs
    cascade_file = Path(cv2_data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(cascade_file))
    if cascade.empty():
        log.warning("OpenCV's face cascade %s is missing; no face detection", cascade_file)
        return None
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    # Detect on a copy at most 640 px wide: as good for a face filling the frame, faster.
    shrink = min(1.0, 640 / gray.shape[1])
    if shrink < 1.0:
        gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = max(24, min(gray.shape) // 8)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    if len(faces) == 0:
        return None
    fx, fy, fw, fh = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    return (round(fx / shrink), round(fy / shrink), round(fw / shrink), round(fh / shrink))


def _find_mouth(
    path: Path, first: np.ndarray, src_size: tuple[int, int], given: Sequence[int] | None
) -> Box | None:
    height, width = first.shape[:2]
    if given is not None:
        if len(given) != 4 or given[2] <= 0 or given[3] <= 0:
            raise AvatarError(f"mouth_box must be [x, y, width, height], got {list(given)}")
        box = _clip_box([float(v) for v in given], width, height)
        if box is None:
            raise AvatarError(f"mouth_box {list(given)} lies outside the {width}x{height} frame")
        return box
    side = _sidecar_box(path)
    if side is not None:
        scale, x0, y0 = _cover_geometry(src_size[0], src_size[1], width, height)
        scaled = [side[0] * scale - x0, side[1] * scale - y0, side[2] * scale, side[3] * scale]
        box = _clip_box(scaled, width, height)
        if box is not None:
            return box
        log.warning("avatar %s: the sidecar mouth box falls outside the cropped frame", path)
    face = detect_face(first)
    if face is not None:
        box = _clip_box(mouth_from_face(face), width, height)
        if box is not None:
            log.info("avatar %s: face found at %s; mouth box %s", path.name, face, box)
            return box
    log.warning(
        "avatar %s: no mouth box (no mouth_box setting, no %s, no face found); "
        "the mouth will not move. Set lipsync.mouth_box: [x, y, width, height].",
        path.name,
        path.with_suffix(".json").name,
    )
    return None
