"""The daemon: wires the stages with bounded queues and supervises them.

Stages (each one asyncio task, each owning its state):

    chat source ─ChatMessage─▶ ChatReader ─Question─▶ QuestionPool (SQLite)
    scheduler (every pool.interval_s) ─pick─▶ build queue (SQLite)
    builder: build queue ─Question─▶ Answerer (LLM + SentenceSplitter) ─Segment─▶ segments
    sink: segments ─▶ the next stage (this release: print and log them)

``!skip`` reaches both ends: the answer being built is cancelled, and the answer on
air (in the sink) is interrupted; its queued segments are dropped and the next stage
gets one ``AnswerAborted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamer.answerer import Answerer, AnswerOutcome, AnswerStatus
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
    Skip,
)
from streamer.pool import QuestionPool
from streamer.reader import ChatReader
from streamer.secrets import from_env, load_twitch_tokens
from streamer.status import StatusServer
from streamer.store import QuestionStore

log = logging.getLogger(__name__)

# Segments waiting for the next stage. Small on purpose: a slow consumer makes the
# builder wait instead of piling up text nobody will hear for minutes.
SEGMENT_QUEUE_SIZE = 16
# First signal: the answer in progress may finish within this time.
DRAIN_TIMEOUT_S = 30.0
# ... and the next stage may take this long to play what it was handed.
SINK_DRAIN_TIMEOUT_S = 10.0
# A live chat source (Twitch) that stops is restarted after 1, 2, 4 ... 60 s.
CHAT_BACKOFF_S = (1.0, 60.0)
SKIP_REASON = "skipped by moderator"


class NextStage(Protocol):
    """What the daemon hands segments to: the media pipeline, or a printer."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def __call__(self, item: AnswerMessage) -> Coroutine[Any, Any, None]: ...

    def on_air(self) -> str | None:
        """The answer id the viewers see now, if any."""
        ...

    def skip(self, answer_id: str) -> None:
        """Take this answer off air and drop what is queued of it."""
        ...

    def status(self) -> dict[str, Any]: ...

    def abort(self) -> None:
        """Synchronous and immediate: kill child processes (before an emergency exit)."""
        ...


class PrintSink:
    """Prints one line per segment on ``out`` (``streamer run --no-video``)."""

    def __init__(self, out: TextIO | None) -> None:
        self._out = out

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def on_air(self) -> str | None:
        return None

    def skip(self, answer_id: str) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"kind": "print"}

    def abort(self) -> None:
        return None

    async def __call__(self, item: AnswerMessage) -> None:
        if self._out is None:
            return
        if isinstance(item, Segment):
            flag = " (last)" if item.last else ""
            line = f"[{item.answer_id[:8]} #{item.index}{flag}] {item.text}"
        else:
            line = f"[{item.answer_id[:8]} aborted] {item.reason}"
        print(line, file=self._out, flush=True)


def make_chat_source(
    settings: Settings, env: Mapping[str, str], on_secret: Callable[[str], None] | None = None
) -> ChatSource:
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
    return TwitchChatSource(
        settings.twitch, tokens, secret, token_path=settings.token_file, on_secret=on_secret
    )


