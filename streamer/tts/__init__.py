"""Voice engines: text in, :class:`~streamer.audio.Audio` out.

``make_tts(settings.tts)`` builds the engine the settings name; call its ``load()``
once in the worker thread, then ``synthesize(text)`` per segment.
"""

from __future__ import annotations

import logging

from streamer.config import TTSSettings
from streamer.tts.base import TTSEngine, TTSError
from streamer.tts.espeak import EspeakEngine

__all__ = ["EspeakEngine", "TTSEngine", "TTSError", "make_tts"]

log = logging.getLogger(__name__)


def make_tts(settings: TTSSettings) -> TTSEngine:
    """The engine named by ``settings.engine`` (not loaded yet); ``auto`` is piper when a
    Piper voice is there (``tts.model_path``, or the packaged one) and onnxruntime loads,
    else espeak."""
    engine: str = settings.engine
    if engine == "auto":
        engine = "piper" if piper_available(settings) else "espeak"
        if engine == "espeak":
            log.info("tts.engine auto: no Piper voice (or no onnxruntime): espeak-ng speaks")
    if engine == "espeak":
        return EspeakEngine(settings)
    if engine == "piper":
        from streamer.tts.piper import PiperEngine

        return PiperEngine(settings)
    if engine == "vits":
        from streamer.tts.vits import VitsEngine  # torch and coqui-tts only when chosen

        return VitsEngine(settings)
    raise TTSError(f"unknown tts.engine {engine!r}; known engines: espeak, piper, vits, auto")


def piper_available(settings: TTSSettings) -> bool:
    import importlib.util

    from streamer.tts.piper import packaged_voice

    if importlib.util.find_spec("onnxruntime") is None:
        return False
    if settings.model_path is not None:
        return settings.model_path.is_file()
    return packaged_voice() is not None
