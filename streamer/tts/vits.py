"""A Coqui VITS voice: the operator's fine-tuned model, spoken in memory.

The model is a trainer-format checkpoint (``best_model.pth`` or ``checkpoint_N.pth``,
read by Coqui with ``torch.load(weights_only=True)``) plus its ``config.json``; it is
loaded once, in the builder's worker thread, through Coqui's own ``Synthesizer`` (the
same path ``tts --model_path`` takes), then each segment is synthesised in memory: no
subprocess, no temporary file. ``coqui-tts`` (the maintained fork of Coqui TTS) and
torch are imported only when this engine is chosen.

Speaker and language of multi-speaker / multi-language models come from the settings
(the first one when not set, with a clear error for an unknown name). The builder
normalises loudness and resamples every engine's output to the stream's rate.

``tts.runtime: onnx`` runs the same model on onnxruntime instead of torch
(``vits_onnx.py``): exported once, cached, the same audio; trimming and the tail pause
are the same for both runtimes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from streamer.audio import Audio
from streamer.config import TTSSettings
from streamer.tts.base import TTSError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the vits engine needs the `voice` extra: run `make setup`, or "
    "`pip install -e '.[voice]'` with torch, torchaudio and torchcodec of one release"
)
SILENCE_S = 0.2
"""Length of the silence returned for a text with nothing to say."""
TAIL_PAUSE_S = 0.15
"""Coqui pads each text with silence; the end of a segment keeps this much of it."""


@contextlib.contextmanager
def quiet_coqui() -> Iterator[None]:
    """Coqui's import and load warnings (deprecations, weight norm) are noise for an
    operator. Used around import and load only: ``warnings.catch_warnings`` is not
    thread-safe, so it never wraps the per-segment synthesis in the worker thread."""
    quiet_logs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def quiet_logs() -> None:
    """Coqui's synthesizer logs every call at INFO ("Processing time: ..."): keep only
    its warnings. (Only that logger: the trainer's INFO lines are its run log.)"""
    logger = logging.getLogger("TTS.utils.synthesizer")
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))


def import_synthesizer() -> Any:
    """Coqui's ``Synthesizer`` class, or :class:`TTSError` saying how to install it."""
    try:
        with quiet_coqui():
            from TTS.utils.synthesizer import Synthesizer
    except ImportError as exc:
        raise TTSError(f"cannot import coqui-tts ({_short(exc, 160)}); {INSTALL_HINT}") from None
    except Exception as exc:  # e.g. a torchaudio / torchcodec built for another torch
        raise TTSError(
            f"coqui-tts failed to load ({type(exc).__name__}: {_short(exc, 160)}); {INSTALL_HINT}"
        ) from None
    return Synthesizer


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; ``cuda`` without CUDA is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TTSError(
            "tts.device is 'cuda' but this torch sees no CUDA device "
            f"(torch {torch.__version__}); set tts.device: cpu or auto"
        )
    return device


