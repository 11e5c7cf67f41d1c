"""Lip-sync engines: turn speech into avatar frames.

``make_lipsync(settings)`` builds the engine named by ``lipsync.engine``:

* ``puppet``: moves the avatar's mouth from the loudness and spectrum of the speech;
  needs no model weights and runs far above real time on one CPU core.
* ``wav2lip``: neural lip-sync from a Wav2Lip checkpoint (``wav2lip_fast``); torch is
  imported only when it is chosen.
"""

from __future__ import annotations

from pathlib import Path

from streamer.config import AvatarSettings, LipSyncSettings
from streamer.lipsync.base import FIRST_BATCH, LipSyncEngine, LipSyncError, frame_count
from streamer.lipsync.puppet import PuppetEngine


def make_lipsync(
    settings: LipSyncSettings,
    *,
    data_dir: Path = Path("data"),
    avatar: AvatarSettings | None = None,
) -> LipSyncEngine:
    """The engine that ``settings.engine`` names (``data_dir`` holds avatar caches)."""
    if settings.engine == "puppet":
        return PuppetEngine(settings)
    if settings.engine == "wav2lip":
        from streamer.lipsync.wav2lip import Wav2LipEngine

        return Wav2LipEngine(
            settings, data_dir=data_dir, avatar_settings=avatar or AvatarSettings()
        )
    raise LipSyncError(f"unknown lip-sync engine {settings.engine!r}; use 'puppet' or 'wav2lip'")


__all__ = [
    "FIRST_BATCH",
    "LipSyncEngine",
    "LipSyncError",
    "PuppetEngine",
    "frame_count",
    "make_lipsync",
]
