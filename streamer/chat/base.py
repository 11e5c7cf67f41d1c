"""The interface every chat source implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from streamer.messages import ChatEvent


class ChatSendError(Exception):
    """A chat message could not be sent (the caller logs it and goes on)."""


class RedemptionSettleError(Exception):
    """The platform could not be told what became of a redemption. ``final`` is set
    (the outcome to record: "gone", "refused") when trying again cannot help."""

    def __init__(self, message: str, final: str | None = None) -> None:
        super().__init__(message)
        self.final = final


class ChatSource(abc.ABC):
    """Produces ``ChatMessage``s (and ``ChatModeration`` events) and sends plain chat
    lines back.

    Life cycle: ``await start()``, iterate ``messages()`` (it ends when the source is
    exhausted, e.g. the end of a replay file, or runs until ``close()``), ``await close()``.
    ``send`` is the raw send: no rate limit (``RateLimitedSender`` adds that), one line of
    at most 500 characters.
    """

    name: str = "chat"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect. Raise a clear exception if credentials are missing or wrong."""

    @abc.abstractmethod
    def messages(self) -> AsyncIterator[ChatEvent]:
        """Incoming chat messages, in order; a source that sees the platform's own
        moderation (Twitch) also yields ``ChatModeration`` events."""

    @abc.abstractmethod
    async def send(self, text: str) -> None:
        """Send one chat line. Raise ``ChatSendError`` on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect; ``messages()`` ends soon after."""

    @property
    def live(self) -> bool:
        """True for a source that should never end (Twitch): if ``messages()`` ends or
        raises, the daemon logs it, calls ``close()`` and ``start()`` again with backoff.
        A replay or console source simply ends."""
        return False

    async def settle_redemption(self, reward_id: str, redemption_id: str, status: str) -> None:
        """Tell the platform a redemption is ``FULFILLED`` or ``CANCELED`` (refunded);
        ``RedemptionSettleError`` when it cannot. Only a source that yields
        ``Redemption``s (Twitch) has anything to settle."""
        raise RedemptionSettleError(f"chat {self.name} has no channel points", "unsupported")

    @property
    def bot_is_moderator(self) -> bool:
        """True when the bot may send 100 messages per 30 s instead of 20."""
        return False
