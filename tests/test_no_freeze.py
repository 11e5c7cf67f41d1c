"""No freeze mid-answer when the builder is slower than real time: the daemon (a process)
with a lip-sync engine slowed by a test hook (each frame takes 60 ms more to render
than the 40 ms it lasts), streaming to nginx-rtmp, read back by ffmpeg."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from streamer.rtmp_server import RtmpServer
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.media_reader import StreamReader
from tests.test_broadcast import check_continuous, speech_regions
from tests.test_faults_media import LONG, on_air
from tests.test_publisher import needs_media

pytestmark = [pytest.mark.slow, needs_media]


async def test_a_slow_builder_holds_the_start_and_never_freezes_mid_answer(
    tmp_path: Path, server: RtmpServer
) -> None:
    """The answer's start waits until enough of it is built, then it plays without a gap:
    the publisher counts no gap, and on the reader the answer's speech lasts exactly as
    long as the media built for it (an idle stretch inside would lengthen it)."""
    async with FakeOpenAIServer(default=Scenario.reply(LONG)) as llm:
        reader = StreamReader(server.url(), rw_timeout_s=30).start()
        try:
            async with on_air(
                tmp_path, server.url(), "--set", "tts.engine=espeak", llm=llm,
                faults="lipsync~0.06",
            ) as daemon:  # fmt: skip
                await daemon.say("!ask tell me a long story please")
                end = await daemon.ended("long story", within_s=120)
                state = await daemon.status()
                built = [
                    float(m.group(1))
                    for e in daemon.log
                    if (
                        m := re.search(r"segment \d+ built: ([\d.]+) s of video", str(e["message"]))
                    )
                ]
                held = daemon.find(lambda e: "start held" in str(e["message"]))
                at = state["next_stage"]["publisher"]["stream_time_s"]
                await asyncio.to_thread(reader.wait_until, at + 1.0, 30)
                assert await daemon.finish() == 0, daemon.tail()
        finally:
            report = await asyncio.to_thread(reader.stop)
    assert end["outcome"] == "done"
    assert len(built) >= 2  # several segments, built one after the other
    assert held, daemon.tail()  # the start was held, and said so
    publisher = state["next_stage"]["publisher"]
    assert publisher["gaps"] == 0, publisher
    assert state["next_stage"]["builder"]["real_time_factor"] > 1.2  # really slow
    check_continuous(report)
    regions = speech_regions(report)
    assert len(regions) == 1, regions  # one stretch of speech: no idle pause inside
    spoken = regions[0][1] - regions[0][0]
    assert spoken <= sum(built) + 0.1, (spoken, built)
