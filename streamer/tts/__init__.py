"""Voice engines: text in, :class:`~streamer.audio.Audio` out.

``make_tts(settings.tts)`` builds the engine the settings name; call its ``load()``
once in the worker thread, then ``synthesize(text)`` per segment.
"""

from __future__ import annotations

from streamer.config import TTSSettings
from streamer.tts.base import TTSEngine, TTSError
from streamer.tts.espeak import EspeakEngine

__all__ = ["EspeakEngine", "TTSEngine", "TTSError", "make_tts"]


def make_tts(settings: TTSSettings) -> TTSEngine:
    """The engine named by ``settings.engine`` (not loaded yet)."""
    engine: str = settings.engine
    if engine == "espeak":
        return EspeakEngine(settings)
    if engine == "vits":
        from streamer.tts.vits import VitsEngine  # torch and coqui-tts only when chosen

        return VitsEngine(settings)
    raise TTSError(f"unknown tts.engine {engine!r}; known engines: espeak, vits")
