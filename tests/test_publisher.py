"""The publisher against a real nginx-rtmp on a loopback port, read back by a real ffmpeg.

The idle loop's frames have a grey level that encodes the idle frame index
(``IDLE_LEVELS[i % 4]``); clips are bright frames with a 440 Hz tone. The reader
(tests/media_reader.py) reports packet timestamps, each frame's brightness and the
audio's loudness, so a test can tell where a clip played and where idle ran.

Stream times: the publisher reports ``stream_time_s`` (frames handed to ffmpeg / fps)
in its events; the reader sees the same times shifted by the AAC encoder delay
(1024 samples, 21 ms), which the tolerances below absorb.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from streamer.config import OutputSettings
from streamer.messages import Clip
from streamer.publisher import (
    RENDER_LEAD_FRAMES,
    SESSION_CLOSE_S,
    THREADS_JOIN_S,
    Keeper,
    Publisher,
)
from streamer.rtmp_server import MODULE_CANDIDATES, RtmpServer
from tests.media_reader import StreamReader

W, H, FPS = 320, 180, 25
RATE: Literal[48000] = 48000
IDLE_LEVELS = (20, 60, 100, 140)
CLIP_LEVEL = 230

needs_media = pytest.mark.skipif(
    shutil.which("nginx") is None
    or shutil.which("ffmpeg") is None
    or not any(p.is_file() for p in MODULE_CANDIDATES),
    reason="needs nginx, libnginx-mod-rtmp and ffmpeg (apt-get install ...)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def idle(i: int) -> np.ndarray:
    return np.full((H, W, 3), IDLE_LEVELS[i % len(IDLE_LEVELS)], np.uint8)


def tone_clip(
    answer_id: str,
    seconds: float,
    *,
    index: int = 0,
    last: bool = True,
    created_at: float | None = None,
) -> Clip:
    n = round(seconds * FPS)
    t = np.arange(n * RATE // FPS) / RATE
    audio = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    frames = np.full((n, H, W, 3), CLIP_LEVEL, np.uint8)
    extra = {} if created_at is None else {"created_at": created_at}
    return Clip(answer_id, index, frames, audio, FPS, RATE, last, **extra)


def end_marker(answer_id: str) -> Clip:
    """The builder's zero-frame "answer ends here" clip."""
    frames = np.zeros((0, H, W, 3), np.uint8)
    return Clip(answer_id, -1, frames, np.zeros(0, np.int16), FPS, RATE, True)


class BrokenFrames(np.ndarray):
    """Frames that pass the Clip checks but cannot be read."""

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("broken frame")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def settings(url: str = "rtmp://127.0.0.1:9/live/x", **kw: Any) -> OutputSettings:
    return OutputSettings(
        rtmp_url=url,
        width=W,
        height=H,
        fps=FPS,
        sample_rate=RATE,
        video_bitrate_k=300,
        audio_bitrate_k=64,
        preset="ultrafast",
        **kw,
    )


class Events:
    """Collects publisher events; tests wait on them (with timeouts)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        with self._cond:
            self.items.append((kind, data))
            self._cond.notify_all()

    def kinds(self) -> list[str]:
        with self._cond:
            return [k for k, _ in self.items]

    def wait(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        """Return the first event of ``kind`` whose data has ``match`` (waiting for it)."""

        def find() -> dict[str, Any] | None:
            for k, d in self.items:
                if k == kind and all(d.get(key) == v for key, v in match.items()):
                    return d
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None, timeout):
                raise TimeoutError(f"no {kind} {match} event within {timeout} s: {self.items}")
            found = find()
            assert found is not None
            return found

    def count(self, kind: str) -> int:
        return self.kinds().count(kind)


class LogWaiter(logging.Handler):
    """Lets a test wait for a log line containing ``text`` (instead of polling)."""

    def __init__(self, logger: str, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()
        self.logger = logging.getLogger(logger)
        self.logger.addHandler(self)
        self._level = self.logger.level
        self.logger.setLevel(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()

    def wait(self, timeout: float) -> None:
        if not self.seen.wait(timeout):
            raise TimeoutError(f"no log line with {self.text!r} within {timeout} s")

    def remove(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


def ffmpeg_children() -> list[str]:
    """Processes whose parent is this test process (zombies included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, _, rest = stat.rpartition(")")
        fields = rest.split()
        if int(fields[1]) == os.getpid() and "ffmpeg" in comm:
            found.append(f"{entry.name} {fields[0]}")
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RtmpServer]:
    srv = RtmpServer(tmp_path, port=free_port())
    srv.start()
    yield srv
    srv.stop()


