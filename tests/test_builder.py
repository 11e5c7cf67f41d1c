"""VideoBuilder: real espeak voice, real puppet lip-sync, the shipped avatar."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import pytest

from streamer.audio import Audio
from streamer.avatar import load_avatar
from streamer.builder import VideoBuilder, WorkerStuck, _Ramp
from streamer.config import LipSyncSettings, OutputSettings, TTSSettings
from streamer.faults import Faults
from streamer.lipsync import make_lipsync
from streamer.messages import AnswerAborted, Clip, Segment
from streamer.tts import make_tts
from streamer.tts.base import TTSError

OUTPUT = OutputSettings(width=320, height=180, fps=25, sample_rate=48000)


class Collector:
    """Stands where the publisher stands: keeps the clips it is handed."""

    def __init__(self) -> None:
        self.clips: list[Clip] = []
        self.skipped: list[str] = []

    async def put(self, clip: Clip) -> bool:
        self.clips.append(clip)
        return True

    def skip(self, answer_id: str) -> bool:
        self.skipped.append(answer_id)
        return True

    def on_air(self) -> str | None:
        return None

    def next_avatar_position(self) -> int:
        ends = [c.avatar_start + len(c.frames) for c in self.clips if c.avatar_start is not None]
        return ends[-1] if ends else 7


class FailingVoice:
    """A voice that fails on one word, to check the builder degrades per segment."""

    name = "failing"
    describe = "a voice that fails on one word"

    def __init__(self) -> None:
        self.inner = make_tts(TTSSettings())

    def load(self) -> None:
        self.inner.load()

    def synthesize(self, text: str) -> Audio:
        if "explode" in text:
            raise TTSError("voice failed on purpose")
        return self.inner.synthesize(text)


def make_builder(voice: object | None = None) -> tuple[VideoBuilder, Collector]:
    avatar = load_avatar(None, OUTPUT.width, OUTPUT.height, OUTPUT.fps, 10)
    player = Collector()
    builder = VideoBuilder(
        voice or make_tts(TTSSettings()),  # type: ignore[arg-type]
        make_lipsync(LipSyncSettings()),
        avatar,
        OUTPUT,
        player,
    )
    return builder, player


async def test_segments_become_clips_of_exact_length() -> None:
    builder, player = make_builder()
    await builder.start()
    texts = ["Hello there, friend.", "The sky is blue because of scattering.", "Bye!"]
    try:
        for i, text in enumerate(texts):
            await builder(Segment("a1", i, text, last=i == len(texts) - 1))
    finally:
        await builder.close()
    clips = player.clips
    assert clips and all(c.answer_id == "a1" for c in clips)
    assert [c.last for c in clips].count(True) == 1 and clips[-1].last
    # The first clip of each segment is small, so it goes on air early.
    firsts = [next(c for c in clips if c.index == i) for i in range(len(texts))]
    assert all(len(c.frames) <= 5 for c in firsts)
    for i in range(len(texts)):
        frames = sum(len(c.frames) for c in clips if c.index == i)
        samples = sum(len(c.audio) for c in clips if c.index == i)
        assert samples == frames * OUTPUT.sample_rate // OUTPUT.fps
        assert frames >= 10
    assert all(c.frames.shape[1:] == (180, 320, 3) for c in clips)
    speech = np.concatenate([c.audio for c in clips]).astype(np.float32) / 32768
    assert math.sqrt(float(np.mean(speech**2))) > 0.01  # there is a voice
    assert builder.stats.segments == 3 and builder.stats.real_time_factor < 1
    # The avatar position runs on without a jump from the first clip (7: the player's
    # idle position) to the last.
    starts = [c.avatar_start for c in clips]
    assert starts[0] == 7
    assert all(b == a + len(c.frames) for a, b, c in zip(starts, starts[1:], clips, strict=False))


async def test_a_failing_segment_is_skipped_and_the_answer_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    builder, player = make_builder(FailingVoice())
    await builder.start()
    try:
        await builder(Segment("a2", 0, "This one works.", last=False))
        with caplog.at_level(logging.ERROR, logger="streamer.builder"):
            await builder(Segment("a2", 1, "This one will explode.", last=True))
    finally:
        await builder.close()
    assert {c.index for c in player.clips} == {0, 1}
    end = player.clips[-1]
    assert end.last and len(end.frames) == 0 and end.index == 1
    assert "segment 1 skipped" in caplog.text
    assert builder.stats.failed_segments == 1


async def test_aborted_answer_ends_with_an_empty_last_clip() -> None:
    builder, player = make_builder()
    await builder.start()
    try:
        await builder(Segment("a3", 0, "Part one.", last=False))
        await builder(AnswerAborted("a3", "llm failed"))
    finally:
        await builder.close()
    assert player.clips[-1].last and len(player.clips[-1].frames) == 0


class HangingVoice(FailingVoice):
    """A voice that never comes back from one word (a hung engine)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def synthesize(self, text: str) -> Audio:
        if "hang" in text:
            self.release.wait(30)
        return self.inner.synthesize(text)


