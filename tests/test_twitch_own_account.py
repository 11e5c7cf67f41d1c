"""A bot on the broadcaster's own account (``twitch.bot_id == twitch.owner_id``), the
way many small channels run it: one token serves chat and the broadcaster's features,
the broadcaster's own chat lines are read, and only the lines we sent are our echo."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamer.chat.twitch import TwitchChatSource, set_twitchio_endpoints, twitchio_endpoints
from streamer.chat.twitch_login import BOT_SCOPES, BROADCASTER_SCOPES
from streamer.messages import ChatMessage, ChatModeration
from streamer.secrets import load_twitch_tokens
from tests.fakes.twitch_server import FakeTwitch, FakeUser

OWNER = FakeUser("2002", "streamer", "Streamer")


@pytest.fixture
async def twitch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTwitch]:
    monkeypatch.chdir(tmp_path)
    endpoints = twitchio_endpoints()
    try:
        async with FakeTwitch(bot=OWNER, owner=OWNER) as fake:
            yield fake
    finally:
        set_twitchio_endpoints(*endpoints)


async def test_one_token_serves_chat_bans_and_the_broadcasters_own_lines(
    twitch: FakeTwitch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamer.chat.twitch")
    tokens = twitch.issue_user_token(OWNER.id, BOT_SCOPES + BROADCASTER_SCOPES)
    twitch.expire_user_tokens()  # refreshed at start: into the bot's own file
    path = tmp_path / "data" / "twitch_tokens.json"
    chat = TwitchChatSource(twitch.settings(), tokens, twitch.client_secret, token_path=path)
    await chat.start()
    stream = chat.messages()
    try:
        await chat.wait_tokens_saved(1)
        await chat.send("@alice, your question is in the queue")
        await twitch.inject_chat("streamer", "@alice, your question is in the queue")  # echo
        await twitch.inject_chat("streamer", "!ask what do you think of my stream?")
        await twitch.ban("troll", "streamer")
        async with asyncio.timeout(5):
            first = await anext(stream)
            second = await anext(stream)
        assert isinstance(first, ChatMessage)
        assert first.text == "!ask what do you think of my stream?"
        assert isinstance(second, ChatModeration) and second.user == "troll"
    finally:
        await stream.aclose()
        await chat.close()
    assert load_twitch_tokens(path, env={}).user_id == OWNER.id
    assert "bans and timeouts are not seen" not in caplog.text
    assert "Missing scope" not in caplog.text
