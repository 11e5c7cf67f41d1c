"""Twitch chat end to end: the real twitchio client against the local fake Twitch.

The fake (tests/fakes/twitch_server.py) plays OAuth, Helix and the EventSub WebSocket;
nothing of twitchio or of our code is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from streamer.chat.base import ChatSendError
from streamer.chat.sender import ChatRateLimitedError, RateLimitedSender, limit_for
from streamer.chat.twitch import (
    TwitchAuthError,
    TwitchChatSource,
    TwitchConnectError,
    set_twitchio_endpoints,
    twitchio_endpoints,
)
from streamer.chat.twitch_login import TwitchLoginError, device_code_login
from streamer.chat.twitch_points import MANAGE_SCOPE
from streamer.messages import ChatMessage, ChatModeration, Role
from streamer.secrets import load_twitch_tokens
from tests.fakes.twitch_server import FakeTwitch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
async def twitch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeTwitch]:
    """A running fake Twitch. twitchio's endpoint globals are restored afterwards, and the
    test runs in tmp_path so a stray `.tio.tokens.json` would be seen."""
    monkeypatch.chdir(tmp_path)
    endpoints = twitchio_endpoints()
    try:
        async with FakeTwitch() as fake:
            yield fake
    finally:
        set_twitchio_endpoints(*endpoints)


@pytest.fixture
def token_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "twitch_tokens.json"


@pytest.fixture
async def source(twitch: FakeTwitch, token_path: Path) -> AsyncIterator[TwitchChatSource]:
    chat = TwitchChatSource(
        twitch.settings(), twitch.bot_tokens, twitch.client_secret, token_path=token_path
    )
    await chat.start()
    yield chat
    await chat.close()


@contextlib.asynccontextmanager
async def reading(chat: TwitchChatSource) -> AsyncIterator[Callable[[], Awaitable[ChatMessage]]]:
    """``next_message()`` with a timeout, on one ``messages()`` iterator closed at the end."""
    stream = chat.messages()

    async def next_message() -> ChatMessage:
        async with asyncio.timeout(5):
            return await anext(stream)

    try:
        yield next_message
    finally:
        await stream.aclose()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_no_twitchio_token_file(tmp_path: Path) -> None:
    for folder in (tmp_path, REPO, Path.cwd()):
        assert not list(folder.rglob(".tio.tokens.json")), f".tio.tokens.json in {folder}"


# ---------------------------------------------------------------------- chat in and out


async def test_ask_arrives_and_ack_reaches_helix(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    async with reading(source) as next_message:
        message_id = await twitch.inject_chat(
            "Alice", "!ask what is your favourite colour?", badges={"subscriber": "12", "vip": "1"}
        )
        message = await next_message()

    alice = twitch.user("alice")
    assert message.user == "alice"
    assert message.display_name == "Alice"
    assert message.user_id == alice.id
    assert message.text == "!ask what is your favourite colour?"
    assert message.badges == frozenset({"subscriber", "vip"})
    assert message.role is Role.VIP
    assert message.bits == 0
    assert message.first_message is False
    assert message.message_id == message_id

    assert source.bot_is_moderator is False
    sender = RateLimitedSender(source.send, limit=limit_for(source.bot_is_moderator))
    sender.start()
    sender.say(f"@{message.name}, your question is in the queue")
    await twitch.wait_until(lambda: len(twitch.sent_chat) == 1)
    await sender.close()

    (sent,) = twitch.sent_chat
    assert sent.broadcaster_id == twitch.owner.id
    assert sent.sender_id == twitch.bot.id
    assert sent.message == "@Alice, your question is in the queue"
    assert sender.sent == 1 and sender.pending == 0


async def test_badges_bits_intro_and_own_messages(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    async with reading(source) as next_message:
        await twitch.inject_chat(twitch.bot.login, "@Alice, your question is in the queue")
        await twitch.inject_chat("TheBroadcaster", "!ask hi", badges=["broadcaster", "subscriber"])
        await twitch.inject_chat("modder", "!skip", badges=["moderator"])
        await twitch.inject_chat("cheerful", "Cheer100 !ask a paid question", bits=100)
        await twitch.inject_chat(
            "newbie", "hello everyone, first time here", message_type="user_intro"
        )
        got = [await next_message() for _ in range(4)]

    assert [m.user for m in got] == ["thebroadcaster", "modder", "cheerful", "newbie"]
    assert got[0].badges == frozenset({"broadcaster", "subscriber"})
    assert got[0].role is Role.BROADCASTER
    assert got[1].role is Role.MODERATOR
    assert got[2].bits == 100 and got[2].text == "Cheer100 !ask a paid question"
    assert got[3].first_message is True and got[3].role is Role.FIRST_TIME
    assert source.received == 4


async def test_send_errors_become_chat_send_error(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    twitch.fail_chat("drop")
    with pytest.raises(ChatSendError, match="msg_duplicate"):
        await source.send("hello")
    twitch.fail_chat("429")
    with pytest.raises(ChatRateLimitedError, match="429"):
        await source.send("hello")
    with pytest.raises(ChatSendError, match="500"):
        await source.send("x" * 501)
    await source.send("hello")
    assert [a.outcome for a in twitch.chat_attempts] == ["dropped", "429", "sent"]


async def test_queue_overflow_drops_oldest(
    twitch: FakeTwitch, token_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chat = TwitchChatSource(
        twitch.settings(),
        twitch.bot_tokens,
        twitch.client_secret,
        token_path=token_path,
        queue_size=3,
    )
    await chat.start()
    try:
        for i in range(5):
            await twitch.inject_chat("spammer", f"line {i}")
        async with asyncio.timeout(5):
            await chat.wait_received(5)
        assert "dropping the oldest" in caplog.text
        async with reading(chat) as next_message:
            assert [(await next_message()).text for _ in range(3)] == ["line 2", "line 3", "line 4"]
    finally:
        await chat.close()
    assert chat.dropped == 2


async def test_close_ends_messages(twitch: FakeTwitch, token_path: Path) -> None:
    chat = TwitchChatSource(
        twitch.settings(), twitch.bot_tokens, twitch.client_secret, token_path=token_path
    )
    await chat.start()
    stream = chat.messages()
    waiter = asyncio.create_task(anext(stream, None))
    await chat.close()
    assert await asyncio.wait_for(waiter, 5) is None
    await stream.aclose()
    await twitch.wait_until(lambda: twitch.open_sessions == 0)


# ---------------------------------------------------------------------- restart


async def test_live_source_restarts_after_close(twitch: FakeTwitch, token_path: Path) -> None:
    chat = TwitchChatSource(
        twitch.settings(), twitch.bot_tokens, twitch.client_secret, token_path=token_path
    )
    assert chat.live is True
    await chat.start()
    try:
        first = chat.messages()
        await twitch.inject_chat("alice", "first run")
        assert (await asyncio.wait_for(anext(first), 5)).text == "first run"
        await chat.close()
        assert await asyncio.wait_for(anext(first, None), 5) is None
        await twitch.wait_until(lambda: twitch.open_sessions == 0)

        await chat.start()
        assert twitch.connections == 2 and len(twitch.chat_sessions) == 1
        async with reading(chat) as next_message:
            await twitch.inject_chat("bob", "second run")
            message = await next_message()
        assert (message.user, message.text) == ("bob", "second run")
        assert chat.received == 2
        await first.aclose()
    finally:
        await chat.close()
    await twitch.wait_until(lambda: twitch.open_sessions == 0)


async def test_start_twice_without_close_is_an_error(source: TwitchChatSource) -> None:
    with pytest.raises(RuntimeError, match="without close"):
        await source.start()


async def test_iterator_of_an_earlier_run_ends_at_restart(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    old = source.messages()
    await twitch.inject_chat("alice", "first run")
    assert (await asyncio.wait_for(anext(old), 5)).text == "first run"
    await source.close()
    await source.start()
    await twitch.inject_chat("carol", "only the new iterator sees this")
    async with asyncio.timeout(5):
        await source.wait_received(2)
    assert await asyncio.wait_for(anext(old, None), 5) is None  # queued, but not for it
    async with reading(source) as next_message:
        assert (await next_message()).text == "only the new iterator sees this"
    await old.aclose()


async def test_client_that_stops_ends_messages_and_restarts(
    twitch: FakeTwitch, token_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamer.chat.twitch")
    chat = TwitchChatSource(
        twitch.settings(), twitch.bot_tokens, twitch.client_secret, token_path=token_path
    )
    await chat.start()
    try:
        async with reading(chat) as next_message:
            await twitch.inject_chat("alice", "before the end")
            assert (await next_message()).text == "before the end"
            # Twitch ends the connection with a final close code and takes new ones no
            # more: twitchio does not reconnect, its client is done.
            twitch.refuse_websockets()
            await twitch.drop_websockets(code=4003)
            with pytest.raises(StopAsyncIteration):
                await next_message()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "Twitch chat stopped" in r.getMessage() and "will not reconnect" in r.getMessage()
            for r in warnings
        ), [r.getMessage() for r in warnings]
        with pytest.raises(ChatSendError, match="not connected"):
            await chat.send("anyone there?")

        # What the daemon does: close(), start() again with backoff until it works.
        await chat.close()
        with pytest.raises(TwitchConnectError, match="EventSub WebSocket"):
            await chat.start()
        assert twitch.refused_connections == 1
        twitch.refuse_websockets(False)
        await chat.start()
        async with reading(chat) as next_message:
            await twitch.inject_chat("alice", "after the restart")
            assert (await next_message()).text == "after the restart"
        await chat.send("back again")
        assert [c.message for c in twitch.sent_chat] == ["back again"]
    finally:
        await chat.close()
    await twitch.wait_until(lambda: twitch.open_sessions == 0)


# ---------------------------------------------------------------------- connection


async def test_dropped_websocket_reconnects(twitch: FakeTwitch, source: TwitchChatSource) -> None:
    async with reading(source) as next_message:
        await twitch.inject_chat("alice", "before the drop")
        assert (await next_message()).text == "before the drop"
        (first_session,) = twitch.chat_sessions

        await twitch.drop_websockets()
        await twitch.wait_until(lambda: twitch.connections == 2 and len(twitch.chat_sessions) == 1)
        assert twitch.chat_sessions != [first_session]

        await twitch.inject_chat("alice", "after the drop")
        assert (await next_message()).text == "after the drop"


async def test_session_reconnect_moves_to_new_url(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    async with reading(source) as next_message:
        (first_session,) = twitch.chat_sessions
        # Chat and three moderation types (deletes, user clears, chat clears).
        assert twitch.subscriptions_created == 4
        await twitch.send_reconnect()
        await twitch.wait_until(
            lambda: twitch.open_sessions == 1 and twitch.chat_sessions not in ([], [first_session])
        )
        await twitch.inject_chat("bob", "after reconnect")
        assert (await next_message()).text == "after reconnect"
    assert twitch.subscriptions_created == 4  # subscriptions moved; no resubscribe needed
    assert twitch.client_messages == []


async def test_bad_client_secret_is_a_clear_error(twitch: FakeTwitch) -> None:
    chat = TwitchChatSource(twitch.settings(), twitch.bot_tokens, "wrong-secret")
    with pytest.raises(TwitchAuthError, match="client id and secret"):
        await chat.start()
    assert twitch.open_sessions == 0


async def test_dead_bot_token_is_a_clear_error_without_secrets(twitch: FakeTwitch) -> None:
    twitch.expire_user_tokens()
    twitch.revoke_refresh_tokens()
    chat = TwitchChatSource(twitch.settings(), twitch.bot_tokens, twitch.client_secret)
    with pytest.raises(TwitchAuthError, match="streamer twitch login") as info:
        await chat.start()
    text = str(info.value)
    assert twitch.bot_tokens.access_token not in text
    assert twitch.bot_tokens.refresh_token not in text


async def test_token_of_another_user_is_refused(twitch: FakeTwitch) -> None:
    chat = TwitchChatSource(
        twitch.settings(bot_id="31337"), twitch.bot_tokens, twitch.client_secret
    )
    with pytest.raises(TwitchAuthError, match=r"twitch\.bot_id is 31337"):
        await chat.start()


# ---------------------------------------------------------------------- tokens


async def test_expired_token_is_refreshed_and_saved_0600(
    twitch: FakeTwitch, source: TwitchChatSource, token_path: Path, tmp_path: Path
) -> None:
    old = source.tokens
    twitch.expire_user_tokens()

    await source.send("hello after expiry")  # Helix 401 -> twitchio refreshes -> retries
    async with asyncio.timeout(5):
        await source.wait_tokens_saved(1)

    assert twitch.refreshes == 1
    assert [c.message for c in twitch.sent_chat] == ["hello after expiry"]
    saved = load_twitch_tokens(token_path, env={})
    assert saved == source.tokens
    assert saved.access_token != old.access_token and saved.refresh_token != old.refresh_token
    assert saved.user_id == twitch.bot.id and saved.login == twitch.bot.login
    assert file_mode(token_path) == 0o600
    await source.close()
    assert_no_twitchio_token_file(tmp_path)


async def test_expired_token_at_start_is_refreshed(
    twitch: FakeTwitch, token_path: Path, tmp_path: Path
) -> None:
    twitch.expire_user_tokens()
    chat = TwitchChatSource(
        twitch.settings(), twitch.bot_tokens, twitch.client_secret, token_path=token_path
    )
    await chat.start()
    try:
        async with asyncio.timeout(5):
            await chat.wait_tokens_saved(1)
        assert twitch.refreshes == 1
        assert load_twitch_tokens(token_path, env={}).access_token == chat.tokens.access_token
        assert file_mode(token_path) == 0o600
    finally:
        await chat.close()
    assert_no_twitchio_token_file(tmp_path)


async def test_a_token_near_its_end_is_refreshed_before_any_401(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token_path: Path
) -> None:
    """Twitch's validate answers a lifetime that counts down; a token with under an hour
    left is refreshed at start, before Twitch ever answers 401."""
    monkeypatch.chdir(tmp_path)
    endpoints = twitchio_endpoints()
    try:
        async with FakeTwitch(token_lifetime_s=1800) as fake:
            chat = TwitchChatSource(
                fake.settings(), fake.bot_tokens, fake.client_secret, token_path=token_path
            )
            await chat.start()
            try:
                await chat.wait_tokens_saved(1)
            finally:
                await chat.close()
            assert fake.refreshes == 1 and fake.unauthorized == 0
    finally:
        set_twitchio_endpoints(*endpoints)
    assert load_twitch_tokens(token_path, env={}).access_token != fake.bot_tokens.access_token


async def test_new_tokens_reach_on_secret(twitch: FakeTwitch, token_path: Path) -> None:
    learned: list[str] = []
    initial = twitch.bot_tokens
    chat = TwitchChatSource(
        twitch.settings(),
        initial,
        twitch.client_secret,
        token_path=token_path,
        on_secret=learned.append,
    )
    await chat.start()
    try:
        assert twitch.app_tokens_issued == 1
        twitch.expire_user_tokens()
        await chat.send("hello after expiry")  # forces a refresh
        async with asyncio.timeout(5):
            await chat.wait_tokens_saved(1)
        assert chat.tokens.access_token in learned
        assert chat.tokens.refresh_token in learned
        # Every token the fake minted after construction (the app token included), and
        # none of the ones the caller already knew.
        assert set(learned) == set(twitch.issued_tokens) - {
            initial.access_token,
            initial.refresh_token,
        }
        assert len(learned) == 3
    finally:
        await chat.close()


# ---------------------------------------------------------------------- rate limit


async def test_burst_of_100_acks_respects_the_window(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    limit, window = 20, 0.5
    sender = RateLimitedSender(source.send, limit=limit, window_s=window)
    sender.start()
    for i in range(100):
        sender.say(f"@viewer{i}, your question is in the queue")
    assert sender.pending >= 99
    await twitch.wait_until(lambda: len(twitch.sent_chat) == 100)
    await sender.close()

    assert [c.message for c in twitch.sent_chat] == [
        f"@viewer{i}, your question is in the queue" for i in range(100)
    ]
    stamps = [c.at for c in twitch.sent_chat]
    # Any `limit + 1` consecutive sends span at least a window: no window holds more.
    for i in range(len(stamps) - limit):
        assert stamps[i + limit] - stamps[i] >= window, f"window overrun at send {i}"
    assert sender.sent == 100


async def test_long_ack_is_cut_to_500(twitch: FakeTwitch, source: TwitchChatSource) -> None:
    sender = RateLimitedSender(source.send, limit=20)
    sender.start()
    sender.say("@Alice, " + "blah " * 300)
    await twitch.wait_until(lambda: len(twitch.sent_chat) == 1)
    await sender.close()
    text = twitch.sent_chat[0].message
    assert len(text) <= 500 and text.endswith("blah…")


async def test_429_and_dropped_sends_are_logged_and_worker_continues(
    twitch: FakeTwitch, source: TwitchChatSource, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamer.chat.sender")
    sender = RateLimitedSender(source.send, limit=20, window_s=0.3)
    sender.start()
    twitch.fail_chat("429")
    sender.say("first")
    sender.say("second")
    await twitch.wait_until(lambda: len(twitch.sent_chat) == 2)
    twitch.fail_chat("drop")
    sender.say("third")
    sender.say("fourth")
    await twitch.wait_until(lambda: len(twitch.sent_chat) == 3)
    await sender.close()

    attempts = twitch.chat_attempts
    assert [(a.message, a.outcome) for a in attempts] == [
        ("first", "429"),
        ("first", "sent"),
        ("second", "sent"),
        ("third", "dropped"),
        ("fourth", "sent"),
    ]
    assert attempts[1].at - attempts[0].at >= 0.3  # backed off for a whole window
    assert "rate-limited" in caplog.text and "msg_duplicate" in caplog.text
    assert sender.sent == 3 and sender.failed == 2


async def test_helix_rate_limit_headers_are_honoured(
    twitch: FakeTwitch, source: TwitchChatSource
) -> None:
    """Helix's bucket (Ratelimit-Remaining / Ratelimit-Reset): with the bucket empty the
    sender waits until its reset instead of earning a 429; a 429 from a bucket someone
    else emptied is retried at the reset, not after a whole 30 s window."""
    sender = RateLimitedSender(source.send, limit=20)  # Twitch's real 30 s window
    sender.start()
    try:
        twitch.limit_helix(3, 1.0)
        started = time.monotonic()
        for i in range(5):
            sender.say(f"line {i}")
        await twitch.wait_until(lambda: len(twitch.sent_chat) == 5)
        assert twitch.helix.refused == 0  # never asked while the bucket was empty
        assert 0.5 < time.monotonic() - started < 5.0
        # Someone else (another tool with this client id) empties the bucket.
        twitch.limit_helix(1, 1.0)
        async with aiohttp.ClientSession() as http:
            headers = {
                "Client-Id": twitch.client_id,
                "Authorization": f"Bearer {twitch.bot_tokens.access_token}",
            }
            async with http.get(twitch.api_url + "users", headers=headers) as answer:
                assert answer.status == 200
        started = time.monotonic()
        sender.say("after the other tool")
        await twitch.wait_until(lambda: len(twitch.sent_chat) == 6)
        assert twitch.helix.refused == 1
        assert time.monotonic() - started < 5.0  # the reset, not the 30 s window
    finally:
        await sender.close()
    assert [c.message for c in twitch.sent_chat][-1] == "after the other tool"


# ---------------------------------------------------------------------- device-code login


class RecordedSleep:
    """Stands in for asyncio.sleep: records the delays, advances a virtual clock."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now


