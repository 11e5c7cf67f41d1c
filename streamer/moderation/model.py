"""The optional model check: OpenAI's moderation endpoint, or a guard model.

Both speak through the official ``openai`` client, so any server that speaks the same
protocol works: OpenAI itself (``/v1/moderations``), or a guard model such as Llama
Guard 3 served by Ollama, vLLM or llama.cpp as an OpenAI-compatible chat model. A check
returns a :class:`~streamer.moderation.lists.Flag` or None, and raises
:class:`CheckFailed` on a timeout, an HTTP error or an answer it cannot read, which the
moderator turns into "blocked" (fail closed) or "allowed" per ``moderation.on_error``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

import openai

from streamer.config import ModelCheckSettings
from streamer.llm import PLACEHOLDER_KEY, server_message
from streamer.moderation.lists import Flag

log = logging.getLogger(__name__)

# Llama Guard 3's hazard categories (its model card's S1-S14 taxonomy).
GUARD_CATEGORIES: Mapping[str, str] = {
    "S1": "violent crimes",
    "S2": "non-violent crimes",
    "S3": "sex-related crimes",
    "S4": "child sexual exploitation",
    "S5": "defamation",
    "S6": "specialized advice",
    "S7": "privacy",
    "S8": "intellectual property",
    "S9": "indiscriminate weapons",
    "S10": "hate",
    "S11": "suicide and self-harm",
    "S12": "sexual content",
    "S13": "elections",
    "S14": "code interpreter abuse",
}
_CODE = re.compile(r"\bS\d{1,2}\b", re.IGNORECASE)


class CheckFailed(Exception):
    """The model check gave no verdict (timeout, HTTP error, unreadable answer)."""


class ModelCheck(Protocol):
    async def check(self, question: str, said: str, segment: str) -> Flag | None:
        """``said``: the answer's text spoken so far; ``segment``: what is to be spoken."""
        ...

    def describe(self) -> str: ...

    async def close(self) -> None: ...


def _client(settings: ModelCheckSettings, base_url: str | None, key: str | None) -> Any:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=key or PLACEHOLDER_KEY,
        # The deadline is enforced around the call; the client's timeout is a backstop.
        timeout=openai.Timeout(settings.timeout_s + 1, connect=settings.timeout_s),
        max_retries=0,
    )


async def _call(what: str, settings: ModelCheckSettings, call: Any) -> Any:
    try:
        return await asyncio.wait_for(call, settings.timeout_s)
    except TimeoutError:
        raise CheckFailed(f"{what}: no verdict within {settings.timeout_s:g} s") from None
    except openai.APIStatusError as exc:
        why = server_message(_body(exc))
        raise CheckFailed(f"{what}: HTTP {exc.status_code}" + (f": {why}" if why else "")) from None
    except openai.APIError as exc:
        raise CheckFailed(f"{what}: {type(exc).__name__}: {exc}") from None


def _body(exc: openai.APIStatusError) -> object:
    try:
        return exc.response.json()
    except ValueError:
        return exc.response.text


class OpenAIModeration:
    """``POST /v1/moderations``: a category scoring at least its threshold flags."""

    def __init__(
        self, settings: ModelCheckSettings, key: str | None, base_url: str | None = None
    ) -> None:
        self.settings = settings
        self._client = _client(settings, base_url or settings.base_url, key)

    def describe(self) -> str:
        return f"moderation endpoint {self._client.base_url} model={self.settings.resolved_model}"

    async def check(self, question: str, said: str, segment: str) -> Flag | None:
        # The sentence before gives the segment its meaning ("how to make a" + "...").
        text = f"{said[-200:]} {segment}".strip()
        response = await _call(
            "moderation check",
            self.settings,
            self._client.moderations.create(model=self.settings.resolved_model, input=text),
        )
        try:
            result = response.results[0]
            scores: dict[str, object] = result.category_scores.model_dump(by_alias=True)
            marked: dict[str, object] = result.categories.model_dump(by_alias=True)
        except (AttributeError, IndexError, TypeError) as exc:
            raise CheckFailed(f"moderation check: unreadable answer ({exc})") from None
        numbers = {k: float(v) for k, v in scores.items() if isinstance(v, int | float)}
        if not numbers:  # no score at all is no verdict: fail closed, never open
            raise CheckFailed("moderation check: the answer holds no category scores")
        s = self.settings
        over = []
        for name, score in numbers.items():
            if name in s.thresholds:  # the operator's threshold decides
                flagged = score >= s.thresholds[name]
            else:  # the service's own per-category verdict, or the default threshold
                flagged = marked.get(name) is True or score >= s.default_threshold
            if flagged:
                over.append((score, name))
        if not over:
            return None
        score, name = max(over)
        return Flag(f"model/{name}", "model", f"score {score:.2f}")

    async def close(self) -> None:
        await self._client.close()


class GuardModel:
    """A guard model on a chat server: the conversation in, ``safe`` or ``unsafe``
    and category codes (``S1,S10``) out. Its chat template frames the task."""

    def __init__(
        self, settings: ModelCheckSettings, key: str | None, base_url: str | None = None
    ) -> None:
        self.settings = settings
        self._client = _client(settings, base_url or settings.base_url, key)
        self._ignore = {c.upper() for c in settings.ignore_categories}

    def describe(self) -> str:
        return f"guard model {self.settings.resolved_model} at {self._client.base_url}"

    async def check(self, question: str, said: str, segment: str) -> Flag | None:
        messages = [
            {"role": "user", "content": question or "(no question)"},
            {"role": "assistant", "content": f"{said} {segment}".strip()},
        ]
        response = await _call(
            "guard model",
            self.settings,
            self._client.chat.completions.create(
                model=self.settings.resolved_model,
                messages=messages,
                max_tokens=20,
                temperature=0,
            ),
        )
        try:
            verdict = (response.choices[0].message.content or "").strip()
        except (AttributeError, IndexError, TypeError) as exc:
            raise CheckFailed(f"guard model: unreadable answer ({exc})") from None
        return self.read(verdict)

    def read(self, verdict: str) -> Flag | None:
        words = verdict.lower().split()
        if words[:1] == ["safe"]:
            return None
        if words[:1] != ["unsafe"]:
            raise CheckFailed(f"guard model: expected 'safe' or 'unsafe', got {verdict[:40]!r}")
        codes = [c.upper() for c in _CODE.findall(verdict)]
        counted = [c for c in codes if c not in self._ignore]
        if codes and not counted:
            return None  # only categories the operator chose to ignore
        names = ", ".join(GUARD_CATEGORIES.get(c, c) for c in counted) or "unsafe"
        return Flag(f"model/{','.join(counted) or 'unsafe'}", "model", names)

    async def close(self) -> None:
        await self._client.close()
