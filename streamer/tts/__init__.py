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


def make_tts(settings: TTSSettings, language: str = "en") -> TTSEngine:
    """The engine named by ``settings.engine`` (not loaded yet); ``auto`` is piper when a
    Piper voice is there (``tts.model_path``, or the packaged one) and onnxruntime loads,
    else espeak. The packaged voice speaks English: in a channel of another
    ``language`` (``channel.language``), ``auto`` without ``tts.model_path`` is espeak."""
    engine: str = settings.engine
    packaged = settings.model_path is None
    if engine == "auto":
        if packaged and language != "en":
            engine = "espeak"
            log.info(
                "tts.engine auto: the packaged Piper voice speaks English and channel.language "
                "is %s: espeak-ng speaks (voice %s); set tts.model_path to a Piper voice "
                "of that language for a natural one",
                language, settings.voice,
            )  # fmt: skip
        else:
            engine = "piper" if piper_available(settings) else "espeak"
            if engine == "espeak":
                log.info("tts.engine auto: no Piper voice (or no onnxruntime): espeak-ng speaks")
    elif engine == "piper" and packaged and language != "en":
        log.warning(
            "tts.engine piper speaks with the packaged English voice in a channel whose "
            "language is %s: set tts.model_path to a Piper voice of that language",
            language,
        )
    if settings.runtime != "torch" and engine != "vits":
        log.warning(
            "tts.runtime %s applies to tts.engine vits only; the %s engine ignores it",
            settings.runtime,
            engine,
        )
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
