"""The daemon: wires the stages with bounded queues and supervises them.

Stages (each one asyncio task, each owning its state):

    chat source ─ChatMessage─▶ ChatReader ─Question─▶ QuestionPool (SQLite)
    scheduler (every pool.interval_s) ─pick─▶ build queue (SQLite)
    builder: build queue ─Question─▶ Answerer (LLM + SentenceSplitter) ─Segment─▶ segments
    sink: segments ─▶ the next stage (this issue: log and print them)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer.answerer import Answerer, AnswerOutcome, AnswerStatus, AnswerStream
from streamer.chat.base import ChatSource
from streamer.chat.console import ConsoleChatSource
from streamer.chat.replay import ReplayChatSource
from streamer.chat.sender import RateLimitedSender, limit_for
from streamer.config import Settings
from streamer.filters import BannedWords
from streamer.llm import make_provider
from streamer.logs import SecretFilter
from streamer.messages import (
    AnswerAborted,
    AnswerMessage,
    ModAction,
    ModCommand,
    Question,
    Segment,
)
from streamer.pool import QuestionPool
from streamer.reader import ChatReader
from streamer.secrets import from_env, load_twitch_tokens
from streamer.store import QuestionStore

log = logging.getLogger(__name__)

# Segments waiting for the next stage. Small on purpose: a slow consumer makes the
# builder wait instead of piling up text nobody will hear for minutes.
SEGMENT_QUEUE_SIZE = 16
DRAIN_TIMEOUT_S = 30.0


SegmentSink = Callable[[AnswerMessage], Awaitable[None]]


class PrintSink:
    """The end of the chain for now: one line per segment on ``out``."""

    def __init__(self, out: TextIO | None) -> None:
        self._out = out

    async def __call__(self, item: AnswerMessage) -> None:
        if self._out is None:
            return
        if isinstance(item, Segment):
            flag = " (last)" if item.last else ""
            print(
                f"[{item.answer_id[:8]} #{item.index}{flag}] {item.text}",
                file=self._out,
                flush=True,
            )
        else:
            print(f"[{item.answer_id[:8]} aborted] {item.reason}", file=self._out, flush=True)


def make_chat_source(settings: Settings, env: Mapping[str, str]) -> ChatSource:
    chat = settings.chat
    if chat.source == "replay":
        assert chat.replay_file is not None  # checked by the settings model
        return ReplayChatSource(chat.replay_file, speed=chat.replay_speed)
    if chat.source == "console":
        return ConsoleChatSource(chat.console_user, chat.console_badges)
    from streamer.chat.twitch import TwitchChatSource

    tokens = load_twitch_tokens(settings.token_file, env)
    secret = from_env(
        settings.twitch.client_secret_env,
        purpose="your Twitch application's client secret",
        env=env,
    )
    return TwitchChatSource(settings.twitch, tokens, secret, token_path=settings.token_file)


def collect_secrets(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Every secret value this run may see, so the log filter can mask it."""
    names = [
        settings.llm.api_key_env,
        settings.twitch.client_secret_env,
        "TWITCH_ACCESS_TOKEN",
        "TWITCH_REFRESH_TOKEN",
    ]
    values = [env.get(n, "") for n in names]
    if settings.chat.source == "twitch":
        with contextlib.suppress(Exception):
            tokens = load_twitch_tokens(settings.token_file, env)
            values += [tokens.access_token, tokens.refresh_token]
    return [v for v in values if v]


@dataclass
class Timing:
    picked_at: float
    first_segment_at: float | None = None


