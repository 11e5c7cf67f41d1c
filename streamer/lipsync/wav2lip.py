"""The wav2lip engine: neural lip-sync from a Wav2Lip checkpoint (``wav2lip_fast``).

``load`` (in the video builder's worker thread, once) reads the checkpoint, finds the
face in every avatar frame (or reads the boxes that ``streamer avatar prepare`` cached
for the same avatar and settings), and runs the face encoder over the avatar frames.
``render`` then turns each segment's speech into frames in batches of 4, 8, 16, then
``batch_size``: the first frames go to the publisher while the rest of the segment is
still being generated.

torch and the model are imported only when this engine is chosen, so the puppet
engine starts as fast as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.audio import Audio, resample
from streamer.avatar import Avatar
from streamer.config import AvatarSettings, LipSyncSettings
from streamer.lipsync.base import FIRST_BATCH, LipSyncError, frame_count

if TYPE_CHECKING:
    from wav2lip_fast.engine import LipSyncEngine as Wav2LipCore

log = logging.getLogger(__name__)


def avatar_cache_dir(data_dir: Path) -> Path:
    """Where prepared avatars (face boxes and crops) are cached."""
    return data_dir / "avatars"


def load_core(settings: LipSyncSettings) -> Wav2LipCore:
    """The ``wav2lip_fast`` engine for ``settings`` (checkpoint loaded, not yet an avatar).

    Raises :class:`LipSyncError` saying what to fix: torch missing, a file that is not
    a Wav2Lip generator, or a device that is not there.
    """
    try:
        from wav2lip_fast.checkpoint import CheckpointError
        from wav2lip_fast.engine import LipSyncEngine
    except ImportError as exc:  # torch missing or broken
        raise LipSyncError(
            f"the wav2lip engine needs PyTorch, which does not import: {exc}; "
            "run `make setup` or use lipsync.engine: puppet"
        ) from exc
    if settings.checkpoint is None:
        raise LipSyncError("lipsync.checkpoint is not set (the Wav2Lip .pth file)")
    try:
        return LipSyncEngine.from_checkpoint(
            settings.checkpoint,
            device=settings.device,
            mode=settings.mode,
            paste=settings.paste,
            batch_size=settings.batch_size,
            skip_silence=settings.skip_silence,
            fast_stride=settings.fast_stride,
        )
    except CheckpointError as exc:
        raise LipSyncError(f"lipsync.checkpoint: {exc}") from None
    except (RuntimeError, ValueError, AssertionError) as exc:  # e.g. no CUDA here
        raise LipSyncError(f"cannot start the wav2lip engine on {settings.device}: {exc}") from None


class Wav2LipEngine:
    """:class:`streamer.lipsync.base.LipSyncEngine` on :class:`wav2lip_fast.LipSyncEngine`."""

    name = "wav2lip"

    def __init__(
        self, settings: LipSyncSettings, *, data_dir: Path, avatar_settings: AvatarSettings
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.max_seconds = avatar_settings.max_seconds
        self._core: Wav2LipCore | None = None
        self._avatar: Avatar | None = None

    def load(self, avatar: Avatar) -> None:
        s = self.settings
        started = time.monotonic()
        core = load_core(s)  # says so clearly if torch does not import
        from wav2lip_fast.faces import FaceDetectionError
        from wav2lip_fast.prepare import AvatarFaces, AvatarPrepareError, prepare_avatar

        try:
            prepared = prepare_avatar(
                avatar.source,
                fps=avatar.fps,
                max_seconds=self.max_seconds,
                cache_dir=avatar_cache_dir(self.data_dir),
                size=(avatar.width, avatar.height),
                pads=(s.pads[0], s.pads[1], s.pads[2], s.pads[3]),
                frames=avatar.frames,
            )
        except (AvatarPrepareError, FaceDetectionError) as exc:
            raise LipSyncError(f"avatar {avatar.source.name}: {exc}") from None
        report = prepared.report
        if report.get("interpolated"):
            log.warning(
                "avatar %s: no face found in %d of %d frames; their boxes are interpolated",
                avatar.source.name,
                report["interpolated"],
                report["frames"],
            )
        core.set_avatar(
            AvatarFaces(frames=avatar.frames, boxes=prepared.boxes, crops=prepared.crops)
        )
        self._core = core
        self._avatar = avatar
        log.info(
            "wav2lip engine ready in %.1f s: %s on %s (%s mode, %s paste, batch %d)",
            time.monotonic() - started,
            s.checkpoint,
            core.device,
            core.mode,
            s.paste,
            core.batch_size,
        )

    def render(self, audio: Audio, start_frame: int, fps: int) -> Iterator[np.ndarray]:
        core, avatar = self._core, self._avatar
        if core is None or avatar is None:
            raise LipSyncError("the wav2lip engine is not loaded")
        if start_frame < 0:
            raise LipSyncError(f"start_frame must be >= 0, got {start_frame}")
        from wav2lip_fast.audio import SAMPLE_RATE
        from wav2lip_fast.engine import FIRST_BATCH as ENGINE_FIRST_BATCH

        n = frame_count(audio, fps)
        speech = resample(audio, SAMPLE_RATE).samples.astype(np.float32, copy=False)
        indices = np.fromiter(
            (avatar.index(start_frame + i) for i in range(n)), dtype=np.int64, count=n
        )
        yield from core.render(
            speech,
            fps,
            indices,
            backgrounds=lambda i: avatar.frame(start_frame + i),
            first_batch=min(ENGINE_FIRST_BATCH, FIRST_BATCH),
            n_frames=n,
        )


__all__ = ["Wav2LipEngine", "avatar_cache_dir", "load_core"]