# -- without a server


def test_submit_checks_the_clip_format() -> None:
    pub = Publisher(settings(), idle)
    wrong = Clip(
        "a", 0, np.zeros((2, 90, 160, 3), np.uint8), np.zeros(3840, np.int16), 25, RATE, True
    )
    with pytest.raises(ValueError, match=r"frames \(90, 160, 3\).*the stream is \(180, 320, 3\)"):
        pub.submit(wrong)
    slow = Clip("a", 0, np.zeros((2, H, W, 3), np.uint8), np.zeros(3200, np.int16), 30, RATE, True)
    with pytest.raises(ValueError, match="30 fps"):
        pub.submit(slow)


def test_submit_blocks_while_the_buffer_is_full_and_skip_frees_it() -> None:
    pub = Publisher(settings(), idle, max_buffer_s=1.0)
    assert pub.submit(tone_clip("a", 1.2, last=False))  # room: nothing waits yet
    assert not pub.submit(tone_clip("b", 0.2), timeout=0.05)  # 1.2 s wait > 1.0 s
    assert pub.status()["clips_queued"] == 1
    assert pub.skip("a")
    assert pub.submit(tone_clip("b", 0.2), timeout=0.05)
    # The publisher keeps no memory of skipped answers: nothing sends it late clips
    # (the answer's interrupt cancels the builder's call before it returns).
    assert pub.status()["clips_queued"] == 1
    pub.close()
    assert not pub.submit(tone_clip("c", 0.2))


async def test_put_waits_without_blocking_the_loop() -> None:
    pub = Publisher(settings(), idle, max_buffer_s=1.0)
    assert await pub.put(tone_clip("a", 1.2, last=False))
    task = asyncio.create_task(pub.put(tone_clip("b", 0.2)))
    await asyncio.sleep(0)  # let it find the buffer full
    assert not task.done()
    pub.skip("a")  # frees the buffer from this (or any) thread
    assert await asyncio.wait_for(task, 5)
    assert await pub.put(tone_clip("c", 1.2))  # 0.2 s waited: room
    late = asyncio.create_task(pub.put(tone_clip("d", 0.2)))  # 1.4 s wait: full
    await asyncio.sleep(0)
    assert not late.done()
    await asyncio.to_thread(pub.close)
    assert await asyncio.wait_for(late, 5) is False  # closed while waiting


@needs_media
def test_unreachable_server_keeps_retrying_and_closes_cleanly() -> None:
    url = f"rtmp://127.0.0.1:{free_port()}/live/x"
    events = Events()
    pub = Publisher(settings(url), idle, on_event=events)
    lost = LogWaiter("streamer.publisher", "lost")
    try:
        pub.start()
        assert pub.submit(tone_clip("a", 0.2))
        lost.wait(timeout=10)  # the first attempt fails within ~0.2 s
    finally:
        lost.remove()
    status = pub.status()
    assert status["state"] == "starting" and "Connection refused" in status["last_error"]
    assert status["clips_queued"] == 1  # not consumed while there is no stream
    pub.close()
    assert pub.status()["state"] == "closed"
    assert ffmpeg_children() == []
    assert "connected" not in events.kinds()


# -- against nginx-rtmp


