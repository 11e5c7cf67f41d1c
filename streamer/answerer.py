"""The answerer: one Question in, a stream of speakable Segments out.

It asks the LLM (through an :class:`~streamer.llm.LLMProvider`), cuts the text
deltas into segments as they arrive, keeps the persona in character, retries
what can be retried, and says afterwards how it went (:class:`AnswerOutcome`).

Every answer stream ends with either a ``Segment`` flagged ``last`` or an
``AnswerAborted``. Rules:

* Only the most recent segment is held back (to know whether it is the last),
  and only until more text arrives, plus a few characters so that an
  out-of-character phrase straddling the cut is seen before the segment leaves.
* Out of character (a pattern of ``out_of_character_patterns`` anywhere in the
  answer, case-insensitive): if nothing was released yet, the stream is dropped
  and the question asked again with the ``character_reminder``, at most
  ``max_character_retries`` times; rejected answers never enter the memory. If
  segments were already released, the answer stops there (``AnswerAborted``).
* LLM failure (``LLMError``, or any other exception a provider lets escape,
  counted as BAD_RESPONSE): if nothing was released, the question is asked
  once more; if that fails too, the outcome is ``requeue`` or ``dropped`` per
  ``on_failure``. If segments were released, the answer stops there: spoken text
  is never repeated.
* A successful answer is remembered (last ``memory_size`` exchanges).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable

from streamer.answer_types import AnswerOutcome, AnswerStatus, AnswerStream, _OutOfCharacter, _Run
from streamer.config import LLMSettings, SplitSettings
from streamer.llm import Exchange, LLMError, LLMErrorKind, LLMProvider, PromptBuilder
from streamer.messages import AnswerAborted, AnswerMessage, Question, Segment
from streamer.prompts import turns_tokens
from streamer.splitter import SentenceSplitter

__all__ = ["AnswerOutcome", "AnswerStatus", "AnswerStream", "Answerer"]

log = logging.getLogger(__name__)

_SPACES = re.compile(r"\s+")


def _normalize(text: str) -> str:
    """Lower case, one space for any whitespace run, straight apostrophes."""
    return _SPACES.sub(" ", text).lower().replace("’", "'").replace("‘", "'")


class Answerer:
    def __init__(
        self,
        settings: LLMSettings,
        split: SplitSettings,
        provider: LLMProvider,
        *,
        clock: Callable[[], float] = time.monotonic,
        prompts: PromptBuilder | None = None,
        language: str = "en",
    ) -> None:
        self.settings = settings
        self.split = split
        self.language = language  # the splitter's abbreviations
        self.provider = provider
        self._clock = clock
        self.prompts = prompts or PromptBuilder(settings.persona)
        self._memory: deque[Exchange] = deque(maxlen=settings.memory_size)
        self.errors: dict[str, int] = {}  # LLM failures by kind, since start (metrics)
        # Tokens the prompt may take: the model's context less the answer's room. Lowered
        # when a server says the prompt did not fit (its context is smaller than set).
        self.budget_tokens: int | None = (
            settings.context_tokens - settings.max_tokens if settings.context_tokens else None
        )
        # A scripted provider (offline) reads the viewer's question back: no check.
        scripted = bool(getattr(provider, "scripted", False))
        patterns = [] if scripted else settings.out_of_character_patterns
        self._patterns = [p for p in (_normalize(p).strip() for p in patterns) if p]
        # Characters of answer that must follow a segment before it may leave, so a
        # pattern straddling the cut is caught first.
        self._lookahead = max((len(p) for p in self._patterns), default=1) - 1
        self.last_outcome: AnswerOutcome | None = None

    @property
    def memory(self) -> tuple[Exchange, ...]:
        return tuple(self._memory)

    def clear_memory(self) -> None:
        self._memory.clear()

    def amend_memory(self, answer_id: str, said: str | None) -> None:
        """Remember what was really said of an answer (None: forget it): moderation."""
        for i, exchange in enumerate(self._memory):
            if exchange.answer_id == answer_id:
                if said:
                    self._memory[i] = Exchange(exchange.user, said, answer_id)
                else:
                    del self._memory[i]
                return

    def answer(self, question: Question) -> AnswerStream:
        """Stream the answer to ``question``; read ``.outcome`` afterwards."""
        run = _Run(question=question, start=self._clock())
        return AnswerStream(self._answer(run), run)

    # ------------------------------------------------------------------ internals

    def _since(self, run: _Run, t: float | None = None) -> float:
        return (self._clock() if t is None else t) - run.start

    def _finish(self, run: _Run, status: AnswerStatus, reason: str = "") -> AnswerOutcome:
        q = run.question
        outcome = AnswerOutcome(
            answer_id=q.id,
            status=status,
            reason=reason,
            attempts=run.attempts,
            segments=len(run.released),
            text=" ".join(run.released),
            first_token_s=None
            if run.first_token_at is None
            else self._since(run, run.first_token_at),
            first_segment_s=(
                None if run.first_segment_at is None else self._since(run, run.first_segment_at)
            ),
            total_s=self._since(run),
        )
        run.outcome = outcome
        self.last_outcome = outcome
        timing = (
            f"attempts {outcome.attempts}, {outcome.segments} segments, "
            f"{len(outcome.text)} chars, first token "
            + ("-" if outcome.first_token_s is None else f"{outcome.first_token_s:.2f} s")
            + ", first segment "
            + ("-" if outcome.first_segment_s is None else f"{outcome.first_segment_s:.2f} s")
            + f", total {outcome.total_s:.2f} s"
        )
        level = logging.INFO if status is AnswerStatus.DONE else logging.WARNING
        why = f" ({reason})" if reason else ""
        log.log(level, "answer %s (%s): %s%s; %s", q.id, q.user, status, why, timing)
        return outcome

    def _failure_status(self) -> AnswerStatus:
        return (
            AnswerStatus.REQUEUE if self.settings.on_failure == "requeue" else AnswerStatus.DROPPED
        )

    def _out_of_character(self, normalized: str) -> str | None:
        for pattern in self._patterns:
            if pattern in normalized:
                return pattern
        return None

    def _release(self, run: _Run, text: str, *, last: bool) -> Segment:
        q = run.question
        index = len(run.released)
        run.released.append(text)
        if run.first_segment_at is None:
            run.first_segment_at = self._clock()
        log.info(
            "answer %s: segment %d (%d chars%s) at %.2f s",
            q.id,
            index,
            len(text),
            ", last" if last else "",
            self._since(run),
        )
        return Segment(answer_id=q.id, index=index, text=text, last=last, user=q.user)

    async def _answer(self, run: _Run) -> AsyncGenerator[AnswerMessage, None]:
        q = run.question
        s = self.settings
        character_retries = 0
        failure_retries = 0
        context_retries = 0
        reminder: str | None = None
        try:
            while True:
                run.attempts += 1
                messages = self.prompts.build(
                    q, memory=self._memory, reminder=reminder, budget_tokens=self.budget_tokens
                )
                cut_at_length = False
                split = self.split
                splitter = SentenceSplitter(
                    split.min_chars, split.first_min_chars, split.max_chars,
                    language=self.language,
                )  # fmt: skip
                held: deque[tuple[str, int]] = deque()  # (segment, where it ends, normalized)
                answer = ""
                try:
                    try:
                        async with contextlib.aclosing(self.provider.stream(messages)) as deltas:
                            async for delta in deltas:
                                if not delta:
                                    continue
                                if run.first_token_at is None:
                                    run.first_token_at = self._clock()
                                    log.info(
                                        "answer %s: first token at %.2f s (attempt %d)",
                                        q.id,
                                        self._since(run),
                                        run.attempts,
                                    )
                                answer += delta
                                normalized = _normalize(answer)
                                pattern = self._out_of_character(normalized)
                                if pattern is not None:
                                    raise _OutOfCharacter(pattern)
                                new = splitter.feed(delta)
                                if new:
                                    # Where the newest segment ends (earlier ones end sooner).
                                    cut = len(answer) - len(splitter.pending)
                                    end = len(_normalize(answer[:cut]))
                                    held.extend((seg, end) for seg in new)
                                # Release all but the newest segment, and the newest too once
                                # more text follows it, each with enough look-ahead behind it.
                                while (
                                    held
                                    and len(normalized) - held[0][1] >= self._lookahead
                                    and (len(held) > 1 or splitter.pending.strip())
                                ):
                                    yield self._release(run, held.popleft()[0], last=False)
                        held.extend((seg, 0) for seg in splitter.finish())
                        if not held and not run.released:
                            raise LLMError(LLMErrorKind.BAD_RESPONSE, "the answer was empty")
                    except LLMError as exc:
                        if exc.kind is not LLMErrorKind.LENGTH:
                            raise
                        # Cut at max_tokens mid-sentence: it ends at its last whole sentence
                        # (the unfinished one in the splitter is never spoken).
                        whole, rest = splitter.whole_sentences()
                        if whole:
                            held.append((whole, 0))
                        if not (held or run.released):
                            raise  # not one whole sentence: a failure like any other
                        cut_at_length = True
                        log.warning(
                            "answer %s: %s; ending it at its last whole sentence (%r dropped)",
                            q.id, exc, rest[-80:],
                        )  # fmt: skip
                except _OutOfCharacter as exc:
                    log.warning(
                        "answer %s: out of character (%r) in attempt %d: %r",
                        q.id,
                        exc.pattern,
                        run.attempts,
                        answer[-200:],
                    )
                    if run.released:
                        self._finish(
                            run, AnswerStatus.TRUNCATED, f"out of character: {exc.pattern!r}"
                        )
                        yield AnswerAborted(q.id, "out of character")
                        return
                    if character_retries < s.max_character_retries:
                        character_retries += 1
                        reminder = s.character_reminder
                        log.info(
                            "answer %s: asking again with the character reminder (%d/%d)",
                            q.id,
                            character_retries,
                            s.max_character_retries,
                        )
                        continue
                    reason = f"out of character after {character_retries + 1} tries"
                    self._finish(run, self._failure_status(), reason)
                    yield AnswerAborted(q.id, reason)
                    return
                except Exception as raw:
                    # An LLMError, or anything else a provider let escape: the
                    # same rules, so the answer still ends with AnswerAborted.
                    if isinstance(raw, LLMError):
                        error = raw
                    else:
                        log.warning(
                            "answer %s: unexpected %s from the LLM provider",
                            q.id,
                            type(raw).__name__,
                            exc_info=raw,
                        )
                        error = LLMError(
                            LLMErrorKind.BAD_RESPONSE, f"unexpected {type(raw).__name__}"
                        )
                    kind = str(error.kind.value)
                    self.errors[kind] = self.errors.get(kind, 0) + 1
                    if run.released:
                        log.warning(
                            "answer %s: LLM failed after %d segments were released: %s",
                            q.id,
                            len(run.released),
                            error,
                        )
                        self._finish(run, AnswerStatus.TRUNCATED, f"llm failed: {error}")
                        yield AnswerAborted(q.id, f"llm failed: {error.kind}")
                        return
                    remembered = len(messages) - len(self.prompts.build(q, reminder=reminder))
                    if error.kind is LLMErrorKind.CONTEXT and context_retries < 1 and remembered:
                        # The server's context is smaller than budgeted: learn it from
                        # this prompt, leave out the oldest memory and ask once more.
                        # (Without memory in the prompt there is nothing to leave out.)
                        context_retries += 1
                        size = turns_tokens(messages)
                        self.budget_tokens = min(self.budget_tokens or size, size * 3 // 4)
                        log.warning(
                            "answer %s: the prompt (~%d tokens) did not fit the model's "
                            "context (%s); asking again within ~%d tokens (set "
                            "llm.context_tokens to the model's context)",
                            q.id, size, error, self.budget_tokens,
                        )  # fmt: skip
                        continue
                    if error.permanent:
                        why = f"llm failed: {error} (not retried at once: the server refused it)"
                        self._finish(run, self._failure_status(), why)
                        yield AnswerAborted(q.id, f"llm failed: {error.kind}")
                        return
                    if failure_retries < 1:
                        failure_retries += 1
                        log.warning("answer %s: LLM failed (%s); retrying once", q.id, error)
                        continue
                    self._finish(run, self._failure_status(), f"llm failed twice: {error}")
                    yield AnswerAborted(q.id, f"llm failed: {error.kind}")
                    return
                if cut_at_length and not held:
                    # Everything whole was already let out: the answer ends there.
                    why = "the answer hit llm.max_tokens; it ends at its last whole sentence"
                    self._finish(run, AnswerStatus.TRUNCATED, why)
                    yield AnswerAborted(q.id, "hit llm.max_tokens")
                    return
                # Success: release what is held, the newest flagged last. The outcome
                # and the memory are settled before the last segment leaves, so a
                # consumer may stop at ``last`` without draining the stream.
                while held:
                    segment = self._release(run, held.popleft()[0], last=not held)
                    if segment.last:
                        if self._memory.maxlen:
                            full = " ".join(run.released)
                            self._memory.append(Exchange(messages[-1].content, full, q.id))
                        self._finish(run, AnswerStatus.DONE)
                    yield segment
                return
        finally:
            if run.outcome is None:
                # Closed by the consumer (skip) or cancelled: what was released stays.
                self._finish(run, AnswerStatus.TRUNCATED, "closed before the end")
