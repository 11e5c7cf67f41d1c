"""VideoBuilder: Segment → speech (TTS) → lip-synced frames → Clips for the publisher.

The models are loaded once, in the builder's own worker thread, and every heavy call
(synthesis, rendering) runs there, so chat, scheduling and pacing never stall. Frames
are handed on in chunks: the first chunk of a segment goes on air while the rest of it
is still being rendered.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from streamer.audio import Audio, normalize_loudness, pad_to_frames, resample, to_int16
from streamer.avatar import Avatar
from streamer.config import OutputSettings
from streamer.faults import Faults
from streamer.lipsync.base import LipSyncEngine
from streamer.messages import AnswerAborted, AnswerMessage, Clip, Segment
from streamer.tts.base import TTSEngine
from streamer.worker import DaemonWorker

log = logging.getLogger(__name__)

HOLD_MARGIN_S = 0.3  # extra lead when the builder is slower than real time
NEAR_REAL_TIME = 0.7  # above this real-time factor a segment's start-up cost needs a lead
BATCH_S = 1.0  # the lip-sync engines' largest batches are about this much media
RAMP_MARGIN_S = 0.15  # on top of the recent answers' measured deficit (_Ramp)
# The deficit is never taken below this: one answer's record can be luckier than the
# next (on 2 cores the first batches' cost varies by 2x).
MIN_DEFICIT_S = 0.2
RAMP_MEMORY = 8  # answers whose deficit is remembered

T = TypeVar("T")


class WorkerStuck(RuntimeError):
    """The builder's worker thread did not come back from a call."""


class ClipPlayer(Protocol):
    """The publisher, as the builder sees it."""

    async def put(self, clip: Clip) -> object: ...

    def next_avatar_position(self) -> int: ...


@dataclass
class BuildStats:
    segments: int = 0
    failed_segments: int = 0
    media_s: float = 0.0  # seconds of audio and video produced
    busy_s: float = 0.0  # seconds spent building them

    @property
    def real_time_factor(self) -> float:
        """Build time / media time: below 1 is faster than real time."""
        return self.busy_s / self.media_s if self.media_s else 0.0


@dataclass
class _Ramp:
    """One answer's clips against the clock: how late would the latest one have been,
    had the answer started playing when its first clip was ready?"""

    first: float | None = None  # when the first clip was ready
    media_s: float = 0.0  # media queued so far
    waited_s: float = 0.0  # time spent waiting for room in a full queue (not lateness)
    deficit: float = 0.0  # the worst lateness so far

    def ready(self, now: float) -> None:
        if self.first is None:
            self.first = now
            return
        self.deficit = max(self.deficit, now - self.first - self.waited_s - self.media_s)

    def queued(self, media_s: float, waited_s: float) -> None:
        self.media_s += media_s
        self.waited_s += waited_s


