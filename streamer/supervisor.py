"""Supervision: every task and every thread of the daemon watched, event-driven.

A stage task that ends (it should not), a thread that reports it died or cannot go on
(the publisher after repeated crashes, a builder worker stuck in a call), each calls
:meth:`Supervisor.fail` with one line saying why; the daemon's run returns at once with
that reason and exits non-zero. Nothing polls: tasks report through done callbacks,
threads through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed: asyncio.Event | None = None
        self.reason: str | None = None
        # Set when the daemon stops on purpose: stages that end then are not failures.
        self.stopping = False

    def start(self) -> None:
        """Bind to the running loop (call from inside it)."""
        self._loop = asyncio.get_running_loop()
        self._failed = asyncio.Event()
        if self.reason is not None:
            self._failed.set()

    @property
    def failed(self) -> asyncio.Event:
        assert self._failed is not None, "Supervisor.start() first"
        return self._failed

    def watch(self, task: asyncio.Task[None], name: str) -> None:
        """A stage task that must run until it is cancelled."""

        def done(t: asyncio.Task[None]) -> None:
            if t.cancelled():
                return
            exc = t.exception()
            if self.stopping:
                if exc is not None:
                    log.error("stage %s failed while stopping", name, exc_info=exc)
                return
            if exc is not None:
                log.error("stage %s crashed", name, exc_info=exc)
                self.fail(f"stage {name} crashed: {type(exc).__name__}: {exc}")
            else:
                self.fail(f"stage {name} stopped")

        task.add_done_callback(done)

    def fail(self, reason: str) -> None:
        """From the event-loop thread: the daemon cannot go on."""
        if self.reason is None:
            self.reason = reason
        if self._failed is not None:
            self._failed.set()

    def fail_threadsafe(self, reason: str) -> None:
        """From any thread."""
        loop = self._loop
        if loop is None:
            self.reason = self.reason or reason
            return
        try:
            loop.call_soon_threadsafe(self.fail, reason)
        except RuntimeError:  # the loop is closed: we are exiting anyway
            self.reason = self.reason or reason