async def test_device_code_login_pending_then_success(twitch: FakeTwitch, tmp_path: Path) -> None:
    twitch.device_flow(pending_polls=3, slow_down_polls=[2])
    lines: list[str] = []
    sleep = RecordedSleep()
    path = tmp_path / "secret" / "twitch_tokens.json"

    tokens = await device_code_login(
        twitch.settings(bot_id=""),
        show=lines.append,
        token_path=path,
        sleep=sleep,
        clock=sleep.clock,
    )

    assert tokens.user_id == twitch.bot.id and tokens.login == twitch.bot.login
    assert load_twitch_tokens(path, env={}) == tokens
    assert file_mode(path) == 0o600
    # interval 5 s; slow_down at poll 2 adds 5 s; success at poll 4
    assert sleep.delays == [5, 5, 10, 10]
    assert twitch.device_polls == 4
    shown = "\n".join(lines)
    assert "https://www.twitch.tv/activate" in shown
    assert f'twitch.bot_id: "{twitch.bot.id}"' in shown
    assert "channel:bot" in shown and "moderator" in shown
    assert tokens.access_token not in shown and tokens.refresh_token not in shown

    # The new token works for the chat source.
    chat = TwitchChatSource(twitch.settings(), tokens, twitch.client_secret, token_path=path)
    await chat.start()
    await chat.close()


