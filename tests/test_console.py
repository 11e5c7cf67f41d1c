"""The operator console, the OBS overlay and /metrics in a real browser: Debian's chromium
driven headless by Playwright, against `streamer run` as a process streaming to a real
nginx-rtmp, read back by a real ffmpeg reader."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamer.rtmp_server import RtmpServer
from streamer.store import Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.media_reader import StreamReader
from tests.test_broadcast import AAC_DELAY_S, SILENT, check_continuous, loudest, speech_regions
from tests.test_faults_media import LONG, ONE_SENTENCE, on_air, outcomes
from tests.test_publisher import needs_media
from tests.test_voice_dataset import random_whisper, whisper

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason="needs Debian's chromium (scripts/setup.sh --tests)"
)
pytestmark = [pytest.mark.slow, needs_media, needs_chromium]
__all__ = ["random_whisper", "whisper"]  # fixtures

TOKEN = "console-token-for-the-tests-0123456789"
# As the machine's notes say: no background traffic (the network is closed), no sandbox
# as root, a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_console_overlay_and_metrics(
    tmp_path: Path, server: RtmpServer, browser: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console lists the questions; without the token an action is refused (403);
    "Answer next" puts one on air; the overlay shows its question and the caption on
    air; Skip takes it off air (the idle loop within 200 ms on the RTMP reader) and the
    overlay clears; Drop and Block work; /metrics parses and its counters match."""
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    monkeypatch.setenv("STREAMER_CONSOLE_TOKEN", TOKEN)
    async with FakeOpenAIServer(default=Scenario.reply(ONE_SENTENCE)) as llm:
        llm.push(Scenario.reply(LONG))
        reader = StreamReader(server.url(), rw_timeout_s=20).start()
        try:
            # Picks only by the console: the first pick (at start) finds the pool empty.
            async with on_air(
                tmp_path, server.url(), "--set", "pool.interval_s=3600", llm=llm
            ) as daemon:
                base = f"http://127.0.0.1:{daemon.status_port}"
                for user, text in (
                    ("alice", "tell me a long story please"),
                    ("bob", "what is your favourite colour?"),
                    ("carol", "do you like trains or boats?"),
                ):
                    await daemon.say(f"/as {user}")
                    await daemon.say(f"!ask {text}")
                console = await browser.new_page()
                overlay = await browser.new_page()
                await console.goto(base + "/")
                await overlay.goto(base + "/overlay")
                rows = console.locator("#pool tbody tr")
                await expect(rows).to_have_count(3, timeout=15_000)
                await expect(console.locator("#pool")).to_contain_text("tell me a long story")
                await expect(console.locator("[data-health=publisher]")).to_have_class("up")

                # No token yet: refused, nothing changes.
                alice = console.locator("tr", has_text="long story")
                await alice.locator("button[data-next]").click()
                await expect(console.locator("#message")).to_contain_text("403")
                async with aiohttp.ClientSession() as http:
                    async with http.post(base + "/api/skip") as answer:
                        assert answer.status == 403
                    async with http.get(base + "/") as page:
                        assert TOKEN not in await page.text()
                await expect(rows).to_have_count(3)

                await console.fill("#token", TOKEN)
                await console.click("#token-form button")
                await alice.locator("button[data-next]").click()
                await daemon.on_air("long story")
                await expect(console.locator("#on-air")).to_contain_text("long story")
                await expect(overlay.locator("#question-text")).to_have_text(
                    "tell me a long story please"
                )
                await expect(overlay.locator("#asker")).to_have_text("alice")
                await expect(overlay.locator("#caption")).to_contain_text("long story")
                assert await overlay.locator("#overlay").get_attribute("class") == ""

                await asyncio.sleep(0.8)  # speech is on air (seen by the reader)
                state = await daemon.status()
                skip_at = state["next_stage"]["publisher"]["stream_time_s"]
                await console.click("#skip")
                await expect(overlay.locator("#overlay")).to_have_class("hidden")
                await expect(console.locator("#on-air")).to_have_text("idle loop")

                bob = console.locator("tr", has_text="favourite colour")
                await bob.locator("button[data-drop]").click()
                carol = console.locator("tr", has_text="trains or boats")
                await carol.locator("button[data-block]").click()
                await expect(rows).to_have_count(0)
                await expect(console.locator("#history")).to_contain_text("skipped")

                async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as got:
                    metrics = await got.text()
                await asyncio.to_thread(reader.wait_until, skip_at + 3.0, 30)
                assert await daemon.finish() == 0, daemon.tail()
        finally:
            report = await asyncio.to_thread(reader.stop)

    states = outcomes(tmp_path)
    assert states["tell me a long story please"] == (Status.DROPPED, "skipped")
    assert states["what is your favourite colour?"][0] is Status.DROPPED
    assert states["do you like trains or boats?"][0] is Status.DROPPED
    blocked = (tmp_path / "data" / "blocked_users.txt").read_text()
    assert "carol" in blocked.split()
    # Off air within 200 ms of the click.
    check_continuous(report)
    during = [(a, b) for a, b in speech_regions(report) if a <= skip_at + 0.05 < b + 0.3]
    assert during, (skip_at, speech_regions(report))
    assert during[0][1] <= skip_at + AAC_DELAY_S + 0.2, (skip_at, during)
    assert loudest(report, skip_at + AAC_DELAY_S + 0.2, skip_at + 1.2) < SILENT
    # The metrics say what happened.
    assert metric(metrics, "streamer_questions_total", outcome="accepted") == 3
    assert metric(metrics, "streamer_questions_total", outcome="skipped", reason="skipped") == 1
    assert metric(metrics, "streamer_pick_to_first_frame_seconds_count") == 1
    assert metric(metrics, "streamer_publisher_frames_total") > 25
    assert metric(metrics, "streamer_chat_messages_total", result="sent") >= 3  # the acks


