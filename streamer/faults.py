"""Fault injection for tests and drills: make a named point raise, on purpose.

``STREAMER_FAULTS`` (read once by ``streamer run``) lists points, comma-separated:

* ``tts=3``: the first 3 calls at point ``tts`` raise, then it recovers;
* ``pacing@200``: only the 200th call raises;
* ``worker``: every call raises;
* a ``:hang`` suffix (``tts@2:hang``): that call never returns instead of raising;
* ``lipsync~0.06``: a slow engine, not a failing one: each frame it renders takes 60 ms
  more (``slowdown``), so the builder runs slower than real time.

Points: ``tts`` and ``lipsync`` (the builder worker, per segment), ``worker`` (the
builder worker outside the engines), ``pacing`` (the publisher's pacing thread, per
frame). No real user sets this; it exists so the daemon's own fault handling is tested
through the real code paths rather than with mocks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)

ENV = "STREAMER_FAULTS"
POINTS = frozenset({"tts", "lipsync", "worker", "pacing"})


class InjectedFault(RuntimeError):
    """Raised at a fault point (a test asked for it)."""


class Faults:
    def __init__(self, spec: str = "") -> None:
        self._first: dict[str, int] = {}  # point -> raise on calls 1..n (-1: always)
        self._only: dict[str, int] = {}  # point -> raise on this call only
        self._calls: dict[str, int] = {}
        self._hang: set[str] = set()  # points whose fault blocks forever
        self._slow: dict[str, float] = {}  # point -> extra seconds per unit of work
        self._lock = threading.Lock()
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            if item.endswith(":hang"):
                item = item.removesuffix(":hang")
                self._hang.add(item.partition("@")[0].partition("=")[0].strip())
            if "~" in item:
                name, _, seconds = item.partition("~")
                self._slow[self._point(name)] = float(seconds)
            elif "@" in item:
                name, _, n = item.partition("@")
                self._only[self._point(name)] = int(n)
            elif "=" in item:
                name, _, n = item.partition("=")
                self._first[self._point(name)] = int(n)
            else:
                self._first[self._point(item)] = -1
        if self:
            log.warning("fault injection is on (%s=%s): for tests only", ENV, spec)

    @staticmethod
    def _point(name: str) -> str:
        name = name.strip()
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown fault point {name!r}; known: {sorted(POINTS)}")
        return name

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Faults:
        return cls(env.get(ENV, ""))

    def __bool__(self) -> bool:
        return bool(self._first or self._only or self._slow)

    def slowdown(self, point: str) -> float:
        """Extra seconds per unit of work at ``point`` (0: not slowed)."""
        return self._slow.get(point, 0.0)

    def check(self, point: str) -> None:
        """Raise ``InjectedFault`` if this call at ``point`` is to fail."""
        if not (self._first or self._only):
            return
        with self._lock:
            n = self._calls.get(point, 0) + 1
            self._calls[point] = n
            first = self._first.get(point, 0)
            hit = first < 0 or n <= first or self._only.get(point) == n
        if hit and point in self._hang:
            threading.Event().wait()  # a hung engine: never comes back
        if hit:
            raise InjectedFault(f"injected fault at {point} (call {n})")
