"""Benchmark of the broadcast path (`make bench`): answer → VideoBuilder → Publisher → RTMP.

The demo pipeline as `make run` has it (offline LLM, espeak, puppet lip-sync, the shipped
avatar, 1280x720 at 25 fps), publishing to a local nginx-rtmp on a free port with one
reader attached. Prints:
- time from pick to first frame on air (median over questions asked while idle);
- the builder's real-time factor, split into speech (TTS) and lip-sync;
- the publisher's CPU use: our process (and its publisher threads) and the ffmpeg child;
- frame timing seen by the reader: mean fps, intervals between video timestamps, and
  the wall-clock intervals between video packet arrivals.

The Daemon runs in-process, so the numbers include what the real daemon does between
the pick and the air (the answerer, the segment queue, the sink, the builder's worker,
the publisher's clip queue and pacing clock). We time the pick by wrapping the pool's
``pick`` and the first frame by overriding ``Daemon.media_event``, which the publisher's
pacing thread calls right after it handed that frame to ffmpeg; both on ``time.monotonic``.
Each question is asked only after the previous answer ended and the idle loop has been
on air for a moment, so no answer waits behind another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from streamer.audio import Audio
from streamer.chat.base import ChatSource
from streamer.config import Settings, load_settings
from streamer.daemon import Daemon
from streamer.messages import ChatMessage, Question, Segment
from streamer.rtmp_server import RtmpServer
from streamer.stream import MediaStage
from tests.media_reader import StreamReader

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "demo.yaml"
QUESTIONS = (
    "why is the sky blue?",
    "what is your favourite colour?",
    "how do rainbows form?",
    "do you like cats?",
)
IDLE_BEFORE_ASK_S = 1.0  # the idle loop is on air this long before each question
CPU_WINDOW_S = 15.0
READER_WARMUP_S = 2.0
ANSWER_TIMEOUT_S = 30.0
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
VIDEO_PACKET = re.compile(rb"^\s*0,\s*-?\d+,")  # framecrc: stream 0 is the video


# ---------------------------------------------------------------------- chat input


class QueueChat(ChatSource):
    """A chat source the benchmark types into."""

    name = "bench"

    def __init__(self) -> None:
        self.lines: asyncio.Queue[ChatMessage | None] = asyncio.Queue()

    async def messages(self) -> AsyncIterator[ChatMessage]:
        while (msg := await self.lines.get()) is not None:
            yield msg

    async def send(self, text: str) -> None:
        return None  # the acknowledgments ("your question is in the queue") go nowhere

    async def close(self) -> None:
        self.lines.put_nowait(None)


# ---------------------------------------------------------------------- the daemon


@dataclass
class Timings:
    """Monotonic times per answer id, and the publisher's events as they came."""

    picked: dict[str, float] = field(default_factory=dict)
    first_segment: dict[str, float] = field(default_factory=dict)  # reached the builder
    first_frame: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on every entry
    loop: asyncio.AbstractEventLoop | None = None

    def touch(self) -> None:
        """Wake ``wait_for`` (from any thread)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.changed.set)

    async def wait_for(self, what: Callable[[], bool]) -> None:
        while True:
            self.changed.clear()
            if what():
                return
            await self.changed.wait()


class BenchDaemon(Daemon):
    """The real daemon, with the publisher's events timed where they happen."""

    timings: Timings

    def media_event(self, kind: str, data: dict[str, Any]) -> None:
        # Called on the pacing thread, right after the frame went to ffmpeg's queue.
        now = time.monotonic()
        answer_id = str(data.get("answer_id", ""))
        if kind == "first_frame":
            self.timings.first_frame.setdefault(answer_id, now)
        elif kind == "answer_done":
            self.timings.done.setdefault(answer_id, now)
        elif kind == "connected":
            self.timings.connected.set()
        self.timings.touch()
        super().media_event(kind, data)


