"""The preview's two aiortc tracks: the publisher's frames (scaled) and samples, each
stamped from the same tick count so the browser keeps them in sync."""

from __future__ import annotations

import asyncio
import collections
import fractions

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack

from streamer.web.preview import QUEUE_FRAMES

VIDEO_CLOCK = 90_000  # RTP's video clock


class _Queued(MediaStreamTrack):
    """A track fed with ``put`` (on the event loop); the oldest item goes when full."""

    def __init__(self) -> None:
        super().__init__()
        self._items: collections.deque[np.ndarray] = collections.deque(maxlen=QUEUE_FRAMES)
        self._ready = asyncio.Event()
        self._count = 0  # items taken: the timestamps count them

    def put(self, item: np.ndarray) -> None:
        self._items.append(item)
        self._ready.set()

    async def _next(self) -> np.ndarray:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class VideoTrack(_Queued):
    kind = "video"

    def __init__(self, fps: int, size: tuple[int, int]) -> None:
        super().__init__()
        self._fps, self._size = fps, size

    async def recv(self) -> av.VideoFrame:
        frame = await self._next()
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        out.pts = self._count * VIDEO_CLOCK // self._fps
        out.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return out


class AudioTrack(_Queued):
    kind = "audio"

    def __init__(self, rate: int) -> None:
        super().__init__()
        self._rate = rate

    async def recv(self) -> av.AudioFrame:
        samples = await self._next()
        out = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        out.sample_rate = self._rate
        out.pts = self._count
        out.time_base = fractions.Fraction(1, self._rate)
        self._count += len(samples)
        return out
