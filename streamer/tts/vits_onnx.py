"""The vits engine's ``onnx`` runtime: the Coqui VITS model exported once to ONNX and
run on onnxruntime (``tts.runtime: onnx``).

The model is loaded through Coqui as for the torch runtime; Coqui's own
``Vits.export_onnx`` writes the graph (it needs the ``onnx`` package) into a cache,
``$XDG_CACHE_HOME/streamer/vits-onnx/<sha256>.onnx`` (``~/.cache`` when unset), where
the hash covers the checkpoint, its config and the coqui-tts version: a retrained
checkpoint gets a new file, and the checkpoint's folder may be read-only. Later starts
reuse the file. The torch model is then dropped; the text goes through the model's
own tokenizer (the same cleaning and characters or phonemes as the torch runtime), and
the graph's inputs are ``input`` (int64 [1, N]), ``input_lengths`` (int64 [1]),
``scales`` (float32 [noise_scale, length_scale, noise_scale_dp] from the model, the
length divided by ``tts.speed``) and, when the graph has them, ``sid`` / ``langid``
(int64 [1]). The output (float32 [1, 1, T]) is finished as Coqui's synthesizer finishes
the torch output: silence trimmed when the config says so, then its end padding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from streamer.tts.base import TTSError
from streamer.tts.piper import onnx_providers

log = logging.getLogger(__name__)

ONNX_HINT = (
    "tts.runtime onnx exports the model with the `onnx` package: pip install onnx "
    "(the `voice` extra has it), or set tts.runtime: torch"
)
ORT_HINT = (
    "tts.runtime onnx needs onnxruntime: pip install onnxruntime (onnxruntime-gpu for "
    "CUDA), or set tts.runtime: torch"
)
CACHE_FORMAT = "streamer-vits-onnx-1"
"""Part of the cache key: a new value makes every cached export stale."""
GRAPH_INPUTS = frozenset({"input", "input_lengths", "scales"})


def cache_dir() -> Path:
    """Where exported models are kept (``XDG_CACHE_HOME`` honoured)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "streamer" / "vits-onnx"


def cache_path(checkpoint: Path, config: Path) -> Path:
    """The cache file for this checkpoint and config (read in 1 MiB blocks)."""
    digest = hashlib.sha256(CACHE_FORMAT.encode())
    try:
        version = metadata.version("coqui-tts")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest.update(version.encode())
    for path in (checkpoint, config):
        digest.update(b"\0" + path.name.encode() + b"\0")
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return cache_dir() / f"{digest.hexdigest()}.onnx"


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise TTSError(f"cannot import onnxruntime ({exc}); {ORT_HINT}") from None
    return onnxruntime


def providers(device: str) -> list[str]:
    """onnxruntime's providers for ``tts.device`` (errors for a missing onnxruntime or a
    CUDA it does not have)."""
    return onnx_providers(device, import_onnxruntime().get_available_providers())


def check_onnx() -> None:
    """The export needs ``onnx``: a clear error when it is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise TTSError(f"cannot import onnx ({exc}); {ONNX_HINT}") from None


def export(model: Any, target: Path) -> None:
    """Export the Coqui model to ``target`` through a temporary file in its folder, so an
    interrupted export never leaves a half-written cache file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(suffix=".onnx.tmp", dir=target.parent)
    except OSError as exc:
        raise TTSError(
            f"cannot write the ONNX cache in {target.parent}: {exc.strerror or exc} "
            "(set XDG_CACHE_HOME to a writable folder, or tts.runtime: torch)"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        model.export_onnx(output_path=str(tmp), verbose=False)
        os.replace(tmp, target)
    except Exception as exc:  # the exporter raises many kinds
        tmp.unlink(missing_ok=True)
        text = " ".join(str(exc).split())[:300]
        raise TTSError(
            f"exporting the VITS model to ONNX failed ({type(exc).__name__}: {text}); "
            "set tts.runtime: torch"
        ) from None


@dataclass(slots=True)
class OnnxVits:
    """A loaded ONNX VITS: the session plus what the text needs from the Coqui model."""

    session: Any
    tokenizer: Any
    audio_processor: Any
    trim_silence: bool
    scales: np.ndarray
    language: str | None  # for the tokenizer (phonemizer language)
    speaker_id: int | None
    language_id: int | None
    device: str
    pad_samples: int

    def waveform(self, text: str) -> np.ndarray:
        """The waveform as Coqui's synthesizer returns it for one sentence."""
        ids = self.tokenizer.text_to_ids(text, language=self.language)
        inputs = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": self.scales,
        }
        if self.speaker_id is not None:
            inputs["sid"] = np.array([self.speaker_id], dtype=np.int64)
        if self.language_id is not None:
            inputs["langid"] = np.array([self.language_id], dtype=np.int64)
        out = self.session.run(["output"], inputs)[0]
        wav = np.asarray(out, dtype=np.float32).reshape(-1)
        if self.trim_silence:
            wav = wav[: self.audio_processor.find_endpoint(wav)]
        return np.concatenate([wav, np.zeros(self.pad_samples, np.float32)])


