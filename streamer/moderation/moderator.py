"""The moderator: every segment is checked before it leaves the answer stage.

:class:`Moderator` runs the word lists and patterns (always) and the model check (when
one is configured) on one segment, read after what the answer said before it.
:class:`ModeratedStream` wraps an answer's stream: a segment that passes leaves as it
is; a flagged one never leaves. With ``on_flag: drop_answer`` the answer stops there
(``AnswerAborted``); with ``replace_segment`` the configured line is said instead and
the rest is checked as usual. Either way the outcome is ``moderated`` with the category,
and the answerer's memory keeps what was said, never the flagged text.

The writer awaits each check before the segment goes on, while the segment before it
is being spoken, so only the first segment's check adds to the time to first frame.
Fail closed: a model check that times out or errors blocks the segment
(``on_error: block``) and marks the moderator unhealthy until a check succeeds again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from streamer.answerer import AnswerOutcome, AnswerStatus, AnswerStream
from streamer.config import ModerationSettings, Settings
from streamer.filters import BannedWords
from streamer.messages import AnswerAborted, AnswerMessage, Question, Segment
from streamer.moderation.lists import Flag, OutputLists
from streamer.moderation.model import CheckFailed, GuardModel, ModelCheck, OpenAIModeration
from streamer.secrets import from_env

log = logging.getLogger(__name__)


def make_model_check(settings: Settings, env: Mapping[str, str]) -> ModelCheck | None:
    m = settings.moderation.model
    if m.kind == "none" or not settings.moderation.enabled:
        return None
    if m.kind == "openai":
        if m.base_url is None:
            key: str | None = from_env(
                m.api_key_env, purpose="the moderation API key (moderation.model.api_key_env)",
                env=env,
            )  # fmt: skip
        else:
            key = env.get(m.api_key_env, "").strip() or None
        return OpenAIModeration(m, key)
    key = env.get(m.api_key_env, "").strip() or None
    return GuardModel(m, key, base_url=m.base_url or settings.llm.base_url)


class Moderator:
    def __init__(
        self,
        settings: ModerationSettings,
        banned: BannedWords,
        model: ModelCheck | None = None,
        clock: Callable[[], float] = time.time,
        *,
        system_prompt: str = "",
    ) -> None:
        self.settings = settings
        words = [*banned.words, *settings.banned_words]
        if settings.banned_words_file is not None:
            words += BannedWords.from_file(settings.banned_words_file).words
        self.lists = OutputLists(settings, BannedWords(words), system_prompt)
        self.model = model
        self._clock = clock
        self.checked = 0
        self.flagged: dict[str, int] = {}  # category -> segments flagged
        self.errors = 0
        self.failing_since: float | None = None  # the model check's first error in a row
        self.last_error = ""
        self.last_flag: dict[str, Any] | None = None
        if model is not None:
            log.info("moderation: word lists, patterns and the %s", model.describe())

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def healthy(self) -> bool:
        return self.failing_since is None

    async def check(self, question: str, said: str, segment: str) -> Flag | None:
        """The flag for ``segment`` (after ``said``), or None when it may be spoken."""
        if not self.settings.enabled:
            return None
        self.checked += 1
        flag = self.lists.check(segment, said)
        if flag is None and self.model is not None:
            flag = await self._model_check(question, said, segment)
        if flag is not None and flag.category != "check_error":  # errors are counted apart
            self.flagged[flag.category] = self.flagged.get(flag.category, 0) + 1
        return flag

    async def _model_check(self, question: str, said: str, segment: str) -> Flag | None:
        assert self.model is not None
        try:
            flag = await self.model.check(question, said, segment)
        except CheckFailed as exc:
            return self._failed(str(exc))
        except Exception as exc:  # a check must never take the answer stage down
            log.exception("moderation: the model check raised")
            return self._failed(f"unexpected {type(exc).__name__}")
        if self.failing_since is not None:
            log.warning("moderation: the model check works again (%s)", self.model.describe())
            self.failing_since = None
        return flag

    def _failed(self, why: str) -> Flag | None:
        self.errors += 1
        self.last_error = why
        if self.failing_since is None:
            self.failing_since = self._clock()
        block = self.settings.on_error == "block"
        log.warning(
            "moderation: %s; the segment is %s (moderation.on_error: %s)",
            why,
            "not spoken" if block else "spoken unchecked by the model",
            self.settings.on_error,
        )
        return Flag("check_error", "model", why[:80]) if block else None

    def note_flag(self, answer_id: str, index: int, flag: Flag, action: str) -> None:
        self.last_flag = {
            "answer_id": answer_id,
            "segment": index,
            "category": flag.category,
            "hint": flag.hint,
            "action": action,
            "at": self._clock(),
        }

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.enabled,
            "model": self.model.describe() if self.model is not None else None,
            "on_flag": self.settings.on_flag,
            "on_error": self.settings.on_error,
            "checked": self.checked,
            "flagged": dict(self.flagged),
            "errors": self.errors,
            "healthy": self.healthy,
            "failing_since": self.failing_since,
            "last_error": self.last_error,
            "last_flag": self.last_flag,
        }

    async def close(self) -> None:
        if self.model is not None:
            await self.model.close()


class ModeratedStream:
    """An answer's stream with every segment checked before it leaves.

    ``amend_memory(answer_id, said)`` tells the answerer what was really said (None:
    forget it), so a flagged or unsaid text never stays in the model's memory: an answer
    whose segments were replaced is remembered as said; one that stopped early (a drop,
    a failed check, a skip or a stop during the last check) is forgotten, as the
    answerer forgets any answer cut short.

    A failed model check (``check_error``, fail closed) is not a verdict on the text:
    before any answer text the question is asked again later (requeue); after some, the
    answer stops there (truncated), never a replacement line per segment.

    With ``read_question`` the question line goes first, but only together with the
    answer's first segment: an LLM failure before any text never reads the question.
    """

    def __init__(
        self,
        inner: AnswerStream,
        moderator: Moderator,
        question: Question,
        amend_memory: Callable[[str, str | None], None],
        *,
        read_question: str | None = None,
    ) -> None:
        self._inner = inner
        self._question_line = read_question
        self._offset = 1 if read_question else 0
        self._moderator = moderator
        self._question = question
        self._amend = amend_memory
        self._said: list[str] = []
        self._pending: AnswerMessage | None = None  # held while the question is read
        self._last_out = False
        self.flags: list[Flag] = []
        self.check_failed: str | None = None
        self._stopped = False

    def __aiter__(self) -> ModeratedStream:
        return self

    @property
    def said(self) -> str:
        return " ".join(self._said)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    async def __anext__(self) -> AnswerMessage:
        if self._stopped:
            raise StopAsyncIteration
        if self._pending is not None:
            item, self._pending = self._pending, None
        else:
            item = await self._inner.__anext__()
            if self._question_line is not None:
                line, self._question_line = self._question_line, None
                if isinstance(item, Segment):
                    question = await self._read_question(line)
                    if isinstance(question, Segment):
                        self._pending = item  # the first answer segment comes next
                    return question
        if self._offset and isinstance(item, Segment):
            item = dataclasses.replace(item, index=item.index + self._offset)
        if not isinstance(item, Segment):
            return item
        flag = await self._moderator.check(self._question.text, self.said, item.text)
        if flag is None:
            self._said.append(item.text)
            if item.last:
                self._last_out = True
                if self.flags:
                    self._amend(self._question.id, self.said)
            return item
        if flag.category == "check_error":
            return await self._stop_unchecked(item, flag)
        self.flags.append(flag)
        settings = self._moderator.settings
        if settings.on_flag == "replace_segment":
            self._moderator.note_flag(item.answer_id, item.index, flag, "replaced")
            log.warning(
                "answer %s: segment %d flagged %s: replaced by moderation.replacement",
                item.answer_id[:8], item.index, flag.describe(),
            )  # fmt: skip
            self._said.append(settings.replacement)
            if item.last:
                self._last_out = True
                self._amend(self._question.id, self.said)
            return dataclasses.replace(item, text=settings.replacement)
        self._moderator.note_flag(item.answer_id, item.index, flag, "dropped the rest")
        log.warning(
            "answer %s: segment %d flagged %s: it and the rest of the answer are not spoken",
            item.answer_id[:8], item.index, flag.describe(),
        )  # fmt: skip
        return await self._stop(item.answer_id)

    async def _stop(self, answer_id: str) -> AnswerMessage:
        self._stopped = True
        await self._inner.aclose()
        self._amend(self._question.id, None)  # a cut answer is not remembered (as ever)
        return AnswerAborted(answer_id, self.reason)

    async def _stop_unchecked(self, item: Segment, flag: Flag) -> AnswerMessage:
        """The model check gave no verdict: the segment is not spoken (fail closed)."""
        self.check_failed = flag.hint
        what = "the answer stops here" if self._said else "the question is asked again later"
        log.warning(
            "answer %s: segment %d not checked (%s): not spoken; %s",
            item.answer_id[:8], item.index, flag.hint, what,
        )  # fmt: skip
        return await self._stop(item.answer_id)

    async def _read_question(self, line: str) -> AnswerMessage:
        q = self._question
        flag = await self._moderator.check(q.text, "", line)
        if flag is None:
            return Segment(q.id, 0, line, last=False, user=q.user, reads_question=True)
        if flag.category == "check_error":
            self.check_failed = flag.hint
            log.warning(
                "answer %s: the question read aloud was not checked (%s)", q.id[:8], flag.hint
            )
            return await self._stop(q.id)
        # A question that must not be read aloud must not be answered either.
        self.flags.append(flag)
        self._moderator.note_flag(q.id, 0, flag, "dropped the answer (the question)")
        log.warning(
            "answer %s: the question read aloud was flagged %s: the answer is dropped",
            q.id[:8], flag.describe(),
        )  # fmt: skip
        return await self._stop(q.id)

    async def aclose(self) -> None:
        await self._inner.aclose()
        if not self._last_out:
            # Closed before its end (a skip, a stop, a flag): like any answer cut short,
            # it is not remembered (the answerer may have noted it before the last check).
            self._amend(self._question.id, None)

    @property
    def reason(self) -> str:
        if self.flags:
            return "moderated: " + ", ".join(sorted({f.category for f in self.flags}))
        return f"moderation check failed: {self.check_failed}"

    @property
    def outcome(self) -> AnswerOutcome | None:
        outcome = self._inner.outcome
        if self.flags:
            status = AnswerStatus.MODERATED
        elif self.check_failed is not None:
            status = AnswerStatus.TRUNCATED if self._said else AnswerStatus.REQUEUE
        else:
            return outcome
        if outcome is None:  # stopped before the LLM's stream ended (or began)
            return AnswerOutcome(self._question.id, status, self.reason, text=self.said)
        return dataclasses.replace(outcome, status=status, reason=self.reason, text=self.said)
