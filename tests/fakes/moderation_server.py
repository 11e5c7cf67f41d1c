"""A local server that speaks OpenAI's moderation API and a guard model's chat API.

* ``POST /v1/moderations`` as OpenAI's API reference has it: ``input`` (a string or
  a list of strings) is required, ``model`` optional; the answer carries ``id``,
  ``model`` and one result per input with ``flagged``, all thirteen ``categories``
  (booleans), their ``category_scores`` and ``category_applied_input_types``. A
  missing or malformed ``input`` is a 400 with OpenAI's error shape; a request
  without a bearer key is a 401.
* ``POST /v1/chat/completions`` (not streamed) as a guard model served by Ollama or
  vLLM answers: the assistant's content is ``safe`` or ``unsafe\\nS1,S10``.

The "model" behind both is a rule list the test sets: a substring (case-insensitive)
and the category it stands for. That stands in for a classifier's judgement; what the
tests check is how our code treats the verdicts, the latency and the failures.
``latency_s`` delays every answer; ``fail_next(n, status)`` answers n requests with an
error; ``stall_next(n)`` never answers n requests.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# OpenAI category -> Llama Guard 3 code, for the guard endpoint.
GUARD_CODES = {
    "violence": "S1",
    "violence/graphic": "S1",
    "illicit": "S2",
    "illicit/violent": "S9",
    "sexual/minors": "S4",
    "hate": "S10",
    "hate/threatening": "S10",
    "harassment": "S10",
    "harassment/threatening": "S1",
    "self-harm": "S11",
    "self-harm/instructions": "S11",
    "self-harm/intent": "S11",
    "sexual": "S12",
}


@dataclass(frozen=True)
class Rule:
    needle: str
    category: str
    score: float = 0.97


class FakeModerationServer:
    def __init__(self, rules: list[Rule] | None = None, *, latency_s: float = 0.0) -> None:
        self.rules = list(rules or [])
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self._fail: list[int] = []
        self._stall = 0
        self._closing = asyncio.Event()
        self._ids = itertools.count(1)
        app = web.Application()
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        self._fail.extend([status] * count)

    def stall_next(self, count: int = 1) -> None:
        self._stall += count

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing.set()
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeModerationServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ behaviour

    def scores(self, text: str) -> dict[str, float]:
        low = text.lower()
        scores = dict.fromkeys(CATEGORIES, 0.001)
        for rule in self.rules:
            if rule.needle.lower() in low:
                scores[rule.category] = max(scores[rule.category], rule.score)
        return scores

    async def _gate(self, request: web.Request) -> web.Response | None:
        """Auth, stalls, failures and latency, common to both endpoints."""
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "You didn't provide an API key.", "invalid_request_error")
        if self._stall:
            self._stall -= 1
            await self._closing.wait()
            return web.Response(status=503)
        if self._fail:
            status = self._fail.pop(0)
            return _error(
                status, "The server had an error processing your request.", "server_error"
            )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return None

    async def _moderations(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        self.requests.append({"path": "moderations", **body})
        stopped = await self._gate(request)
        if stopped is not None:
            return stopped
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(i, str) for i in inputs)
        ):
            return _error(400, "'input' is a required property", "invalid_request_error", "input")
        results = []
        for text in inputs:
            scores = self.scores(text)
            flags = {name: score >= 0.5 for name, score in scores.items()}
            results.append(
                {
                    "flagged": any(flags.values()),
                    "categories": flags,
                    "category_scores": scores,
                    "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
                }
            )
        return web.json_response(
            {
                "id": f"modr-{next(self._ids)}",
                "model": body.get("model") or "omni-moderation-latest",
                "results": results,
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": "chat", **body})
        stopped = await self._gate(request)
        if stopped is not None:
            return stopped
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' is a required property", "invalid_request_error")
        if body.get("stream"):
            return _error(400, "this fake answers stream=false only", "invalid_request_error")
        # Llama Guard judges the last turn: the assistant's answer.
        last = str(messages[-1].get("content", ""))
        codes = sorted(
            {GUARD_CODES[name] for name, score in self.scores(last).items() if score >= 0.5},
            key=lambda c: int(c[1:]),
        )
        content = "safe" if not codes else "unsafe\n" + ",".join(codes)
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "llama-guard3"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
            }
        )


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": None}},
        status=status,
    )
