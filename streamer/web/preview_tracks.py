"""The preview's two aiortc tracks: the publisher's frames (already scaled) and samples,
each stamped from the publisher's tick, so a dropped frame never shifts the picture
against the sound."""

from __future__ import annotations

import asyncio
import collections
import fractions

import av
import numpy as np
from aiortc import MediaStreamTrack

from streamer.web.preview import QUEUE_FRAMES

VIDEO_CLOCK = 90_000  # RTP's video clock


class _Queued(MediaStreamTrack):
    """A track fed with ``put`` (on the event loop); the oldest item goes when full."""

    def __init__(self) -> None:
        super().__init__()
        self._items: collections.deque[tuple[np.ndarray, int]] = collections.deque(
            maxlen=QUEUE_FRAMES
        )
        self._ready = asyncio.Event()

    def put(self, item: np.ndarray, tick: int) -> None:
        self._items.append((item, tick))
        self._ready.set()

    async def _next(self) -> tuple[np.ndarray, int]:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class VideoTrack(_Queued):
    kind = "video"

    def __init__(self, fps: int) -> None:
        super().__init__()
        self._fps = fps

    async def recv(self) -> av.VideoFrame:
        frame, tick = await self._next()
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        out.pts = tick * VIDEO_CLOCK // self._fps
        out.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return out


class AudioTrack(_Queued):
    kind = "audio"

    def __init__(self, rate: int, fps: int) -> None:
        super().__init__()
        self._rate, self._per_tick = rate, rate // fps  # whole samples a frame (checked)

    async def recv(self) -> av.AudioFrame:
        samples, tick = await self._next()
        out = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        out.sample_rate = self._rate
        out.pts = tick * self._per_tick
        out.time_base = fractions.Fraction(1, self._rate)
        return out
