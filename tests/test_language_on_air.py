"""A French channel through the daemon: `streamer run` with video to a real nginx-rtmp,
a French replay, the real openai client against the local LLM server, and espeak-ng's
French voice (tts.engine auto: the packaged Piper voice is English).

The askers get their replies in French, what the voice reads (its DEBUG line, exactly
its input) says the numbers, times and money in French words with no digit and no
English number word, the stream carries the speech, and the NEXT question is answered.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from streamer.rtmp_server import RtmpServer
from streamer.store import Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.media_reader import StreamReader
from tests.test_broadcast import speech_regions
from tests.test_faults_media import on_air, outcomes
from tests.test_publisher import needs_media
from tests.test_speech_language import ENGLISH_NUMBER_WORDS

pytestmark = [pytest.mark.slow, needs_media]

ANSWERS = {
    "heure": "Il est 17 h 30, et le café coûte 2,50 € depuis le 1er mars.",
    "couleur": "Ma couleur préférée est le bleu, comme la mer en 2024.",
}


async def test_a_french_channel_replies_and_speaks_in_french(
    tmp_path: Path, server: RtmpServer
) -> None:
    chat = tmp_path / "chat.jsonl"
    lines = [
        {"user": "alice", "text": "!ask quelle heure est-il ?"},
        {"user": "bob", "text": "!ask hé", "delay_s": 0.2},  # too short: refused in French
        {"user": "bob", "text": "!ask quelle est ta couleur préférée ?", "delay_s": 0.2},
    ]
    chat.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")

    def route(messages: list[dict[str, object]]) -> Scenario | None:
        asked = str(messages[-1].get("content", ""))
        for word, answer in ANSWERS.items():
            if word in asked:
                return Scenario.reply(answer)
        return None

    reader = StreamReader(server.url(), rw_timeout_s=30).start()
    try:
        async with (
            FakeOpenAIServer(default=Scenario.reply("Bonjour."), route=route) as llm,
            on_air(
                tmp_path, server.url(), "--set", "channel.language=fr",
                "--set", "tts.engine=auto", "--set", "tts.rate_wpm=240",
                "--set", "chat.source=replay", "--set", f"chat.replay_file={chat}",
                "--set", "chat.replay_speed=1", "--set", "log.level=DEBUG",
                "--set", "filters.user_cooldown_s=0",
                llm=llm,
            ) as daemon,
        ):  # fmt: skip
            first = await daemon.ended("heure", within_s=90)
            second = await daemon.ended("couleur", within_s=90)
            assert await daemon.finish(within_s=60) == 0, daemon.tail()
            system = llm.requests[0].body["messages"][0]["content"]
    finally:
        report = await asyncio.to_thread(reader.stop)
    assert first["outcome"] == "done" and second["outcome"] == "done"
    messages = [str(e["message"]) for e in daemon.log]
    said = [m.removeprefix("chat> ") for m in messages if m.startswith("chat> ")]
    assert "@alice, ta question est dans la file" in said, said
    assert "@bob, ta question est trop courte (au moins 5 caractères)" in said, said
    assert "@alice, je réponds maintenant" in said, said
    # The model is asked to answer in French (the language's default persona).
    assert "en français" in system
    ready = next(m for m in messages if m.startswith("video builder ready"))
    assert "espeak-ng (voice fr-fr" in ready, ready
    spoken = " ".join(m for m in messages if m.startswith("voice input:"))
    assert "dix-sept heures trente" in spoken, spoken
    assert "deux euros et cinquante centimes" in spoken, spoken
    assert "premier mars" in spoken and "deux mille vingt-quatre" in spoken, spoken
    assert not re.search("[0-9]", spoken.replace("voice input:", "")), spoken
    assert not ENGLISH_NUMBER_WORDS.search(spoken), spoken
    # Both answers were heard on the stream (back to back: maybe one region), both on air.
    regions = speech_regions(report)
    assert sum(end - start for start, end in regions) > 4.0, regions
    assert sum(" on air" in m and m.startswith("answer ") for m in messages) >= 2
    states = outcomes(tmp_path)
    assert states["quelle est ta couleur préférée ?"] == (Status.DONE, "done")
