"""Face boxes for every avatar frame: detection, padding, smoothing, gap filling.

The reference detects faces with S3FD, whose weights are not in any wheel and which
costs seconds per 720p frame on a CPU. The default here is OpenCV's Haar frontal-face
cascade, which ships inside the ``opencv-python-headless`` wheel and works offline.
S3FD is an option only when the user supplies its weights (not implemented yet): any
object with a ``name`` and a ``detect`` method (:class:`FaceDetector`) plugs in.

From raw detections to the boxes the model uses (:func:`detect_boxes`):

1. The detector runs on every frame, in batches, reporting progress.
2. Frames with no face get a box interpolated linearly (per coordinate) from the
   nearest frames that have one; before the first or after the last found face the
   nearest found box is copied. A clip with no face at all is an error.
3. Padding ``(top, bottom, left, right)``, reference default ``(0, 10, 0, 0)``
   (10 px below the chin), then clipping to the frame.
4. Smoothing as the reference does it: box ``i`` becomes the mean of the ``window``
   boxes starting at ``i`` (the last windows are the final ``window`` boxes), computed
   in place in an integer array, so means are truncated and the tail windows see boxes
   already smoothed. A clip shorter than the window averages all its boxes.
   ``smooth_window=1`` turns smoothing off.

Boxes are ``(x1, y1, x2, y2)`` ints in frame pixels, ``0 <= x1 < x2 <= width``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2
Progress = Callable[[int, int], None]  # (frames done, frames in all)

DEFAULT_PADS: tuple[int, int, int, int] = (0, 10, 0, 0)  # top, bottom, left, right
DEFAULT_SMOOTH_WINDOW = 5
DEFAULT_BATCH = 16


class FaceDetectionError(ValueError):
    """No usable face in the avatar, or a detector that breaks its contract."""


class FaceDetector(Protocol):
    """Finds at most one face per frame.

    ``name`` identifies the detector, its version and its settings: it is part of the
    avatar cache key, so change it whenever the boxes it returns could change.
    ``detect`` takes BGR uint8 frames (H, W, 3) and returns, per frame, the face box
    ``(x1, y1, x2, y2)`` in that frame's pixels, or None when there is no face.
    """

    @property
    def name(self) -> str: ...

    def detect(self, frames: Sequence[np.ndarray]) -> Sequence[Box | None]: ...


class HaarFaceDetector:
    """OpenCV's Haar frontal-face cascade (from the wheel); the largest face per frame.

    Detection runs on a grey, histogram-equalised copy at most ``max_width`` pixels
    wide (as good for a face that fills much of the frame, and much faster). The
    cascade's box spans about the brows to the chin, a little tighter than S3FD's;
    raise the bottom pad if the chin is cut.
    """

    VERSION = 1

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        max_width: int = 640,
        cascade: str = "haarcascade_frontalface_default.xml",
    ) -> None:
        cv2_data: Any = importlib.import_module("cv2.data")  # not in the type stubs
        path = Path(cv2_data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FaceDetectionError(f"OpenCV's face cascade {path} is missing or unreadable")
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors
        self._max_width = max_width
        self._cascade_name = cascade

    @property
    def name(self) -> str:
        return (
            f"opencv-haar:{self._cascade_name}:v{self.VERSION}:cv{cv2.__version__}"
            f":sf{self._scale_factor}:mn{self._min_neighbors}:w{self._max_width}"
        )

    def detect(self, frames: Sequence[np.ndarray]) -> list[Box | None]:
        return [self._one(frame) for frame in frames]

    def _one(self, frame: np.ndarray) -> Box | None:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        shrink = min(1.0, self._max_width / gray.shape[1])
        if shrink < 1.0:
            gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        side = max(24, min(gray.shape[:2]) // 8)
        found = self._cascade.detectMultiScale(
            gray,
            scaleFactor=self._scale_factor,
            minNeighbors=self._min_neighbors,
            minSize=(side, side),
        )
        if len(found) == 0:
            return None
        x, y, w, h = max((tuple(int(v) for v in f) for f in found), key=lambda f: f[2] * f[3])
        return (
            int(x / shrink),
            int(y / shrink),
            int((x + w) / shrink),
            int((y + h) / shrink),
        )


def default_detector() -> FaceDetector:
    """The detector used when none is given: :class:`HaarFaceDetector`."""
    return HaarFaceDetector()


@dataclass(frozen=True, slots=True, eq=False)
class FaceTrack:
    """Final boxes for every frame, and which frames had no face of their own.

    ``boxes``: (N, 4) int32 ``x1, y1, x2, y2``, padded, smoothed, clipped to the frame.
    ``missing``: (K,) int32 sorted indices of the frames whose box was interpolated.
    """

    boxes: np.ndarray
    missing: np.ndarray

    def __post_init__(self) -> None:
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4 or self.boxes.dtype != np.int32:
            raise ValueError(
                f"boxes must be (N, 4) int32, got {self.boxes.shape} {self.boxes.dtype}"
            )
        if self.missing.ndim != 1 or self.missing.dtype != np.int32:
            raise ValueError(f"missing must be (K,) int32, got {self.missing.shape}")
        self.boxes.flags.writeable = False
        self.missing.flags.writeable = False

    @property
    def frames(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def interpolated(self) -> int:
        return int(self.missing.shape[0])

    @property
    def found(self) -> int:
        return self.frames - self.interpolated

    def report(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "faces_found": self.found,
            "interpolated": self.interpolated,
        }


def detect_boxes(
    frames: Sequence[np.ndarray] | np.ndarray,
    detector: FaceDetector,
    *,
    pads: tuple[int, int, int, int] = DEFAULT_PADS,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> FaceTrack:
    """Detect, fill gaps, pad, clip and smooth one face box per frame (module doc)."""
    n = len(frames)
    if n == 0:
        raise ValueError("no frames to detect faces in")
    if smooth_window < 1 or batch_size < 1:
        raise ValueError(
            f"smooth_window and batch_size must be >= 1, got {smooth_window}, {batch_size}"
        )
    if len(pads) != 4:
        raise ValueError(f"pads must be (top, bottom, left, right), got {pads!r}")
    height, width = frames[0].shape[:2]
    for frame in frames:
        if frame.shape[:2] != (height, width):
            raise ValueError(f"all frames must be {width}x{height}, got {frame.shape}")

    raw = np.zeros((n, 4), np.float64)
    found = np.zeros(n, bool)
    if progress is not None:
        progress(0, n)
    for start in range(0, n, batch_size):
        batch = list(frames[start : start + batch_size])
        result = list(detector.detect(batch))
        if len(result) != len(batch):
            raise FaceDetectionError(
                f"detector {detector.name} returned {len(result)} results for {len(batch)} frames"
            )
        for offset, box in enumerate(result):
            if box is not None:
                raw[start + offset] = [float(v) for v in box]
                found[start + offset] = True
        if progress is not None:
            progress(min(n, start + batch_size), n)

    have = np.flatnonzero(found)
    if have.size == 0:
        raise FaceDetectionError(
            f"no face found in any of the {n} avatar frame(s) by {detector.name}; "
            "use a video with a clear frontal face"
        )
    missing = np.flatnonzero(~found).astype(np.int32)
    if missing.size:
        # np.interp copies the nearest found value beyond either end.
        for c in range(4):
            raw[missing, c] = np.round(np.interp(missing, have, raw[have, c]))

    boxes = pad_and_clip(raw, pads, width, height)
    boxes = smooth_boxes(boxes, smooth_window)
    return FaceTrack(boxes=boxes.astype(np.int32), missing=missing)


def pad_and_clip(
    raw: np.ndarray, pads: tuple[int, int, int, int], width: int, height: int
) -> np.ndarray:
    """(N, 4) ``x1, y1, x2, y2`` -> padded int64 boxes inside the frame, each >= 1 px."""
    top, bottom, left, right = (int(p) for p in pads)
    r = np.trunc(np.asarray(raw, np.float64)).astype(np.int64)
    x1 = np.clip(r[:, 0] - left, 0, width - 1)
    y1 = np.clip(r[:, 1] - top, 0, height - 1)
    x2 = np.clip(r[:, 2] + right, x1 + 1, width)
    y2 = np.clip(r[:, 3] + bottom, y1 + 1, height)
    return np.stack([x1, y1, x2, y2], axis=1)


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """The reference's forward-window mean over ``window`` boxes (module doc, step 4)."""
    out = np.asarray(boxes, np.int64).copy()
    n = out.shape[0]
    w = min(window, n)
    if w <= 1:
        return out
    # Windows starting at i <= n - w hold only boxes not yet replaced: one cumsum.
    csum = np.concatenate([np.zeros((1, 4), np.int64), np.cumsum(out, axis=0)])
    heads = n - w + 1
    out[:heads] = ((csum[w : w + heads] - csum[:heads]) / w).astype(np.int64)
    # The last w - 1 boxes all average the final w boxes, some already replaced.
    for i in range(heads, n):
        out[i] = (out[n - w :].sum(axis=0) / w).astype(np.int64)
    return out