def collect_secrets(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Every secret value known at start, so the log filter can mask it."""
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
class DaemonState:
    """What ``streamer status`` and the logs report. Owned by the daemon's tasks."""

    paused: bool = False
    building: Question | None = None  # the answer the builder works on
    on_air: str | None = None  # the answer id the sink is handing on
    chat_done: bool = False
    chat_failed: bool = False
    answered: int = 0
    failed: int = 0


@dataclass
class _Build:
    """One answer in the builder."""

    question: Question
    started: float = field(default_factory=time.monotonic)
    released: int = 0  # segments handed to the sink so far
    outcome: AnswerOutcome | None = None
    queue_wait_s: float = 0.0  # from the pick to the start of the answer


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
    ) -> None:
        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.once = once
        self.state = DaemonState()
        on_secret = secret_filter.add if secret_filter is not None else None
        if secret_filter is not None:
            for secret in collect_secrets(settings, self.env):
                secret_filter.add(secret)
        self.chat = chat or make_chat_source(settings, self.env, on_secret)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = QuestionStore(settings.data_dir / "questions.db")
        self.pool = QuestionPool(settings.pool, self.store)
        self.sender = RateLimitedSender(self.chat.send, limit=limit_for(self.chat.bot_is_moderator))
        banned = list(settings.filters.banned_words)
        if settings.filters.banned_words_file is not None:
            banned += BannedWords.from_file(settings.filters.banned_words_file).words
        self.reader = ChatReader(
            settings.commands,
            settings.filters,
            self.pool,
            say=self.sender.say,
            on_mod=self.on_mod,
            banned=BannedWords(banned),
        )
        self.provider = make_provider(settings.llm, self.env)
        self.answerer = Answerer(settings.llm, settings.split, self.provider)
        self._loop: asyncio.AbstractEventLoop | None = None
        if sink is None:
            # Imported here: the media stack (OpenCV, numpy) is not needed for --no-video.
            from streamer.stream import MediaStage

            sink = MediaStage(settings, on_event=self.media_event)
        self.sink = sink
        # Builder -> sink. Unbounded for control messages (Skip); segments are bounded by
        # ``_room`` so a slow next stage makes the builder (and so the LLM) wait.
        self.segments: asyncio.Queue[AnswerMessage | Skip] = asyncio.Queue()
        self._room = asyncio.Semaphore(SEGMENT_QUEUE_SIZE)
        self._skipped: dict[str, None] = {}  # answer ids skipped (ordered, bounded)
        self._unspoken: set[str] = set()  # text complete, not all handed on yet
        self._handed: set[str] = set()  # handed on before the builder settled them
        self._spoken = asyncio.Event()
        self._delivered: set[str] = set()  # answers the next stage has begun and not ended
        self._build: _Build | None = None
        self._build_task: asyncio.Task[None] | None = None
        self._sink_call: asyncio.Task[None] | None = None
        self._draining = False
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------------ commands

    async def on_mod(self, cmd: ModCommand) -> None:
        """A moderator's command; the moderator gets a short reply in chat."""
        log.info("moderator %s: !%s", cmd.user, cmd.action.value)
        if cmd.action is ModAction.SKIP:
            reply = self.skip()
        elif cmd.action is ModAction.CLEAR:
            count = self.pool.clear()
            reply = f"cleared {count} waiting question{'' if count == 1 else 's'}"
        elif cmd.action is ModAction.PAUSE:
            self.state.paused = True
            reply = "paused: no new question is picked until !resume"
        else:
            self.state.paused = False
            reply = "resumed"
        log.info("!%s: %s", cmd.action.value, reply)
        self.sender.say(f"@{cmd.user}, {reply}")

    def skip(self) -> str:
        """Drop the answer being built and the one on air (they may differ)."""
        targets = {self.state.on_air} if self.state.on_air else set()
        playing = self.sink.on_air()
        if playing:
            targets.add(playing)
        build = self._build
        if build is not None:
            targets.add(build.question.id)
        if not targets:
            return "nothing to skip"
        for answer_id in targets:
            self._skipped[answer_id] = None
            self.segments.put_nowait(Skip(answer_id))
        while len(self._skipped) > 100:
            del self._skipped[next(iter(self._skipped))]
        for answer_id in targets:
            self.sink.skip(answer_id)
        if build is not None and self._build_task is not None:
            self._build_task.cancel()
        call = self._sink_call
        if call is not None and self.state.on_air in targets:
            call.cancel()
        return "skipped the current answer"

    def snapshot(self) -> dict[str, Any]:
        """The state for ``streamer status`` (called on the event loop)."""
        building = self.state.building
        return {
            "state": "stopping" if self._draining else "running",
            "paused": self.state.paused,
            "chat": self.chat.name,
            "chat_done": self.state.chat_done,
            "pool": self.pool.counts(),
            "building": (
                {"id": building.id, "user": building.user, "text": building.text[:120]}
                if building is not None
                else None
            ),
            "on_air": self.sink.on_air() or self.state.on_air,
            "answered": self.state.answered,
            "failed": self.state.failed,
            "segments_waiting": self.segments.qsize(),
            "chat_stats": self.reader.stats,
            "next_stage": self.sink.status(),
        }

    def media_event(self, kind: str, data: dict[str, Any]) -> None:
        """From the publisher's pacing thread: hop onto the event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_media_event, kind, data)

    def _on_media_event(self, kind: str, data: dict[str, Any]) -> None:
        answer_id = str(data.get("answer_id", ""))
        if kind == "first_frame" and answer_id:
            info = self.pool.info(answer_id) if not self._draining else None
            picked = info.queued_at if info is not None else None
            after = f" {time.time() - picked:.2f} s after pick" if picked else ""
            log.info("answer %s on air: first frame%s", answer_id[:8], after)
        elif kind in ("connected", "disconnected"):
            log.info("stream %s %s", kind, data.get("reason", ""))

    # ------------------------------------------------------------------ stages

    async def pick_tick(self) -> None:
        """Scheduler job: move one question from the pool to the build queue.

        A coroutine on purpose: APScheduler runs plain functions in a thread pool, and
        the pool's SQLite connection belongs to the event-loop thread.
        """
        if self.state.paused or self._draining:
            return
        try:
            question = self.pool.pick()
        except Exception:
            log.exception("picking a question failed; trying again next interval")
            return
        if question is not None:
            self.reader.picked(question)

    async def _chat_stage(self) -> None:
        """Read chat until it ends; a live source (Twitch) is restarted with backoff."""
        backoff = CHAT_BACKOFF_S[0]
        try:
            while True:
                try:
                    await self.reader.run(self.chat.messages())
                    if not self.chat.live:
                        return
                    log.warning("chat %s stopped; reconnecting in %.0f s", self.chat.name, backoff)
                except Exception:
                    if not self.chat.live:
                        self.state.chat_failed = True
                        log.exception("chat %s failed", self.chat.name)
                        return
                    log.exception("chat %s failed; reconnecting in %.0f s", self.chat.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, CHAT_BACKOFF_S[1])
                try:
                    await self.chat.close()
                    await self.chat.start()
                except Exception as exc:
                    log.warning("chat %s reconnect failed: %s", self.chat.name, exc)
                else:
                    log.info("chat %s reconnected", self.chat.name)
                    backoff = CHAT_BACKOFF_S[0]
        finally:
            self.state.chat_done = True
            log.info("chat input ended")

    async def _builder_stage(self) -> None:
        while not self._draining:
            # Run ahead of the next stage by one answer at most: its text is ready when
            # the answer on air ends, and little is built that nobody has heard yet.
            while len(self._unspoken) > 1:
                self._spoken.clear()
                await self._spoken.wait()
            # Returns at once (no suspension) when something is queued, so ``_build`` is
            # set in the same step: shutdown sees either a build or an idle builder.
            question = await self.pool.next_to_build()
            build = self._build = _Build(question)
            self.state.building = question
            task = self._build_task = asyncio.create_task(self._answer(build), name="answer")
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                # Shutdown timed out: the question stays 'building' in the database and is
                # answered first at the next start.
                task.cancel()
                await asyncio.wait({task})
                log.warning(
                    "answer %s unfinished; it is answered first at the next start", question.id[:8]
                )
                raise
            finally:
                self._build = None
                self._build_task = None
                self.state.building = None
            await self._settle(build, task)

    async def _answer(self, build: _Build) -> None:
        question = build.question
        info = self.pool.info(question.id)
        queued_at = info.queued_at if info is not None and info.queued_at else time.time()
        build.queue_wait_s = max(0.0, time.time() - queued_at)
        log.info(
            "answering %s from %s (asked %.1f s ago, picked %.1f s ago): %r",
            question.id[:8],
            question.user,
            max(0.0, time.time() - question.asked_at),
            max(0.0, time.time() - queued_at),
            question.text[:80],
        )
        stream = self.answerer.answer(question)
        try:
            async for item in stream:
                await self._room.acquire()
                self.segments.put_nowait(item)
                if isinstance(item, Segment):
                    build.released += 1
        finally:
            await stream.aclose()
        build.outcome = stream.outcome

    async def _settle(self, build: _Build, task: asyncio.Task[None]) -> None:
        """Tell the pool how the answer ended. Never silent."""
        qid = build.question.id
        took = time.monotonic() - build.started
        outcome = build.outcome
        if task.cancelled():
            self.pool.drop(qid, SKIP_REASON)
            return
        exc = task.exception()
        if exc is not None or outcome is None:
            self.state.failed += 1
            log.error("answer %s failed unexpectedly", qid[:8], exc_info=exc or None)
            if build.released:
                # Part of it is on air: end it there rather than say it twice.
                await self._room.acquire()
                self.segments.put_nowait(AnswerAborted(qid, "internal error"))
                self.pool.drop(qid, "internal error after a partial answer")
            else:
                self.pool.failed(qid, "internal error")
            return
        if outcome.status in (AnswerStatus.DONE, AnswerStatus.TRUNCATED):
            # The text is complete, but the question is answered only once the next stage
            # has taken all of it (_handed_on): until then it stays 'building', so a crash
            # brings it back instead of losing an answer nobody heard.
            if qid in self._skipped:
                self.pool.drop(qid, SKIP_REASON)
            elif qid in self._handed:
                self._handed.discard(qid)
                self._answered(qid)
            else:
                self._unspoken.add(qid)
            wait = build.queue_wait_s

            def since_pick(t: float | None) -> str:
                return "-" if t is None else f"{wait + t:.2f} s"

            log.info(
                "answer %s %s: from the pick, first token %s, first segment %s, text done "
                "%.2f s (%d segments)",
                qid[:8],
                outcome.status.value,
                since_pick(outcome.first_token_s),
                since_pick(outcome.first_segment_s),
                wait + took,
                outcome.segments,
            )
        elif outcome.status is AnswerStatus.REQUEUE:
            self.state.failed += 1
            self.pool.failed(qid, outcome.reason)
        else:
            self.state.failed += 1
            self.pool.drop(qid, outcome.reason)

    def _answered(self, answer_id: str) -> None:
        self.pool.done(answer_id)
        self.state.answered += 1

    def _handed_on(self, answer_id: str, *, skipped: bool = False) -> None:
        """The next stage has all of this answer (or it was skipped): settle it."""
        if answer_id in self._unspoken:
            self._unspoken.discard(answer_id)
            if skipped:
                self.pool.drop(answer_id, SKIP_REASON)
            else:
                self._answered(answer_id)
            self._spoken.set()
        elif not skipped:
            # Handed on before the builder settled it (a fast next stage).
            self._handed.add(answer_id)
            if len(self._handed) > 64:
                self._handed.pop()

    async def _sink_stage(self) -> None:
        while True:
            item = await self.segments.get()
            try:
                await self._hand_on(item)
            finally:
                if not isinstance(item, Skip):
                    self._room.release()
                self.segments.task_done()

    async def _hand_on(self, item: AnswerMessage | Skip) -> None:
        answer_id = item.answer_id
        if isinstance(item, Skip):
            if answer_id in self._delivered:
                self._delivered.discard(answer_id)
                self.state.on_air = None
                await self._call_sink(AnswerAborted(answer_id, SKIP_REASON))
            self._handed_on(answer_id, skipped=True)
            return
        if answer_id in self._skipped:
            return  # queued before the skip: dropped
        ended = isinstance(item, AnswerAborted) or item.last
        if ended:
            self._delivered.discard(answer_id)
        else:
            self._delivered.add(answer_id)
        self.state.on_air = None if ended else answer_id
        await self._call_sink(item)
        if isinstance(item, Segment) and item.last:
            self._handed_on(answer_id)

    async def _call_sink(self, item: AnswerMessage) -> None:
        """Run the next stage on one item; ``!skip`` may cancel it mid-way."""
        call = self._sink_call = asyncio.create_task(self.sink(item), name="sink-call")
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:
            # The sink stage itself is stopping: stop its call too, then go.
            call.cancel()
            await asyncio.wait({call})
            raise
        finally:
            self._sink_call = None
        if call.cancelled():
            return
        if call.exception() is not None:
            log.error("the next stage failed on %s", item, exc_info=call.exception())

    # ------------------------------------------------------------------ life cycle

    def _idle(self) -> bool:
        """--once: nothing left to do (a paused pool counts as done)."""
        counts = self.pool.counts()
        waiting = counts.get("queued", 0) + (0 if self.state.paused else counts.get("pooled", 0))
        return (
            self.state.chat_done
            and waiting == 0
            and self._build is None
            and not self._unspoken
            and self.segments.empty()
            and self._sink_call is None
        )

    def request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def run(self) -> int:
        """Run until stopped (or, with ``once``, until the chat is done and queues empty).

        Returns the exit code: 0, or 1 if a stage failed for good.
        """
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        log.info(
            "chat: %s; pool policy %s every %g s",
            self.chat.name,
            self.settings.pool.policy,
            self.settings.pool.interval_s,
        )
        scheduler = AsyncIOScheduler()
        tasks: dict[str, asyncio.Task[None]] = {}
        code = 0
        status = StatusServer(self.settings.status.host, self.settings.status.port, self.snapshot)
        try:
            if self.settings.status.port:
                await status.start()
            await self.sink.start()
            await self.chat.start()
            self.sender.start()
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
                ("chat", self._chat_stage),
                ("builder", self._builder_stage),
                ("sink", self._sink_stage),
            ):
                tasks[name] = asyncio.create_task(stage(), name=name)
            code = await self._supervise(tasks)
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self._shutdown(tasks)
            await status.close()
        return code

    async def _supervise(self, tasks: dict[str, asyncio.Task[None]]) -> int:
        assert self._stopping is not None
        while not self._stopping.is_set():
            if self.once and self._idle():
                log.info("--once: chat done and every question answered")
                return 1 if self.state.chat_failed else 0
            for name in ("builder", "sink"):
                task = tasks[name]
                if task.done():
                    log.error("stage %s stopped", name, exc_info=task.exception())
                    return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.1)
        return 0

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("stopping: finishing the answer in progress (a second signal exits now)")
        self._draining = True
        if "chat" in tasks:
            tasks["chat"].cancel()
        builder = tasks.get("builder")
        if builder is not None:
            if self._build is not None:
                done, _ = await asyncio.wait({builder}, timeout=DRAIN_TIMEOUT_S)
                if not done:
                    log.warning("the answer in progress did not finish in %g s", DRAIN_TIMEOUT_S)
            builder.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.segments.join(), SINK_DRAIN_TIMEOUT_S)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await self.sink.close()  # the publisher may finish the clip on air
        await self.sender.close()  # acknowledgments still queued go out first
        await self.chat.close()
        await self.provider.aclose()
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
        counts = self.pool.counts()
        self.store.close()
        log.info(
            "stopped: %d answered, %d failed; kept for the next start: %d pooled, %d queued, "
            "%d interrupted",
            self.state.answered,
            self.state.failed,
            counts.get("pooled", 0),
            counts.get("queued", 0),
            counts.get("building", 0),
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