async def test_a_stuck_worker_is_fatal_not_a_stall() -> None:
    voice = HangingVoice()
    fatal: list[str] = []
    avatar = load_avatar(None, OUTPUT.width, OUTPUT.height, OUTPUT.fps, 10)
    player = Collector()
    builder = VideoBuilder(
        voice,  # type: ignore[arg-type]
        make_lipsync(LipSyncSettings()),
        avatar,
        OUTPUT,
        player,
        on_fatal=fatal.append,
        stall_s=0.5,
    )
    await builder.start()
    try:
        with pytest.raises(WorkerStuck):
            await builder(Segment("a4", 0, "Now I hang forever.", last=False))
        assert len(fatal) == 1 and "stuck in the voice" in fatal[0]
        # Later calls fail at once instead of queueing behind the stuck one.
        with pytest.raises(WorkerStuck):
            await builder(Segment("a4", 1, "Hello again.", last=True))
    finally:
        voice.release.set()
        await builder.close()
    assert player.clips == []


async def test_injected_worker_faults_skip_the_segment_then_recover() -> None:
    avatar = load_avatar(None, OUTPUT.width, OUTPUT.height, OUTPUT.fps, 10)
    player = Collector()
    builder = VideoBuilder(
        make_tts(TTSSettings()),
        make_lipsync(LipSyncSettings()),
        avatar,
        OUTPUT,
        player,
        faults=Faults("tts=1,lipsync@1"),
    )
    await builder.start()
    try:
        await builder(Segment("a5", 0, "The voice fails on this one.", last=False))
        await builder(Segment("a5", 1, "The lip-sync fails on this one.", last=False))
        await builder(Segment("a5", 2, "This one is spoken.", last=True))
    finally:
        await builder.close()
    assert builder.stats.failed_segments == 2
    assert {c.index for c in player.clips} == {2}
    assert player.clips[-1].last


def test_an_answers_ramp_deficit_is_how_late_its_clips_would_have_been() -> None:
    """Played from its first clip on, a clip ready 0.3 s after 0.16 s of media was queued
    before it would have been 0.14 s late; time blocked on a full queue is not lateness."""
    ramp = _Ramp()
    ramp.ready(10.0)  # the first clip: the answer could start now
    ramp.queued(0.16, 0.0)
    ramp.ready(10.30)  # 0.30 s after, with 0.16 s queued before it: 0.14 s late
    ramp.queued(0.32, 0.5)  # then the queue was full for 0.5 s
    ramp.ready(11.20)  # 1.20 - 0.5 waited - 0.48 queued = 0.22 s late
    assert abs(ramp.deficit - 0.22) < 1e-9
    ramp.queued(2.0, 0.0)
    ramp.ready(11.5)  # well ahead: the worst stays
    assert abs(ramp.deficit - 0.22) < 1e-9
