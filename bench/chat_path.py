"""Benchmark of the chat-to-segments path (`make bench`).

Prints:
- ChatReader throughput on the hostile corpus (messages per second);
- SentenceSplitter throughput (characters per second);
- time from pick to first token and to first segment, with the real openai client
  against a local server streaming at a typical speed (30 words per second).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from streamer.answerer import Answerer
from streamer.chat.replay import ReplayChatSource
from streamer.config import Settings, load_settings
from streamer.filters import BannedWords
from streamer.llm import OpenAIProvider
from streamer.messages import ModCommand, Question, Role, new_id
from streamer.pool import QuestionPool
from streamer.reader import ChatReader
from streamer.splitter import SentenceSplitter
from streamer.store import QuestionStore
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.hostile_corpus import BANNED_WORDS, write_corpus

ANSWER = (
    "Oh, that is a great question, and I love it. The sky looks blue because air scatters "
    "short blue waves of sunlight much more than long red ones, so blue light reaches your "
    "eyes from every direction. At sunset the light travels through more air, the blue is "
    "scattered away, and the reds and oranges are left. Nature is a painter, really!"
)


async def bench_reader(settings: Settings, tmp: Path) -> None:
    corpus = write_corpus(tmp / "hostile.jsonl")
    messages = [m async for m in ReplayChatSource(corpus.path, speed=0, echo=False).messages()]
    with QuestionStore(tmp / "bench.db") as store:
        pool = QuestionPool(settings.pool.model_copy(update={"max_size": 100_000}), store)

        async def on_mod(_: ModCommand) -> None:
            return None

        reader = ChatReader(
            settings.commands,
            settings.filters.model_copy(update={"user_cooldown_s": 0}),
            pool,
            say=None,
            on_mod=on_mod,
            banned=BannedWords(BANNED_WORDS),
        )
        start = time.perf_counter()
        for msg in messages:
            await reader.handle(msg)
        took = time.perf_counter() - start
    size = sum(len(m.text) for m in messages) / 1e6
    print(
        f"reader: {len(messages)} hostile messages ({size:.1f} MB) in {took * 1000:.0f} ms "
        f"= {len(messages) / took:,.0f} messages/s"
    )


def bench_splitter() -> None:
    text = ANSWER * 200
    start = time.perf_counter()
    splitter = SentenceSplitter()
    count = 0
    for i in range(0, len(text), 4):  # LLM-sized deltas
        count += len(splitter.feed(text[i : i + 4]))
    count += len(splitter.finish())
    took = time.perf_counter() - start
    print(
        f"splitter: {len(text):,} chars in 4-char deltas -> {count} segments "
        f"in {took * 1000:.0f} ms = {len(text) / took / 1e6:.2f} M chars/s"
    )


async def bench_first_segment(settings: Settings) -> None:
    words = len(ANSWER.split())
    firsts_token, firsts_segment, totals = [], [], []
    async with FakeOpenAIServer(default=Scenario.reply(ANSWER, delay_s=1 / 30)) as server:
        llm = settings.llm.model_copy(update={"provider": "openai", "base_url": server.base_url})
        provider = OpenAIProvider(llm, "bench-key")
        answerer = Answerer(llm, settings.split, provider)
        for _ in range(5):
            q = Question(
                id=new_id(),
                user="alice",
                display_name="alice",
                text="why is the sky blue?",
                role=Role.VIEWER,
            )
            stream = answerer.answer(q)
            async for _item in stream:
                pass
            outcome = stream.outcome
            assert outcome is not None and outcome.ok, outcome
            firsts_token.append(outcome.first_token_s or 0.0)
            firsts_segment.append(outcome.first_segment_s or 0.0)
            totals.append(outcome.total_s)
        await provider.aclose()
    print(
        f"answer ({words} words streamed at 30 words/s, real openai client, local server): "
        f"first token {statistics.median(firsts_token) * 1000:.0f} ms, "
        f"first segment {statistics.median(firsts_segment) * 1000:.0f} ms, "
        f"whole answer {statistics.median(totals):.2f} s (median of 5)"
    )


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the corpus's bad lines would warn
    settings = load_settings(None)
    with tempfile.TemporaryDirectory() as tmp:
        await bench_reader(settings, Path(tmp))
    bench_splitter()
    await bench_first_segment(settings)


if __name__ == "__main__":
    asyncio.run(main())