def read_model_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a Coqui model, checked to be a VITS one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TTSError(f"cannot read tts.config_path {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TTSError(f"tts.config_path {path} is not a JSON file: {exc}") from None
    if not isinstance(data, dict):
        raise TTSError(f"tts.config_path {path} is not a Coqui model config (not an object)")
    model = str(data.get("model", "")).lower()
    if model != "vits":
        raise TTSError(
            f"tts.config_path {path} is the config of a {model or 'unknown'!r} model; the vits "
            'engine loads Coqui VITS models (config.json with "model": "vits")'
        )
    return data


class VitsEngine:
    """Speech from a Coqui VITS checkpoint (see the module docstring)."""

    name = "vits"

    def __init__(self, settings: TTSSettings) -> None:
        self.settings = settings
        self._synth: Any = None  # the Coqui synthesizer (torch runtime)
        self._onnx: Any = None  # vits_onnx.OnnxVits (onnx runtime)
        self._speaker: str | None = None
        self._language: str | None = None
        self._speaker_names: list[str] = []
        self._language_names: list[str] = []
        self.sample_rate = 0
        self.device = "cpu"
        self._lock = threading.Lock()

    @property
    def describe(self) -> str:
        where = (
            f"{self.settings.runtime} on {self.device}" if self.loaded else self.settings.runtime
        )
        return f"vits {self.settings.model_path} ({where})"

    @property
    def loaded(self) -> bool:
        return self._synth is not None or self._onnx is not None

    @property
    def speakers(self) -> list[str]:
        """The model's speaker names (empty for a single-speaker model)."""
        names = self._speaker_names
        return list(names) if len(names) > 1 else []

    @property
    def languages(self) -> list[str]:
        """The model's language names (empty for a single-language model)."""
        names = self._language_names
        return list(names) if len(names) > 1 else []

    def load(self) -> None:
        """Load the model and speak a test word; raise :class:`TTSError` saying what is
        wrong (missing file, not a VITS model, unknown speaker, missing package)."""
        with self._lock:
            if not self.loaded:
                self._load()

    def _load(self) -> None:
        s = self.settings
        model_path = s.model_path
        config_path = s.resolved_config_path
        if model_path is None or config_path is None:
            raise TTSError("tts.model_path is not set: the vits engine needs a checkpoint")
        if not model_path.is_file():
            raise TTSError(f"tts.model_path {model_path} not found: fix the path")
        if not config_path.is_file():
            raise TTSError(
                f"the model's config {config_path} not found: set tts.config_path to the "
                "config.json written with the checkpoint"
            )
        read_model_config(config_path)
        synthesizer = import_synthesizer()
        onnx = s.runtime == "onnx"
        if onnx:
            from streamer.tts import vits_onnx

            # Checked before the slow load; the torch model only feeds the export.
            vits_onnx.providers(s.device)
            device = "cpu"
        else:
            device = self.device = resolve_device(s.device)
        try:
            with quiet_coqui():
                synth = synthesizer(
                    tts_checkpoint=str(model_path),
                    tts_config_path=str(config_path),
                    use_cuda=device == "cuda",
                )
        except TTSError:
            raise
        except Exception as exc:  # Coqui raises many kinds; all mean "cannot load"
            raise TTSError(
                f"cannot load the VITS model {model_path} with {config_path}: "
                f"{type(exc).__name__}: {_short(exc)}"
            ) from None
        model = synth.tts_model
        speaker_names = _names(synth, "speaker_manager", "speaker_names")
        language_names = _names(synth, "language_manager", "language_names")
        self._speaker = _choose("tts.speaker", s.speaker, speaker_names)
        self._language = _choose("tts.language", s.language, language_names)
        if hasattr(model, "length_scale"):
            model.length_scale = float(model.length_scale) / s.speed
        self.sample_rate = int(synth.output_sample_rate)
        runner = None
        if onnx:
            from streamer.tts.vits_onnx import load_onnx_vits

            with quiet_coqui():
                runner = load_onnx_vits(
                    synth, model_path, config_path, s.device, self._speaker, self._language
                )
            self.device = runner.device
        # Loaded only once the test word is spoken: a voice that fails here stays unloaded.
        audio = self._speak("test.", synth, runner)
        if len(audio.samples) == 0 or not np.any(audio.samples):
            raise TTSError(f"the VITS model {model_path} produced no sound for a test word")
        self._speaker_names, self._language_names = speaker_names, language_names
        if runner is None:
            self._synth = synth
        else:
            self._onnx = runner  # the torch model is no longer needed: let it go
        log.info(
            "vits voice %s loaded (%s on %s): %d Hz%s%s",
            model_path.name,
            s.runtime,
            self.device,
            self.sample_rate,
            f", speaker {self._speaker!r}" if self._speaker else "",
            f", language {self._language!r}" if self._language else "",
        )

    def synthesize(self, text: str) -> Audio:
        """Speak ``text``; a blank text is a short silence."""
        if not self.loaded:
            self.load()
        if not any(ch.isalnum() for ch in text):
            return Audio(
                np.zeros(round(SILENCE_S * self.sample_rate), np.float32), self.sample_rate
            )
        return self._speak(text, self._synth, self._onnx)

    def _speak(self, text: str, synth: Any, runner: Any) -> Audio:
        try:
            if runner is not None:
                wav = runner.waveform(text)
            else:
                import torch

                with torch.inference_mode():
                    wav = synth.tts(
                        text,
                        speaker_name=self._speaker,
                        language_name=self._language,
                        split_sentences=False,  # the splitter already cut the answer
                    )
        except Exception as exc:
            raise TTSError(
                f"the VITS voice failed on {len(text)} characters: "
                f"{type(exc).__name__}: {_short(exc)}"
            ) from None
        samples = np.asarray(wav, dtype=np.float32).reshape(-1)
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        samples = _trim_tail(samples, round(TAIL_PAUSE_S * self.sample_rate))
        return Audio(np.ascontiguousarray(np.clip(samples, -1.0, 1.0)), self.sample_rate)


def _names(synth: Any, manager: str, attribute: str) -> list[str]:
    found = getattr(synth.tts_model, manager, None)
    if found is None:
        return []
    names = getattr(found, attribute, None) or []
    return [str(name) for name in names]


def _choose(key: str, wanted: str | None, names: list[str]) -> str | None:
    """The name to pass for a multi-speaker / multi-language model, else None."""
    if len(names) <= 1:
        # One (or no) speaker or language: nothing to choose; naming that one is fine.
        if wanted is not None and wanted not in names:
            only = f" ({names[0]!r})" if names else ""
            raise TTSError(f"{key} is {wanted!r} but the model has only one{only}; remove {key}")
        return None
    if wanted is None:
        return names[0]
    if wanted not in names:
        shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
        raise TTSError(f"{key} {wanted!r} is not in the model; it knows {shown}")
    return wanted


def _trim_tail(samples: np.ndarray, keep: int) -> np.ndarray:
    """Drop exact-zero padding at the end beyond ``keep`` samples."""
    nonzero = np.flatnonzero(samples)
    end = int(nonzero[-1]) + 1 if len(nonzero) else 0
    out: np.ndarray = samples[: min(len(samples), end + keep)]
    return out


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