class VideoBuilder:
    def __init__(
        self,
        tts: TTSEngine,
        lipsync: LipSyncEngine,
        avatar: Avatar,
        output: OutputSettings,
        player: ClipPlayer,
        speech_text: Callable[[str], str] | None = None,
        *,
        on_fatal: Callable[[str], None] | None = None,
        faults: Faults | None = None,
        stall_s: float | None = None,
    ) -> None:
        if output.sample_rate % output.fps:
            raise ValueError(
                f"output.sample_rate {output.sample_rate} must be a multiple of output.fps "
                f"{output.fps} so every frame gets a whole number of samples"
            )
        self.tts = tts
        self.lipsync = lipsync
        self.avatar = avatar
        self.output = output
        self.player = player
        # Segment text → what the voice reads (numbers as words, no markdown or emoji).
        self.speech_text = speech_text
        self.stats = BuildStats()
        self._worker = DaemonWorker("video-builder")
        self._on_fatal = on_fatal
        self._faults = faults or Faults()
        self.stall_s = output.worker_stall_s if stall_s is None else stall_s
        # (characters written, text complete) of an answer: how much is left to speak.
        self.expected: Callable[[str], tuple[int, bool]] = lambda answer_id: (0, False)
        self._spoken_chars: dict[str, int] = {}  # characters of each answer built so far
        # How far each recent answer's clips fell behind playing it from its first clip
        # (the first small batches carry a fixed cost each, and each further segment
        # its voice and first batch, so an answer's start is often slower than real
        # time even when the builder as a whole is faster).
        self._ramp: deque[float] = deque(maxlen=RAMP_MEMORY)
        self._ramps: dict[str, _Ramp] = {}  # the answers being built
        self._stuck: str | None = None

    async def _in_worker(self, fn: Callable[[], T], what: str = "work") -> T:
        """Run ``fn`` in the worker; a call that never returns is a fatal error."""
        if self._stuck is not None:
            raise WorkerStuck(self._stuck)
        future = asyncio.get_running_loop().run_in_executor(self._worker, fn)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.stall_s)
        except TimeoutError:
            self._stuck = (
                f"the video builder's worker thread has been stuck in {what} for "
                f"{self.stall_s:.0f} s"
            )
            if self._on_fatal is not None:
                self._on_fatal(self._stuck)
            raise WorkerStuck(self._stuck) from None

    async def start(self) -> None:
        """Load the voice and the lip-sync model once; errors surface at start."""
        started = time.monotonic()
        # Loading may take minutes (a big model on a slow disk): no stall limit here.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self.tts.load)
        await loop.run_in_executor(self._worker, lambda: self.lipsync.load(self.avatar))
        log.info(
            "video builder ready in %.1f s: voice %s, lip-sync %s, avatar %s (%d frames)",
            time.monotonic() - started,
            self.tts.describe,
            self.lipsync.name,
            self.avatar.source.name,
            len(self.avatar.frames),
        )

    async def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ next stage

    async def __call__(self, item: AnswerMessage) -> None:
        if isinstance(item, AnswerAborted):
            # The answer ends here: an empty final clip tells the publisher.
            await self.player.put(self._end_marker(item.answer_id, -1))
            return
        try:
            await self._build(item)
        except (asyncio.CancelledError, WorkerStuck):
            raise
        except Exception:
            self.stats.failed_segments += 1
            log.exception(
                "answer %s segment %d skipped: voice or lip-sync failed",
                item.answer_id[:8],
                item.index,
            )
            if item.last:
                await self.player.put(self._end_marker(item.answer_id, item.index))

    # ------------------------------------------------------------------ work

    def _speak(self, text: str) -> tuple[Audio, int]:
        """Text → speech at the stream's rate, padded to whole frames."""
        self._faults.check("worker")
        if self.speech_text is not None:
            text = self.speech_text(text)
        self._faults.check("tts")
        log.debug("voice input: %r", text)  # exactly what the voice reads
        speech = self.tts.synthesize(text)
        speech = normalize_loudness(speech)
        if speech.rate != self.output.sample_rate:
            speech = resample(speech, self.output.sample_rate)
        return pad_to_frames(speech, self.output.fps)

    async def _build(self, segment: Segment) -> None:
        started = time.monotonic()
        speech, n_frames = await self._in_worker(lambda: self._speak(segment.text), "the voice")
        pcm = to_int16(speech.samples)
        per_frame = self.output.sample_rate // self.output.fps
        # Drawn from where the avatar will be when this segment plays, so a video
        # avatar's motion goes on without a jump.
        start = self.player.next_avatar_position()
        batches: Iterator[np.ndarray] = self.lipsync.render(speech, start, self.output.fps)
        done = 0
        startup_s = 0.0
        spoke = time.monotonic()
        busy = spoke - started
        ramp = self._ramps.setdefault(segment.answer_id, _Ramp())
        while len(self._ramps) > RAMP_MEMORY:  # answers cut short never finish theirs
            self._ramps.pop(next(iter(self._ramps)))
        while done < n_frames:
            t0 = time.monotonic()
            frames = await self._in_worker(lambda: self._render_next(batches), "lip-sync")
            busy += time.monotonic() - t0
            if frames is None:
                break
            ramp.ready(time.monotonic())
            # One clip per batch: the engine sizes them (a few frames first, growing to
            # about a second), so speech starts early and never waits on a big batch.
            end = done + len(frames)
            clip = Clip(
                answer_id=segment.answer_id,
                index=segment.index,
                frames=frames,
                audio=pcm[done * per_frame : end * per_frame],
                fps=self.output.fps,
                sample_rate=self.output.sample_rate,
                last=segment.last and end >= n_frames,
                avatar_start=start + done,
            )
            first = done == 0
            done = end
            fps = self.output.fps
            now = time.monotonic()
            if first:  # what a segment costs before its first frame: its voice, a batch
                startup_s = now - started
            # This segment's pace: its voice, and its lip-sync so far projected to the end.
            # The first small batches carry each batch's fixed cost, so their projection
            # is far too slow: with the builder's own record to go by, it is only
            # trusted from a second of media on.
            rtf = (spoke - started + (now - spoke) * n_frames / done) / (n_frames / fps)
            if done < fps and self.stats.media_s > 0:
                rtf = 0.0  # _hold takes the builder's record
            self._hold(
                segment, rtf, (n_frames - done) / fps, len(segment.text) * fps / n_frames, startup_s
            )
            put_at = time.monotonic()
            await self.player.put(clip)
            ramp.queued(len(frames) / fps, time.monotonic() - put_at)
        if done != n_frames:
            raise RuntimeError(f"lip-sync gave {done} frames for {n_frames} expected")
        if segment.last:
            self._ramp.append(self._ramps.pop(segment.answer_id, ramp).deficit)
        spoken = self._spoken_chars
        spoken[segment.answer_id] = spoken.get(segment.answer_id, 0) + len(segment.text)
        if segment.last:
            spoken.pop(segment.answer_id, None)
        self.stats.segments += 1
        self.stats.media_s += n_frames / self.output.fps
        self.stats.busy_s += busy
        log.info(
            "answer %s segment %d built: %.2f s of video in %.2f s",
            segment.answer_id[:8],
            segment.index,
            n_frames / self.output.fps,
            busy,
        )

    def _render_next(self, batches: Iterator[np.ndarray]) -> np.ndarray | None:
        self._faults.check("lipsync")
        frames = next(batches, None)
        slow = self._faults.slowdown("lipsync")  # a test's slow engine
        if slow and frames is not None:
            time.sleep(slow * len(frames))
        return frames

    def _hold(
        self, segment: Segment, rtf: float, left_s: float, chars_per_s: float, startup_s: float
    ) -> None:
        """How much of the answer must be queued before it may start (0: none).

        Slower than real time (``rtf`` > 1: seconds of work per second of media): the
        rest renders while it plays only with ``remaining x (rtf - 1)`` seconds queued
        (the rest of this segment, and the answer's text not yet spoken, at this voice's
        pace). Close to real time (``rtf`` > ``NEAR_REAL_TIME``), the clips come in
        batches of up to about a second (``BATCH_S``): one must be queued while the next
        renders; and each segment still to build costs its ``startup_s`` (its voice and a
        first batch) before its first frame: that much per segment too. Whatever the
        pace, the lead is at least the worst deficit of the recent answers (how late
        their clips would have been, played from the first clip on: the small first
        batches' fixed costs, each further segment's voice) plus ``RAMP_MARGIN_S``.
        """
        hold = getattr(self.player, "hold", None)
        if hold is None:
            return
        rtf = max(rtf, self.stats.real_time_factor)
        written, complete = self.expected(segment.answer_id)
        spoken = self._spoken_chars.get(segment.answer_id, 0) + len(segment.text)
        left_chars = max(0, written - spoken)
        future = left_chars / max(chars_per_s, 1.0)
        ahead = math.ceil(left_chars / max(len(segment.text), 1))  # segments still to build
        if not complete:  # more text to come: at least as much again as this segment
            future += left_s + len(segment.text) / max(chars_per_s, 1.0)
            ahead += 1
        # Whatever the pace, wait as long as the recent answers would have run late.
        wait = max(MIN_DEFICIT_S, *self._ramp) + RAMP_MARGIN_S if self._ramp else 0.0
        lead = 0.0
        if rtf > 1.0:
            lead += (left_s + future) * (rtf - 1.0) + HOLD_MARGIN_S
        if rtf > NEAR_REAL_TIME:  # and a batch of about a second takes about rtf seconds
            lead += ahead * startup_s + min(left_s + future, BATCH_S) * rtf
        hold(segment.answer_id, lead, wait)

    def _end_marker(self, answer_id: str, index: int) -> Clip:
        height, width = self.output.height, self.output.width
        return Clip(
            answer_id=answer_id,
            index=index,
            frames=np.zeros((0, height, width, 3), np.uint8),
            audio=np.zeros(0, np.int16),
            fps=self.output.fps,
            sample_rate=self.output.sample_rate,
            last=True,
        )
