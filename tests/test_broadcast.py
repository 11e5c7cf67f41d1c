"""The whole daemon on air: replay chat → offline LLM → espeak + puppet → one publisher
→ a real nginx-rtmp on a loopback port, read back by a real ffmpeg (tests/media_reader.py).

Nothing is faked: the daemon runs in-process with its real MediaStage, so the test can
watch the publisher's events (``first_frame``, ``answer_done``, ``connected``...) as the
daemon gets them, and compare their stream times with what the reader sees. The reader
subscribes before the daemon publishes (nginx-rtmp lets a player wait for a stream), so
it sees the stream from its first frame.

Stream times: the publisher stamps frames and samples from its counts; the reader sees
the same times, the audio shifted by the AAC encoder delay (1024 samples, 21 ms).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamer.chat.replay import ReplayChatSource
from streamer.config import Settings, settings_from_dict
from streamer.daemon import Daemon
from streamer.faults import Faults
from streamer.messages import ChatMessage, ModAction, ModCommand
from streamer.rtmp_server import RtmpServer
from streamer.status import fetch_status
from streamer.store import QuestionStore, Status
from streamer.stream import MediaStage
from streamer.web.console import mask_url
from tests.media_reader import StreamReader, StreamReport
from tests.test_publisher import ffmpeg_children, free_port, needs_media

pytestmark = [pytest.mark.slow, needs_media]

W, H, FPS = 320, 180, 25
LOUD = 0.05  # RMS of speech (espeak, loudness-normalised)
SILENT = 0.01  # RMS of the idle loop's silence (AAC of zeros is ~0)
AAC_DELAY_S = 1024 / 48000
# Loud windows closer than this belong to one stretch of speech (pauses between words
# and sentences); answers are further apart than this on air.
SPEECH_PAUSE_S = 0.6
# Seconds between two questions: an answer is about 2.8 s on air, then >= 1 s of idle.
ASK_GAP_S = 4.3
# Long answers: the offline LLM reads the question back.
LONG_QUESTION = (
    "could you please tell me the whole story of the little lighthouse keeper who "
    "lived alone on the rocky island, counted the passing ships every single night, "
    "and wrote a long letter to the sea about each one of them"
)


def ask(user: str, text: str, delay_s: float = 0.0) -> str:
    """One replay line: ``user`` asks ``text`` after ``delay_s`` seconds."""
    return json.dumps({"user": user, "text": f"!ask {text}", "delay_s": delay_s})


def broadcast_settings(
    tmp_path: Path, url: str, lines: list[str], *, status_port: int = 0
) -> Settings:
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "log": {"file": False},
        "chat": {"source": "replay", "replay_file": str(chat), "replay_speed": 1.0},
        "pool": {"interval_s": 0.05, "policy": "fifo"},
        "filters": {"user_cooldown_s": 0},
        "llm": {"provider": "offline"},
        "tts": {"engine": "espeak", "rate_wpm": 450},
        "lipsync": {"engine": "puppet"},
        "output": {
            "rtmp_url": url,
            "width": W,
            "height": H,
            "fps": FPS,
            "video_bitrate_k": 300,
            "audio_bitrate_k": 64,
            "preset": "ultrafast",
            "start_rtmp_server": False,
        },
        "status": {"port": status_port},
    }
    return settings_from_dict(raw, base=tmp_path)


class Observed(Daemon):
    """The real daemon; the test also sees each publisher event, on the event loop."""

    def __init__(self, settings: Settings, faults: Faults | None = None) -> None:
        super().__init__(settings, env={}, faults=faults)
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self._changed = asyncio.Event()
        self._test_loop = asyncio.get_running_loop()

    @property
    def stage(self) -> MediaStage:
        assert isinstance(self.sink, MediaStage)
        return self.sink

    def media_event(self, kind: str, data: dict[str, Any]) -> None:
        # From the publisher's pacing thread, like the daemon's own handler, and queued
        # after it: what the test then asks the daemon already reflects the event.
        super().media_event(kind, data)
        self._test_loop.call_soon_threadsafe(self._seen, kind, dict(data))

    def _seen(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data, time.monotonic()))
        self._changed.set()

    def find(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Events of ``kind`` whose data has ``match`` (a value, or a test of the value)."""

        def fits(data: dict[str, Any]) -> bool:
            return all(
                want(data.get(key)) if callable(want) else data.get(key) == want
                for key, want in match.items()
            )

        return [d for k, d, _ in self.events if k == kind and fits(d)]

    def seen_at(self, data: dict[str, Any]) -> float:
        """When the event with ``data`` reached the event loop (monotonic clock)."""
        return next(t for _, d, t in self.events if d is data)

    async def wait_events(
        self, kind: str, count: int = 1, within_s: float = 30.0, **match: Any
    ) -> list[dict[str, Any]]:
        """The first ``count`` events of ``kind`` with ``match``, waiting for them."""
        async with asyncio.timeout(within_s):
            while len(found := self.find(kind, **match)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found[:count]

    async def wait_event(self, kind: str, within_s: float = 30.0, **match: Any) -> dict[str, Any]:
        return (await self.wait_events(kind, 1, within_s, **match))[0]


class Running:
    """The daemon's run task; ``stop()`` drains it and returns its exit code."""

    def __init__(self, daemon: Observed) -> None:
        self.daemon = daemon
        self.task = asyncio.create_task(daemon.run(), name="daemon-under-test")

    def check_alive(self) -> None:
        if self.task.done():
            raise AssertionError(f"the daemon stopped: {self.task.result()!r}")

    async def stop(self) -> int:
        self.daemon.request_stop()
        async with asyncio.timeout(30):
            return await self.task


@pytest.fixture
async def readers() -> AsyncIterator[list[StreamReader]]:
    """Readers a test starts; any still running at the end are stopped."""
    started: list[StreamReader] = []
    yield started
    for reader in started:
        await asyncio.to_thread(reader.__exit__)


def start_reader(url: str, readers: list[StreamReader]) -> StreamReader:
    # Long enough for a reader that waits for the daemon to start publishing.
    reader = StreamReader(url, rw_timeout_s=15.0).start()
    readers.append(reader)
    return reader


def plays(server: RtmpServer) -> int:
    return server.error_log_tail(lines=100_000).count("play: name=")


async def subscribe(server: RtmpServer, readers: list[StreamReader]) -> StreamReader:
    """A reader waiting for the stream before it is published: it sees it from frame 0.

    nginx-rtmp logs (level info) when a player subscribes; nothing else tells, so this
    polls that log briefly, with a deadline.
    """
    before = plays(server)
    reader = start_reader(server.url(), readers)
    async with asyncio.timeout(10):
        while plays(server) == before:  # noqa: ASYNC110 - no event to wait on; bounded
            await asyncio.sleep(0.02)
    return reader


async def wait_until(reader: StreamReader, pts: float, within_s: float = 20.0) -> None:
    """Until the reader has seen video and audio up to stream time ``pts``."""
    await asyncio.to_thread(reader.wait_until, pts, within_s)


async def stop_reader(reader: StreamReader) -> StreamReport:
    return await asyncio.to_thread(reader.stop)


# -- what a report shows


def speech_regions(report: StreamReport) -> list[tuple[float, float]]:
    """Loud spans, with the pauses inside one stretch of speech closed."""
    merged: list[tuple[float, float]] = []
    for start, end in report.loud_spans(LOUD):
        if merged and start - merged[-1][1] < SPEECH_PAUSE_S:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def loudest(report: StreamReport, start: float, end: float) -> float:
    times, rms = report.rms()
    inside = rms[(times >= start) & (times < end)]
    return float(inside.max()) if len(inside) else 0.0


def video_in(report: StreamReport, start: float, end: float) -> np.ndarray:
    v = report.video_pts
    return v[(v >= start) & (v < end)]


def check_continuous(report: StreamReport) -> float:
    """One continuous stream with audio; returns the largest frame gap."""
    assert report.info.get("codec_id 0") == "h264", report.info
    assert report.info.get("dimensions 0") == f"{W}x{H}"
    assert report.info.get("codec_id 1") == "aac"
    v, a = report.video_pts, report.audio_pts
    assert len(v) > FPS and len(a) > FPS
    assert np.all(np.diff(v) > 0) and np.all(np.diff(a) > 0)
    gaps = np.diff(v)
    assert gaps.max() <= 0.1, f"video gap of {gaps.max() * 1000:.0f} ms"
    span = v[-1] - v[0]
    assert (len(v) - 1) / span == pytest.approx(FPS, rel=0.01)
    return float(gaps.max())


# -- the tests


async def test_answers_and_idle_on_one_continuous_stream(
    tmp_path: Path, server: RtmpServer, readers: list[StreamReader]
) -> None:
    questions = ["why is the sky blue?", "do you like the sea?", "are cats good pets?"]
    lines = [
        ask(user, text, delay_s=ASK_GAP_S if i else 1.0)
        for i, (user, text) in enumerate(zip(("alice", "bob", "carol"), questions, strict=True))
    ]
    status_port = free_port()
    daemon = Observed(broadcast_settings(tmp_path, server.url(), lines, status_port=status_port))
    reader = await subscribe(server, readers)
    run = Running(daemon)
    try:
        second = (await daemon.wait_events("first_frame", 2))[1]
        # While the second answer is on air: `streamer status` and the snapshot agree.
        status = await fetch_status("127.0.0.1", status_port)
        snapshot = daemon.snapshot()
        done = await daemon.wait_events("answer_done", 3)
        run.check_alive()
        await wait_until(reader, done[-1]["stream_time_s"] + 1.0)
        report = await stop_reader(reader)  # while the stream is live: its true end
        after = daemon.snapshot()
    finally:
        code = await run.stop()
    assert code == 0

    for state in (status, snapshot):
        assert state["state"] == "running" and state["chat"] == "replay"
        assert state["on_air"] == second["answer_id"]
        publisher = state["next_stage"]["publisher"]
        assert publisher["state"] == "streaming" and publisher["on_air"] == second["answer_id"]
        # A page (and `streamer status`) never shows a stream key: the path's end is masked.
        url = mask_url(server.url()) if state is status else server.url()
        assert publisher["url"] == url and publisher["fps"] == pytest.approx(FPS, abs=1)
        # The third question is not asked yet; the second may still be building.
        assert state["pool"]["pooled"] == state["pool"]["queued"] == 0
        assert sum(state["pool"].values()) == 2 and state["segments_waiting"] >= 0
    assert after["questions_ended"] == {"answered": 3} and after["segments_waiting"] == 0
    assert after["pool"] == {"pooled": 0, "queued": 0, "building": 0, "done": 3, "dropped": 0}
    publisher = after["next_stage"]["publisher"]
    assert publisher["on_air"] is None and publisher["clips_queued"] == 0
    assert publisher["reconnects"] == 0 and publisher["gaps"] == 0
    assert publisher["resyncs"] == 0 and publisher["frames_dropped"] == 0

    # One continuous stream, watched from its first frame to after the last answer.
    gap = check_continuous(report)
    assert report.video_pts[0] < 0.1
    assert abs(report.video_end - report.audio_end) <= 0.04

    # Each answer's speech is on air exactly while the publisher plays it.
    answers = [daemon.find("first_frame", answer_id=d["answer_id"])[0] for d in done]
    windows = [(f["stream_time_s"], d["stream_time_s"]) for f, d in zip(answers, done, strict=True)]
    assert all(d["complete"] and not d["skipped"] for d in done)
    assert sum(end - start for start, end in windows) == pytest.approx(
        daemon.stage.builder.stats.media_s, abs=0.01
    )
    regions = speech_regions(report)
    assert len(regions) == len(windows), (regions, windows)
    for (start, end), (on, off) in zip(regions, windows, strict=True):
        assert on + AAC_DELAY_S - 0.03 <= start <= on + 0.2
        assert off - 0.4 <= end <= off + AAC_DELAY_S + 0.03
        assert end - start == pytest.approx(off - on, abs=0.4)
    # Between answers: the idle loop, silent, its frames flowing.
    idles = [(off, on) for (_, off), (on, _) in itertools.pairwise(windows)]
    for off, on in idles:
        assert on - off >= 1.0
        assert loudest(report, off + AAC_DELAY_S + 0.02, on) < SILENT
        frames = video_in(report, off, on)
        assert len(frames) == pytest.approx((on - off) * FPS, abs=1)
    assert loudest(report, report.pcm_start, windows[0][0]) < SILENT  # idle before the first
    print(
        f"\nbroadcast: max frame gap {gap * 1000:.0f} ms, A/V end "
        f"{(report.video_end - report.audio_end) * 1000:+.0f} ms, answers on air "
        f"{[round(b - a, 2) for a, b in windows]} s, speech "
        f"{[round(b - a, 2) for a, b in regions]} s, idle {[round(b - a, 2) for a, b in idles]} s"
    )
    assert ffmpeg_children() == []


async def test_rtmp_server_restart_mid_run(
    tmp_path: Path, server: RtmpServer, readers: list[StreamReader]
) -> None:
    status_port = free_port()
    lines = [ask("alice", "why is the sky blue?", delay_s=0.5)]
    daemon = Observed(broadcast_settings(tmp_path, server.url(), lines, status_port=status_port))
    reader = await subscribe(server, readers)
    run = Running(daemon)
    try:
        done = await daemon.wait_event("answer_done")
        await wait_until(reader, done["stream_time_s"] + 0.2)
        before = await stop_reader(reader)

        killed_at = time.monotonic()
        server.kill()
        await daemon.wait_event("disconnected")
        down = daemon.snapshot()["next_stage"]["publisher"]
        await asyncio.to_thread(server.start)  # the same port
        connected = await daemon.wait_event("connected", session=lambda n: n >= 2)
        reconnect_s = daemon.seen_at(connected) - killed_at
        run.check_alive()

        reader = start_reader(server.url(), readers)
        await asyncio.to_thread(reader.wait_video, 15.0)
        verdict = await daemon.reader.handle(ChatMessage("dave", "!ask do you like the sea?"))
        assert verdict.question is not None
        qid = verdict.question.id
        first = await daemon.wait_event("first_frame", answer_id=qid)
        again = await daemon.wait_event("answer_done", answer_id=qid)
        await wait_until(reader, again["stream_time_s"] + 0.5)
        report = await stop_reader(reader)
        run.check_alive()
        status = await fetch_status("127.0.0.1", status_port)
    finally:
        code = await run.stop()
    assert code == 0

    assert len(speech_regions(before)) == 1
    assert down["state"] == "reconnecting" and down["last_error"]
    publisher = status["next_stage"]["publisher"]
    assert publisher["state"] == "streaming"
    assert publisher["reconnects"] >= 1 and publisher["last_error"]
    assert status["questions_ended"] == {"answered": 2} and status["pool"]["done"] == 2
    # The new reader sees one continuous stream again, with the new answer on air.
    gap = check_continuous(report)
    regions = speech_regions(report)
    assert len(regions) == 1, regions
    (start, end), on, off = regions[0], first["stream_time_s"], again["stream_time_s"]
    assert on + AAC_DELAY_S - 0.03 <= start <= on + 0.2
    assert off - 0.4 <= end <= off + AAC_DELAY_S + 0.03
    assert loudest(report, report.pcm_start, on) < SILENT
    print(f"\nrestart: reconnected {reconnect_s:.2f} s after the kill, max frame gap "
          f"{gap * 1000:.0f} ms")  # fmt: skip
    assert ffmpeg_children() == []


async def test_skip_takes_the_answer_off_air(
    tmp_path: Path, server: RtmpServer, readers: list[StreamReader]
) -> None:
    lines = [ask("dave", LONG_QUESTION, delay_s=0.5)]
    daemon = Observed(broadcast_settings(tmp_path, server.url(), lines))
    reader = await subscribe(server, readers)
    run = Running(daemon)
    try:
        first = await daemon.wait_event("first_frame")
        qid = first["answer_id"]
        await wait_until(reader, first["stream_time_s"] + 1.0)  # speech seen on air
        publisher = daemon.stage.publisher
        assert publisher.on_air() == qid
        skip_at = publisher.status()["stream_time_s"]
        await daemon.control.on_mod(ModCommand(ModAction.SKIP, "mod"))
        assert publisher.on_air() is None
        cut = await daemon.wait_event("answer_done", answer_id=qid)
        await wait_until(reader, skip_at + 1.5)
        report = await stop_reader(reader)
        snapshot = daemon.snapshot()
        run.check_alive()
    finally:
        code = await run.stop()
    assert code == 0
    assert isinstance(daemon.chat, ReplayChatSource)
    assert "@mod, skipped the current answer" in daemon.chat.sent
    # More than a second of the answer was built but never went on air.
    assert daemon.stage.builder.stats.media_s > skip_at - first["stream_time_s"] + 1.0

    assert cut["skipped"] and not cut["complete"]
    assert skip_at <= cut["stream_time_s"] <= skip_at + 2 / FPS
    assert snapshot["on_air"] is None and snapshot["building"] is None
    assert snapshot["segments_waiting"] == 0 and snapshot["pool"]["queued"] == 0
    assert snapshot["next_stage"]["publisher"]["clips_queued"] == 0
    # Speech until the skip (the answer had seconds left), silence within 200 ms.
    gap = check_continuous(report)
    regions = speech_regions(report)
    assert len(regions) == 1, regions
    start, end = regions[0]
    assert start <= first["stream_time_s"] + 0.2
    assert skip_at - SPEECH_PAUSE_S <= end <= skip_at + AAC_DELAY_S + 0.2
    assert loudest(report, skip_at + AAC_DELAY_S + 0.2, report.audio_end) < SILENT
    # ... and the idle loop goes on.
    idle = video_in(report, skip_at + 0.2, report.video_end)
    assert len(idle) >= 1.2 * FPS
    print(f"\nskip: speech ended {(end - skip_at) * 1000:+.0f} ms from the skip's stream "
          f"time, max frame gap {gap * 1000:.0f} ms")  # fmt: skip
    assert ffmpeg_children() == []


async def test_a_failing_llm_keeps_the_stream_on_air(
    tmp_path: Path, server: RtmpServer, readers: list[StreamReader]
) -> None:
    """An answer that fails (LLM down: 500 twice) ends with an empty marker clip; the
    publisher must stay connected and play the next answer."""
    from tests.fakes.openai_server import FakeOpenAIServer, Scenario

    async with FakeOpenAIServer() as llm:
        llm.push(Scenario.error(500), Scenario.error(500))  # the first answer and its retry
        llm.push(Scenario.reply("Blue, like the sea. I love it very much."))
        lines = [ask("alice", "are you there?", 1.0), ask("bob", "favourite colour?", 1.5)]
        settings = broadcast_settings(tmp_path, server.url(), lines)
        settings = settings.model_copy(
            update={
                "llm": settings.llm.model_copy(
                    update={
                        "provider": "openai",
                        "base_url": llm.base_url,
                        "model": "m",
                        "on_failure": "drop",
                    }
                )
            }
        )
        reader = await subscribe(server, readers)
        daemon = Observed(settings)
        running = Running(daemon)
        try:
            played = await daemon.wait_event("answer_done", within_s=40)
            running.check_alive()
            status = daemon.stage.publisher.status()
            await wait_until(reader, played["stream_time_s"] + 0.5)
            report = await stop_reader(reader)
        finally:
            code = await running.stop()
    assert code == 0
    assert status["state"] == "streaming" and status["reconnects"] == 0, status
    # Only bob's answer went on air; alice's failed one never produced a frame.
    assert len(daemon.find("first_frame")) == 1
    assert daemon.answers.questions == {"failed": 1, "answered": 1}
    check_continuous(report)
    assert len(speech_regions(report)) == 1


async def test_media_faults_the_stream_goes_on_and_the_next_question_is_answered(
    tmp_path: Path, server: RtmpServer, readers: list[StreamReader]
) -> None:
    """Through the real media stage: the voice fails on the first three segments, the
    pacing thread crashes once (a test hook raises in it), and ffmpeg is SIGKILLed three
    times in a row. The stream comes back each time and the next question is answered."""
    lines = [ask("alice", "are you there?", 0.5), ask("bob", "what is your favourite colour?", 8)]
    daemon = Observed(
        broadcast_settings(tmp_path, server.url(), lines), faults=Faults("tts=3,pacing@40")
    )
    reader = await subscribe(server, readers)
    run = Running(daemon)
    try:
        # alice: both segments' voices fail (3 failures cover them): nothing is heard.
        publisher = daemon.stage.publisher
        await daemon.wait_event("connected")
        for _ in range(3):
            session = publisher._session
            assert session is not None
            connected = len(daemon.find("connected"))
            os.kill(session.proc.pid, signal.SIGKILL)
            await daemon.wait_events("connected", connected + 1, within_s=30)
            run.check_alive()
        bob = await daemon.wait_event("answer_done", within_s=60, complete=True)
        run.check_alive()
        status = publisher.status()
        await wait_until(reader, bob["stream_time_s"] + 0.5)
        await stop_reader(reader)
    finally:
        code = await run.stop()
    assert code == 0
    assert status["crashes"] == 1 and status["reconnects"] >= 3
    assert daemon.stage.builder.stats.failed_segments >= 3
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        ended = {s.question.user: (s.status, s.outcome) for s in store.history(10)}
    assert ended["bob"] == (Status.DONE, "done")
    assert ended["alice"][0] in (Status.DONE, Status.DROPPED)
    assert ffmpeg_children() == []
