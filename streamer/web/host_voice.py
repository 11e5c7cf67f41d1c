"""The host's voice: the console's push-to-talk microphone, over the preview's WebRTC
connection, becomes a question of the host, answered next.

* The microphone's frames are resampled to 16 kHz mono as they arrive.
* Voice activity ends an utterance: speech (loudness well above the noise floor the
  frames before it showed) for ``MIN_SPEECH_S``, then ``END_SILENCE_S`` of quiet, or
  no frames at all (the button released: the browser sends nothing). ``MAX_UTTERANCE_S``
  caps it.
* Whisper (``streamer.voice.dataset.WhisperTranscriber``, the voice dataset tool's
  engine) transcribes it in a worker thread; the model is loaded once, on the first
  utterance, off the event loop (``status.host_voice_model``: a name in the user's
  Whisper cache, or a .pt file). When none can be loaded the console says so.
* The text becomes a ``Question`` of ``status.host_name`` with the broadcaster's rank,
  put at the front of the build queue at once (``on_question``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RATE = 16_000
WINDOW_S = 0.02
MIN_SPEECH_S = 0.25
END_SILENCE_S = 0.7
MAX_UTTERANCE_S = 20.0
QUIET_RECV_S = 0.3  # no frame for this long counts as silence (the button released)
SPEECH_RATIO = 4.0  # louder than the noise floor by this much is speech
MIN_LEVEL = 0.004  # and never quieter than this (RMS of float samples)


class Utterances:
    """Voice activity on 16 kHz mono float samples: ``feed`` returns each utterance
    as it ends (pure and synchronous: tested without audio devices)."""

    def __init__(self) -> None:
        self._floor = MIN_LEVEL
        self._speech: list[np.ndarray] = []
        self._voiced_s = 0.0
        self._quiet_s = 0.0
        self._carry = np.zeros(0, np.float32)

    def feed(self, samples: np.ndarray) -> list[np.ndarray]:
        done = []
        data = np.concatenate([self._carry, samples.astype(np.float32, copy=False)])
        step = int(RATE * WINDOW_S)
        whole = len(data) // step * step
        self._carry = data[whole:]
        for start in range(0, whole, step):
            window = data[start : start + step]
            ended = self._window(window)
            if ended is not None:
                done.append(ended)
        return done

    def silence(self, seconds: float) -> list[np.ndarray]:
        """Nothing arrived for ``seconds``: as much quiet."""
        return self.feed(np.zeros(int(RATE * seconds), np.float32))

    def _window(self, window: np.ndarray) -> np.ndarray | None:
        level = float(np.sqrt(np.mean(window**2)))
        loud = level > max(MIN_LEVEL, self._floor * SPEECH_RATIO)
        if not self._speech:
            if loud:
                self._speech.append(window)
                self._voiced_s, self._quiet_s = WINDOW_S, 0.0
            else:  # the noise floor follows the quiet, slowly
                self._floor = 0.95 * self._floor + 0.05 * max(level, MIN_LEVEL / 4)
            return None
        self._speech.append(window)
        if loud:
            self._voiced_s += WINDOW_S
            self._quiet_s = 0.0
        else:
            self._quiet_s += WINDOW_S
        length = len(self._speech) * WINDOW_S
        if self._quiet_s >= END_SILENCE_S or length >= MAX_UTTERANCE_S:
            speech, voiced = np.concatenate(self._speech), self._voiced_s
            self._speech, self._voiced_s, self._quiet_s = [], 0.0, 0.0
            if voiced >= MIN_SPEECH_S:
                return speech
        return None


class HostVoice:
    def __init__(
        self,
        model: str,
        language: str | None,
        on_question: Callable[[str], None],
        on_state: Callable[[str, str], None],
    ) -> None:
        self.model, self.language = model, language
        self._on_question = on_question
        self._on_state = on_state  # ("listening" | "transcribing" | "unavailable" | ..., text)
        self._engine: Any = None
        self._engine_error = ""
        self._loading: asyncio.Lock | None = None
        self._busy: asyncio.Lock | None = None  # one transcription at a time (one model)
        self._tasks: set[asyncio.Task[None]] = set()
        self.heard: list[str] = []  # what was recognised since start

    def listen(self, track: Any) -> None:
        """Consume a microphone track (aiortc) until it ends."""
        task = asyncio.create_task(self._consume(track), name="host-voice")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, track: Any) -> None:
        import av
        from aiortc.mediastreams import MediaStreamError

        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        utterances = Utterances()
        while True:
            try:
                async with asyncio.timeout(QUIET_RECV_S):
                    frame = await track.recv()
            except TimeoutError:
                ended = utterances.silence(QUIET_RECV_S)
            except MediaStreamError:
                return
            else:
                ended = []
                for out in resampler.resample(frame):
                    ended += utterances.feed(out.to_ndarray().reshape(-1))
            for speech in ended:
                await self._recognise(speech)

    async def _recognise(self, speech: np.ndarray) -> None:
        engine = await self._load()
        if engine is None:
            self._on_state("unavailable", self._engine_error)
            return
        self._on_state("transcribing", f"{len(speech) / RATE:.1f} s of speech")
        if self._busy is None:
            self._busy = asyncio.Lock()
        try:
            async with self._busy:
                text = await asyncio.to_thread(engine.transcribe, speech)
        except Exception as exc:
            log.exception("host voice: speech recognition failed")
            self._on_state("error", f"speech recognition failed: {exc}")
            return
        text = " ".join(text.split())
        if not text:
            self._on_state("listening", "nothing recognised: try again")
            return
        self.heard.append(text)
        log.info("host voice: %r", text)
        self._on_state("heard", text)
        self._on_question(text)

    async def _load(self) -> Any:
        if self._engine is not None or self._engine_error:
            return self._engine
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._engine is None and not self._engine_error:
                self._on_state("loading", f"loading the speech recognition model {self.model}")
                try:
                    self._engine = await asyncio.to_thread(self._make)
                except Exception as exc:
                    self._engine_error = (
                        f"no speech recognition: {exc} (set status.host_voice_model to a "
                        "Whisper model in ~/.cache/whisper or a .pt file)"
                    )
                    log.warning("host voice: %s", self._engine_error)
        return self._engine

    def _make(self) -> Any:
        from streamer.voice.dataset import WhisperTranscriber

        # Greedy and short: a spoken question, recognised fast.
        return WhisperTranscriber(
            self.model, language=self.language, temperature=0.0, sample_len=96
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
