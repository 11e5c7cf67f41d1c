"""The publisher's clip queue on its own: what it says about each answer, in order."""

from __future__ import annotations

import logging
import time

import numpy as np

from streamer.clip_queue import ClipQueue
from streamer.messages import Clip

W, H, FPS, RATE = 32, 18, 25, 48000


def clip(answer_id: str, frames: int, *, last: bool, created_at: float = 0.0) -> Clip:
    return Clip(
        answer_id, 0, np.zeros((frames, H, W, 3), np.uint8),
        np.zeros(frames * RATE // FPS, np.int16), FPS, RATE, last, created_at=created_at,
    )  # fmt: skip


def play(q: ClipQueue, frames: int) -> None:
    count = RATE // FPS
    with q.cond:
        for _ in range(frames):
            c = q.next_clip()
            if c is None:
                return
            frame, audio = q.clip_frame(c, count)
            q.played(c, frame, audio, count)


def test_expired_clips_end_their_answer_as_expired_never_as_played() -> None:
    q = ClipQueue(10.0, (H, W, 3), FPS, RATE)
    assert q.submit(clip("on-air", 10, last=False, created_at=0.0))
    assert q.submit(clip("waiting", 5, last=True, created_at=0.0))
    play(q, 3)  # "on-air" is heard; then the stream goes down for long
    with q.cond:
        q.expire(now=200.0, max_age=120.0)
    events, logs = q.take_events()
    assert ("segment", "on-air") in [(k, d["answer_id"]) for k, d in events]
    events = [(k, d) for k, d in events if k != "segment"]
    kinds = [(k, d["answer_id"]) for k, d in events]
    assert kinds == [("first_frame", "on-air"), ("answer_done", "on-air"), ("expired", "waiting")]
    done = events[1][1]
    assert done["expired"] and done["started"] and not done["complete"]
    assert not q.queue and q.current is None and q.answer is None
    assert sum("older than 120 s" in msg % args for _, msg, args in logs) == 2
    assert all(level == logging.WARNING for level, _, _ in logs)


def test_an_end_marker_of_an_answer_never_heard_ends_it() -> None:
    q = ClipQueue(10.0, (H, W, 3), FPS, RATE)
    assert q.submit(clip("silent", 0, last=True))
    play(q, 1)
    events, _ = q.take_events()
    assert [(k, d["answer_id"], d["started"], d["complete"]) for k, d in events] == [
        ("answer_done", "silent", False, False)
    ]


def test_closing_wakes_every_submitter() -> None:
    q = ClipQueue(0.1, (H, W, 3), FPS, RATE)
    assert q.submit(clip("a", 10, last=True))  # 0.4 s queued: over the bound now
    q.close()
    assert not q.submit(clip("b", 1, last=True))  # returns at once: never waits forever


def test_a_wait_hold_starts_the_answer_only_after_its_time() -> None:
    """hold(wait_s): the first clip is ready, but the answer starts only wait_s later
    (the time the recent answers' clips ran late); its last clip lifts the wait."""
    q = ClipQueue(10.0, (H, W, 3), FPS, RATE)
    q.hold("slow", 0.0, wait_s=0.3)
    assert q.submit(clip("slow", 4, last=False))
    with q.cond:
        started = time.monotonic()
        assert q.next_clip() is None  # held: idle plays on
        while q.next_clip() is None:
            assert time.monotonic() - started < 2.0
            time.sleep(0.01)
        assert time.monotonic() - started >= 0.29
    _, logs = q.take_events()
    assert any("start held" in msg for _, msg, _ in logs)
    q2 = ClipQueue(10.0, (H, W, 3), FPS, RATE)
    q2.hold("short", 0.0, wait_s=60.0)
    assert q2.submit(clip("short", 4, last=True))  # all of it is there: no reason to wait
    with q2.cond:
        assert q2.next_clip() is not None
