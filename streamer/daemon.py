"""The daemon: wires the stages with bounded queues and supervises them.

Stages (each one asyncio task, each owning its state)::

    chat source ─ChatMessage─▶ ChatReader ─Question─▶ QuestionPool (SQLite)
    scheduler (every pool.interval_s) ─pick─▶ build queue (SQLite) + an Answer
    writer: build queue ─Answer─▶ Answerer (LLM + SentenceSplitter) ─Segment─▶ queue
    sink:   queue ─▶ the next stage (MediaStage: voice, lip-sync, publisher; or print)

Each answer's life is one :class:`~streamer.answer.Answer` (``answer.py``); the stages
hold it and read its state. ``!skip`` is one call on it (``Answer.interrupt``) that
reaches every stage holding its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer.answer import Answer, Answers
from streamer.answerer import Answerer
from streamer.chat.base import ChatSource
from streamer.chat.sender import RateLimitedSender, limit_for
from streamer.chat_stage import ChatStage, collect_secrets, make_chat_source
from streamer.config import Settings
from streamer.control import Control
from streamer.faults import Faults
from streamer.filters import BannedWords
from streamer.heap import TrimWhenIdle
from streamer.llm import make_provider
from streamer.logs import SecretFilter
from streamer.messages import Role
from streamer.moderation.blocklist import BlockList
from streamer.moderation.moderator import Moderator, make_model_check
from streamer.playback import Playback
from streamer.pool import QuestionPool
from streamer.reader import ChatReader
from streamer.redemptions import RedemptionSettler
from streamer.sink import NextStage, PrintSink, SegmentQueue, SinkStage
from streamer.status import daemon_snapshot
from streamer.store import QuestionStore
from streamer.supervisor import Supervisor
from streamer.web.hub import WebHub
from streamer.writer import WriterStage

__all__ = ["Daemon", "NextStage", "PrintSink", "run_daemon"]

log = logging.getLogger(__name__)

# First signal: the answer being written may finish within this time...
DRAIN_TIMEOUT_S = 30.0
# ... and the next stage may take this long to play what it was handed.
SINK_DRAIN_TIMEOUT_S = 10.0


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        secret_filter: SecretFilter | None = None,
        once: bool = False,
        sink: NextStage | None = None,
        chat: ChatSource | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.once = once
        self.supervisor = Supervisor()
        self.on_secret = on_secret = secret_filter.add if secret_filter is not None else None
        if secret_filter is not None:
            for secret in collect_secrets(settings, self.env):
                secret_filter.add(secret)
        self.chat = chat or make_chat_source(settings, self.env, on_secret)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = QuestionStore(settings.data_dir / "questions.db")
        self.pool = QuestionPool(settings.pool, self.store)
        self.sender = RateLimitedSender(self.chat.send, limit=limit_for(self.chat.bot_is_moderator))
        words = list(settings.filters.banned_words)
        if settings.filters.banned_words_file is not None:
            words += BannedWords.from_file(settings.filters.banned_words_file).words
        banned = BannedWords(words)
        self.answers = Answers(self._record)
        self.control = Control(
            self.pool, self.answers, self.sender.say, on_resume=self._check_idle,
            blocked=BlockList(settings.blocked_users_file), replies=settings.replies,
            resume_command=settings.commands.prefix + settings.commands.resume,
        )  # fmt: skip
        self.state = self.control.state
        self.reader = ChatReader(
            settings.commands,
            settings.filters,
            self.pool,
            say=self.sender.say,
            on_mod=self.control.on_mod,
            banned=banned,
            blocked=self.control.blocked.__contains__,
            redemption_role=Role[settings.twitch.channel_points.priority.upper()],
            replies=self.control.replies,
        )
        # Channel points spent on questions: fulfilled or refunded once they end.
        self.settler = RedemptionSettler(self.store.redemptions, self.chat.settle_redemption)
        # What is spoken is checked with the same lists, the patterns and the model.
        model_check = make_model_check(settings, self.env)
        self.playback = Playback(self.answers, self.pool, self.reader, closed=lambda: self._closed)
        self.provider = make_provider(settings.llm, self.env)
        self.answerer = Answerer(
            settings.llm, settings.split, self.provider, language=settings.channel.language
        )
        self.moderator = Moderator(
            settings.moderation, banned, model_check,
            system_prompt=self.answerer.prompts.system_prompt,
        )  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        if sink is None:
            # Imported here: the media stack (OpenCV, numpy) is not needed for --no-video.
            from streamer.stream import MediaStage

            sink = MediaStage(
                settings, on_event=self.media_event, on_fatal=self.supervisor.fail_threadsafe,
                faults=faults,
            )  # fmt: skip
            sink.builder.expected = self.answers.text_so_far  # how much is left to speak
        self.sink = sink
        self.queue = SegmentQueue()
        self.writer = WriterStage(
            self.pool, self.answers, self.answerer, self.queue, moderator=self.moderator
        )
        self.sink_stage = SinkStage(
            self.queue,
            sink,
            on_heard=self.playback.heard,
            failed=lambda: self.supervisor.reason is not None,
        )
        self.chat_stage = ChatStage(
            self.chat, self.reader, on_done=self._check_idle,
            on_moderation=self.control.on_chat_moderation,
        )  # fmt: skip
        self.answers.subscribe(self._check_idle)
        self.sink_stage.on_free = self._check_idle  # a skipped item let go after its answer
        self.heap = TrimWhenIdle(
            busy=lambda: len(self.answers) > 0, trace_to=self.env.get("STREAMER_TRACEMALLOC")
        )
        self.answers.subscribe(self.heap)
        self._draining = False
        self._closed = False
        self._stopping: asyncio.Event | None = None
        self._idle_event: asyncio.Event | None = None
        self.web = WebHub(self)  # the console, the overlay, /metrics and /status

    # ------------------------------------------------------------------ answers

    def _record(self, answer: Answer) -> str:
        """The one place an answer's end reaches the database (``Answer.finish``)."""
        if self._closed:
            return "not recorded (stopped)"
        return self.pool.record(answer.id, answer.state.value, answer.reason)

    @property
    def draining(self) -> bool:
        """Stopping: the answer in progress may finish, no other starts."""
        return self._draining

    def snapshot(self) -> dict[str, Any]:
        """The state for ``streamer status`` (called on the event loop)."""
        return daemon_snapshot(self)

    def media_event(self, kind: str, data: dict[str, Any]) -> None:
        """From the publisher's pacing thread: hop onto the event loop."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: we are done
            loop.call_soon_threadsafe(self.playback.on_media_event, kind, data)

    # ------------------------------------------------------------------ stages

    async def pick_tick(self) -> None:
        """Scheduler job: move one question from the pool to the build queue.

        A coroutine on purpose: APScheduler runs plain functions in a thread pool, and
        the pool's SQLite connection belongs to the event-loop thread.
        """
        if self.state.paused or self._draining:
            self._check_idle()
            return
        try:
            question = self.pool.pick()
        except Exception:
            log.exception("picking a question failed; trying again next interval")
            return
        if question is not None:
            self.answers.create(question)
            self.reader.queued(question, position=len(self.answers))
        self._check_idle()

    # ------------------------------------------------------------------ life cycle

    def _idle(self) -> bool:
        """--once: nothing left to do (a paused pool counts as done)."""
        if not self.chat_stage.done or len(self.answers) or not self.queue.empty():
            return False
        if self.sink_stage.busy is not None:
            return False
        counts = self.pool.counts()
        waiting = counts.get("queued", 0) + (0 if self.state.paused else counts.get("pooled", 0))
        return waiting == 0

    def _check_idle(self) -> None:
        if self.once and self._idle_event is not None and not self._closed and self._idle():
            self._idle_event.set()

    def request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def run(self) -> int:
        """Run until stopped (or, with ``once``, until the chat is done and queues empty).

        Returns the exit code: 0, or 1 if a stage failed for good.
        """
        self._stopping = asyncio.Event()
        self._idle_event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.supervisor.start()
        log.info(
            "chat: %s; pool policy %s every %g s",
            self.chat.name,
            self.settings.pool.policy,
            self.settings.pool.interval_s,
        )
        scheduler = AsyncIOScheduler()
        tasks: dict[str, asyncio.Task[None]] = {}
        code = 0
        try:
            await self.web.start()
            await self.sink.start()
            await self.chat.start()
            self.sender.start()
            self.settler.start()
            for question in self.pool.queued():  # restored: they keep their order
                self.answers.create(question)
            scheduler.add_job(
                self.pick_tick,
                "interval",
                seconds=self.settings.pool.interval_s,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
            scheduler.start()
            for name, stage in (
                ("chat", self.chat_stage.run),
                ("writer", self.writer.run),
                ("sink", self.sink_stage.run),
            ):
                tasks[name] = asyncio.create_task(stage(), name=name)
                if name != "chat":  # the chat ends by itself (a replay file, --once)
                    self.supervisor.watch(tasks[name], name)
            code = await self._supervise()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._shutdown(tasks)
            await self.web.close()
        return code

    async def _supervise(self) -> int:
        """Wait for a stop request, a failure or (``--once``) nothing left to do."""
        assert self._stopping is not None and self._idle_event is not None
        self._check_idle()
        waits = {
            asyncio.ensure_future(self._stopping.wait()): "stop",
            asyncio.ensure_future(self.supervisor.failed.wait()): "failed",
            asyncio.ensure_future(self._idle_event.wait()): "idle",
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        why = {waits[d] for d in done}
        if "failed" in why:
            log.error("exiting: %s", self.supervisor.reason)
            return 1
        if "idle" in why and "stop" not in why:
            log.info("--once: chat done and every question answered")
            return 1 if self.chat_stage.failed else 0
        return 0

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("stopping: finishing the answer in progress (a second signal exits now)")
        failed = self.supervisor.reason is not None  # failed: no answer is waited for
        self.supervisor.stopping = True
        self._draining = True
        self.writer.draining = True
        if "chat" in tasks:
            tasks["chat"].cancel()
        writer = tasks.get("writer")
        if writer is not None:
            if self.writer.current is not None and not failed:
                done, _ = await asyncio.wait({writer}, timeout=DRAIN_TIMEOUT_S)
                if not done:
                    log.warning("the answer in progress did not finish in %g s", DRAIN_TIMEOUT_S)
            writer.cancel()
        if not failed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), SINK_DRAIN_TIMEOUT_S)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await self.sink.close()  # the publisher may finish the clip on air
        await asyncio.sleep(0)  # its last events (answers played out) are recorded
        await self.sender.close()  # acknowledgments still queued go out first
        await self.settler.close()  # and the points of answers that just ended
        await self.chat.close()
        await self.provider.aclose()
        await self.moderator.close()
        await self.web.close()  # no console action, preview or host voice from here on
        self._closed = True
        self._summary()
        self.store.close()

    def _summary(self) -> None:
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
        ended = self.answers.questions
        counts = self.pool.counts()
        log.info(
            "stopped: questions %d answered, %d truncated, %d skipped, %d moderated, %d failed; "
            "kept for the next start: %d pooled, %d queued, %d interrupted",
            ended.get("answered", 0),
            ended.get("truncated", 0),
            ended.get("skipped", 0),
            ended.get("moderated", 0),
            ended.get("failed", 0),
            counts.get("pooled", 0),
            counts.get("queued", 0),
            counts.get("building", 0),
            extra={"fields": {"questions": dict(ended)}},
        )


async def run_daemon(daemon: Daemon) -> int:
    """Run with two-stage signal handling: first signal drains, second exits now."""
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.warning("%s: stopping after the answer in progress", sig.name)
            daemon.request_stop()
        else:
            log.warning("%s again: exiting now (questions are already saved)", sig.name)
            daemon.sink.abort()  # no ffmpeg or nginx left behind
            os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await daemon.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
