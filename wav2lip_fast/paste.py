"""Paste-back: the generated 96x96 face into the full avatar frame.

Two modes:

* ``hard`` (the reference): the face is resized (bilinear) to its box and replaces
  the box's pixels. The box's edges show where the generated face meets the frame.
* ``soft`` (default): the same resized face is blended through a feathered mask that
  covers only the lower half of the box (mouth, jaw and chin, the part the model
  redraws; the upper half is a copy of the avatar's own face anyway), rising from 0
  to 1 over about 16% of the box's smaller side (``2 * FEATHER``) at its top and
  side edges. The mask stays 1 down to the box's bottom edge (the padded chin), so
  the avatar's own eyes (and blinks) stay untouched and the mouth region never fades
  back to the old mouth.

Faces come in as (96, 96, 3) uint8 (the model's output times 255, truncated, as the
reference does).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import cv2
import numpy as np

PasteMode = Literal["soft", "hard"]
PASTE_MODES: tuple[PasteMode, ...] = ("soft", "hard")

MASK_TOP = 0.5  # the soft mask starts this far down the box (fraction of its height)
FEATHER = 0.08  # half the fade width, as a fraction of the box's smaller side
_MASK_CACHE = 64  # masks kept (boxes are smoothed, so few distinct sizes occur)


def _ramp(n: int, width: float) -> np.ndarray:
    """(n,) weights rising from 0 at index 0 to 1 at ``width`` (smoothstep), then 1."""
    x = np.clip(np.arange(n, dtype=np.float32) / np.float32(max(width, 1.0)), 0.0, 1.0)
    out: np.ndarray = x * x * (3.0 - 2.0 * x)
    return out


def soft_mask(width: int, height: int) -> np.ndarray:
    """(height, width, 1) float32 weights in [0, 1] for the generated face (module doc).

    Zero on the box's upper half and on its left and right edges, rising smoothly
    (smoothstep over the feather margin) to one; full weight down to the bottom edge,
    since the chin goes on below the box and fading there would show the old chin.
    """
    if width < 1 or height < 1:
        raise ValueError(f"mask size must be >= 1x1, got {width}x{height}")
    ramp = 2.0 * max(1.0, FEATHER * min(width, height))
    top = round(MASK_TOP * height)
    rows = np.zeros(height, np.float32)
    rows[top:] = _ramp(height - top, ramp)
    cols = np.minimum(_ramp(width, ramp), _ramp(width, ramp)[::-1])
    mask: np.ndarray = rows[:, None, None] * cols[None, :, None]
    return mask


class Paster:
    """Pastes faces into frames; keeps the soft masks it has made."""

    def __init__(self, mode: PasteMode = "soft") -> None:
        if mode not in PASTE_MODES:
            raise ValueError(f"paste mode must be one of {PASTE_MODES}, got {mode!r}")
        self.mode: PasteMode = mode
        self._masks: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def _mask(self, width: int, height: int) -> np.ndarray:
        key = (width, height)
        mask = self._masks.get(key)
        if mask is None:
            mask = soft_mask(width, height)
            self._masks[key] = mask
            if len(self._masks) > _MASK_CACHE:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(key)
        return mask

    def paste(
        self,
        frame: np.ndarray,
        face: np.ndarray,
        box: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 with ``face`` (96, 96, 3) uint8 pasted into ``box``.

        ``box`` is ``x1, y1, x2, y2`` in frame pixels. The result is written to ``out``
        (same shape as ``frame``) when given, else to a new array; ``frame`` is never
        modified.
        """
        x1, y1, x2, y2 = (int(v) for v in box)
        width, height = x2 - x1, y2 - y1
        if out is None:
            out = frame.copy()
        else:
            out[...] = frame
        resized = cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR)
        if self.mode == "hard":
            out[y1:y2, x1:x2] = resized
            return out
        # The mask is zero on the upper half: blend the lower half only.
        top = round(MASK_TOP * height)
        mask = self._mask(width, height)[top:]
        region = out[y1 + top : y2, x1:x2].astype(np.float32)
        region += (resized[top:].astype(np.float32) - region) * mask
        out[y1 + top : y2, x1:x2] = np.rint(region, out=region).astype(np.uint8)
        return out


def faces_to_uint8(faces: np.ndarray) -> np.ndarray:
    """(B, 3, 96, 96) float in [0, 1] -> (B, 96, 96, 3) uint8: times 255, truncated."""
    if faces.ndim != 4 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (B, 3, H, W), got {faces.shape}")
    scaled = np.asarray(faces, np.float32).transpose(0, 2, 3, 1) * np.float32(255.0)
    out: np.ndarray = np.clip(scaled, 0, 255).astype(np.uint8)
    return out


__all__ = [
    "FEATHER",
    "MASK_TOP",
    "PASTE_MODES",
    "PasteMode",
    "Paster",
    "faces_to_uint8",
    "soft_mask",
]
