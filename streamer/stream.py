"""The media end of the chain: VideoBuilder → Publisher → RTMP, as one next stage.

It owns the avatar, the voice and lip-sync engines (through the VideoBuilder), the one
long-lived publisher, and, for a loopback ``output.rtmp_url`` with nobody listening, a
local nginx-rtmp server it starts and stops with the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streamer.avatar import load_avatar
from streamer.builder import VideoBuilder
from streamer.config import Settings
from streamer.faults import Faults
from streamer.lipsync import make_lipsync
from streamer.messages import AnswerMessage
from streamer.publisher import Publisher
from streamer.rtmp_server import RtmpServer, is_listening
from streamer.speech_text import SpeechText
from streamer.tts import make_tts

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def local_rtmp_port(url: str) -> int | None:
    """The port of a loopback rtmp:// URL, else None."""
    parts = urlsplit(url)
    if parts.scheme != "rtmp" or parts.hostname not in LOOPBACK:
        return None
    return parts.port or 1935


class MediaStage:
    """Segments in, a live RTMP stream out. It reports playback (the publisher's
    ``first_frame`` and ``answer_done`` events) through ``on_event``; ``on_fatal`` hears
    of a failure it cannot mend (the daemon exits with that reason)."""

    reports_playback = True

    def __init__(
        self,
        settings: Settings,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_fatal: Callable[[str], None] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.settings = settings
        output = settings.output
        self.avatar = load_avatar(
            settings.avatar.source,
            output.width,
            output.height,
            output.fps,
            settings.avatar.max_seconds,
            mouth_box=tuple(settings.lipsync.mouth_box) if settings.lipsync.mouth_box else None,
        )
        if output.answers_dir is None and output.keep_answers:
            output = output.model_copy(update={"answers_dir": default_answers_dir()})
        self.publisher = Publisher(
            output, self.avatar.frame, on_event=on_event, on_fatal=on_fatal, faults=faults
        )
        self.builder = VideoBuilder(
            make_tts(settings.tts, settings.channel.language),
            make_lipsync(settings.lipsync, data_dir=settings.data_dir, avatar=settings.avatar),
            self.avatar,
            output,
            self.publisher,
            speech_text=SpeechText(settings.tts.text, language=settings.channel.language),
            on_fatal=on_fatal,
            faults=faults,
        )
        self.server: RtmpServer | None = None

    async def start(self) -> None:
        port = local_rtmp_port(self.settings.output.rtmp_url)
        if (
            self.settings.output.start_rtmp_server
            and port is not None
            and not await asyncio.to_thread(is_listening, "127.0.0.1", port)
        ):
            self.server = RtmpServer(
                self.settings.data_dir, port=port, host=self.settings.output.rtmp_server_host
            )
            started = time.monotonic()
            await asyncio.to_thread(self.server.start)
            log.info(
                "local nginx-rtmp listening on 127.0.0.1:%d (%.2f s); watch it with: "
                "ffplay -fflags nobuffer %s",
                port,
                time.monotonic() - started,
                self.settings.output.rtmp_url,
            )
        await self.builder.start()
        self.publisher.start()

    async def close(self) -> None:
        # Blocking joins and process stops run in a thread: the event loop (and so a
        # second Ctrl-C) stays responsive.
        await self.builder.close()
        await asyncio.to_thread(self.publisher.close, 5.0)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
            self.server = None

    def abort(self) -> None:
        self.publisher.abort()
        if self.server is not None:
            self.server.kill()

    async def __call__(self, item: AnswerMessage) -> None:
        await self.builder(item)

    def skip(self, answer_id: str) -> None:
        self.publisher.skip(answer_id)

    def status(self) -> dict[str, Any]:
        stats = self.builder.stats
        return {
            "kind": "stream",
            "rtmp_url": self.settings.output.rtmp_url,
            "local_rtmp_server": self.server is not None,
            "publisher": self.publisher.status(),
            "builder": {
                "segments": stats.segments,
                "failed_segments": stats.failed_segments,
                "media_s": round(stats.media_s, 2),
                "real_time_factor": round(stats.real_time_factor, 3),
            },
        }


def default_answers_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "media" / "answers"