def load_onnx_vits(
    synth: Any,
    checkpoint: Path,
    config: Path,
    device: str,
    speaker: str | None,
    language: str | None,
) -> OnnxVits:
    """Export (or reuse the cached export of) the model ``synth`` holds and open it on
    onnxruntime; ``speaker`` / ``language`` are the names already chosen (or None)."""
    from TTS.utils.synthesizer import PAD_SILENCE_SAMPLES

    ort = import_onnxruntime()
    chosen = providers(device)
    model = synth.tts_model
    if _setting(model, "use_d_vector_file"):
        raise TTSError(
            "tts.runtime onnx cannot run a VITS model with d-vector speakers "
            "(use_d_vector_file in its config): set tts.runtime: torch"
        )
    target = cache_path(checkpoint, config)
    session = None
    if target.is_file():
        log.info("vits: ONNX export of %s from the cache %s", checkpoint.name, target)
        session = _session(ort, target, chosen, cached=True)
    if session is None:
        check_onnx()
        log.info("vits: exporting %s to ONNX once (cached as %s)", checkpoint.name, target)
        export(model, target)
        session = _session(ort, target, chosen, cached=False)
    names = {i.name for i in session.get_inputs()}
    if not GRAPH_INPUTS.issubset(names):
        raise TTSError(f"the ONNX export {target} has inputs {sorted(names)}; delete it")
    speaker_id, language_id, text_language = _ids(model, speaker, language)
    return OnnxVits(
        session=session,
        tokenizer=model.tokenizer,
        audio_processor=model.ap,
        trim_silence=bool(synth.tts_config.audio.get("do_trim_silence")),
        scales=np.array(
            [model.inference_noise_scale, model.length_scale, model.inference_noise_scale_dp],
            dtype=np.float32,
        ),
        language=text_language,
        speaker_id=(speaker_id or 0) if "sid" in names else None,
        language_id=(language_id or 0) if "langid" in names else None,
        device="cuda" if chosen[0].startswith("CUDA") else "cpu",
        pad_samples=int(PAD_SILENCE_SAMPLES),
    )


def _session(ort: Any, path: Path, providers: list[str], *, cached: bool) -> Any:
    """An onnxruntime session; a cached file that does not load is deleted (None)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # a damaged file raises anything
        if cached:
            log.warning(
                "vits: the cached ONNX export %s does not load (%s): exporting again", path, exc
            )
            path.unlink(missing_ok=True)
            return None
        raise TTSError(f"onnxruntime cannot load the VITS export {path}: {exc}") from None


def _ids(
    model: Any, speaker: str | None, language: str | None
) -> tuple[int | None, int | None, str | None]:
    """(speaker id, language id, tokenizer language) as Coqui's torch path picks them."""
    speaker_id = None
    speakers = getattr(getattr(model, "speaker_manager", None), "name_to_id", None) or {}
    if len(speakers) == 1:
        speaker_id = int(next(iter(speakers.values())))
    elif speaker is not None:
        speaker_id = int(speakers[speaker])
    language_id = None
    languages = getattr(getattr(model, "language_manager", None), "name_to_id", None) or {}
    if len(languages) == 1:
        language, language_id = next(iter(languages.items()))
        language_id = int(language_id)
    elif language is not None and languages:
        language_id = int(languages[language])
    return speaker_id, language_id, language


def _setting(model: Any, key: str) -> bool:
    args = getattr(model.config, "model_args", None)
    return bool(getattr(model.config, key, False) or getattr(args, key, False))
