"""The daemon's one aiohttp app, on ``status.host:status.port`` (loopback by default).

====================  =====================================================
``GET /``             the operator console (``static/console.html``)
``GET /overlay``      the OBS Browser Source: question, asker, captions
``GET /overlay.css``  its style (``status.overlay_css`` replaces it)
``GET /static/...``   the pages' scripts and styles
``GET /status``       the daemon's state as JSON (``streamer status``)
``GET /api/state``    what the console shows, as JSON
``GET /events``       live events (Server-Sent Events, ``events.py``)
``GET /metrics``      Prometheus metrics
``POST /api/preview`` a WebRTC offer for the live preview (``preview.py``; it may carry
                      the host's microphone, so it needs the token too); the answer
``POST /api/ACTION``  skip, pause, resume, clear, drop, next, block, unblock: with the
                      console token in ``X-Streamer-Token`` (403 without)
====================  =====================================================

No page embeds a secret: the operator types the token into the console once (the
browser keeps it). Cross-site requests cannot act: an action needs the custom header,
which a browser sends to another origin only after a CORS preflight this app never
approves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from streamer.web.auth import HEADER, allowed, is_loopback
from streamer.web.console import ActionError, masked
from streamer.web.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from streamer.web.hub import WebHub

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
HEARTBEAT_S = 15.0
ACTIONS = ("skip", "pause", "resume", "clear", "drop", "next", "block", "unblock")


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


class WebServer:
    def __init__(self, host: str, port: int, hub: WebHub, *, overlay_css: Path | None) -> None:
        self.host = host
        self.port = port
        self.hub = hub
        self.overlay_css = overlay_css
        self._token = ""
        self._runner: web.AppRunner | None = None
        self._streams: set[web.StreamResponse] = set()
        self._closing = asyncio.Event()
        self.ready = asyncio.Event()  # listening (or given up: see the log)

    async def start(self, token: str) -> None:
        self._token = token
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page("console.html"))
        app.router.add_get("/overlay", self._page("overlay.html"))
        app.router.add_get("/overlay.css", self._overlay_css)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.router.add_get("/status", self._status)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/events", self._events)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/api/preview", self._preview)
        app.router.add_post("/api/{action}", self._action)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            # Not fatal: the show goes on without the console and the status endpoint.
            log.warning(
                "console and status endpoint off: cannot listen on %s:%d (%s)",
                self.host, self.port, exc.strerror or exc,
            )  # fmt: skip
            self.ready.set()
            return
        self._runner = runner
        self.ready.set()
        self.port = int(runner.addresses[0][1])
        base = f"http://{self.host}:{self.port}"
        log.info("console: %s/ ; OBS overlay: %s/overlay ; metrics: %s/metrics", base, base, base)

    async def close(self) -> None:
        self._closing.set()
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                await stream.write_eof()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """On a loopback address only loopback names are served (a page of another site
        cannot reach the daemon by rebinding its own name to 127.0.0.1); the console
        cannot be framed by another page."""
        if is_loopback(self.host):
            name = (request.host or "").rsplit(":", 1)[0].strip("[]")
            if not is_loopback(name):
                return web.Response(status=421, text="this console answers on loopback names only")
        response: web.StreamResponse = await handler(request)
        if request.path != "/overlay":  # OBS (or a scene tool) may embed the overlay
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        return response

    # ------------------------------------------------------------------ pages

    def _page(self, name: str) -> Any:
        async def handler(_: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

        return handler

    async def _overlay_css(self, _: web.Request) -> web.StreamResponse:
        path = self.overlay_css or STATIC / "overlay.css"
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------------ reads

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(masked(self.hub.daemon.snapshot()), dumps=_dumps)

    async def _state(self, _: web.Request) -> web.Response:
        state = self.hub.console.state()
        state["actions"] = bool(self._token)
        return web.json_response(state, dumps=_dumps)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = self.hub.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        self._streams.add(response)
        events = self.hub.bus.listen()
        waiting: asyncio.Future[Any] | None = None
        try:
            await response.write(b": connected\n\n")
            while not self._closing.is_set():
                # One pending read, kept across heartbeats: cancelling it would close
                # the event stream.
                if waiting is None:
                    waiting = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({waiting}, timeout=HEARTBEAT_S)
                if not done:
                    await response.write(b": ping\n\n")
                    continue
                event, waiting = waiting.result(), None
                await response.write(f"data: {_dumps(event)}\n\n".encode())
        except (ConnectionResetError, ConnectionError, StopAsyncIteration):
            pass  # the page went away, or the daemon is stopping
        finally:
            self._streams.discard(response)
            if waiting is not None:
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
            await events.aclose()
        return response

    async def _preview(self, request: web.Request) -> web.Response:
        """A viewer's WebRTC offer; the answer. JSON only, so a page of another site
        cannot send one without a CORS preflight this app never approves."""
        if not allowed(request.headers.get(HEADER), self._token):
            # It can send the host's voice: a question answered next. Token as for actions.
            return web.json_response(
                {"message": f"the preview needs the console token ({HEADER})"}, status=403
            )
        if request.content_type != "application/json":
            return web.json_response({"message": "send the offer as JSON"}, status=415)
        if self.hub.publisher is None:
            return web.json_response(
                {"message": "no preview: the daemon runs without video, or "
                 "status.preview is false"}, status=404,
            )  # fmt: skip
        if self.hub.preview.full:
            return web.json_response(
                {"message": f"{self.hub.preview.viewers} viewers already watch"}, status=503
            )
        try:
            offer = await request.json()
            answer = await self.hub.preview.answer(str(offer["sdp"]), str(offer["type"]))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"message": f"a bad offer: {exc}"}, status=400)
        return web.json_response(answer)

    # ------------------------------------------------------------------ actions

    async def _action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if not allowed(request.headers.get(HEADER), self._token):
            why = "no console token is set" if not self._token else "a valid console token"
            return web.json_response(
                {"ok": False, "message": f"forbidden: this action needs {why} ({HEADER})"},
                status=403,
            )
        if action not in ACTIONS:
            return web.json_response({"ok": False, "message": "unknown action"}, status=404)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"ok": False, "message": "the body is not JSON"}, status=400)
        try:
            message = self.hub.console.act(action, body if isinstance(body, dict) else {})
        except ActionError as exc:
            return web.json_response({"ok": False, "message": str(exc)}, status=400)
        log.info("console: %s %s: %s", action, _describe(body), message)
        self.hub.bus.changed()
        return web.json_response({"ok": True, "message": message})


def _describe(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    return " ".join(f"{k}={str(v)[:40]!r}" for k, v in body.items() if k in ("id", "user"))
