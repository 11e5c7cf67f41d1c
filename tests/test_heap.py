"""The heap trimmer hands freed memory back, and the daemon trims when it goes idle."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from streamer.heap import HeapTrimmer, TrimWhenIdle


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc")
def test_trim_returns_freed_heap_to_the_os() -> None:
    trimmer = HeapTrimmer()
    assert trimmer.available
    # 100 kB blocks sit below glibc's mmap threshold, so they live in the heap; keeping
    # the last one stops free() from shrinking the heap's top by itself.
    blocks = [bytes(100_000) for _ in range(1500)]
    keep = blocks[-1]
    del blocks
    before = _rss_mb()
    assert trimmer.trim()
    after = _rss_mb()
    assert len(keep) == 100_000
    assert before - after > 50, (before, after)  # of 150 MB freed
    assert trimmer.trims == 1


class _Counting(HeapTrimmer):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def trim(self) -> bool:
        self.calls += 1
        return True


def test_trims_once_per_busy_to_idle_transition() -> None:
    live: list[str] = []
    trimmer = _Counting()
    wake = TrimWhenIdle(busy=lambda: bool(live), trimmer=trimmer)
    wake()  # idle from the start: nothing to give back
    assert trimmer.calls == 0
    live.append("a")
    wake()
    live.append("b")
    wake()
    live.remove("a")
    wake()  # still busy
    assert trimmer.calls == 0
    live.remove("b")
    wake()
    assert trimmer.calls == 1
    wake()  # idle again: no second trim
    assert trimmer.calls == 1