@pytest.mark.slow
@needs_media
def test_one_continuous_stream_with_a_clip_between_idle(server: RtmpServer, tmp_path: Path) -> None:
    events = Events()
    answers = tmp_path / "answers"
    pub = Publisher(
        settings(server.url(), keep_answers=True, answers_dir=answers), idle, on_event=events
    )
    pub.start()
    reader = StreamReader(server.url()).start()
    try:
        reader.wait_video(timeout=15)
        # One answer in two clips, back to back.
        assert pub.submit(tone_clip("a", 0.6, index=0, last=False))
        assert pub.submit(tone_clip("a", 0.4, index=1, last=True))
        first = events.wait("first_frame", answer_id="a")["stream_time_s"]
        done = events.wait("answer_done", answer_id="a")
        assert done["complete"] and not done["skipped"]
        assert done["stream_time_s"] == pytest.approx(first + 1.0)
        reader.wait_until(done["stream_time_s"] + 1.0, timeout=15)
    finally:
        report = reader.stop()
        pub.close()

    assert report.info["codec_id 0"] == "h264" and report.info["dimensions 0"] == f"{W}x{H}"
    assert report.info["codec_id 1"] == "aac"
    v, a = report.video_pts, report.audio_pts
    assert len(v) > 50 and len(a) > 50
    assert np.all(np.diff(v) > 0) and np.all(np.diff(a) > 0)
    assert np.median(np.diff(v)) == pytest.approx(1 / FPS, abs=0.002)
    assert np.diff(v).max() <= 0.1
    assert abs(report.video_end - report.audio_end) <= 0.04

    # The tone sounds exactly where the clip played, silence around it.
    spans = report.loud_spans()
    assert len(spans) == 1, spans
    start, end = spans[0]
    assert start == pytest.approx(first, abs=0.05)
    assert end - start == pytest.approx(1.0, abs=0.05)
    times, rms = report.rms()
    assert rms[(times < start - 0.1) & (times > report.pcm_start + 0.1)].max() < 0.01
    assert rms[times > end + 0.1].max() < 0.01
    assert rms[(times > start + 0.05) & (times < end - 0.05)].min() > 0.3

    # The clip's bright frames line up with the tone; idle runs around it, in order.
    n = min(len(v), len(report.luma))
    bright = v[:n][report.luma[:n] > 200]
    assert len(bright) == FPS
    assert bright[0] == pytest.approx(start, abs=0.03)
    levels = np.array(IDLE_LEVELS, float)
    idle_luma = report.luma[:n][report.luma[:n] <= 200]
    # The encoder may map grey levels to video range; compare positions, not values.
    ranks = np.abs(idle_luma[:, None] - np.interp(levels, [0, 255], [16, 235])).argmin(axis=1)
    steps = np.diff(ranks) % len(IDLE_LEVELS)
    assert np.all(steps == 1), ranks  # the idle loop resumes where it left off

    status = pub.status()
    assert status["state"] == "closed" and status["on_air"] is None
    kinds = events.kinds()
    assert [k for k in kinds if k != "segment"][:3] == ["connected", "first_frame", "answer_done"]
    # Each segment is reported as it goes on air, after the first frame, before the end.
    assert kinds.index("first_frame") < kinds.index("segment") < kinds.index("answer_done")
    kept = list(answers.glob("*-a.mp4"))
    assert len(kept) == 1
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(kept[0])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert float(probe.stdout) == pytest.approx(1.0, abs=0.1)
    assert ffmpeg_children() == []


@pytest.mark.slow
@needs_media
def test_skip_cuts_the_clip_on_air_within_a_frame(server: RtmpServer, tmp_path: Path) -> None:
    events = Events()
    answers = tmp_path / "answers"
    pub = Publisher(
        settings(server.url(), keep_answers=True, answers_dir=answers), idle, on_event=events
    )
    pub.start()
    reader = StreamReader(server.url()).start()
    try:
        reader.wait_video(timeout=15)
        assert pub.submit(tone_clip("long", 4.0, last=False))
        assert pub.submit(tone_clip("long", 1.0, index=1))
        first = events.wait("first_frame", answer_id="long")["stream_time_s"]
        reader.wait_until(first + 0.5, timeout=15)  # the tone is on air and seen
        assert pub.on_air() == "long"
        assert pub.skip("long")
        assert pub.on_air() is None
        cut = events.wait("answer_done", answer_id="long")
        assert cut["skipped"] and not cut["complete"]
        skip_at = cut["stream_time_s"]
        assert skip_at >= first + 0.5
        reader.wait_until(skip_at + 1.0, timeout=15)
    finally:
        report = reader.stop()
        pub.close()

    spans = report.loud_spans()
    assert len(spans) == 1, spans
    start, end = spans[0]
    assert start == pytest.approx(first, abs=0.05)
    assert skip_at - 0.04 <= end <= skip_at + 0.2
    times, rms = report.rms()
    assert rms[(times > end + 0.1)].max() < 0.01  # silence after the skip
    n = min(len(report.video_pts), len(report.luma))
    after = report.luma[:n][report.video_pts[:n] > skip_at + 0.1]
    assert len(after) > 0 and after.max() < 200  # idle frames after the skip
    assert pub.status()["clips_queued"] == 0
    assert list(answers.glob("*.mp4")) == []  # a skipped answer is not kept


