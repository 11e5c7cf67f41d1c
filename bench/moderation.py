"""Benchmark of moderation's cost on air (`make bench`): pick -> first frame, with and
without a model check that takes 150 ms.

The demo pipeline of ``bench.broadcast`` (offline LLM, espeak, puppet, 1280x720, a local
nginx-rtmp), run twice in-process: once with the word lists and patterns only (the
default), once with ``moderation.model.kind: openai`` against a local server that speaks
OpenAI's ``/v1/moderations`` and answers each check after 150 ms. The check of segment
N+1 runs while segment N is spoken, so only the first segment's check should add to the
time to first frame. Goal: pick -> first frame under 1.5 s with the model check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bench.broadcast import (
    BenchDaemon,
    QueueChat,
    Timings,
    ask_while_idle,
    bench_settings,
    free_port,
    time_first_segments,
    time_picks,
)
from streamer.config import Settings
from streamer.rtmp_server import RtmpServer
from streamer.stream import MediaStage
from tests.fakes.moderation_server import FakeModerationServer

CHECK_LATENCY_S = 0.15
GOAL_S = 1.5


async def first_frames(settings: Settings) -> tuple[list[float], int]:
    """pick -> first frame of each question, and the segments the moderator checked."""
    chat = QueueChat()
    daemon = BenchDaemon(settings, env={"OPENAI_API_KEY": "sk-bench"}, chat=chat)
    daemon.timings = timings = Timings(loop=asyncio.get_running_loop())
    stage = daemon.sink
    assert isinstance(stage, MediaStage)
    time_picks(daemon)
    time_first_segments(stage, timings)
    task = asyncio.create_task(daemon.run(), name="daemon")
    try:
        if not await asyncio.to_thread(timings.connected.wait, 20.0):
            raise TimeoutError("the publisher did not connect within 20 s")
        delays, _ = await ask_while_idle(chat, timings)
        checked = daemon.moderator.checked
    finally:
        daemon.request_stop()
        await task
    return delays, checked


def with_model(settings: Settings, base_url: str) -> Settings:
    model = settings.moderation.model.model_copy(
        update={"kind": "openai", "base_url": base_url, "timeout_s": 2.0}
    )
    return settings.model_copy(
        update={"moderation": settings.moderation.model_copy(update={"model": model})}
    )


def ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


async def run(tmp: Path, url: str) -> bool:
    base = bench_settings(tmp / "lists", url)
    lists, lists_checked = await first_frames(base)
    async with FakeModerationServer(latency_s=CHECK_LATENCY_S) as server:
        model, model_checked = await first_frames(with_model(bench_settings(tmp / "model", url),
                                                             server.base_url))  # fmt: skip
        requests = len(server.requests)
    plain, checked = statistics.median(lists), statistics.median(model)
    print(
        f"pick -> first frame, word lists and patterns only: median {plain * 1000:.0f} ms "
        f"({ms(lists)} ms; {lists_checked} segments checked)"
    )
    print(
        f"pick -> first frame, with a {CHECK_LATENCY_S * 1000:.0f} ms model check: median "
        f"{checked * 1000:.0f} ms ({ms(model)} ms; {model_checked} segments checked, "
        f"{requests} requests); the check adds {(checked - plain) * 1000:+.0f} ms "
        f"(one check: {CHECK_LATENCY_S * 1000:.0f} ms)"
    )
    ok = checked < GOAL_S
    print(f"goal pick -> first frame under {GOAL_S:g} s with the model check: "
          f"{'met' if ok else 'MISSED'}")  # fmt: skip
    return ok


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-moderation-") as tmp:
        port = free_port()
        print(f"moderation benchmark: the demo pipeline on a local nginx-rtmp (port {port})")
        with RtmpServer(Path(tmp), port=port):
            asyncio.run(run(Path(tmp), f"rtmp://127.0.0.1:{port}/live/avatar"))
    print(f"total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
