"""Whisper for ``streamer voice dataset``: the model (a name in the user's cache, a
download, or a .pt file), the device, and one clip's text.

Whisper and torch are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pickle
import socket
import ssl
import urllib.error
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamer.voice.dataset_options import DatasetError, _count, _one_line

INSTALL_HINT = "run `make setup` or pip install -e '.[voice]'"
# What a failed model download raises (urllib wraps most of it in URLError).
NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    ssl.SSLError,
)


def whisper_cache_dir() -> Path:
    """Where openai-whisper keeps downloaded models (it honours XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "whisper"


def _import_error(what: str, exc: BaseException) -> DatasetError:
    """A DatasetError for a failed import of the voice extra, with the way to fix it."""
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing is not None and missing.split(".")[0] in ("whisper", "torch"):
        name = "Whisper" if missing.startswith("whisper") else "torch"
        return DatasetError(f"{name} is not installed: {INSTALL_HINT}")
    return DatasetError(f"{what} cannot be imported ({_one_line(exc)}): {INSTALL_HINT}")


def _resolve_device(device: str) -> str:
    try:
        import torch
    except (ImportError, OSError) as exc:  # a torch build that does not load: OSError
        raise _import_error("torch", exc) from None

    wanted = device.strip().lower()
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(wanted)
    except RuntimeError:
        raise DatasetError(f"--device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if parsed.type not in ("cpu", "cuda"):
        raise DatasetError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise DatasetError(f"--device {device}: no CUDA GPU is available (use cpu or auto)")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise DatasetError(
                f"--device {device}: there is no GPU {parsed.index} "
                f"({_count(count, 'CUDA GPU')}: use {have})"
            )
    return wanted


def _cached_model(whisper: Any, name: str, root: Path) -> Path | None:
    """Where openai-whisper keeps the model ``name`` in ``root`` (None: unknown)."""
    url = getattr(whisper, "_MODELS", {}).get(name)
    return root / os.path.basename(url) if isinstance(url, str) else None


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class WhisperTranscriber:
    """openai-whisper, from a model name (the user's cache, else a download) or a .pt file.

    ``temperature`` and ``sample_len`` (the most tokens per clip) pass to Whisper's
    decoder; the defaults are Whisper's own. fp16 runs on CUDA only.
    """

    def __init__(
        self,
        model: str = "small",
        *,
        device: str = "auto",
        language: str | None = None,
        initial_prompt: str | None = None,
        download_root: Path | None = None,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        sample_len: int | None = None,
    ) -> None:
        self.device = _resolve_device(device)
        try:
            import whisper
            from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE
        except (ImportError, OSError) as exc:
            raise _import_error("Whisper", exc) from None

        self.language = self._language(language, LANGUAGES, TO_LANGUAGE_CODE)
        self.initial_prompt = initial_prompt or None
        self.temperature = temperature
        self.sample_len = sample_len
        root = download_root or whisper_cache_dir()
        path = Path(model).expanduser()
        names: list[str] = whisper.available_models()
        by_name = not path.is_file() and model in names
        if path.is_file():
            source = str(path)
        elif by_name:
            source = model
        elif path.suffix or os.sep in model or "/" in model:
            raise DatasetError(f"Whisper model {model}: no such file")
        else:
            raise DatasetError(
                f"unknown Whisper model {model!r}: use one of {', '.join(names)} "
                "or the path to a .pt file"
            )
        cached = _cached_model(whisper, model, root) if by_name else None
        was_cached = cached is not None and cached.is_file()
        try:
            with warnings.catch_warnings():
                # A damaged file in the cache: Whisper warns, then downloads it again.
                warnings.filterwarnings("ignore", message=".*SHA256 checksum does not match")
                # It reads a download without closing the file.
                warnings.filterwarnings("ignore", category=ResourceWarning)
                self.model = whisper.load_model(source, device=self.device, download_root=str(root))
        except Exception as exc:  # a corrupt checkpoint raises anything
            raise self._load_error(exc, model, by_name, cached, was_cached, root) from None
        if self.language not in (None, "en") and not self.model.is_multilingual:
            raise DatasetError(
                f"Whisper model {model} knows English only: drop --language "
                f"{self.language} or use a multilingual model"
            )

    def _load_error(
        self,
        exc: Exception,
        model: str,
        by_name: bool,
        cached: Path | None,
        was_cached: bool,
        root: Path,
    ) -> DatasetError:
        """One line on why ``whisper.load_model`` failed."""
        if _out_of_memory(exc):
            where = "the GPU" if self.device.startswith("cuda") else "the machine"
            hint = "use a smaller model" + (" or --device cpu" if where == "the GPU" else "")
            return DatasetError(
                f"Whisper model {model}: {where} has not enough memory for it "
                f"({_one_line(exc)}): {hint}"
            )
        if by_name:  # from the cache, else downloaded
            download_failed = isinstance(exc, NETWORK_ERRORS) or (
                isinstance(exc, RuntimeError) and "SHA256" in str(exc)
            )
            if download_failed and cached is not None and not was_cached:
                with contextlib.suppress(OSError):  # what the failed download left
                    cached.unlink(missing_ok=True)
            if download_failed and not was_cached:
                return DatasetError(
                    f"Whisper model {model!r} is not in {root} and could not be downloaded "
                    f"({_one_line(exc)}): pass --whisper-model PATH.pt, or connect to the "
                    "internet once"
                )
            if download_failed:
                return DatasetError(
                    f"Whisper model {model!r}: {cached} is damaged and could not be "
                    f"downloaded again ({_one_line(exc)}): delete it and connect to the "
                    "internet, or pass --whisper-model PATH.pt"
                )
            return DatasetError(f"Whisper model {model!r} cannot be loaded: {_one_line(exc)}")
        if isinstance(exc, pickle.UnpicklingError | EOFError):
            reason = "torch cannot read it"
        elif isinstance(exc, KeyError):
            reason = f"no {exc}"
        else:
            reason = _one_line(exc)
        return DatasetError(f"{Path(model).expanduser()}: not a Whisper checkpoint ({reason})")

    @staticmethod
    def _language(language: str | None, codes: dict[str, str], names: dict[str, str]) -> str | None:
        if language is None or not language.strip():
            return None
        wanted = language.strip().lower()
        if wanted in codes:
            return wanted
        if wanted in names:
            return names[wanted]
        raise DatasetError(f"--language {language!r}: not a language Whisper knows (e.g. en, de)")

    def transcribe(self, samples_16k: NDArray[np.float32]) -> str:
        import whisper

        options: dict[str, Any] = {
            "language": self.language,
            "initial_prompt": self.initial_prompt,
            "fp16": self.device.startswith("cuda"),
            "temperature": self.temperature,
            # One clip is one 30 s window: no timestamps, nothing carried between clips.
            "without_timestamps": True,
            "condition_on_previous_text": False,
            "verbose": None,
        }
        if self.sample_len is not None:
            options["sample_len"] = self.sample_len
        with warnings.catch_warnings():
            # --device cpu on a machine with a GPU is the user's choice.
            warnings.filterwarnings("ignore", message="Performing inference on CPU")
            # Whisper's tokenizer leaves its vocabulary file for the GC to close.
            warnings.filterwarnings("ignore", category=ResourceWarning)
            result = whisper.transcribe(self.model, samples_16k, **options)
        return str(result.get("text", "")).strip()
