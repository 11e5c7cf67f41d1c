"""Avatar preparation: face boxes and 96x96 face crops, detected once and cached.

``prepare_avatar`` reads the avatar (a video, resampled to ``fps`` and cut to
``max_seconds``, or a still image), detects the face in every frame once
(:mod:`wav2lip_fast.faces`), cuts the face crops the model takes, and stores them in a
cache file that cannot run code when loaded.

Cache format: an uncompressed ``.npz`` written with ``np.savez`` and read with
``np.load(allow_pickle=False)``, so an object array (a pickle) in it is refused, never
unpickled. Arrays:

* ``meta``: uint8, the UTF-8 bytes of a JSON object (format version, key, settings,
  source hash, frame size, report);
* ``boxes``: (N, 4) int32 ``x1, y1, x2, y2``;
* ``missing``: (K,) int32, frames whose box was interpolated;
* ``crops``: (N, 96, 96, 3) uint8 BGR, ``frame[y1:y2, x1:x2]`` resized bilinearly.

Key: sha256 of a canonical JSON of the format version, the sha256 of the source
file's bytes, and every setting that changes the result (pads, smoothing window,
detector name and version, fps, max_seconds, output size, crop size). The file is
``<cache_dir>/<source stem>-<key[:16]>.npz`` and its ``meta`` holds the full key, which
is checked on load. A changed file or setting gives another key, so it is rebuilt; a
cache file that is unreadable, truncated, of the wrong shape or key, or that holds
an object array is rebuilt with a WARNING. Files are written to a temporary name and
renamed, so a crash never leaves half a cache under the real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.avatar import IMAGE_SUFFIXES, AvatarError, cover, read_image, read_video
from wav2lip_fast.faces import (
    DEFAULT_PADS,
    DEFAULT_SMOOTH_WINDOW,
    FaceDetector,
    FaceTrack,
    Progress,
    default_detector,
    detect_boxes,
)
from wav2lip_fast.shapes import FACE_SIZE

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_ARRAYS = frozenset({"meta", "boxes", "missing", "crops"})
_HASH_CHUNK = 1 << 20


class AvatarPrepareError(ValueError):
    """The avatar cannot be read or prepared."""


class _BadCache(Exception):
    """The cache file is unusable; the message says why."""


@dataclass(frozen=True, slots=True, eq=False)
class PreparedAvatar:
    """Face boxes and crops for every avatar frame.

    ``frames``: (N, H, W, 3) uint8 BGR when they were decoded in this call (a fresh
    build), else None: :meth:`load_frames` decodes them (no detection, fast).
    ``boxes``: (N, 4) int32; ``crops``: (N, 96, 96, 3) uint8; ``missing``: (K,) int32.
    ``report``: frames, faces_found, interpolated, seconds (time the build took),
    cached (whether this call read the cache).
    """

    source: Path
    source_sha256: str
    fps: int
    max_seconds: float
    size: tuple[int, int] | None
    boxes: np.ndarray
    crops: np.ndarray
    missing: np.ndarray
    report: dict[str, Any]
    cache_file: Path
    frames: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for arr in (self.boxes, self.crops, self.missing):
            arr.flags.writeable = False
        if self.frames is not None:
            self.frames.flags.writeable = False

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def load_frames(self) -> np.ndarray:
        """The avatar frames the boxes refer to, (N, H, W, 3) uint8, read-only."""
        if self.frames is not None:
            return self.frames
        frames = read_frames(
            self.source, fps=self.fps, max_seconds=self.max_seconds, size=self.size
        )
        if len(frames) != len(self):
            raise AvatarPrepareError(
                f"avatar {self.source}: decoded {len(frames)} frames, the cache has {len(self)}; "
                "run the preparation again"
            )
        frames.flags.writeable = False
        return frames


@dataclass(frozen=True, slots=True, eq=False)
class AvatarFaces:
    """One avatar as the engine uses it: frames, one face box and crop per frame.

    ``frames``: (N, H, W, 3) uint8 BGR; ``boxes``: (N, 4) int ``x1, y1, x2, y2``;
    ``crops``: (N, 96, 96, 3) uint8, each ``frame[y1:y2, x1:x2]`` resized.
    """

    frames: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[3] != 3 or n < 1:
            raise ValueError(f"frames must be (N>=1, H, W, 3), got {self.frames.shape}")
        if self.frames.dtype != np.uint8 or self.crops.dtype != np.uint8:
            raise ValueError("frames and crops must be uint8")
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must be ({n}, 4), got {self.boxes.shape}")
        if self.crops.shape != (n, FACE_SIZE, FACE_SIZE, 3):
            raise ValueError(f"crops must be ({n}, 96, 96, 3), got {self.crops.shape}")
        height, width = self.frames.shape[1:3]
        x1, y1, x2, y2 = np.asarray(self.boxes).T
        if not (
            (x1 >= 0).all()
            and (y1 >= 0).all()
            and (x2 <= width).all()
            and (y2 <= height).all()
            and (x2 > x1).all()
            and (y2 > y1).all()
        ):
            raise ValueError(f"face boxes must lie inside the {width}x{height} frames")

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def from_prepared(cls, prepared: PreparedAvatar) -> AvatarFaces:
        """The frames, boxes and crops of a prepared avatar (frames decoded if needed)."""
        return cls(frames=prepared.load_frames(), boxes=prepared.boxes, crops=prepared.crops)


def prepare_avatar(
    source: Path,
    *,
    fps: int,
    max_seconds: float,
    cache_dir: Path,
    progress: Progress | None = None,
    detector: FaceDetector | None = None,
    pads: tuple[int, int, int, int] = DEFAULT_PADS,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    size: tuple[int, int] | None = None,
    frames: np.ndarray | None = None,
    rebuild: bool = False,
) -> PreparedAvatar:
    """Boxes and crops for ``source``, from the cache when it is valid (module doc).

    ``size`` (width, height), when given, scales each frame to cover it and crops the
    overflow evenly, as the daemon shows the avatar; else frames keep their own size.
    ``progress(done, total)`` is called while faces are detected (not on a cache hit).
    ``frames``: the source already decoded with these settings (the daemon has them in
    memory); they are used instead of decoding it again and returned with the result.
    ``rebuild`` ignores a cache that exists and detects again.
    """
    source = Path(source)
    if fps <= 0 or not max_seconds > 0:
        raise ValueError(f"fps and max_seconds must be > 0, got {fps}, {max_seconds}")
    if not source.is_file():
        raise AvatarPrepareError(f"avatar file not found: {source}")
    det = default_detector() if detector is None else detector
    digest = file_sha256(source)
    settings: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "source_sha256": digest,
        "pads": [int(p) for p in pads],
        "smooth_window": int(smooth_window),
        "detector": det.name,
        "fps": int(fps),
        "max_seconds": float(max_seconds),
        "size": None if size is None else [int(size[0]), int(size[1])],
        "crop_size": FACE_SIZE,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    cache_file = Path(cache_dir) / f"{_safe_stem(source)}-{key[:16]}.npz"

    common: dict[str, Any] = {
        "source": source,
        "source_sha256": digest,
        "fps": int(fps),
        "max_seconds": float(max_seconds),
        "size": None if size is None else (int(size[0]), int(size[1])),
        "cache_file": cache_file,
    }
    if cache_file.exists() and not rebuild:
        try:
            boxes, crops, missing, stored = _load_cache(cache_file, key)
        except _BadCache as exc:
            log.warning("avatar cache %s is unusable (%s); rebuilding it", cache_file, exc)
        else:
            if frames is None or len(frames) == len(boxes):
                log.info("avatar %s: face boxes from cache %s", source.name, cache_file.name)
                return PreparedAvatar(
                    boxes=boxes,
                    crops=crops,
                    missing=missing,
                    report={**stored, "cached": True},
                    frames=frames,
                    **common,
                )
            log.warning(
                "avatar cache %s holds %d frames but %d were decoded (another video "
                "decoder?); rebuilding it",
                cache_file,
                len(boxes),
                len(frames),
            )

    started = time.perf_counter()
    if frames is None:
        frames = read_frames(source, fps=fps, max_seconds=max_seconds, size=size)
    track = detect_boxes(frames, det, pads=pads, smooth_window=smooth_window, progress=progress)
    crops = face_crops(frames, track.boxes)
    report: dict[str, Any] = {**track.report(), "seconds": round(time.perf_counter() - started, 3)}
    meta = {
        **settings,
        "key": key,
        "frame_size": [int(frames.shape[2]), int(frames.shape[1])],
        "report": report,
    }
    _write_cache(cache_file, meta, track, crops)
    log.info(
        "avatar %s: %d frames, %d with a face, %d interpolated, %.1f s; cached in %s",
        source.name,
        track.frames,
        track.found,
        track.interpolated,
        report["seconds"],
        cache_file,
    )
    return PreparedAvatar(
        boxes=track.boxes,
        crops=crops,
        missing=track.missing,
        report={**report, "cached": False},
        frames=frames,
        **common,
    )


def face_crops(frames: np.ndarray, boxes: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """``frame[y1:y2, x1:x2]`` resized to size x size (bilinear), (N, size, size, 3) uint8."""
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        out[i] = cv2.resize(frames[i][y1:y2, x1:x2], (size, size))
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_frames(
    source: Path, *, fps: int, max_seconds: float, size: tuple[int, int] | None = None
) -> np.ndarray:
    """(N, H, W, 3) uint8 BGR: a still image (N = 1) or a video resampled to ``fps``.

    Output frame ``j`` of a video is source frame ``floor(j * source_fps / fps)``; at
    most ``max_seconds`` are kept.
    """
    try:
        if source.suffix.lower() in IMAGE_SUFFIXES:
            img = read_image(source)
            frames = [img if size is None else cover(img, *size)]
        else:
            frames, _ = read_video(source, fps, max_seconds, size)
    except AvatarError as exc:
        raise AvatarPrepareError(str(exc)) from None
    return np.stack(frames)


def _safe_stem(source: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", source.stem)[:64] or "avatar"


def _write_cache(path: Path, meta: dict[str, Any], track: FaceTrack, crops: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                meta=meta_bytes,
                boxes=np.ascontiguousarray(track.boxes, np.int32),
                missing=np.ascontiguousarray(track.missing, np.int32),
                crops=np.ascontiguousarray(crops, np.uint8),
            )
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _load_cache(path: Path, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Read and check a cache file; raise :class:`_BadCache` saying what is wrong."""
    try:
        # Our own handle, closed here even when numpy fails half-way through a bad file.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            names = set(npz.files)
            if names != _ARRAYS:
                raise _BadCache(f"arrays {sorted(names)}, expected {sorted(_ARRAYS)}")
            arrays = {name: npz[name] for name in _ARRAYS}
    except _BadCache:
        raise
    except Exception as exc:  # zipfile, numpy and OS errors; object arrays: ValueError
        raise _BadCache(f"cannot read it: {type(exc).__name__}: {exc}") from exc

    meta_arr = arrays["meta"]
    if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
        raise _BadCache(f"meta is {meta_arr.dtype} {meta_arr.shape}, expected uint8 bytes")
    try:
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except ValueError as exc:
        raise _BadCache(f"meta is not JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("key") != key:
        raise _BadCache("its key does not match the avatar and settings")
    frame_size = meta.get("frame_size")
    report = meta.get("report")
    if (
        not isinstance(frame_size, list)
        or len(frame_size) != 2
        or not all(isinstance(v, int) and v > 0 for v in frame_size)
        or not isinstance(report, dict)
    ):
        raise _BadCache("meta lacks frame_size or report")
    width, height = frame_size

    boxes, missing, crops = arrays["boxes"], arrays["missing"], arrays["crops"]
    if boxes.dtype != np.int32 or boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) < 1:
        raise _BadCache(f"boxes are {boxes.dtype} {boxes.shape}, expected (N, 4) int32")
    n = len(boxes)
    x1, y1, x2, y2 = boxes.T
    if not (
        (x1 >= 0).all()
        and (y1 >= 0).all()
        and (x2 > x1).all()
        and (y2 > y1).all()
        and (x2 <= width).all()
        and (y2 <= height).all()
    ):
        raise _BadCache(f"boxes fall outside the {width}x{height} frame")
    if crops.dtype != np.uint8 or crops.shape != (n, FACE_SIZE, FACE_SIZE, 3):
        raise _BadCache(f"crops are {crops.dtype} {crops.shape}, expected ({n}, 96, 96, 3) uint8")
    if missing.dtype != np.int32 or missing.ndim != 1:
        raise _BadCache(f"missing is {missing.dtype} {missing.shape}, expected (K,) int32")
    if missing.size and (
        missing[0] < 0 or missing[-1] >= n or (np.diff(missing) <= 0).any() or missing.size >= n
    ):
        raise _BadCache("missing indices out of range or not sorted")
    if report.get("frames") != n or report.get("interpolated") != int(missing.size):
        raise _BadCache("the report does not match the arrays")
    return boxes, crops, missing, report
