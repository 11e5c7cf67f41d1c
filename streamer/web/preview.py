"""The console's live preview: WebRTC (aiortc) fed from the frames and PCM the publisher
sends, not from a second render.

* The publisher's pacing thread calls ``PreviewFeed.tap`` with each frame and its
  samples once ffmpeg took them (only while someone watches: the tap is off otherwise,
  so nothing is copied or encoded for nobody). The tap only hops onto the event loop.
* Each viewer gets one ``RTCPeerConnection`` with a video and an audio track; both are
  stamped from the same tick count (video at 90 kHz, audio at the stream's rate), so the
  browser plays them in sync, as the RTMP stream does (a frame a slow viewer loses
  takes its time with it: the next one keeps its own stamp). Video is scaled once a
  frame to ``status.preview_width`` x ``preview_height`` (640x360) before aiortc
  encodes it (VP8, in aiortc's encoder thread). A viewer gets frames once connected;
  one not connected within 30 s is dropped; at most four watch at once.
* A viewer that falls behind loses its oldest frames (bounded queues), never the stream.
* The viewer may send its microphone on the audio track's way back (push-to-talk):
  ``on_microphone`` gets that track (the host's voice, ``host_voice.py``).
* No ICE servers: the preview is for the console's own machine or LAN; nothing is sent
  to a STUN server on the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

QUEUE_FRAMES = 25  # about a second of frames a slow viewer may lag before frames drop
MAX_VIEWERS = 4
CONNECT_TIMEOUT_S = 30.0  # a viewer not connected by then is dropped


class PreviewFeed:
    """Fans the publisher's frames out to the viewers' tracks (see the module doc)."""

    def __init__(self, fps: int, rate: int, size: tuple[int, int]) -> None:
        self.fps, self.rate, self.size = fps, rate, size
        self._viewers: set[_Viewer] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.frames = 0  # frames handed to viewers since start (their timestamps count these)
        self._timeouts: set[asyncio.Task[None]] = set()
        # The viewer's microphone (push-to-talk), when it sends one: the host's voice.
        self.on_microphone: Callable[[Any], None] | None = None

    @property
    def watching(self) -> bool:
        return bool(self._viewers)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @property
    def full(self) -> bool:
        return len(self._viewers) >= MAX_VIEWERS

    def tap(self, frame: np.ndarray, audio: np.ndarray) -> None:
        """From the pacing thread: one frame and its samples, as ffmpeg took them."""
        loop = self._loop
        if loop is None or not self._viewers:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the daemon is stopping
            loop.call_soon_threadsafe(self._fan_out, frame, audio)

    def _fan_out(self, frame: np.ndarray, audio: np.ndarray) -> None:
        tick = self.frames
        self.frames += 1
        watching = [v for v in self._viewers if v.pc.connectionState == "connected"]
        if not watching:
            return
        if (frame.shape[1], frame.shape[0]) != self.size:  # once a frame, for every viewer
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        for viewer in watching:
            viewer.put(frame, audio, tick)

    async def answer(self, offer_sdp: str, offer_type: str) -> dict[str, str]:
        """A viewer's offer in, our answer out (one peer connection per viewer)."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        self._loop = asyncio.get_running_loop()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        viewer = _Viewer(self, pc)
        pc.addTrack(viewer.video)
        pc.addTrack(viewer.audio)

        @pc.on("track")
        def track(remote: Any) -> None:
            if remote.kind == "audio" and self.on_microphone is not None:
                self.on_microphone(remote)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed", "disconnected"):
                await self.drop(viewer)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, offer_type))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await pc.close()
            raise
        self._viewers.add(viewer)
        log.info("preview: a viewer joined (%d watching)", len(self._viewers))
        timeout = asyncio.create_task(self._connect_or_drop(viewer), name="preview-connect")
        self._timeouts.add(timeout)
        timeout.add_done_callback(self._timeouts.discard)
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    async def _connect_or_drop(self, viewer: _Viewer) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if viewer.pc.connectionState != "connected":
            log.info("preview: a viewer did not connect in %.0f s", CONNECT_TIMEOUT_S)
            await self.drop(viewer)

    async def drop(self, viewer: _Viewer) -> None:
        if viewer in self._viewers:
            self._viewers.discard(viewer)
            log.info("preview: a viewer left (%d watching)", len(self._viewers))
        await viewer.pc.close()

    async def close(self) -> None:
        for task in list(self._timeouts):
            task.cancel()
        await asyncio.gather(*self._timeouts, return_exceptions=True)
        for viewer in list(self._viewers):
            await self.drop(viewer)


class _Viewer:
    def __init__(self, feed: PreviewFeed, pc: Any) -> None:
        from streamer.web.preview_tracks import AudioTrack, VideoTrack

        self.pc = pc
        self.video = VideoTrack(feed.fps)
        self.audio = AudioTrack(feed.rate, feed.fps)

    def put(self, frame: np.ndarray, audio: np.ndarray, tick: int) -> None:
        self.video.put(frame, tick)
        self.audio.put(audio, tick)
