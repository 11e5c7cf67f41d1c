"""The daemon's live events, for the console and the overlay (one SSE stream each).

Events are small JSON-able dicts with a ``type``; the same facts the log shows:

* ``state``: "something changed, fetch /api/state" (coalesced: at most one waits per
  listener, so a burst of changes costs one fetch);
* ``verdict``: a chat message's verdict (accepted, merged, rejected with its reason);
* ``answer``: an answer ended (its state, reason and timings from the pick);
* ``question``: the question of the answer now on air, and its asker (``null`` when the
  idle loop is back);
* ``caption``: a segment of the answer went on air (its text, as the voice reads it);
* ``health``: a stage's health changed.

Each listener has its own bounded queue (the oldest event goes when a slow page falls
behind); the last ``RECENT`` verdicts and answers are kept for a page that opens late.
Used from the event-loop thread only.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncGenerator
from typing import Any

QUEUE_SIZE = 500
RECENT = 100

Event = dict[str, Any]


class _Listener:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.state_pending = False  # a "state" event waits in the queue


class EventBus:
    def __init__(self) -> None:
        self._listeners: set[_Listener] = set()
        self.recent: collections.deque[Event] = collections.deque(maxlen=RECENT)
        self.current: dict[str, Event] = {}  # the last question / caption, for late pages
        self.published = 0

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, kind: str, **data: Any) -> None:
        event: Event = {"type": kind, "at": time.time(), **data}
        self.published += 1
        if kind in ("verdict", "answer"):
            self.recent.append(event)
        elif kind in ("question", "caption"):
            self.current[kind] = event
            if kind == "question" and data.get("question") is None:
                self.current.pop("caption", None)
        for listener in self._listeners:
            if kind == "state" and listener.state_pending:
                continue  # one pending "state" is enough
            if listener.queue.full():
                evicted = listener.queue.get_nowait()
                if evicted["type"] == "state":
                    listener.state_pending = False
            if kind == "state":
                listener.state_pending = True
            listener.queue.put_nowait(event)

    def changed(self) -> None:
        """Something in the state changed (the pool, an answer, the settings)."""
        self.publish("state")

    async def listen(self) -> AsyncGenerator[Event, None]:
        """Events from now on, after the recent ones and what is on air now."""
        listener = _Listener()
        for event in [*self.recent, *self.current.values()]:
            listener.queue.put_nowait(event)
        self._listeners.add(listener)
        try:
            while True:
                event = await listener.queue.get()
                if event["type"] == "state":
                    listener.state_pending = False
                yield event
        finally:
            self._listeners.discard(listener)
