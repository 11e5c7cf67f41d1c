"""The lip-sync engine interface: speech in, avatar frames out.

An engine is loaded once (``load``, in the video builder's worker thread), then
``render`` turns each piece of speech into frames. It runs in that worker thread
too, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from streamer.audio import Audio
from streamer.avatar import Avatar

# The most frames in the first batch of a render: the first frames go on air early.
FIRST_BATCH = 5


class LipSyncError(Exception):
    """The engine cannot render: not loaded, bad arguments, or a broken model."""


def frame_count(audio: Audio, fps: int) -> int:
    """Frames that cover ``audio`` at ``fps``: ``ceil(duration_s * fps)``.

    Computed in integers (``ceil(samples * fps / rate)``) so that float rounding never
    adds or loses a frame.
    """
    return -(-len(audio.samples) * fps // audio.rate)


class LipSyncEngine(Protocol):
    """Animates an avatar from speech."""

    name: str

    def load(self, avatar: Avatar) -> None:
        """Prepare for ``avatar`` (models, caches). Called once, before ``render``."""
        ...

    def render(self, audio: Audio, start_frame: int, fps: int) -> Iterator[np.ndarray]:
        """Yield frame batches, each (k, H, W, 3) uint8 BGR, for ``audio``.

        Together the batches hold exactly ``frame_count(audio, fps)`` frames. Frame ``i``
        is drawn over ``avatar.frame(start_frame + i)``, so the motion continues from
        where the idle loop stands. The first batch is small (at most
        ``FIRST_BATCH`` frames) so the first frames can go on air early.
        """
        ...
