"""Lip-sync engines: turn speech into avatar frames.

``make_lipsync(settings)`` builds the engine named by ``lipsync.engine``:

* ``puppet``: moves the avatar's mouth from the loudness and spectrum of the speech;
  needs no model weights and runs far above real time on one CPU core.
"""

from __future__ import annotations

from streamer.config import LipSyncSettings
from streamer.lipsync.base import FIRST_BATCH, LipSyncEngine, LipSyncError, frame_count
from streamer.lipsync.puppet import PuppetEngine


def make_lipsync(settings: LipSyncSettings) -> LipSyncEngine:
    """The engine that ``settings.engine`` names."""
    if settings.engine == "puppet":
        return PuppetEngine(settings)
    raise LipSyncError(f"unknown lip-sync engine {settings.engine!r}; use 'puppet'")


__all__ = [
    "FIRST_BATCH",
    "LipSyncEngine",
    "LipSyncError",
    "PuppetEngine",
    "frame_count",
    "make_lipsync",
]
