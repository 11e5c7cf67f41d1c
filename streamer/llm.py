"""LLM clients: any OpenAI-compatible server, or an offline stand-in.

A provider turns a list of chat turns into a stream of text deltas and raises
:class:`LLMError` (with a :class:`LLMErrorKind`) on any failure: a refused or
timed-out connection, an HTTP error, no first token in time, a stream cut or
stalled, a stream that ends without a finish reason (no ``[DONE]``), or data in
the stream that cannot be read (BAD_RESPONSE). No other exception escapes a
stream, cancellation aside. The provider never retries; the answerer decides
what to do.

The first-token and total deadlines count only the time spent waiting on the
server: while the consumer holds the stream (say, blocked on a full queue
downstream), their clock is stopped.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Protocol

import httpx2
import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from streamer.config import LLMSettings
from streamer.prompts import ChatTurn, Exchange, PromptBuilder
from streamer.secrets import from_env

__all__ = [
    "ChatTurn",
    "Exchange",
    "LLMError",
    "LLMErrorKind",
    "LLMProvider",
    "OfflineProvider",
    "OpenAIProvider",
    "PromptBuilder",
    "make_provider",
]

log = logging.getLogger(__name__)

# Sent when the server needs no key (Ollama, llama.cpp server, LM Studio...).
PLACEHOLDER_KEY = "not-needed"

OFFLINE_NOTICE = (
    "I am in offline demo mode with no answer engine connected, "
    "so I can only read your question back."
)


class LLMErrorKind(enum.StrEnum):
    CONNECT = "connect"  # connection refused or failed before any response
    TIMEOUT_CONNECT = "timeout_connect"
    TIMEOUT_FIRST_TOKEN = "timeout_first_token"
    TIMEOUT_TOTAL = "timeout_total"
    CUT = "cut"  # the connection broke while streaming
    NO_DONE = "no_done"  # the stream ended without a finish reason / [DONE]
    HTTP_STATUS = "http_status"
    BAD_RESPONSE = "bad_response"  # an error event in the stream, unreadable data
    CONTEXT = "context_length"  # the prompt does not fit the model's context (HTTP 400)
    LENGTH = "length"  # the answer hit max_tokens (finish_reason "length"): cut mid-way
    OUT_OF_CHARACTER = "out_of_character"  # raised by the answerer, not by providers


# 4xx statuses that may pass (timeout, conflict, rate limit): retried like a 5xx.
TRANSIENT_4XX = frozenset({408, 409, 429})

# How servers say the prompt outgrew the context: OpenAI's code, vLLM ("maximum context
# length"), llama.cpp ("exceeds the available context size"), transformers serve ("The
# prompt has 1102 tokens, but the model takes at most 1024 ... (`--max-model-len`)").
_CONTEXT_RE = re.compile(
    r"context[_ ]length|context (window|size)|maximum context|max[-_ ]model[-_ ]len"
    r"|too many tokens|prompt is too long|prompt has \d+ tokens|takes at most \d+"
    r"|(longer|more) than the (model|maximum)|input_ids",
    re.IGNORECASE,
)


class LLMError(Exception):
    """An answer could not be (fully) produced. ``kind`` says why."""

    def __init__(self, kind: LLMErrorKind, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.status = status

    @property
    def permanent(self) -> bool:
        """Asking again unchanged cannot help (a 4xx such as a wrong model name)."""
        if self.kind is LLMErrorKind.CONTEXT:
            return True
        return (
            self.status is not None
            and 400 <= self.status < 500
            and (self.status not in TRANSIENT_4XX)
        )


def server_message(body: object, limit: int = 300) -> str:
    """The reason in an error body: ``{"error": {"message": ...}}``, ``{"error": "..."}``
    or ``{"detail": ...}`` (FastAPI servers); one line, at most ``limit`` characters."""
    found: object = None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            found = error.get("message") or error.get("detail") or error.get("code")
        else:
            found = error
        if found is None or found is body:
            found = body.get("detail") or body.get("message")
    elif body:
        found = body
    if isinstance(found, list):  # FastAPI validation errors: a list of {"msg": ...}
        found = "; ".join(str(i.get("msg", i)) if isinstance(i, dict) else str(i) for i in found)
    text = " ".join(str(found or "").split())
    return text[:limit] + ("..." if len(text) > limit else "")


class LLMProvider(Protocol):
    def stream(self, messages: Sequence[ChatTurn]) -> AsyncGenerator[str, None]:
        """Text deltas of the answer; raises LLMError on any failure."""
        ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


def _to_openai(turn: ChatTurn) -> ChatCompletionMessageParam:
    if turn.role == "system":
        return ChatCompletionSystemMessageParam(role="system", content=turn.content)
    if turn.role == "assistant":
        return ChatCompletionAssistantMessageParam(role="assistant", content=turn.content)
    return ChatCompletionUserMessageParam(role="user", content=turn.content)


def _read_chunk(chunk: ChatCompletionChunk) -> tuple[list[str], str | None]:
    """The text deltas and the finish reason of one chunk. The client does not
    validate chunks, so a chunk of the wrong shape raises here (TypeError,
    AttributeError...) and the caller maps that to BAD_RESPONSE."""
    texts: list[str] = []
    finish: str | None = None
    for choice in chunk.choices:
        if choice.finish_reason is not None:
            finish = str(choice.finish_reason)
        text: object = choice.delta.content if choice.delta else None
        if text is not None and not isinstance(text, str):
            raise TypeError(f"delta content is a {type(text).__name__}, not a string")
        if text:
            texts.append(text)
    return texts, finish


def _bad_data(exc: Exception) -> LLMError:
    # The type only: the message of an arbitrary exception may quote anything.
    return LLMError(LLMErrorKind.BAD_RESPONSE, f"unreadable stream data ({type(exc).__name__})")


# --------------------------------------------------------------------------- providers


class OpenAIProvider:
    """Streams chat completions from any OpenAI-compatible server."""

    def __init__(self, settings: LLMSettings, api_key: str | None) -> None:
        self.settings = settings
        t = settings.timeouts
        if not api_key:
            log.info(
                "LLM: no API key in $%s; sending the placeholder %r "
                "(fine for Ollama, llama.cpp server, LM Studio)",
                settings.api_key_env,
                PLACEHOLDER_KEY,
            )
        # No client retries (the answerer retries once); first-token and total
        # deadlines are enforced around each read below, so the client's own read
        # timeout is only a backstop.
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=api_key or PLACEHOLDER_KEY,
            timeout=openai.Timeout(t.total_s, connect=t.connect_s),
            max_retries=0,
        )
        log.info("LLM: %s", self.describe())

    def describe(self) -> str:
        s = self.settings
        return f"openai-compatible server {self._client.base_url} model={s.model}"

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, messages: Sequence[ChatTurn]) -> AsyncGenerator[str, None]:
        # Deadlines count only the time spent waiting on the server: while this
        # generator is suspended at ``yield`` (the consumer is busy, or blocked on a
        # full queue downstream) the clock is stopped.
        loop = asyncio.get_running_loop()
        t = self.settings.timeouts
        first_budget = min(t.first_token_s, t.total_s)
        first_is_tighter = t.first_token_s < t.total_s
        waited = 0.0  # seconds spent inside the awaits on the server so far
        got_first = False
        finish: str | None = None
        chunks: openai.AsyncStream[ChatCompletionChunk] | None = None
        try:
            began = loop.time()
            try:
                async with asyncio.timeout(first_budget):
                    chunks = await self._client.chat.completions.create(
                        model=self.settings.model,
                        messages=[_to_openai(m) for m in messages],
                        temperature=self.settings.temperature,
                        max_tokens=self.settings.max_tokens,
                        stream=True,
                    )
            except TimeoutError:
                raise self._deadline_error(got_first, first_is_tighter) from None
            except openai.OpenAIError as exc:
                raise self._map_error(exc, started=False, got_first=False) from exc
            except Exception as exc:
                raise _bad_data(exc) from exc
            finally:
                waited += loop.time() - began
            while True:
                budget = (t.total_s if got_first else first_budget) - waited
                began = loop.time()
                try:
                    async with asyncio.timeout(budget):
                        chunk = await chunks.__anext__()
                    texts, chunk_finish = _read_chunk(chunk)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise self._deadline_error(got_first, first_is_tighter) from None
                except openai.OpenAIError as exc:
                    raise self._map_error(exc, started=True, got_first=got_first) from exc
                except Exception as exc:
                    # Unreadable data: invalid JSON, a chunk of the wrong shape...
                    raise _bad_data(exc) from exc
                finally:
                    waited += loop.time() - began
                if chunk_finish is not None:
                    finish = chunk_finish
                for text in texts:
                    if not got_first:
                        got_first = True
                        log.debug("LLM: first token after %.2f s of server time", waited)
                    yield text
            if finish is None:
                raise LLMError(
                    LLMErrorKind.NO_DONE,
                    "the stream ended without a finish reason ([DONE] missing); "
                    "the answer may be incomplete",
                )
            if finish == "length":
                raise LLMError(
                    LLMErrorKind.LENGTH,
                    f"the answer hit llm.max_tokens ({self.settings.max_tokens}) mid-way",
                )
            if finish != "stop":
                log.warning("LLM: answer ended with finish_reason=%s", finish)
        finally:
            if chunks is not None:
                await chunks.close()

    @staticmethod
    def _deadline_error(got_first: bool, first_is_tighter: bool) -> LLMError:
        if not got_first and first_is_tighter:
            return LLMError(LLMErrorKind.TIMEOUT_FIRST_TOKEN, "no first token in time")
        return LLMError(LLMErrorKind.TIMEOUT_TOTAL, "the answer took longer than total_s")

    def _map_error(self, exc: openai.OpenAIError, *, started: bool, got_first: bool) -> LLMError:
        if isinstance(exc, openai.APITimeoutError):
            if isinstance(exc.__cause__, httpx2.ConnectTimeout):
                return LLMError(LLMErrorKind.TIMEOUT_CONNECT, "could not connect in time")
            if not got_first:
                return LLMError(LLMErrorKind.TIMEOUT_FIRST_TOKEN, "no first token in time")
            return LLMError(LLMErrorKind.TIMEOUT_TOTAL, "the server stopped sending")
        if isinstance(exc, openai.APIConnectionError):
            if started:
                return LLMError(LLMErrorKind.CUT, "the connection broke while streaming")
            return LLMError(
                LLMErrorKind.CONNECT, f"cannot reach {self._client.base_url} ({exc.__cause__!r})"
            )
        if isinstance(exc, openai.APIStatusError):
            said = server_message(exc.body) or server_message(_response_text(exc))
            code = exc.body.get("code") if isinstance(exc.body, dict) else None
            error = exc.body.get("error") if isinstance(exc.body, dict) else None
            if isinstance(error, dict):
                code = error.get("code", code)
            kind = LLMErrorKind.HTTP_STATUS
            if exc.status_code in (400, 413, 422) and (
                code == "context_length_exceeded" or _CONTEXT_RE.search(said)
            ):
                kind = LLMErrorKind.CONTEXT
            why = f": {said}" if said else ""
            return LLMError(
                kind,
                f"HTTP {exc.status_code} from {self._client.base_url}{why}",
                status=exc.status_code,
            )
        return LLMError(LLMErrorKind.BAD_RESPONSE, f"{type(exc).__name__}: {exc}")


def _response_text(exc: openai.APIStatusError) -> str:
    try:
        return exc.response.text
    except Exception:  # a streamed body that was not read
        return ""


class OfflineProvider:
    """No network: reads the question back and says that no LLM is in use."""

    # Its words are fixed (the viewer's question read back): the answerer skips
    # the out-of-character check for scripted providers.
    scripted = True

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        log.info("LLM: %s", self.describe())

    def describe(self) -> str:
        return "offline (no LLM)"

    async def aclose(self) -> None:
        return None

    @staticmethod
    def answer_text(messages: Sequence[ChatTurn]) -> str:
        asker, question = "Someone", ""
        for turn in reversed(messages):
            if turn.role == "user":
                asker = turn.asker or asker
                question = (turn.question or turn.content).strip()
                break
        if question and question[-1] not in ".?!…":
            question += "."
        return f"{asker} asks. {question} {OFFLINE_NOTICE}" if question else OFFLINE_NOTICE

    async def stream(self, messages: Sequence[ChatTurn]) -> AsyncGenerator[str, None]:
        words = self.answer_text(messages).split(" ")
        delay = self.settings.offline_word_delay_s
        for i, word in enumerate(words):
            if i and delay > 0:
                await asyncio.sleep(delay)
            yield word if i == len(words) - 1 else word + " "


def make_provider(settings: LLMSettings, env: Mapping[str, str]) -> LLMProvider:
    """The provider named by ``settings.provider``; the key comes from ``env``."""
    if settings.provider == "offline":
        return OfflineProvider(settings)
    if settings.base_url is None:
        # The official API needs a key: fail now with a message that says how to set it.
        key: str | None = from_env(
            settings.api_key_env, purpose="your OpenAI API key (llm.api_key_env)", env=env
        )
    else:
        key = env.get(settings.api_key_env, "").strip() or None
    return OpenAIProvider(settings, key)