async def ask_while_idle(chat: QueueChat, timings: Timings) -> tuple[list[float], list[float]]:
    """Ask each of QUESTIONS once the idle loop has been on air a moment; returns the
    pick -> first frame and pick -> first segment times."""
    delays: list[float] = []
    llm_parts: list[float] = []
    for i, text in enumerate(QUESTIONS):
        await asyncio.sleep(IDLE_BEFORE_ASK_S)
        seen = set(timings.picked)
        chat.lines.put_nowait(ChatMessage(user=f"viewer{i}", text=f"!ask {text}"))
        async with asyncio.timeout(10.0):
            await timings.wait_for(lambda seen=seen: bool(timings.picked.keys() - seen))
        (answer_id,) = timings.picked.keys() - seen
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            await timings.wait_for(lambda a=answer_id: a in timings.done)
        if answer_id not in timings.first_frame:
            raise RuntimeError(f"answer {answer_id} ended without a first frame")
        delays.append(timings.first_frame[answer_id] - timings.picked[answer_id])
        llm_parts.append(timings.first_segment[answer_id] - timings.picked[answer_id])
    return delays, llm_parts


def time_picks(daemon: BenchDaemon) -> None:
    pick = daemon.pool.pick

    def timed_pick() -> Question | None:
        question = pick()
        if question is not None:
            daemon.timings.picked[question.id] = time.monotonic()
            daemon.timings.touch()
        return question

    daemon.pool.pick = timed_pick  # type: ignore[method-assign]


def time_first_segments(stage: MediaStage, timings: Timings) -> None:
    """Note when each answer's first segment reaches the builder (the LLM part ends)."""
    builder = stage.builder
    build: Callable[[Segment], Awaitable[None]] = builder._build

    async def timed_build(segment: Segment) -> None:
        timings.first_segment.setdefault(segment.answer_id, time.monotonic())
        await build(segment)

    builder._build = timed_build  # type: ignore[method-assign]


@dataclass
class SpeechTime:
    seconds: float = 0.0


def time_speech(stage: MediaStage) -> SpeechTime:
    """Time the builder's TTS step (espeak, loudness, resampling); the rest is lip-sync."""
    spent = SpeechTime()
    builder = stage.builder
    speak: Callable[[str], tuple[Audio, int]] = builder._speak

    def timed_speak(text: str) -> tuple[Audio, int]:
        t0 = time.monotonic()
        try:
            return speak(text)
        finally:
            spent.seconds += time.monotonic() - t0

    builder._speak = timed_speak  # type: ignore[method-assign]
    return spent


# ---------------------------------------------------------------------- the reader


class _StampedPipe:
    """ffmpeg's framecrc output, noting when each video packet line arrives."""

    def __init__(self, pipe: IO[bytes], arrivals: list[float]) -> None:
        self._pipe = pipe
        self._arrivals = arrivals

    def __iter__(self) -> Iterator[bytes]:
        for raw in self._pipe:
            if VIDEO_PACKET.match(raw):
                self._arrivals.append(time.monotonic())
            yield raw

    def close(self) -> None:
        self._pipe.close()