async def test_the_preview_plays_the_stream(
    tmp_path: Path, server: RtmpServer, browser: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's preview: WebRTC from the daemon, fed from the publisher's frames; the
    <video> element's time advances and a frame drawn from it shows the avatar. Without
    the token it is refused (it may carry the host's voice)."""
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    monkeypatch.setenv("STREAMER_CONSOLE_TOKEN", TOKEN)
    async with on_air(tmp_path, server.url()) as daemon:
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{daemon.status_port}/")
        await page.click("#watch")
        await expect(page.locator("#preview-state")).to_contain_text("console token")
        await page.fill("#token", TOKEN)
        await page.click("#token-form button")
        await page.click("#watch")
        await page.wait_for_function(
            "document.querySelector('#preview').currentTime > 1.5", timeout=20_000
        )
        brightness = await page.evaluate(
            """() => {
                const video = document.querySelector('#preview');
                const canvas = document.createElement('canvas');
                canvas.width = video.videoWidth; canvas.height = video.videoHeight;
                const g = canvas.getContext('2d');
                g.drawImage(video, 0, 0);
                const pixels = g.getImageData(0, 0, canvas.width, canvas.height).data;
                let sum = 0;
                for (let i = 0; i < pixels.length; i += 4) {
                    sum += pixels[i] + pixels[i + 1] + pixels[i + 2];
                }
                return [canvas.width, canvas.height, sum / (pixels.length / 4) / 3];
            }"""
        )
        state = await page.text_content("#preview-state")
        status = await daemon.status()
        await page.click("#watch")  # stop watching
        assert await daemon.finish() == 0, daemon.tail()
    width, height, mean = brightness
    assert (width, height) == (640, 360), brightness
    assert mean > 20, brightness  # the avatar, not a black frame
    assert state == "connected"
    assert status["next_stage"]["publisher"]["state"] == "streaming"


@pytest.fixture
def spoken_wav(tmp_path: Path) -> Path:
    """A question spoken by espeak-ng, then two seconds of quiet, as a 16-bit WAV (what
    chromium plays as its fake microphone, in a loop)."""
    import subprocess
    import wave

    raw = tmp_path / "raw.wav"
    subprocess.run(
        ["espeak-ng", "-s", "150", "-w", str(raw), "what is the weather like on the moon"],
        check=True,
    )
    with wave.open(str(raw)) as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    out = tmp_path / "question.wav"
    with wave.open(str(out), "wb") as dst:
        dst.setparams(params)
        dst.writeframes(frames + b"\0" * params.sampwidth * params.framerate * 2)
    return out


async def test_push_to_talk_asks_the_hosts_question_next(
    tmp_path: Path,
    server: RtmpServer,
    spoken_wav: Path,
    random_whisper: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hold to talk: chromium's fake microphone (a WAV of espeak speech) goes over the
    preview's WebRTC connection, voice activity ends the utterance, a Whisper model with
    random weights built here transcribes it, and the host's question is answered next,
    ahead of a viewer's question waiting in the pool."""
    from playwright.async_api import async_playwright, expect

    monkeypatch.setenv("STREAMER_CONSOLE_TOKEN", TOKEN)
    fake_mic = [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={spoken_wav}",
    ]  # fmt: skip
    extra = (
        "--set", "pool.interval_s=3600", "--set", f"status.host_voice_model={random_whisper}",
        "--set", "status.host_voice_language=en", "--set", "status.host_name=Host",
    )  # fmt: skip
    async with async_playwright() as p, on_air(tmp_path, server.url(), *extra) as daemon:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_mic)
        try:
            await daemon.say("/as viewer1")
            await daemon.say("!ask a question from a viewer that waits")
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{daemon.status_port}/")
            await page.fill("#token", TOKEN)
            await page.click("#token-form button")
            await expect(page.locator("#pool tbody tr")).to_have_count(1, timeout=15_000)
            await page.click("#watch")
            await expect(page.locator("#preview-state")).to_have_text("connected", timeout=20_000)
            await page.locator("#talk").dispatch_event("pointerdown")
            await expect(page.locator("#talk-state")).to_contain_text("asked", timeout=40_000)
            await page.locator("#talk").dispatch_event("pointerup")
            asked = await daemon.wait(lambda e: "host question" in str(e["message"]))
            short = str(asked["message"]).split()[2]
            await daemon.wait(lambda e: str(e["message"]).startswith(f"answer {short} on air"))
            state = await daemon.status()
        finally:
            await browser.close()
        await daemon.say("/as operator broadcaster")
        await daemon.say("!skip")  # random weights babble: no need to hear it all
        await daemon.say("!clear")  # the viewer's question would wait an hour
        assert await daemon.finish() == 0, daemon.tail()
    assert state["pool"]["pooled"] == 1  # the viewer's question still waited
    writing = daemon.find(lambda e: "writing answer" in str(e["message"]))
    assert short in str(writing[0]["message"])  # the host's was the first answered