async def test_device_code_login_denied(twitch: FakeTwitch, tmp_path: Path) -> None:
    twitch.device_flow(pending_polls=1, outcome="deny")
    sleep = RecordedSleep()
    path = tmp_path / "twitch_tokens.json"
    with pytest.raises(TwitchLoginError, match="denied"):
        await device_code_login(
            twitch.settings(), show=lambda _: None, token_path=path, sleep=sleep, clock=sleep.clock
        )
    assert not path.exists()


async def test_device_code_login_expired_code(twitch: FakeTwitch, tmp_path: Path) -> None:
    twitch.device_flow(pending_polls=0, outcome="expire")
    sleep = RecordedSleep()
    with pytest.raises(TwitchLoginError, match="expired"):
        await device_code_login(
            twitch.settings(),
            show=lambda _: None,
            token_path=tmp_path / "t.json",
            sleep=sleep,
            clock=sleep.clock,
        )


async def test_device_code_login_gives_up_at_expiry(tmp_path: Path) -> None:
    async with FakeTwitch(device_expires_in_s=20) as twitch:
        twitch.device_flow(pending_polls=1000)
        sleep = RecordedSleep()
        with pytest.raises(TwitchLoginError, match="expired"):
            await device_code_login(
                twitch.settings(),
                show=lambda _: None,
                token_path=tmp_path / "t.json",
                sleep=sleep,
                clock=sleep.clock,
            )
        assert twitch.device_polls == 3  # polls at 5, 10, 15 s; at 20 s the code is gone


