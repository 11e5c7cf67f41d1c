"""What the Twitch source's EventSub handlers hand in, until ``messages()`` reads it.

One bounded queue of ``ChatEvent``s (chat messages, moderation events, redemptions): the
handlers never block, and when it is full the oldest is dropped with a warning. Chat of
other channels (Shared Chat, unless accepted) and the bot's own lines are left out; for
a bot on the broadcaster's own account only the lines it sent itself are its echo.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import warnings

from streamer.chat.twitch_client import _Counter, to_chat_message
from streamer.chat.twitch_points import to_redemption
from streamer.config import TwitchSettings
from streamer.messages import ChatEvent, ChatModeration

with warnings.catch_warnings():  # see twitch_client.py
    warnings.filterwarnings(
        "ignore", message="Inheritance class AiohttpAdapter", category=DeprecationWarning
    )
    import twitchio

logger = logging.getLogger("streamer.chat.twitch")


class TwitchInbox:
    def __init__(self, settings: TwitchSettings, queue_size: int) -> None:
        self.settings = settings
        self.queue: collections.deque[ChatEvent] = collections.deque(maxlen=queue_size)
        self.wakeup = asyncio.Event()
        self.received = _Counter()  # chat messages (the bot's own not counted)
        self.dropped = 0  # events dropped because the queue was full
        self.shared_ignored = 0  # Shared Chat messages from other channels, ignored
        self._sent: collections.deque[str] = collections.deque(maxlen=64)  # to know echoes

    def push(self, event: ChatEvent) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning(
                    "Twitch chat queue full (%d): dropping the oldest messages (%d so far)",
                    self.queue.maxlen,
                    self.dropped,
                )
        self.queue.append(event)
        self.wakeup.set()

    def on_chat(self, payload: twitchio.ChatMessage) -> None:
        if payload.broadcaster.id != self.settings.owner_id:
            return
        if payload.chatter.id == self.settings.bot_id and self._own_echo(payload.text):
            return  # our own acknowledgments
        source = payload.source_broadcaster
        elsewhere = source is not None and source.id != self.settings.owner_id
        if elsewhere and self.settings.shared_chat == "ignore":
            self.shared_ignored += 1
            return  # sent in another channel of a Shared Chat session
        self.push(to_chat_message(payload))
        self.received.add()

    def on_moderation(self, broadcaster_id: str, event: ChatModeration) -> None:
        if broadcaster_id == self.settings.owner_id:
            self.push(event)

    def on_redemption(self, payload: twitchio.ChannelPointsRedemptionAdd) -> None:
        reward = self.settings.channel_points.reward_id
        if payload.broadcaster.id == self.settings.owner_id and payload.reward.id == reward:
            self.push(to_redemption(payload))

    def sending(self, text: str) -> None:
        """A line is being sent (its echo may come back before Helix answers)."""
        self._sent.append(text)

    def not_sent(self, text: str) -> None:
        self._sent.remove(text)

    def _own_echo(self, text: str) -> bool:
        """A message of the bot's account: ours, unless the bot is the broadcaster's own
        account and this is the broadcaster typing (not a line we just sent)."""
        if self.settings.bot_id != self.settings.owner_id:
            return True
        if text in self._sent:
            self._sent.remove(text)
            return True
        return False
