"""The fault matrix on air: `streamer run` as a process with video to a real nginx-rtmp.

The operator types into the console chat (the daemon's stdin, as the broadcaster); the
test reads the daemon's JSON log as it is written (every answer's one end line names
its outcome) and reads the stream back with a real ffmpeg. Each case checks that the
stream goes on (or the daemon exits with a clear reason, never a silent hang), that the
NEXT question is answered, that ``--once`` ends when the input ends, and that every
question has its one recorded state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from streamer.rtmp_server import RtmpServer
from streamer.status import fetch_status
from streamer.store import QuestionStore, Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.media_reader import StreamReader
from tests.test_broadcast import AAC_DELAY_S, SILENT, check_continuous, loudest, speech_regions
from tests.test_daemon import DEMO, ROOT
from tests.test_publisher import free_port, needs_media

pytestmark = [pytest.mark.slow, needs_media]

Entry = dict[str, Any]
ONE_SENTENCE = "Blue is my favourite colour, like the sky over the sea on a long summer day."
LONG = (
    "Well, that is a long story, my dear friend from the chat, and it goes on for a "
    "while. It starts in a small village far away, where nobody had ever seen the sea, "
    "and where every evening the old baker told the children about the ships."
)


class OnAir:
    """One `streamer run` process: stdin is the chat, stderr the JSON log (parsed live)."""

    def __init__(self, proc: asyncio.subprocess.Process, status_port: int) -> None:
        self.proc = proc
        self.status_port = status_port
        self.log: list[Entry] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.log.append(json.loads(line))
                    self._changed.set()
        self._changed.set()

    async def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    def find(self, test: Callable[[Entry], bool]) -> list[Entry]:
        return [e for e in self.log if test(e)]

    async def wait(self, test: Callable[[Entry], bool], within_s: float = 40.0) -> Entry:
        """The first log entry that passes ``test``, waiting for it."""
        async with asyncio.timeout(within_s):
            while True:
                found = self.find(test)
                if found:
                    return found[0]
                if self._reader.done():
                    raise AssertionError(f"the daemon exited: {self.tail()}")
                self._changed.clear()
                await self._changed.wait()

    async def ended(self, user_text: str, within_s: float = 40.0) -> Entry:
        """The end line of the answer to the question containing ``user_text``."""
        asked = await self.wait(
            lambda e: "writing answer" in str(e["message"]) and user_text in str(e["message"]),
            within_s,
        )
        short = str(asked["message"]).split()[2]
        return await self.wait(lambda e: e.get("answer_id", "").startswith(short), within_s)

    async def on_air(self, user_text: str, within_s: float = 40.0) -> str:
        """Wait until the answer to ``user_text`` is heard; its short id."""
        asked = await self.wait(
            lambda e: "writing answer" in str(e["message"]) and user_text in str(e["message"]),
            within_s,
        )
        short = str(asked["message"]).split()[2]
        await self.wait(lambda e: str(e["message"]).startswith(f"answer {short} on air"), within_s)
        return short

    async def status(self) -> dict[str, Any]:
        return await fetch_status("127.0.0.1", self.status_port)

    async def finish(self, within_s: float = 60.0) -> int:
        """End the chat input (EOF): ``--once`` must then exit by itself."""
        assert self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.close()
        async with asyncio.timeout(within_s):
            code = await self.proc.wait()
            await self._reader
        return code

    async def exit_reason(self, within_s: float = 60.0) -> str:
        """Wait for the daemon to exit by itself (not a hang): code 1, one reason line."""
        async with asyncio.timeout(within_s):
            code = await self.proc.wait()
            await self._reader
        assert code == 1, self.tail()
        exits = self.find(lambda e: str(e["message"]).startswith("exiting: "))
        assert len(exits) == 1, self.tail()
        return str(exits[0]["message"])

    def tail(self, n: int = 15) -> str:
        return "\n".join(str(e.get("message"))[:300] for e in self.log[-n:])

    def publisher_ffmpeg(self) -> int:
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            for child in (task / "children").read_text().split():
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"ffmpeg" in cmd and b"rawvideo" in cmd:
                    return int(child)
        raise AssertionError("no publisher ffmpeg")


@contextlib.asynccontextmanager
async def on_air(
    tmp_path: Path,
    url: str,
    *extra: str,
    faults: str = "",
    llm: FakeOpenAIServer | None = None,
    streaming: bool = True,
) -> AsyncIterator[OnAir]:
    status_port = free_port()
    args = [
        "run", "--once", "--config", str(DEMO),
        "--set", f"data_dir={tmp_path / 'data'}", "--set", "chat.source=console",
        "--set", "pool.interval_s=0.1", "--set", "pool.policy=fifo",
        "--set", "log.format=json", "--set", "log.file=false",
        "--set", f"status.port={status_port}", "--set", f"output.rtmp_url={url}",
        "--set", "output.start_rtmp_server=false", "--set", "output.width=320",
        "--set", "output.height=180", "--set", "output.preset=ultrafast",
        "--set", "output.video_bitrate_k=300", "--set", "tts.rate_wpm=300",
        "--set", "llm.offline_word_delay_s=0",
    ]  # fmt: skip
    if llm is not None:
        args += ["--set", "llm.provider=openai", "--set", f"llm.base_url={llm.base_url}",
                 "--set", "llm.model=test"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STREAMER_FAULTS": faults}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", *args, *extra,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
    )  # fmt: skip
    daemon = OnAir(proc, status_port)
    try:
        if streaming:
            await daemon.wait(lambda e: "publisher: streaming to" in str(e["message"]))
        yield daemon
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        daemon._reader.cancel()
        await asyncio.gather(daemon._reader, return_exceptions=True)


def outcomes(tmp_path: Path) -> dict[str, tuple[Status, str | None]]:
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        rows = [s for status in Status for s in store.with_status(status)]
    return {s.question.text: (s.status, s.outcome) for s in rows}


def streaming(daemon: OnAir) -> int:
    """How many times the publisher said it is streaming (connected) so far."""
    return len(daemon.find(lambda e: "publisher: streaming to" in str(e["message"])))


async def test_ffmpeg_killed_three_times_then_nginx_down_10_s(
    tmp_path: Path, server: RtmpServer
) -> None:
    async with on_air(tmp_path, server.url()) as daemon:
        await daemon.say("!ask what do you think about the weather today?")
        await daemon.on_air("weather")
        for _ in range(3):  # three in a row, each as soon as it is back
            connected = streaming(daemon)
            os.kill(daemon.publisher_ffmpeg(), signal.SIGKILL)
            await daemon.wait(lambda _, c=connected: streaming(daemon) > c)
        await daemon.ended("weather")
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(10)  # nginx down for 10 s: the daemon must wait and retry
        await asyncio.to_thread(server.start)
        reader = StreamReader(server.url(), rw_timeout_s=20).start()
        try:
            await daemon.say("!ask and what is your favourite colour?")
            end = await daemon.ended("favourite colour")
            first = await asyncio.to_thread(reader.wait_video, 20)
            await asyncio.to_thread(reader.wait_until, first + 3.0, 20)
        finally:
            report = await asyncio.to_thread(reader.stop)
        status = await daemon.status()
        assert await daemon.finish() == 0, daemon.tail()
    assert end["outcome"] == "done"
    publisher = status["next_stage"]["publisher"]
    assert publisher["reconnects"] >= 4 and publisher["state"] == "streaming"
    check_continuous(report)  # after the restart: one clean stream again
    states = outcomes(tmp_path)
    assert states["and what is your favourite colour?"] == (Status.DONE, "done")
    assert all(s in (Status.DONE, Status.DROPPED) for s, _ in states.values()), states


async def test_a_pacing_crash_is_survived(tmp_path: Path, server: RtmpServer) -> None:
    async with on_air(tmp_path, server.url(), faults="pacing@60") as daemon:
        await daemon.wait(lambda e: "pacing thread crashed" in str(e["message"]))
        await daemon.say("!ask are you still there after that?")
        end = await daemon.ended("still there")
        status = await daemon.status()
        assert await daemon.finish() == 0, daemon.tail()
    assert end["outcome"] == "done"
    assert status["next_stage"]["publisher"]["crashes"] == 1


async def test_a_pacing_thread_crashing_for_good_exits_with_the_reason(
    tmp_path: Path, server: RtmpServer
) -> None:
    async with on_air(tmp_path, server.url(), faults="pacing", streaming=False) as daemon:
        reason = await daemon.exit_reason()
    assert "the publisher's pacing thread crashed 4 times" in reason


async def test_voice_lipsync_and_worker_faults_then_the_next_answer(
    tmp_path: Path, server: RtmpServer
) -> None:
    # The voice fails 3 times, lip-sync once, the worker once: the first answers lose
    # segments (or all of them), the stream stays up, and later answers are whole.
    async with on_air(tmp_path, server.url(), faults="tts=3,lipsync@2,worker@6") as daemon:
        for topic in ("cats", "dogs", "birds", "fish"):
            await daemon.say(f"!ask what do you think about {topic}, honestly?")
        last = await daemon.ended("fish", within_s=90)
        assert await daemon.finish() == 0, daemon.tail()
    assert last["outcome"] == "done"
    failed = daemon.find(lambda e: "voice or lip-sync failed" in str(e["message"]))
    assert len(failed) >= 4
    states = outcomes(tmp_path)
    assert len(states) == 4
    assert all(s in (Status.DONE, Status.DROPPED) for s, _ in states.values()), states


async def test_skip_at_every_stage(tmp_path: Path, server: RtmpServer) -> None:
    """!skip during the first segment, during the (only, so last) segment, and twice
    in a row (the one on air, then the next one, still being written or queued): each
    recorded skipped, the idle loop on air within 200 ms, the next question answered."""
    async with FakeOpenAIServer(default=Scenario.reply(ONE_SENTENCE)) as llm:
        llm.push(Scenario.reply(LONG))  # the first answer: several segments
        reader = StreamReader(server.url(), rw_timeout_s=20).start()
        skips: list[float] = []
        try:
            async with on_air(tmp_path, server.url(), llm=llm) as daemon:

                async def skip_now(*, timed: bool = True) -> None:
                    await asyncio.sleep(0.8)  # speech is on air (seen by the reader)
                    state = await daemon.status()
                    await daemon.say("!skip")
                    if timed:
                        skips.append(state["next_stage"]["publisher"]["stream_time_s"])
                        await asyncio.sleep(1.5)  # the idle loop alone on air for a while

                await daemon.say("!ask tell me a long story please")
                await daemon.on_air("long story")
                await skip_now()  # during the first of several segments
                await daemon.say("!ask one short sentence please")
                await daemon.on_air("short sentence")
                await skip_now()  # during the last segment (it is the only one)
                await daemon.say("!ask first of two questions?")
                await daemon.say("!ask second of two questions?")
                await daemon.on_air("first of two")
                # Twice in a row: the one on air, then the next (the second may start on
                # air at once, so this skip's silence is not checked).
                await skip_now(timed=False)
                await daemon.say("!skip")
                await daemon.say("!ask and one more at the end?")
                end = await daemon.ended("one more at the end")
                await asyncio.to_thread(reader.wait_until, skips[-1] + 6.0, 30)
                assert await daemon.finish() == 0, daemon.tail()
        finally:
            report = await asyncio.to_thread(reader.stop)
    assert end["outcome"] == "done"
    states = outcomes(tmp_path)
    for text in ("tell me a long story please", "one short sentence please",
                 "first of two questions?", "second of two questions?"):  # fmt: skip
        assert states[text] == (Status.DROPPED, "skipped"), (text, states)
    replies = daemon.find(lambda e: "skipped the current answer" in str(e["message"]))
    assert len(replies) == 4
    check_continuous(report)
    regions = speech_regions(report)
    for skip_at in skips:
        # Speech that was on air at the skip ends within 200 ms of it.
        during = [(a, b) for a, b in regions if a <= skip_at + 0.05 < b + 0.3]
        assert during, (skip_at, regions)
        assert during[0][1] <= skip_at + AAC_DELAY_S + 0.2, (skip_at, during)
        assert loudest(report, skip_at + AAC_DELAY_S + 0.2, skip_at + 1.2) < SILENT


async def test_kill_9_while_the_last_segment_plays(tmp_path: Path, server: RtmpServer) -> None:
    async with FakeOpenAIServer(default=Scenario.reply(ONE_SENTENCE)) as llm:
        async with on_air(tmp_path, server.url(), llm=llm) as daemon:
            await daemon.say("!ask one short sentence please")
            await daemon.on_air("short sentence")  # its only, so last, segment is on air
            daemon.proc.kill()
            await daemon.proc.wait()
        assert daemon.proc.returncode == -signal.SIGKILL
        assert outcomes(tmp_path)["one short sentence please"][0] is Status.BUILDING
        async with on_air(tmp_path, server.url(), llm=llm) as again:
            await again.say("!ask and now something else?")
            end = await again.ended("something else")
            assert await again.finish() == 0, again.tail()
        requests = [str(r.messages[-1]["content"]) for r in llm.requests]
    assert end["outcome"] == "done"
    states = outcomes(tmp_path)
    assert states["one short sentence please"] == (Status.DONE, "truncated")
    # It was heard: never asked (or spoken) again.
    assert sum("short sentence" in r for r in requests) == 1


async def test_a_hung_voice_engine_exits_with_the_reason(
    tmp_path: Path, server: RtmpServer
) -> None:
    """A voice call that never comes back: after output.worker_stall_s the daemon exits
    1 with the reason (so systemd restarts it) instead of a frozen stream; the process
    really ends although the worker thread is still stuck."""
    async with on_air(
        tmp_path, server.url(), "--set", "output.worker_stall_s=2", faults="tts@1:hang"
    ) as daemon:
        await daemon.say("!ask will the voice ever come back?")
        reason = await daemon.exit_reason()
    assert "stuck in the voice for 2 s" in reason
    # Nothing accepted is lost: the question is answered at the next start.
    assert outcomes(tmp_path)["will the voice ever come back?"][0] is Status.BUILDING