@pytest.mark.slow
@needs_media
def test_survives_the_server_going_away(
    server: RtmpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamer.publisher")
    events = Events()
    record = tmp_path / "rec" / "stream.mkv"
    pub = Publisher(
        settings(server.url(), max_clip_age_s=5.0, record_file=record), idle, on_event=events
    )
    pub.start()
    try:
        with StreamReader(server.url()) as first_reader:
            first_reader.wait_video(timeout=15)
            events.wait("connected", session=1)
            server.kill()
            reason = events.wait("disconnected")["reason"]
            assert reason
        # Built while the stream is down: a fresh answer plays when it is back;
        # one older than max_clip_age_s is dropped, with a log line naming it.
        assert pub.submit(tone_clip("stale", 0.4, created_at=time.monotonic() - 60))
        assert pub.submit(tone_clip("fresh", 1.0))
        assert pub.status()["state"] == "reconnecting"
        server.start()
        reader = StreamReader(server.url()).start()
        try:
            reader.wait_video(timeout=20)
            done = events.wait("answer_done", answer_id="fresh", timeout=20)
            assert done["complete"]
            reader.wait_until(done["stream_time_s"] + 0.5, timeout=15)
        finally:
            report = reader.stop()
    finally:
        pub.close()

    status = pub.status()
    assert status["reconnects"] == 1 and status["last_error"]
    assert [d["answer_id"] for k, d in events.items if k == "first_frame"] == ["fresh"]
    assert "dropping answer stale" in caplog.text
    assert events.count("connected") == 2
    # The new reader sees a continuous stream again.
    v = report.video_pts
    assert len(v) > 10 and np.all(np.diff(v) > 0) and np.diff(v).max() <= 0.1
    assert len(report.audio_pts) > 10
    # The recording of the second session has all of the fresh answer's tone.
    second = record.with_name("stream-2.mkv")
    assert record.exists() and second.exists()
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(second), "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    samples = np.frombuffer(pcm, np.int16).astype(float) / 32768
    windows = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.sqrt((windows**2).mean(axis=1)) > 0.05
    assert loud.sum() * 0.02 == pytest.approx(1.0, abs=0.06)
    assert ffmpeg_children() == []


@pytest.mark.slow
@needs_media
def test_end_markers_and_a_broken_clip_do_not_break_the_stream(
    server: RtmpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamer.publisher")
    events = Events()
    pub = Publisher(settings(server.url()), idle, on_event=events)
    pub.start()
    reader = StreamReader(server.url()).start()
    try:
        reader.wait_video(timeout=15)
        assert pub.submit(tone_clip("a", 0.4, last=False))
        assert pub.submit(end_marker("a"))  # a is cut short (e.g. the LLM failed)
        assert pub.submit(end_marker("b"))  # b never started: it ends, never heard
        broken = tone_clip("x", 0.4)
        assert pub.submit(
            Clip("x", 0, broken.frames.view(BrokenFrames), broken.audio, FPS, RATE, True)
        )  # its first frame raises: dropped, no first_frame, it ends never heard
        assert pub.submit(tone_clip("c", 0.4))
        done_c = events.wait("answer_done", answer_id="c")
        reader.wait_until(done_c["stream_time_s"] + 0.5, timeout=15)
        status = pub.status()
    finally:
        report = reader.stop()
        pub.close()

    assert status["state"] == "streaming" and status["reconnects"] == 0
    assert status["clips_queued"] == 0 and status["on_air"] is None
    assert events.count("connected") == 1 and events.count("disconnected") == 0
    played = [(k, d["answer_id"]) for k, d in events.items if k not in ("connected", "segment")]
    assert played == [
        ("first_frame", "a"), ("answer_done", "a"), ("answer_done", "b"), ("answer_done", "x"),
        ("first_frame", "c"), ("answer_done", "c"),
    ]  # fmt: skip
    # Whoever waits for the end of b and x hears of it, and that nothing of them was heard.
    never = [d for k, d in events.items if k == "answer_done" and d["answer_id"] in "bx"]
    assert [(d["started"], d["complete"]) for d in never] == [(False, False)] * 2
    first_a = events.wait("first_frame", answer_id="a")["stream_time_s"]
    done_a = events.wait("answer_done", answer_id="a")
    assert not done_a["complete"] and not done_a["skipped"]
    assert done_a["stream_time_s"] == pytest.approx(first_a + 0.4)
    assert done_c["complete"]
    first_c = events.wait("first_frame", answer_id="c")["stream_time_s"]
    assert first_c == pytest.approx(done_a["stream_time_s"] + 1 / FPS)  # one idle frame (x)
    assert "cannot be played" in caplog.text and "broken frame" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)

    # Both tones played in full, one idle frame apart (too short to read as silence).
    spans = report.loud_spans()
    assert sum(end - start for start, end in spans) == pytest.approx(0.8, abs=0.08), spans
    n = min(len(report.video_pts), len(report.luma))
    assert (report.luma[:n] > 200).sum() == 20
    assert ffmpeg_children() == []


@needs_media
def test_abort_kills_ffmpeg_and_removes_the_temp_dir_at_once(
    server: RtmpServer, tmp_path: Path
) -> None:
    events = Events()
    answers = tmp_path / "answers"
    pub = Publisher(
        settings(server.url(), keep_answers=True, answers_dir=answers), idle, on_event=events
    )
    pub.start()
    tmp = pub._tmp
    assert tmp is not None and (tmp / "audio.fifo").exists()
    events.wait("connected")
    assert pub.submit(tone_clip("a", 3.0))
    events.wait("first_frame", answer_id="a")
    time.sleep(0.3)  # the keeper's encoder runs too
    pids = [int(line.split()[0]) for line in ffmpeg_children()]
    assert len(pids) == 2 and all(running(pid) for pid in pids)

    started = time.monotonic()
    pub.abort()
    elapsed = time.monotonic() - started

    assert elapsed < 0.5
    assert not any(running(pid) for pid in pids)
    assert not tmp.exists()
    assert pub.status()["state"] == "closed"
    assert not pub.submit(tone_clip("b", 0.2), timeout=0.1)
    started = time.monotonic()
    pub.close()  # harmless after abort
    assert time.monotonic() - started < 2.0
    assert ffmpeg_children() == []
    assert list(answers.glob("*.mp4")) == []
    assert "answer_done" not in events.kinds()


@pytest.mark.slow
@needs_media
def test_an_unwritable_record_file_streams_without_recording(
    server: RtmpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamer.publisher")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    record = blocker / "rec" / "stream.mkv"
    events = Events()
    pub = Publisher(settings(server.url(), record_file=record), idle, on_event=events)
    pub.start()
    reader = StreamReader(server.url()).start()
    try:
        reader.wait_video(timeout=15)
        assert pub.submit(tone_clip("a", 0.4))
        done = events.wait("answer_done", answer_id="a")
        reader.wait_until(done["stream_time_s"] + 0.3, timeout=15)
        status = pub.status()
    finally:
        report = reader.stop()
        pub.close()

    assert status["state"] == "streaming" and status["reconnects"] == 0
    assert events.count("connected") == 1 and done["complete"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "WITHOUT recording" in errors[0] and str(record) in errors[0]
    assert len(report.loud_spans()) == 1
    assert blocker.read_text() == "not a folder"
    assert ffmpeg_children() == []


@needs_media
def test_close_is_bounded_when_ffmpeg_is_stuck(tmp_path: Path) -> None:
    # An "ffmpeg" that connects, then never reads its input nor exits on EOF.
    stuck = tmp_path / "ffmpeg-stuck"
    stuck.write_text("#!/bin/sh\necho 'Output #0, flv, to x:' >&2\nexec sleep 600\n")
    stuck.chmod(0o755)
    events = Events()
    pub = Publisher(settings(), idle, ffmpeg=str(stuck), on_event=events)
    pub.start()
    events.wait("connected", timeout=5)
    session = pub._session
    assert session is not None
    assert pub.submit(tone_clip("a", 2.0))  # cannot play: ffmpeg reads nothing
    time.sleep(0.5)  # the video pipe is full: its writer thread is stuck in write()
    drain = 1.0
    started = time.monotonic()
    pub.close(drain_s=drain)
    elapsed = time.monotonic() - started
    assert elapsed < drain + SESSION_CLOSE_S + THREADS_JOIN_S + 1.0
    assert not running(session.proc.pid)
    assert pub.status()["state"] == "closed"


@needs_media
def test_keeper_never_blocks_and_keeps_only_whole_unskipped_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, tmp = tmp_path / "answers", tmp_path / "tmp"
    tmp.mkdir()
    keeper = Keeper("ffmpeg", settings(), out, tmp, max_frames=10)
    frame = np.full((H, W, 3), CLIP_LEVEL, np.uint8)
    samples = np.zeros(RATE // FPS, np.int16)

    def feed(answer_id: str, frames: int, *, keep: bool = True) -> None:
        deadline = time.monotonic() + 10
        while not keeper.items.empty():  # let it catch up (the pacing thread never waits)
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(frames):
            keeper.frame(answer_id, frame, samples)
        keeper.end(answer_id, keep=keep)

    # Not started yet, so nothing is taken from the queue: "big" overflows it.
    started = time.monotonic()
    feed("big", 50)
    assert time.monotonic() - started < 0.5  # never blocks
    # Said once, by whoever takes the keeper's log lines (the pacing thread, after it
    # lets the clip-queue lock go), never under that lock.
    said = [msg % args for _, msg, args in keeper.take_logs()]
    assert sum("not keeping answer big" in line for line in said) == 1
    assert "not keeping" not in caplog.text
    keeper.start()
    feed("one", 5)
    feed("skipped", 5, keep=False)
    feed("two", 5)
    keeper.close()

    kept = sorted(p.name.split("-", 2)[2] for p in out.glob("*.mp4"))
    assert kept == ["one.mp4", "two.mp4"]
    assert list(tmp.iterdir()) == []  # per-answer temp files, all removed


def test_next_avatar_position_follows_the_clips_waiting() -> None:
    pub = Publisher(settings(), idle)
    # Nothing waits: a few frames ahead of the idle loop (render time).
    assert pub.next_avatar_position() == RENDER_LEAD_FRAMES
    a = tone_clip("a", 0.4, last=False)
    b = tone_clip("a", 0.2)
    assert pub.submit(Clip(**{**_fields(a), "avatar_start": 50}))
    assert pub.next_avatar_position() == 50 + 10
    assert pub.submit(Clip(**{**_fields(b), "avatar_start": 60}))
    assert pub.next_avatar_position() == 60 + 5
    pub.close()


def _fields(clip: Clip) -> dict[str, Any]:
    return {f: getattr(clip, f) for f in Clip.__dataclass_fields__}


@needs_media
def test_the_idle_loop_goes_on_from_where_a_clip_ends(server: RtmpServer) -> None:
    asked: list[int] = []
    resumed = threading.Event()

    def recording_idle(i: int) -> np.ndarray:
        asked.append(i)
        if i >= 512:
            resumed.set()
        return idle(i)

    events = Events()
    pub = Publisher(settings(server.url()), recording_idle, on_event=events)
    pub.start()
    try:
        events.wait("connected")
        clip = tone_clip("a", 0.4)  # 10 frames drawn from avatar positions 500..509
        assert pub.submit(Clip(**{**_fields(clip), "avatar_start": 500}))
        events.wait("answer_done", answer_id="a")
        assert resumed.wait(10)
    finally:
        pub.close()
    after = [i for i in asked if i >= 500]
    assert after[:3] == [510, 511, 512], asked[-20:]
