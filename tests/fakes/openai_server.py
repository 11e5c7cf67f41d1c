"""A local server that speaks OpenAI's streaming chat completions (SSE).

The real openai client talks to it over real HTTP. Each request takes the next
:class:`Scenario` from a queue (or the default one): a normal streamed reply, an
HTTP error, a stall, a cut connection, a stream without ``[DONE]``, a garbage
``data:`` line in the middle of a stream. Every request
is recorded (body, messages, headers) so tests can check prompts and the key.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web


@dataclass
class Scenario:
    """What the server does for one request. Build it with the class methods."""

    text: str = "Hello from the fake server."
    chunks: list[str] | None = None  # explicit chunking (else word by word)
    delay_s: float = 0.0  # between chunks (simulates a model writing)
    status: int | None = None  # answer with this HTTP error instead of a stream
    stall: bool = False  # send headers, then nothing until the server closes
    stall_headers: bool = False  # send nothing at all (not even headers) until it closes
    cut_after: int | None = None  # close the connection after this many text chunks
    no_done: bool = False  # end the body without finish_reason and without [DONE]
    # Send ``garbage_line`` as one ``data:`` line after this many text chunks (then go on).
    garbage_after: int | None = None
    garbage_line: str = "{not json"
    # Stop after this many text chunks until ``gate`` is set (deterministic slow stream).
    pause_after: int | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    # The finish reason of the last chunk ("length": the answer hit max_tokens).
    finish: str = "stop"
    # The JSON body of an HTTP error (else OpenAI's shape with a generic message).
    error_body: dict[str, Any] | None = None

    @classmethod
    def reply(cls, text: str, *, delay_s: float = 0.0, chunks: list[str] | None = None) -> Scenario:
        return cls(text=text, delay_s=delay_s, chunks=chunks)

    @classmethod
    def error(cls, status: int = 500, body: dict[str, Any] | None = None) -> Scenario:
        return cls(status=status, error_body=body)

    @classmethod
    def cut_at_length(cls, text: str) -> Scenario:
        """The whole ``text``, then ``finish_reason: "length"`` (max_tokens reached)."""
        return cls(text=text, finish="length")

    @classmethod
    def stalled(cls, *, before_headers: bool = False) -> Scenario:
        return cls(stall=not before_headers, stall_headers=before_headers)

    @classmethod
    def cut(cls, text: str, after: int) -> Scenario:
        return cls(text=text, cut_after=after)

    @classmethod
    def without_done(cls, text: str) -> Scenario:
        return cls(text=text, no_done=True)

    @classmethod
    def garbage(cls, text: str, *, after: int, data: str = "{not json") -> Scenario:
        """``after`` good text chunks, then ``data: <data>``, then the rest and [DONE]."""
        return cls(text=text, garbage_after=after, garbage_line=data)

    @classmethod
    def paused(cls, text: str, after: int) -> Scenario:
        return cls(text=text, pause_after=after)

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return re.findall(r"\s*\S+", self.text)


@dataclass(frozen=True)
class RecordedRequest:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


class FakeOpenAIServer:
    """``async with FakeOpenAIServer() as server: ... server.base_url``."""

    def __init__(
        self,
        default: Scenario | None = None,
        *,
        context_tokens: int | None = None,
        models: frozenset[str] | None = None,
        route: Callable[[list[dict[str, Any]]], Scenario | None] | None = None,
    ) -> None:
        self.default = default or Scenario()
        # A scripted model: the scenario for a request's messages (None: the queue).
        self.route = route
        # Like a small local model: a prompt over this many tokens (~4 characters each)
        # gets vLLM's HTTP 400 instead of an answer.
        self.context_tokens = context_tokens
        # Like OpenAI: an unknown model name gets HTTP 404 model_not_found.
        self.models = models
        self.scenarios: deque[Scenario] = deque()
        self.requests: list[RecordedRequest] = []
        self.streams_started = 0
        self.streams_finished = 0
        self.paused = asyncio.Event()  # a paused scenario reached its pause
        self._closing = asyncio.Event()
        self._ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *scenarios: Scenario) -> None:
        self.scenarios.extend(scenarios)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing.set()
        for scenario in self.scenarios:
            scenario.gate.set()
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ handler

    async def _wait_closing_or(self, event: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._closing.wait()), asyncio.ensure_future(event.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(RecordedRequest(body=body, headers=dict(request.headers)))
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            return web.json_response(
                {"error": {"message": f"The model `{model}` does not exist or you do not have "
                           "access to it.", "type": "invalid_request_error", "param": None,
                           "code": "model_not_found"}},
                status=404,
            )  # fmt: skip
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        wanted = prompt // 4 + int(body.get("max_tokens") or 0)
        if self.context_tokens is not None and wanted > self.context_tokens:
            return web.json_response(
                {"object": "error", "message": f"This model's maximum context length is "
                 f"{self.context_tokens} tokens. However, you requested {wanted} tokens "
                 f"({prompt // 4} in the messages, {body.get('max_tokens')} in the "
                 "completion). Please reduce the length of the messages or completion.",
                 "type": "BadRequestError", "param": None, "code": 400},
                status=400,
            )  # fmt: skip
        routed = self.route(list(body.get("messages", []))) if self.route else None
        if routed is not None:
            scenario = routed
        else:
            scenario = self.scenarios.popleft() if self.scenarios else self.default
        if scenario.status is not None:
            generic = {"message": "fake server error", "type": "server_error", "code": None}
            return web.json_response(
                scenario.error_body or {"error": generic}, status=scenario.status
            )
        if not body.get("stream"):
            return web.json_response({"error": {"message": "only stream=true"}}, status=400)
        if scenario.stall_headers:
            await self._closing.wait()
            return web.Response(status=503)
        model = model or "fake"
        chunk_id = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())

        def event(delta: dict[str, Any], finish: str | None) -> bytes:
            data = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        self.streams_started += 1
        try:
            if scenario.stall:
                await self._closing.wait()
                return resp
            await resp.write(event({"role": "assistant", "content": ""}, None))
            for n, piece in enumerate(scenario.pieces()):
                if n == scenario.cut_after:
                    assert request.transport is not None
                    request.transport.abort()  # no terminating chunk: a broken body
                    return resp
                if n == scenario.garbage_after:
                    await resp.write(f"data: {scenario.garbage_line}\n\n".encode())
                if n == scenario.pause_after:
                    self.paused.set()
                    await self._wait_closing_or(scenario.gate)
                if scenario.delay_s:
                    await asyncio.sleep(scenario.delay_s)
                await resp.write(event({"content": piece}, None))
            if not scenario.no_done:
                await resp.write(event({}, scenario.finish))
                await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            self.streams_finished += 1
        except ConnectionError:
            pass  # the client went away (it timed out or gave up)
        return resp
