"""One answer, one object: the whole life of an answer, from its pick to its one end.

::

    picked ──▶ writing ──▶ speaking ──▶ done
       │          │           │    ├──▶ truncated   (cut after text was heard)
       │          │           │    └──▶ moderated   (a segment was flagged: the rest
       │          │           │                      dropped, or replaced)
       │          │           └───────▶ skipped     (!skip, at any stage)
       │          ├───────────────────▶ moderated   (flagged before anything was heard)
       │          ├───────────────────▶ failed      (a stage error, or nothing to say)
       │          └───────────────────▶ requeued    (the LLM failed before any text)
       └──────────────────────────────▶ skipped

Every path ends in exactly one terminal state, through :meth:`Answer.finish`: it is
recorded once (``record``, the pool's SQLite row) and logged once, with the answer's
timings. Stages do not keep their own sets of answer ids: they hold the answer (or look
it up by id in :class:`Answers`) and read its state; work they hold for it is
registered with :meth:`Answer.on_interrupt`, so one call, :meth:`Answer.interrupt`
(``!skip``, and later the console and moderation), reaches all of it at once.

Used from the event-loop thread only (threads report to it with
``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from streamer.messages import Question

log = logging.getLogger(__name__)


class AnswerState(enum.StrEnum):
    PICKED = "picked"  # in the build queue
    WRITING = "writing"  # the LLM is writing it (nothing heard yet)
    SPEAKING = "speaking"  # viewers hear it (its first frame or line is out)
    DONE = "done"
    TRUNCATED = "truncated"
    SKIPPED = "skipped"
    FAILED = "failed"
    REQUEUED = "requeued"
    MODERATED = "moderated"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        AnswerState.DONE,
        AnswerState.TRUNCATED,
        AnswerState.SKIPPED,
        AnswerState.FAILED,
        AnswerState.REQUEUED,
        AnswerState.MODERATED,
    }
)

# record(answer) -> what became of the question ("answered", "back in the pool ...").
Recorder = Callable[["Answer"], str]


@dataclass
class AnswerTimes:
    """Wall-clock seconds (``time.time``) of each step; None until it happens."""

    picked: float | None = None
    writing: float | None = None
    first_token: float | None = None
    first_segment: float | None = None
    speaking: float | None = None
    ended: float | None = None

    def since_pick(self, at: float | None) -> str:
        if at is None or self.picked is None:
            return "-"
        return f"{max(0.0, at - self.picked):.2f} s"


@dataclass
class Answer:
    """The life of one answer (its id is the question's). Create it with :class:`Answers`."""

    question: Question
    record: Recorder
    clock: Callable[[], float] = time.time
    state: AnswerState = AnswerState.PICKED
    reason: str = ""
    # How the text ended (set by the writer): None while writing, else done, truncated
    # or moderated.
    text_end: AnswerState | None = None
    released: int = 0  # segments written and let out by the answer stage
    chars: int = 0  # characters of those segments (how much there is to speak)
    handed: int = 0  # of those, segments taken by the next stage
    times: AnswerTimes = field(default_factory=AnswerTimes)
    recorded: str = ""  # what the record said became of the question
    _hooks: dict[int, Callable[[], object]] = field(default_factory=dict)
    _next_hook: int = 0
    _on_end: list[Callable[[Answer], None]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def short(self) -> str:
        return self.id[:8]

    @property
    def ended(self) -> bool:
        return self.state.terminal

    # ------------------------------------------------------------------ transitions

    def start_writing(self) -> None:
        if self.state is AnswerState.PICKED:
            self.state = AnswerState.WRITING
            self.times.writing = self.clock()

    def start_speaking(self) -> bool:
        """The first frame (or line) is out. True when this call made it so."""
        if self.state not in (AnswerState.PICKED, AnswerState.WRITING):
            return False
        self.state = AnswerState.SPEAKING
        self.times.speaking = self.clock()
        return True

    def end_text(self, how: AnswerState, reason: str = "") -> None:
        """The writer is through: the text is complete (done), was cut (truncated) or
        was flagged by moderation (moderated)."""
        if self.text_end is None:
            self.text_end = how
            if reason and not self.reason:
                self.reason = reason

    def played_out(self, *, complete: bool, reason: str = "") -> bool:
        """The next stage has played all it was given of the answer: its natural end."""
        if self.text_end is AnswerState.DONE and complete:
            return self.finish(AnswerState.DONE, interrupt=False)
        if self.text_end is AnswerState.MODERATED:
            return self.finish(AnswerState.MODERATED, interrupt=False)
        why = self.reason or reason or "cut short"  # the writer's reason says more
        if self.state is AnswerState.SPEAKING:
            return self.finish(AnswerState.TRUNCATED, why, interrupt=False)
        # Nothing was ever heard (every segment failed): nothing was said.
        return self.finish(AnswerState.FAILED, why, interrupt=False)

    def finish(self, state: AnswerState, reason: str = "", *, interrupt: bool = True) -> bool:
        """End the answer in ``state`` (terminal): record it and log it, once.

        False (and nothing happens) when it had ended already. Work still held for it
        is interrupted (``interrupt``; an answer played out has none left).
        """
        if not state.terminal:
            raise ValueError(f"{state} is not an end state")
        if self.ended:
            return False
        self.state = state
        if reason:
            self.reason = reason
        self.times.ended = self.clock()
        try:
            became = self.record(self)
        except Exception:
            log.exception("recording the end of answer %s failed", self.short)
            became = "not recorded"
        self.recorded = became
        self._log(became)
        hooks, self._hooks = list(self._hooks.values()), {}
        for hook in hooks if interrupt else ():
            _safe(hook, self)
        for callback in self._on_end:
            try:
                callback(self)
            except Exception:
                log.exception("an end-of-answer callback failed (answer %s)", self.short)
        return True

    def interrupt(self, reason: str, state: AnswerState = AnswerState.SKIPPED) -> bool:
        """Take the answer away everywhere at once (skip, moderation): see ``on_interrupt``."""
        return self.finish(state, reason)

    def on_interrupt(self, hook: Callable[[], object]) -> Callable[[], None]:
        """Run ``hook`` when the answer ends; returns a function that unregisters it.

        A stage registers what stops the work it holds (cancel a task, drop clips) for
        as long as it holds it. If the answer has already ended, ``hook`` runs now.
        """
        if self.ended:
            _safe(hook, self)
            return _nothing
        key = self._next_hook
        self._next_hook += 1
        self._hooks[key] = hook
        return lambda: self._hooks.pop(key, None) and None

    def on_end(self, callback: Callable[[Answer], None]) -> None:
        self._on_end.append(callback)

    def _log(self, became: str) -> None:
        t = self.times
        level = logging.INFO if self.state is AnswerState.DONE else logging.WARNING
        why = f" ({self.reason})" if self.reason and self.state is not AnswerState.DONE else ""
        log.log(
            level,
            "answer %s %s%s: %s; %d/%d segments handed on; from the pick: first token %s, "
            "first segment %s, on air %s, end %s",
            self.short,
            self.state.value,
            why,
            became,
            self.handed,
            self.released,
            t.since_pick(t.first_token),
            t.since_pick(t.first_segment),
            t.since_pick(t.speaking),
            t.since_pick(t.ended),
            extra={"fields": {"answer_id": self.id, "outcome": self.state.value}},
        )


def _safe(hook: Callable[[], object], answer: Answer) -> None:
    try:
        hook()
    except Exception:
        log.exception("interrupting answer %s: a stage's hook failed", answer.short)


def _nothing() -> None:
    return None


class Answers:
    """The answers alive now (not yet ended), in the order they were created.

    The builder's "one answer ahead" gate, ``--once``'s idle test and ``!skip`` read
    it; an answer leaves it by ending. ``changed`` wakes whoever waits on it.
    """

    def __init__(self, record: Recorder, clock: Callable[[], float] = time.time) -> None:
        self._record = record
        self._clock = clock
        self._live: dict[str, Answer] = {}
        self._waiters: list[Callable[[], None]] = []
        self.ended: dict[str, int] = {}  # terminal state -> answers, since start
        # Questions whose life ended here, by how: answered, truncated, skipped, failed
        # (a requeued answer counts only when its question is dropped for good).
        self.questions: dict[str, int] = {}
        self.end_listeners: list[Callable[[Answer], None]] = []  # each answer, once ended

    def create(self, question: Question, *, picked_at: float | None = None) -> Answer:
        found = self._live.get(question.id)
        if found is not None:
            return found
        answer = Answer(question, self._record, self._clock)
        answer.times.picked = picked_at if picked_at is not None else self._clock()
        answer.on_end(self._ended)
        self._live[question.id] = answer
        self._changed()
        return answer

    def get(self, answer_id: str) -> Answer | None:
        return self._live.get(answer_id)

    def __iter__(self) -> Iterator[Answer]:
        return iter(list(self._live.values()))

    def __len__(self) -> int:
        return len(self._live)

    def text_so_far(self, answer_id: str) -> tuple[int, bool]:
        """(characters written, text complete) of a live answer; (0, True) for another."""
        answer = self._live.get(answer_id)
        if answer is None:
            return 0, True
        return answer.chars, answer.text_end is not None

    def in_state(self, *states: AnswerState) -> list[Answer]:
        return [a for a in self._live.values() if a.state in states]

    def current(self) -> Answer | None:
        """What ``!skip`` takes: the answer heard now, else the one written now, else
        the next picked one."""
        for state in (AnswerState.SPEAKING, AnswerState.WRITING, AnswerState.PICKED):
            found = self.in_state(state)
            if found:
                return found[0]
        return None

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        self._waiters.append(wake)
        return lambda: self._waiters.remove(wake) if wake in self._waiters else None

    def _changed(self) -> None:
        for wake in list(self._waiters):
            wake()

    def _ended(self, answer: Answer) -> None:
        self._live.pop(answer.id, None)
        state = answer.state.value
        self.ended[state] = self.ended.get(state, 0) + 1
        if answer.state is AnswerState.REQUEUED:
            if answer.recorded.startswith("dropped"):
                self.questions["failed"] = self.questions.get("failed", 0) + 1
        else:
            key = "answered" if answer.state is AnswerState.DONE else state
            self.questions[key] = self.questions.get(key, 0) + 1
        for listener in self.end_listeners:
            try:
                listener(answer)
            except Exception:
                log.exception("an answer-end listener failed (answer %s)", answer.short)
        self._changed()