@dataclass
class DaemonState:
    paused: bool = False
    current: Question | None = None
    chat_done: bool = False
    answered: int = 0
    failed: int = 0


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        secret_filter: SecretFilter | None = None,
        once: bool = False,
        sink: SegmentSink | None = None,
        chat: ChatSource | None = None,
    ) -> None:
        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.once = once
        self.state = DaemonState()
        if secret_filter is not None:
            for secret in collect_secrets(settings, self.env):
                secret_filter.add(secret)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = QuestionStore(settings.data_dir / "questions.db")
        self.pool = QuestionPool(settings.pool, self.store)
        self.chat = chat or make_chat_source(settings, self.env)
        self.sender = RateLimitedSender(self.chat.send, limit=limit_for(self.chat.bot_is_moderator))
        banned_words = list(settings.filters.banned_words)
        banned = BannedWords(banned_words)
        if settings.filters.banned_words_file is not None:
            from_file = BannedWords.from_file(settings.filters.banned_words_file)
            banned = BannedWords([*banned_words, *from_file.words])
        self.reader = ChatReader(
            settings.commands,
            settings.filters,
            self.pool,
            say=self.sender.say,
            on_mod=self.on_mod,
            banned=banned,
        )
        self.provider = make_provider(settings.llm, self.env)
        self.answerer = Answerer(settings.llm, settings.split, self.provider)
        self.segments: asyncio.Queue[AnswerMessage] = asyncio.Queue(SEGMENT_QUEUE_SIZE)
        self.sink = sink or PrintSink(None)
        self._timings: dict[str, Timing] = {}
        self._stopping: asyncio.Event | None = None
        self._build_task: asyncio.Task[None] | None = None
        self._skip_events: dict[str, asyncio.Event] = {}

    # ------------------------------------------------------------------ commands

    async def on_mod(self, cmd: ModCommand) -> None:
        """A moderator's command; the moderator gets a short reply in chat."""
        log.info("moderator %s: !%s", cmd.user, cmd.action.value)
        if cmd.action is ModAction.SKIP:
            current = self.state.current
            if current is None:
                reply = "nothing to skip"
            else:
                self._skip_events.setdefault(current.id, asyncio.Event()).set()
                reply = f"skipped {current.name}'s question"
        elif cmd.action is ModAction.CLEAR:
            count = self.pool.clear()
            reply = f"cleared {count} waiting question{'s' if count != 1 else ''}"
        elif cmd.action is ModAction.PAUSE:
            self.state.paused = True
            reply = "paused: no new question is picked until !resume"
        else:
            self.state.paused = False
            reply = "resumed"
        log.info("!%s: %s", cmd.action.value, reply)
        self.sender.say(f"@{cmd.user}, {reply}")

    # ------------------------------------------------------------------ stages

    async def pick_tick(self) -> None:
        """Scheduler job: move one question from the pool to the build queue.

        A coroutine on purpose: APScheduler runs plain functions in a thread pool, and
        the pool's SQLite connection belongs to the event-loop thread.
        """
        if self.state.paused:
            return
        try:
            question = self.pool.pick()
        except Exception:
            log.exception("picking a question failed; trying again next interval")
            return
        if question is None:
            return
        self._timings[question.id] = Timing(picked_at=time.monotonic())
        waited = max(0.0, time.time() - question.asked_at)
        log.info(
            "picked %s from %s after %.1f s: %r",
            question.id[:8],
            question.user,
            waited,
            question.text[:80],
        )
        self.reader.picked(question)

    async def _chat_stage(self) -> None:
        try:
            await self.reader.run(self.chat.messages())
        finally:
            self.state.chat_done = True
            log.info("chat input ended")

    async def _builder_stage(self) -> None:
        while True:
            question = await self.pool.next_to_build()
            self.state.current = question
            self._build_task = asyncio.create_task(self._build(question), name="build")
            try:
                await asyncio.shield(self._build_task)
            except asyncio.CancelledError:
                self._build_task.cancel()
                raise
            except Exception:
                # A bug in one answer must not stop the show: log it, drop the question.
                log.exception("answer %s failed unexpectedly", question.id[:8])
                self.pool.failed(question.id, "internal error")
            finally:
                self.state.current = None
                self._build_task = None
                self._timings.pop(question.id, None)

    async def _build(self, question: Question) -> None:
        timing = self._timings.setdefault(question.id, Timing(picked_at=time.monotonic()))
        log.info("answering %s (%s): %r", question.id[:8], question.user, question.text[:80])
        skip = self._skip_events.setdefault(question.id, asyncio.Event())
        stream = self.answerer.answer(question)
        consume = asyncio.create_task(self._consume(stream, timing), name="answer")
        skip_wait = asyncio.create_task(skip.wait(), name="skip-wait")
        try:
            await asyncio.wait({consume, skip_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            skip_wait.cancel()
            if not consume.done():
                consume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consume
            await stream.aclose()
            self._skip_events.pop(question.id, None)
        if skip.is_set():
            await self.segments.put(AnswerAborted(question.id, "skipped by moderator"))
            self.pool.drop(question.id, "skipped by moderator")
            return
        self._settle(question, stream.outcome, time.monotonic() - timing.picked_at)

    async def _consume(self, stream: AnswerStream, timing: Timing) -> None:
        async for item in stream:
            if isinstance(item, Segment) and timing.first_segment_at is None:
                timing.first_segment_at = time.monotonic()
                log.info(
                    "answer %s: first segment %.2f s after pick",
                    item.answer_id[:8],
                    timing.first_segment_at - timing.picked_at,
                )
            await self.segments.put(item)

    def _settle(self, question: Question, outcome: AnswerOutcome | None, took: float) -> None:
        """Tell the pool how the answer ended. Never silent."""
        qid = question.id
        if outcome is None:
            self.state.failed += 1
            self.pool.failed(qid, "answer ended without an outcome")
        elif outcome.status in (AnswerStatus.DONE, AnswerStatus.TRUNCATED):
            self.pool.done(qid)
            self.state.answered += 1
            log.info("answer %s %s in %.2f s", qid[:8], outcome.status.value, took)
        elif outcome.status is AnswerStatus.REQUEUE:
            self.state.failed += 1
            self.pool.failed(qid, outcome.reason)
        else:
            self.state.failed += 1
            self.pool.drop(qid, outcome.reason)

    async def _sink_stage(self) -> None:
        while True:
            item = await self.segments.get()
            try:
                await self.sink(item)
            except Exception:
                log.exception("segment sink failed on %s", item)
            finally:
                self.segments.task_done()

    # ------------------------------------------------------------------ life cycle

    def _idle(self) -> bool:
        counts = self.pool.counts()
        return (
            self.state.chat_done
            and counts.get("pooled", 0) == 0
            and counts.get("queued", 0) == 0
            and counts.get("building", 0) == 0
            and self.state.current is None
            and self.segments.empty()
        )

    def request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def run(self) -> int:
        """Run until stopped (or, with ``once``, until the chat is done and queues empty)."""
        self._stopping = asyncio.Event()
        log.info("LLM: %s", self.provider.describe())
        log.info(
            "chat: %s; pool policy %s every %.1f s",
            self.chat.name,
            self.settings.pool.policy,
            self.settings.pool.interval_s,
        )
        await self.chat.start()
        self.sender.start()
        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self.pick_tick,
            "interval",
            seconds=self.settings.pool.interval_s,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        tasks = {
            asyncio.create_task(self._chat_stage(), name="chat"),
            asyncio.create_task(self._builder_stage(), name="builder"),
            asyncio.create_task(self._sink_stage(), name="sink"),
        }
        builder = next(t for t in tasks if t.get_name() == "builder")
        try:
            while not self._stopping.is_set():
                if self.once and self._idle():
                    log.info("--once: chat done and queues empty")
                    break
                failed = [t for t in tasks if t.done() and t.get_name() != "chat"]
                if failed:
                    exc = failed[0].exception()
                    raise RuntimeError(f"stage {failed[0].get_name()} stopped") from exc
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.1)
            code = 0
        finally:
            scheduler.shutdown(wait=False)
            await self._shutdown(tasks, builder)
        return code

    async def _shutdown(self, tasks: set[asyncio.Task[None]], builder: asyncio.Task[None]) -> None:
        log.info("stopping: finishing the answer in progress (a second signal exits now)")
        chat = next(t for t in tasks if t.get_name() == "chat")
        chat.cancel()
        await self.chat.close()
        if self._build_task is not None:
            # Let the answer in progress finish (bounded), then stop the builder.
            await asyncio.wait({self._build_task}, timeout=DRAIN_TIMEOUT_S)
        unfinished = self.state.current
        builder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await builder
        if unfinished is not None and self.pool.is_active(unfinished.id):
            # Not answered in time: back to the pool, without counting an attempt.
            self.pool.requeue(unfinished.id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.segments.join(), 5.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.sender.close()
        stats = self.reader.stats
        log.info(
            "chat summary: %d messages, %d accepted, %d merged, %d rejected, %d commands",
            stats.get("total", 0),
            stats.get("outcome.accepted", 0),
            stats.get("outcome.merged", 0),
            stats.get("outcome.rejected", 0),
            stats.get("outcome.command", 0),
            extra={"fields": {"chat_stats": stats}},
        )
        await self.provider.aclose()
        counts = self.pool.counts()
        self.store.close()
        log.info(
            "stopped: %d answered, %d failed; %d pooled and %d queued kept for next start",
            self.state.answered,
            self.state.failed,
            counts.get("pooled", 0),
            counts.get("queued", 0),
        )


async def run_daemon(daemon: Daemon) -> int:
    """Run with two-stage signal handling: first signal drains, second exits now."""
    loop = asyncio.get_running_loop()
    signals = 0
    main = asyncio.current_task()

    def on_signal(sig: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.warning("%s: stopping after the answer in progress", sig.name)
            daemon.request_stop()
        else:
            log.warning("%s again: exiting now (questions are already saved)", sig.name)
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await daemon.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        del main
