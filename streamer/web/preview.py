"""The console's live preview: WebRTC (aiortc) fed from the frames and PCM the publisher
sends, not from a second render.

* The publisher's pacing thread calls ``PreviewFeed.tap`` with each frame and its
  samples once ffmpeg took them (only while someone watches: the tap is off otherwise,
  so nothing is copied or encoded for nobody). The tap only hops onto the event loop.
* Each viewer gets one ``RTCPeerConnection`` with a video and an audio track; both are
  stamped from the same tick count (video at 90 kHz, audio at the stream's rate), so the
  browser plays them in sync, as the RTMP stream does. Video is scaled to
  ``status.preview_width`` x ``preview_height`` (640x360) before aiortc encodes it
  (VP8, in aiortc's encoder thread).
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

import numpy as np

log = logging.getLogger(__name__)

QUEUE_FRAMES = 25  # about a second of frames a slow viewer may lag before frames drop


class PreviewFeed:
    """Fans the publisher's frames out to the viewers' tracks (see the module doc)."""

    def __init__(self, fps: int, rate: int, size: tuple[int, int]) -> None:
        self.fps, self.rate, self.size = fps, rate, size
        self._viewers: set[_Viewer] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.frames = 0  # frames handed to viewers since start
        # The viewer's microphone (push-to-talk), when it sends one: the host's voice.
        self.on_microphone: Callable[[Any], None] | None = None

    @property
    def watching(self) -> bool:
        return bool(self._viewers)

    def tap(self, frame: np.ndarray, audio: np.ndarray) -> None:
        """From the pacing thread: one frame and its samples, as ffmpeg took them."""
        loop = self._loop
        if loop is None or not self._viewers:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the daemon is stopping
            loop.call_soon_threadsafe(self._fan_out, frame, audio)

    def _fan_out(self, frame: np.ndarray, audio: np.ndarray) -> None:
        self.frames += 1
        for viewer in list(self._viewers):
            viewer.put(frame, audio)

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
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    async def drop(self, viewer: _Viewer) -> None:
        if viewer in self._viewers:
            self._viewers.discard(viewer)
            log.info("preview: a viewer left (%d watching)", len(self._viewers))
        await viewer.pc.close()

    async def close(self) -> None:
        for viewer in list(self._viewers):
            await self.drop(viewer)


class _Viewer:
    def __init__(self, feed: PreviewFeed, pc: Any) -> None:
        from streamer.web.preview_tracks import AudioTrack, VideoTrack

        self.pc = pc
        self.video = VideoTrack(feed.fps, feed.size)
        self.audio = AudioTrack(feed.rate)

    def put(self, frame: np.ndarray, audio: np.ndarray) -> None:
        self.video.put(frame)
        self.audio.put(audio)
