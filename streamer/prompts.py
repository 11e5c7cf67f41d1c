"""Prompts: the chat turns sent to the model for one question, within its context.

The persona's system prompt and examples, the rolling memory of answered questions,
an optional reminder, and the question framed with the time and the asker's name.
With a token budget (``llm.context_tokens`` less the answer's ``max_tokens``) the
oldest remembered exchanges are left out first until the prompt fits, counted
approximately (about four characters a token, plus a few a turn): small local models
answer HTTP 400 to every request once the prompt outgrows their context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamer.config import PersonaSettings
from streamer.messages import Question

# Tokens a chat turn costs beyond its text (role and separators), approximately.
TURN_OVERHEAD_TOKENS = 4


def approx_tokens(text: str) -> int:
    """A rough token count: ~4 characters a token for English and code."""
    return len(text) // 4 + 1


def turns_tokens(turns: Sequence[ChatTurn]) -> int:
    return sum(approx_tokens(t.content) + TURN_OVERHEAD_TOKENS for t in turns)


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One chat message. ``asker``/``question`` ride along for providers that read
    the question back (offline); they are never sent to a server."""

    role: Literal["system", "user", "assistant"]
    content: str
    asker: str = ""
    question: str = ""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One remembered question (as it was framed) and the answer given."""

    user: str
    assistant: str
    answer_id: str = ""  # the question it answered (so moderation can amend it)


def _local_now() -> datetime:
    return datetime.now().astimezone()


class PromptBuilder:
    """Builds the messages for one question: persona, examples, memory, question."""

    def __init__(
        self, persona: PersonaSettings, *, now: Callable[[], datetime] = _local_now
    ) -> None:
        self.persona = persona
        self._now = now
        if persona.system_prompt_file is not None:
            self.system_prompt = persona.system_prompt_file.read_text(encoding="utf-8").strip()
        else:
            self.system_prompt = persona.system_prompt.strip()

    def frame(self, question: Question) -> str:
        """The question as the model sees it: ``[21:04] alice asks: why...``."""
        return f"[{self._now():%H:%M}] {question.name} asks: {question.text.strip()}"

    def build(
        self,
        question: Question,
        *,
        memory: Iterable[Exchange] = (),
        reminder: str | None = None,
        budget_tokens: int | None = None,
    ) -> list[ChatTurn]:
        """The turns for ``question``; with ``budget_tokens``, the oldest of ``memory``
        are left out until the whole prompt fits (the rest is never cut)."""
        head = [ChatTurn("system", self.system_prompt)] if self.system_prompt else []
        for example in self.persona.examples:
            head.append(ChatTurn("user", example.user))
            head.append(ChatTurn("assistant", example.assistant))
        tail = []
        if reminder:
            tail.append(ChatTurn("system", reminder.replace("{name}", self.persona.name)))
        tail.append(
            ChatTurn("user", self.frame(question), asker=question.name, question=question.text)
        )
        remembered = [
            (ChatTurn("user", e.user), ChatTurn("assistant", e.assistant)) for e in memory
        ]
        if budget_tokens is not None:
            room = budget_tokens - turns_tokens(head) - turns_tokens(tail)
            kept: list[tuple[ChatTurn, ChatTurn]] = []
            for pair in reversed(remembered):  # the newest first
                room -= turns_tokens(pair)
                if room < 0:
                    break
                kept.append(pair)
            remembered = kept[::-1]
        return [*head, *(t for pair in remembered for t in pair), *tail]