class ArrivalReader(StreamReader):
    """The tests' real ffmpeg reader, plus the wall-clock arrival of each video packet."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.arrivals: list[float] = []

    def _read_packets(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        proc.stdout = _StampedPipe(proc.stdout, self.arrivals)  # type: ignore[assignment]
        super()._read_packets()


# ---------------------------------------------------------------------- CPU


def cpu_ticks(stat: Path) -> int:
    """utime + stime of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat, in ticks."""
    try:
        text = stat.read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


@dataclass
class CpuSample:
    at: float
    process: int
    threads: dict[int, int]  # native thread id -> ticks
    child: int


def publisher_threads() -> dict[int, str]:
    """Our threads that do publishing work: the pacing clock and the pipe writers."""
    return {
        t.native_id: t.name
        for t in threading.enumerate()
        if t.native_id is not None and (t.name == "publisher" or t.name.startswith("pub-"))
    }


def builder_threads() -> dict[int, str]:
    return {
        t.native_id: t.name
        for t in threading.enumerate()
        if t.native_id is not None and t.name.startswith("video-builder")
    }


def sample_cpu(child_pid: int | None) -> CpuSample:
    tids = publisher_threads() | builder_threads()
    return CpuSample(
        at=time.monotonic(),
        process=cpu_ticks(Path("/proc/self/stat")),
        threads={tid: cpu_ticks(Path(f"/proc/self/task/{tid}/stat")) for tid in tids},
        child=cpu_ticks(Path(f"/proc/{child_pid}/stat")) if child_pid else 0,
    )


def percent(ticks: int, seconds: float) -> float:
    return 100.0 * ticks / CLOCK_TICK / seconds if seconds > 0 else 0.0


def ffmpeg_pid(stage: MediaStage) -> int | None:
    # The publisher keeps its ffmpeg child private; a benchmark may look.
    session = getattr(stage.publisher, "_session", None)
    proc = getattr(session, "proc", None)
    return getattr(proc, "pid", None)


# ---------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_settings(data_dir: Path, url: str) -> Settings:
    settings = load_settings(CONFIG)
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "log": settings.log.model_copy(update={"file": False}),
            "pool": settings.pool.model_copy(update={"interval_s": 0.1}),
            "filters": settings.filters.model_copy(update={"user_cooldown_s": 0}),
            "status": settings.status.model_copy(update={"port": 0}),
            "output": settings.output.model_copy(
                update={"rtmp_url": url, "start_rtmp_server": False}
            ),
        }
    )


def ms(values: np.ndarray | list[float], q: float) -> str:
    return f"{float(np.percentile(values, q)) * 1000:.1f}"


# ---------------------------------------------------------------------- the run


async def run(settings: Settings, started: float) -> None:
    chat = QueueChat()
    daemon = BenchDaemon(settings, env={}, chat=chat)
    daemon.timings = timings = Timings(loop=asyncio.get_running_loop())
    stage = daemon.sink
    assert isinstance(stage, MediaStage)
    time_picks(daemon)
    time_first_segments(stage, timings)
    speech = time_speech(stage)
    task = asyncio.create_task(daemon.run(), name="daemon")
    reader: ArrivalReader | None = None
    cpu: dict[str, float] = {}
    try:
        if not await asyncio.to_thread(timings.connected.wait, 20.0):
            raise TimeoutError("the publisher did not connect within 20 s")
        on_air_s = time.monotonic() - started
        reader = ArrivalReader(settings.output.rtmp_url).start()
        await asyncio.to_thread(reader.wait_video, 10.0)

        async def measure_cpu() -> None:
            pid = ffmpeg_pid(stage)
            first = sample_cpu(pid)
            await asyncio.sleep(CPU_WINDOW_S)
            last = sample_cpu(pid)
            seconds = last.at - first.at
            pub = publisher_threads()
            build = builder_threads()
            cpu["seconds"] = seconds
            cpu["process"] = percent(last.process - first.process, seconds)
            cpu["publisher"] = percent(
                sum(v - first.threads.get(t, 0) for t, v in last.threads.items() if t in pub),
                seconds,
            )
            cpu["builder"] = percent(
                sum(v - first.threads.get(t, 0) for t, v in last.threads.items() if t in build),
                seconds,
            )
            cpu["ffmpeg"] = percent(last.child - first.child, seconds) if pid else float("nan")

        cpu_task = asyncio.create_task(measure_cpu(), name="cpu")
        delays, llm_parts = await ask_while_idle(chat, timings)
        await asyncio.sleep(IDLE_BEFORE_ASK_S)  # the idle loop after the last answer
        await cpu_task
        report = await asyncio.to_thread(reader.stop)
        arrivals = np.array(reader.arrivals)
        reader = None
        status = stage.publisher.status()
        stats = stage.builder.stats
    finally:
        if reader is not None:
            await asyncio.to_thread(reader.stop)
        daemon.request_stop()
        await task

    print(f"stream on air {on_air_s:.2f} s after start (nginx, avatar, voice, ffmpeg connect)")
    print(
        f"pick -> first frame on air: median {statistics.median(delays) * 1000:.0f} ms "
        f"over {len(delays)} questions asked while idle "
        f"(each: {', '.join(f'{d * 1000:.0f}' for d in delays)} ms)"
    )
    to_air = [d - p for d, p in zip(delays, llm_parts, strict=True)]
    print(
        f"  of which pick -> first segment (offline LLM at "
        f"{settings.llm.offline_word_delay_s * 1000:g} ms/word, splitter): median "
        f"{statistics.median(llm_parts) * 1000:.0f} ms; first segment -> on air (TTS, "
        f"lip-sync, publisher): median {statistics.median(to_air) * 1000:.0f} ms"
    )
    tts_s = speech.seconds
    lipsync_s = max(0.0, stats.busy_s - tts_s)
    media = stats.media_s or float("nan")
    print(
        f"builder real-time factor: {stats.real_time_factor:.3f} "
        f"({stats.busy_s:.2f} s to build {stats.media_s:.2f} s of media in "
        f"{stats.segments} segments; TTS {tts_s / media:.3f} + lip-sync {lipsync_s / media:.3f}; "
        "<1 = faster than real time)"
    )
    print(
        f"publisher CPU over {cpu['seconds']:.1f} s (idle loop and answers): "
        f"ffmpeg child {cpu['ffmpeg']:.1f}% of one core; our process {cpu['process']:.1f}% "
        f"(publisher threads {cpu['publisher']:.1f}%, builder thread {cpu['builder']:.1f}%)"
    )
    pts = report.video_pts
    steps = np.diff(pts)
    span = float(pts[-1] - pts[0])
    print(
        f"reader, stream timestamps: {len(pts)} video frames over {span:.1f} s = "
        f"{(len(pts) - 1) / span:.2f} fps mean; interval p50 {ms(steps, 50)} ms, "
        f"p99 {ms(steps, 99)} ms, max {float(steps.max()) * 1000:.1f} ms; "
        f"{int((steps > 0.1).sum())} gaps over 100 ms"
    )
    # Arrival = when the reader's ffmpeg printed the packet (after its own audio/video
    # interleaving), as a player would get it. A new reader first gets a burst (the GOP
    # nginx holds, all at once): only the live packets after it count, matched to their
    # timestamps by order. Lateness: arrival minus timestamp, relative to the first one.
    n = min(len(arrivals), len(pts))
    live = np.flatnonzero(arrivals[:n] >= arrivals[0] + READER_WARMUP_S)
    times, stamps = arrivals[live], pts[live]
    gaps = np.diff(times)
    lag = (times - times[0]) - (stamps - stamps[0])
    print(
        f"reader, wall-clock arrival (after the first {READER_WARMUP_S:g} s): "
        f"{len(gaps) / (times[-1] - times[0]):.2f} fps mean; interval p50 {ms(gaps, 50)} ms, "
        f"p99 {ms(gaps, 99)} ms, max {float(gaps.max()) * 1000:.1f} ms; "
        f"lateness spread p1-p99 {(np.percentile(lag, 99) - np.percentile(lag, 1)) * 1000:.1f} ms"
    )
    print(
        f"publisher: {status['frames_sent']} frames sent, {status['frames_dropped']} dropped, "
        f"{status['resyncs']} clock resyncs, {status['gaps']} mid-answer gaps"
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        port = free_port()
        settings = bench_settings(Path(tmp), f"rtmp://127.0.0.1:{port}/live/avatar")
        out = settings.output
        print(
            f"broadcast benchmark on {os.cpu_count()} cores: {out.width}x{out.height} at "
            f"{out.fps} fps, x264 {out.preset} {out.video_bitrate_k} kb/s, "
            f"AAC {out.audio_bitrate_k} kb/s; offline LLM, {settings.tts.engine} voice, "
            f"{settings.lipsync.engine} lip-sync, shipped avatar; nginx-rtmp on port {port}, "
            "one reader"
        )
        with RtmpServer(Path(tmp), port=port):
            asyncio.run(run(settings, started))
    print(f"total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
