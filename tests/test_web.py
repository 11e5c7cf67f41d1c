"""The console's token and its web app without a browser: who may act, what a page never
shows, the event stream and /metrics (the browser tests are in test_console.py)."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamer.config import settings_from_dict
from streamer.daemon import Daemon, PrintSink
from streamer.web.auth import ConsoleTokenError, allowed, console_token, is_loopback
from streamer.web.events import EventBus
from tests.test_chat_moderation import ScriptedChat
from tests.test_publisher import free_port


def test_the_token_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "console_token"
    token, created = console_token(path, {}, "STREAMER_CONSOLE_TOKEN")
    assert created and len(token) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert console_token(path, {}, "STREAMER_CONSOLE_TOKEN") == (token, False)
    env = {"STREAMER_CONSOLE_TOKEN": "x" * 20}
    assert console_token(path, env, "STREAMER_CONSOLE_TOKEN") == ("x" * 20, False)
    with pytest.raises(ConsoleTokenError, match="too short"):
        console_token(path, {"STREAMER_CONSOLE_TOKEN": "short"}, "STREAMER_CONSOLE_TOKEN")
    assert allowed(token, token) and not allowed("", token) and not allowed(token, "")
    assert not allowed(token[:-1] + "?", token)


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


async def test_state_events_are_coalesced_and_late_pages_see_what_is_on_air() -> None:
    bus = EventBus()
    bus.publish("verdict", user="alice", outcome="accepted", reason="ok", detail="")
    bus.publish("question", question={"answer_id": "a", "text": "why?"})
    bus.publish("caption", answer_id="a", index=0, text="Because.")
    events = bus.listen()
    seen = [await anext(events) for _ in range(3)]
    assert [e["type"] for e in seen] == ["verdict", "question", "caption"]
    for _ in range(5):
        bus.changed()
    bus.publish("question", question=None)
    assert (await anext(events))["type"] == "state"
    assert (await anext(events))["type"] == "question"  # only one "state" waited
    await events.aclose()
    assert bus.listeners == 0 and "caption" not in bus.current


def _settings(tmp_path: Path, **status: object) -> object:
    return settings_from_dict(
        {
            "data_dir": str(tmp_path / "data"),
            "log": {"file": False},
            "pool": {"interval_s": 0.05, "policy": "fifo"},
            "filters": {"user_cooldown_s": 0},
            "status": {"port": free_port(), **status},
        },
        base=tmp_path,
    )


def test_a_console_on_a_public_address_needs_a_token_chosen_first(tmp_path: Path) -> None:
    settings = _settings(tmp_path, host="0.0.0.0")
    daemon = Daemon(settings, env={}, sink=PrintSink(None), chat=ScriptedChat())  # type: ignore[arg-type]
    with pytest.raises(ConsoleTokenError, match="STREAMER_CONSOLE_TOKEN"):
        daemon.web.token()
    assert not (tmp_path / "data" / "console_token").exists()
    daemon.store.close()


async def test_actions_need_the_token_and_pages_never_show_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streamer.web.server.HEARTBEAT_S", 0.2)
    settings = _settings(tmp_path)
    chat = ScriptedChat()
    token = "t" * 24
    daemon = Daemon(
        settings,
        env={"STREAMER_CONSOLE_TOKEN": token},
        sink=PrintSink(None),
        chat=chat,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(daemon.run())
    base = f"http://127.0.0.1:{settings.status.port}"  # type: ignore[attr-defined]
    try:
        async with asyncio.timeout(10):
            await daemon.web.server.ready.wait()
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/api/state") as got:
                assert (await got.json())["actions"] is True
            for path in ("/", "/overlay", "/api/state", "/status", "/metrics"):
                async with http.get(base + path) as got:
                    assert got.status == 200, path
                    assert token not in await got.text(), path
            # Refused: no token, a wrong one, a GET.
            for headers in ({}, {"X-Streamer-Token": "wrong" * 5}):
                async with http.post(base + "/api/pause", headers=headers) as got:
                    assert got.status == 403
            async with http.get(base + "/api/pause") as got:
                assert got.status == 405
            assert daemon.control.state.paused is False
            good = {"X-Streamer-Token": token}
            async with http.post(base + "/api/pause", headers=good) as got:
                assert got.status == 200 and (await got.json())["ok"]
            assert daemon.control.state.paused is True
            async with http.post(base + "/api/drop", headers=good, json={"id": "nope"}) as got:
                assert got.status == 400
            async with http.post(base + "/api/block", headers=good, json={"user": "b@d"}) as got:
                assert got.status == 400
            async with http.get(base + "/metrics") as got:
                families = {f.name for f in text_string_to_metric_families(await got.text())}
            assert {"streamer_questions", "streamer_publisher_fps"} <= families
            async with http.get(base + "/status") as got:
                assert json.loads(await got.text())["paused"] is True
            # A page of another site that rebinds its name to 127.0.0.1: not served.
            async with http.get(base + "/api/state", headers={"Host": "evil.example"}) as got:
                assert got.status == 421
            async with http.get(base + "/") as got:
                assert got.headers["X-Frame-Options"] == "DENY"
            offer = {"sdp": "v=0", "type": "offer"}
            async with http.post(base + "/api/preview", json=offer) as got:
                assert got.status == 403
            # The event stream lives through its heartbeats and still delivers.
            async with http.get(base + "/events") as events:
                assert (await events.content.readline()).startswith(b": connected")
                await events.content.readline()
                for _ in range(3):  # heartbeats, HEARTBEAT_S apart
                    assert (await events.content.readline()).startswith(b": ping")
                    await events.content.readline()
                daemon.web.bus.publish("caption", answer_id="x", index=0, text="still here")
                line = await events.content.readline()
                assert json.loads(line.removeprefix(b"data: "))["text"] == "still here"
    finally:
        daemon.request_stop()
        chat.events.put_nowait(None)
        async with asyncio.timeout(30):
            assert await task == 0


async def test_the_preview_tracks_keep_sound_and_picture_together() -> None:
    """Both tracks are stamped from the same ticks: after any number of frames the
    video and the audio timestamps agree to the sample (the RTMP stream's own sync)."""
    import numpy as np

    from streamer.web.preview_tracks import AudioTrack, VideoTrack

    fps, rate = 25, 48000
    video, audio = VideoTrack(fps), AudioTrack(rate, fps)
    frame = np.full((36, 64, 3), 200, np.uint8)
    for tick in range(60):
        if tick % 7 == 3:
            continue  # a frame a slow viewer lost: the next keeps its own time
        video.put(frame, tick)
        audio.put(np.zeros(rate // fps, np.int16), tick)
        v, a = await video.recv(), await audio.recv()
        assert (v.width, v.height) == (64, 36)
        assert float(v.pts * v.time_base) == pytest.approx(float(a.pts * a.time_base), abs=1e-9)
        assert float(v.pts * v.time_base) == pytest.approx(tick / fps)
    video.stop()
    audio.stop()


def test_voice_activity_ends_an_utterance_after_a_pause() -> None:
    """Speech, then 0.7 s of quiet, ends one utterance; a click is not speech; a long
    monologue is cut at the cap; nothing arriving (the button released) is quiet."""
    import numpy as np

    from streamer.web.host_voice import MAX_UTTERANCE_S, RATE, Utterances

    rng = np.random.default_rng(0)
    noise = lambda s: (rng.standard_normal(int(RATE * s)) * 0.001).astype(np.float32)  # noqa: E731
    t = np.arange(int(RATE * 1.2)) / RATE
    speech = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    vad = Utterances()
    assert vad.feed(noise(1.0)) == []
    assert vad.feed(speech) == []  # still talking
    ended = vad.feed(noise(1.0))
    assert len(ended) == 1 and 1.2 <= len(ended[0]) / RATE <= 2.0
    click = np.zeros(int(RATE * 0.04), np.float32)
    click[:160] = 0.5
    assert vad.feed(click) + vad.feed(noise(1.0)) == []  # too short to be speech
    assert vad.feed(speech) == [] and len(vad.silence(0.9)) == 1
    long = np.tile(speech, int(MAX_UTTERANCE_S / 1.2) + 2)
    assert len(vad.feed(long)) == 1


async def test_state_survives_a_queue_that_overflows() -> None:
    from streamer.web.events import QUEUE_SIZE

    bus = EventBus()
    events = bus.listen()
    bus.publish("caption", answer_id="a", index=0, text="first")
    assert (await anext(events))["text"] == "first"  # registered now
    bus.changed()  # a pending state...
    for i in range(QUEUE_SIZE):
        bus.publish("caption", answer_id="a", index=i, text=str(i))  # ... evicted
    for _ in range(QUEUE_SIZE):
        await anext(events)
    bus.changed()  # a new state event must come through
    assert (await anext(events))["type"] == "state"
    await events.aclose()


def test_piper_clauses_drop_language_marks_and_survive_odd_cuts() -> None:
    from streamer.tts.piper import sentences

    assert sentences("Ein Update.", ["aɪn (en)ˈʌpdeɪt(de)"]) == ["aɪn ˈʌpdeɪt."]
    # espeak's own lines: "U.S." ends no clause, so the marks cannot be paired by
    # position; the question still ends as a question.
    odd = sentences("The U.S. economy grew. Did it?", ["ðə jˌuːˈɛs ɪkˈɑːnəmi ɡɹˈuː", "dˈɪd ɪt"])
    assert odd == ["ðə jˌuːˈɛs ɪkˈɑːnəmi ɡɹˈuː, dˈɪd ɪt?"]
    # A mark inside quotes still ends its clause.
    quoted = sentences('He said "wow!" and left. Really?', ["hiː sˈɛd wˈaʊ", "ænd lˈɛft", "ɹˈiəli"])
    assert quoted == ["hiː sˈɛd wˈaʊ!", "ænd lˈɛft.", "ɹˈiəli?"]