async def test_moderation_features_the_token_cannot_see_are_off_not_fatal(
    twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """The bot's usual token (no channel:moderate): bans are not subscribed, that is said
    once, and the source starts and yields deletions and chat as usual."""
    caplog.set_level(logging.INFO, logger="streamer.chat.twitch")
    chat = TwitchChatSource(twitch.settings(), twitch.bot_tokens, twitch.client_secret)
    await chat.start()
    try:
        async with reading(chat) as next_message:
            await twitch.delete_message("bob", "no-such-message")
            await twitch.inject_chat("bob", "still reading")
            event = await next_message()
            assert isinstance(event, ChatModeration) and event.message_id == "no-such-message"
            assert (await next_message()).text == "still reading"
    finally:
        await chat.close()
    assert caplog.text.count("bans and timeouts are not seen") == 1
    assert "Twitch moderation seen: deleted messages, cleared users, cleared chat" in caplog.text


@pytest.mark.parametrize("mode", ["ignore", "accept"])
async def test_shared_chat_from_other_channels(twitch: FakeTwitch, mode: str) -> None:
    """Shared Chat: a message sent in a partner channel is ignored by default; accepted,
    its sender's moderator badge there (``source_badges``) grants nothing here."""
    chat = TwitchChatSource(
        twitch.settings(shared_chat=mode), twitch.bot_tokens, twitch.client_secret
    )
    partner = twitch.user("partnerchannel")
    await chat.start()
    try:
        async with reading(chat) as next_message:
            await twitch.inject_chat(
                "visitor", "!skip", shared_from=partner, source_badges=["moderator"]
            )
            await twitch.inject_chat("local", "from this channel")
            first = await next_message()
            if mode == "ignore":
                assert first.text == "from this channel" and chat.shared_ignored == 1
            else:
                assert first.text == "!skip" and first.role is Role.VIEWER
                assert (await next_message()).text == "from this channel"
    finally:
        await chat.close()


async def test_a_revoked_chat_subscription_stops_chat_loudly(
    twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """Revocations: a moderation type's is one warning and chat goes on; the chat's own
    ends ``messages()`` with the reason (the daemon restarts the source), never a
    silent stop on an open socket that still holds the other subscriptions."""
    chat = TwitchChatSource(twitch.settings(), twitch.bot_tokens, twitch.client_secret)
    await chat.start()
    try:
        stream = chat.messages()
        assert await twitch.revoke("channel.chat.clear", "authorization_revoked") == 1
        await twitch.inject_chat("bob", "still here")
        async with asyncio.timeout(5):
            assert (await anext(stream)).text == "still here"
        assert await twitch.revoke("channel.chat.message", "chat_user_banned") == 1
        async with asyncio.timeout(5):
            with pytest.raises(StopAsyncIteration):
                await anext(stream)
    finally:
        await chat.close()
    assert chat.revoked == [
        "channel.chat.clear: authorization_revoked",
        "channel.chat.message: chat_user_banned",
    ]
    assert (
        "Twitch revoked the chat subscription (chat_user_banned): the bot was banned" in caplog.text
    )
    assert "Twitch chat stopped: Twitch revoked the chat subscription" in caplog.text


async def test_the_fake_closes_unused_connections_and_keeps_quiet_ones_alive(
    twitch: FakeTwitch,
) -> None:
    """Twitch's EventSub rules the fake keeps: no subscription within the deadline after
    the welcome is close 4003; a keepalive comes only after a silence."""
    import aiohttp

    twitch.subscribe_deadline_s = 0.6
    twitch.keepalive_floor_s = 0.2
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{twitch.eventsub_url}?keepalive_timeout_seconds=0.2")
        kinds = []
        async with asyncio.timeout(5):
            async for message in ws:
                kinds.append(json.loads(message.data)["metadata"]["message_type"])
        assert ws.close_code == 4003
    assert kinds[0] == "session_welcome"
    assert "session_keepalive" in kinds and twitch.keepalives_sent >= 1


async def test_the_fake_counts_token_lifetimes_down(twitch: FakeTwitch) -> None:
    """As Twitch: ``expires_in`` shrinks with time and an expired token gets a 401."""
    import aiohttp

    twitch.token_lifetime_s = 2
    tokens = twitch.issue_user_token(twitch.bot.id)
    headers = {"Authorization": f"OAuth {tokens.access_token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{twitch.auth_url.rstrip('/')}/oauth2/validate"
        async with http.get(url, headers=headers) as resp:
            first = (await resp.json())["expires_in"]
        await asyncio.sleep(1.1)
        async with http.get(url, headers=headers) as resp:
            assert (await resp.json())["expires_in"] < first
        await asyncio.sleep(1.2)
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 401


async def test_the_fake_closes_4004_when_the_client_does_not_follow_a_reconnect(
    twitch: FakeTwitch,
) -> None:
    import aiohttp

    twitch.reconnect_grace_s = 0.3
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(twitch.eventsub_url)
        welcome = json.loads((await ws.receive()).data)
        assert welcome["metadata"]["message_type"] == "session_welcome"
        await twitch.send_reconnect()
        kinds = []
        async with asyncio.timeout(5):
            async for message in ws:
                kinds.append(json.loads(message.data)["metadata"]["message_type"])
        assert kinds == ["session_reconnect"] and ws.close_code == 4004


async def test_doctor_says_which_twitch_features_the_token_allows(
    twitch: FakeTwitch, tmp_path: Path
) -> None:
    from streamer.config import settings_from_dict
    from streamer.doctor import check_twitch
    from streamer.secrets import save_twitch_tokens

    raw = {
        "data_dir": str(tmp_path),
        "chat": {"source": "twitch"},
        "twitch": twitch.settings().model_dump(mode="json"),
    }
    settings = settings_from_dict(raw, base=tmp_path)
    env = {
        "TWITCH_ACCESS_TOKEN": twitch.bot_tokens.access_token,
        "TWITCH_REFRESH_TOKEN": twitch.bot_tokens.refresh_token,
    }
    plain = await asyncio.to_thread(check_twitch, settings, env)
    assert plain.level == "warn" and "chat, deleted messages and clears" in plain.detail
    assert (
        "not allowed: bans and timeouts (run `streamer twitch login --broadcaster`)" in plain.detail
    )
    owner = twitch.issue_user_token(twitch.owner.id, ("channel:moderate",))
    save_twitch_tokens(settings.broadcaster_token_file, owner)
    ok = await asyncio.to_thread(check_twitch, settings, env)
    assert ok.level == "ok" and ok.detail.endswith("bans and timeouts"), ok.detail
    # Channel points questions need channel:manage:redemptions on that token.
    raw["twitch"]["channel_points"] = {"reward_id": "r1"}
    points = settings_from_dict(raw, base=tmp_path)
    lacking = await asyncio.to_thread(check_twitch, points, env)
    assert lacking.level == "warn", lacking.detail
    assert "not allowed: channel points questions (channel:manage:redemptions)" in lacking.detail
    owner = twitch.issue_user_token(twitch.owner.id, ("channel:moderate", MANAGE_SCOPE))
    save_twitch_tokens(settings.broadcaster_token_file, owner)
    full = await asyncio.to_thread(check_twitch, points, env)
    assert full.level == "ok" and "channel points questions with refunds" in full.detail
    # An expired access token is refreshed at start: a warning, not a failure.
    twitch.expire_user_tokens()
    dead = await asyncio.to_thread(check_twitch, settings, env)
    assert dead.level == "warn" and "expired" in dead.detail, dead.detail
