"""The embedded default voice: the system program ``espeak-ng``.

Each call runs ``espeak-ng --stdout --stdin`` with the text on stdin (never on the
command line, so a text that starts with ``-`` is not read as an option) and parses
the WAV it writes. Without ``-m`` espeak-ng does not interpret SSML, and without
``--punct`` it does not name punctuation, so chat text with ``<``, ``&``, quotes,
emoji or any script is spoken as plain text. A run costs a few milliseconds of
process start next to the synthesis itself (about 0.1 s for 200 characters).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import unicodedata
import wave
from pathlib import Path

import numpy as np

from streamer.audio import Audio
from streamer.config import TTSSettings
from streamer.tts.base import TTSError

NATIVE_RATE = 22050
"""The rate espeak-ng writes (read from each WAV; this is only the silence rate)."""

SILENCE_S = 0.2
"""Length of the silence returned for a text with nothing to say."""

INSTALL_HINT = "apt-get install espeak-ng (Debian/Ubuntu), or pass the program's path"

_KEEP_CONTROLS = frozenset("\n\t")


def clean_text(text: str) -> str:
    """``text`` without control characters (NUL would end espeak-ng's input early)."""
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Cs") and c not in _KEEP_CONTROLS else c
        for c in text
    )


def _tail(stderr: bytes, limit: int = 500) -> str:
    message = stderr.decode("utf-8", errors="replace").strip()
    return message[-limit:] if message else "(no message on stderr)"


def parse_wav(data: bytes) -> Audio:
    """Parse a 16-bit PCM WAV into mono float32 :class:`Audio` at its own rate.

    espeak-ng writing to stdout cannot seek back to fill in the sizes, so its header
    claims a huge data chunk; the samples are simply what follows the header.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise TTSError(f"espeak-ng wrote no valid WAV ({len(data)} bytes): {exc}") from None
    if width != 2:
        raise TTSError(f"espeak-ng wrote {8 * width}-bit samples, expected 16-bit PCM")
    usable = len(raw) - len(raw) % (2 * channels)
    pcm = np.frombuffer(raw[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return Audio(np.ascontiguousarray(pcm, dtype=np.float32), rate)


class EspeakEngine:
    """Speech from the ``espeak-ng`` program (voice, speed and pitch from settings)."""

    name = "espeak"

    def __init__(
        self,
        settings: TTSSettings,
        *,
        program: str | Path = "espeak-ng",
        timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.program = str(program)
        self.timeout_s = timeout_s
        self._path: str | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._path is not None

    @property
    def describe(self) -> str:
        return f"espeak-ng (voice {self.settings.voice}, {self.settings.rate_wpm} wpm)"

    def load(self) -> None:
        """Find the program and speak a word with the configured voice.

        Raises :class:`TTSError` when the program is missing or the voice does not
        exist, so a bad configuration fails at start rather than on the first answer.
        """
        with self._lock:
            if self._path is not None:
                return
            voice = self.settings.voice
            if not voice.strip() or any(c.isspace() for c in voice):
                raise TTSError(
                    f"tts.voice {voice!r} is not an espeak-ng voice name "
                    "(one word, e.g. 'en-us'; `espeak-ng --voices` lists them)"
                )
            path = shutil.which(self.program)
            if path is None:
                raise TTSError(f"espeak-ng not found (looked for {self.program!r}): {INSTALL_HINT}")
            audio = self._run(path, "test")
            if len(audio.samples) == 0 or not np.any(audio.samples):
                raise TTSError(
                    f"espeak-ng voice {voice!r} produced no sound for a test word; "
                    "pick another tts.voice (`espeak-ng --voices` lists them)"
                )
            self._path = path

    def synthesize(self, text: str) -> Audio:
        """Speak ``text``; a blank text (or one espeak-ng has no sound for) is silence."""
        if self._path is None:
            self.load()
        assert self._path is not None
        cleaned = clean_text(text)
        if not cleaned.strip():
            return self._silence()
        audio = self._run(self._path, cleaned)
        if len(audio.samples) == 0:
            return self._silence()
        return audio

    def _silence(self) -> Audio:
        return Audio(np.zeros(round(SILENCE_S * NATIVE_RATE), dtype=np.float32), NATIVE_RATE)

    def _command(self, path: str) -> list[str]:
        s = self.settings
        return [
            path,
            "--stdout",
            "--stdin",
            "-b",
            "1",  # the input is UTF-8
            "-v",
            s.voice,
            "-s",
            str(s.rate_wpm),
            "-p",
            str(s.pitch),
        ]

    def _run(self, path: str, text: str) -> Audio:
        try:
            proc = subprocess.run(
                self._command(path),
                input=text.encode("utf-8", errors="replace"),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise TTSError(f"espeak-ng not found at {path!r}: {INSTALL_HINT}") from None
        except PermissionError:
            raise TTSError(f"espeak-ng at {path!r} is not executable: {INSTALL_HINT}") from None
        except subprocess.TimeoutExpired:
            raise TTSError(
                f"espeak-ng took more than {self.timeout_s:g} s for {len(text)} characters"
            ) from None
        except OSError as exc:
            raise TTSError(f"cannot run espeak-ng at {path!r}: {exc}") from None
        if proc.returncode != 0:
            hint = ""
            if b"voice does not exist" in proc.stderr:
                hint = " (set tts.voice to one that `espeak-ng --voices` lists)"
            raise TTSError(
                f"espeak-ng failed with exit code {proc.returncode} "
                f"(voice {self.settings.voice!r}): {_tail(proc.stderr)}{hint}"
            )
        if not proc.stdout:
            return Audio(np.zeros(0, dtype=np.float32), NATIVE_RATE)
        return parse_wav(proc.stdout)
