"""Hand freed heap memory back to the operating system between answers.

An answer's clip is a few seconds of raw frames (2.7 MB each at 720p) that live in
the builder and the publisher's clip queue and are freed once played. glibc keeps
freed memory in its arenas, and with many threads and a mix of sizes the arenas
fragment: the process's RSS then creeps up over hours although nothing is leaked
(an hour on air grew 6 % this way). ``malloc_trim(0)`` returns every free page of
every arena; the daemon calls it when the last live answer ends, so an idle daemon
holds what it uses and no more. Where the C library has no ``malloc_trim`` (musl,
macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def _find_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _find_mallinfo() -> Callable[[], _MallInfo2] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        info = ctypes.CDLL(name).mallinfo2  # glibc 2.33+
    except (OSError, AttributeError):
        return None
    info.argtypes = []
    info.restype = _MallInfo2
    return info


class HeapTrimmer:
    """``trim()`` returns free heap to the OS; a no-op where it cannot."""

    def __init__(self) -> None:
        self._trim = _find_trim()
        self._info = _find_mallinfo()
        self.trims = 0
        self.seconds = 0.0

    def status(self) -> dict[str, float]:
        """The C heap in MB (glibc's ``mallinfo2``, which covers the main arena only):
        ``in_use`` by live blocks, ``free`` inside the heap, ``mapped`` in mmapped
        blocks; plus the trims so far."""
        out: dict[str, float] = {"trims": self.trims, "trim_ms": round(self.seconds * 1000, 1)}
        if self._info is not None:
            i = self._info()
            mb = 1 / 2**20
            out.update(
                in_use_mb=round(i.uordblks * mb, 1),
                free_mb=round(i.fordblks * mb, 1),
                mapped_mb=round(i.hblkhd * mb, 1),
            )
        return out

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim(self) -> bool:
        """True when memory was handed back."""
        if self._trim is None:
            return False
        started = time.perf_counter()
        released = bool(self._trim(0))
        took = time.perf_counter() - started
        self.trims += 1
        self.seconds += took
        log.debug("heap trimmed in %.1f ms (released: %s)", took * 1000, released)
        return released


class TrimWhenIdle:
    """A wake-up for :meth:`streamer.answer.Answers.subscribe`: trims the heap each
    time the daemon goes from answering to idle (the last live answer ended)."""

    def __init__(
        self,
        busy: Callable[[], bool],
        trimmer: HeapTrimmer | None = None,
        *,
        trace_to: str | None = None,
    ) -> None:
        self._busy = busy
        self.trimmer = trimmer or HeapTrimmer()
        self._was_busy = False
        self.tracer = HeapTracer(Path(trace_to)) if trace_to else None

    def __call__(self) -> None:
        busy = self._busy()
        if self._was_busy and not busy:
            self.trimmer.trim()
            if self.tracer is not None:
                self.tracer.idle()
        self._was_busy = busy


class HeapTracer:
    """A diagnosis aid (``STREAMER_TRACEMALLOC=report.txt``): traces Python allocations
    and, each time the daemon goes idle (at most once a minute), writes the lines of
    code whose live memory grew most since the first idle moment after ``warm_s``.
    Slows allocation down; for soak runs, not for air."""

    def __init__(self, path: Path, *, warm_s: float = 300.0, every_s: float = 60.0) -> None:
        self.path = path
        self._started = time.monotonic()
        self._warm_s = warm_s
        self._every_s = every_s
        self._last = 0.0
        self._baseline: tracemalloc.Snapshot | None = None
        tracemalloc.start(1)
        log.warning("tracing Python allocations into %s (STREAMER_TRACEMALLOC)", path)

    def idle(self) -> None:
        now = time.monotonic()
        if now - self._started < self._warm_s or now - self._last < self._every_s:
            return
        self._last = now
        snapshot = tracemalloc.take_snapshot()
        if self._baseline is None:
            self._baseline = snapshot
            return
        stats = snapshot.compare_to(self._baseline, "lineno")
        traced, peak = tracemalloc.get_traced_memory()
        lines = [
            f"{now - self._started:.0f} s: traced {traced / 2**20:.1f} MB (peak "
            f"{peak / 2**20:.1f} MB); growth since the baseline by line:"
        ]
        lines += [str(stat) for stat in stats[:30]]
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
