"""Typed, immutable messages passed between the stages.

Every message that belongs to one answer carries the answer's id (the id of the
question it answers); the stages find the answer's state (``answer.Answer``) by it.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field

import numpy as np


class Role(enum.IntEnum):
    """Who asked, best first. Lower value = higher priority."""

    BROADCASTER = 0
    MODERATOR = 1
    VIP = 2
    SUBSCRIBER = 4
    FIRST_TIME = 5
    VIEWER = 6

    @classmethod
    def from_badges(cls, badges: frozenset[str], first_message: bool = False) -> Role:
        if "broadcaster" in badges:
            return cls.BROADCASTER
        if "moderator" in badges:
            return cls.MODERATOR
        if "vip" in badges:
            return cls.VIP
        if "subscriber" in badges or "founder" in badges:
            return cls.SUBSCRIBER
        if first_message:
            return cls.FIRST_TIME
        return cls.VIEWER

    @property
    def is_moderator(self) -> bool:
        return self <= Role.MODERATOR


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat line, whatever the source (Twitch, replay file, console)."""

    user: str  # login name, lower case
    text: str
    display_name: str = ""
    user_id: str = ""
    badges: frozenset[str] = frozenset()
    bits: int = 0
    first_message: bool = False
    message_id: str = field(default_factory=new_id)
    received_at: float = field(default_factory=time.time)  # wall clock, seconds

    @property
    def name(self) -> str:
        return self.display_name or self.user

    @property
    def role(self) -> Role:
        return Role.from_badges(self.badges, self.first_message)


@dataclass(frozen=True, slots=True)
class Question:
    """An accepted question. Its ``id`` is also the id of its answer."""

    id: str
    user: str
    display_name: str
    text: str
    role: Role
    bits: int = 0
    asked_at: float = field(default_factory=time.time)  # wall clock, seconds
    askers: tuple[str, ...] = ()  # everybody who asked it (duplicates merged)
    message_id: str = ""  # the chat message that asked it (not stored in the row: see asks)

    @property
    def name(self) -> str:
        return self.display_name or self.user


@dataclass(frozen=True, slots=True)
class Segment:
    """A speakable piece of an answer: the unit the voice stage works on."""

    answer_id: str
    index: int
    text: str
    last: bool
    user: str = ""  # who asked, for logs and on-screen credits
    reads_question: bool = False  # the question read aloud before the answer (llm.read_question)


@dataclass(frozen=True, slots=True)
class AnswerAborted:
    """An answer ended without a segment flagged ``last`` (skip, LLM failure)."""

    answer_id: str
    reason: str


class ModAction(enum.StrEnum):
    SKIP = "skip"
    CLEAR = "clear"
    PAUSE = "pause"
    RESUME = "resume"
    BLOCK = "block"
    UNBLOCK = "unblock"


class ChatModerationKind(enum.StrEnum):
    MESSAGE_DELETED = "message_deleted"  # one message removed by a moderator
    USER_CLEARED = "user_cleared"  # all of a user's messages removed
    USER_BANNED = "user_banned"  # a ban or a timeout
    CHAT_CLEARED = "chat_cleared"  # the whole chat cleared


@dataclass(frozen=True, slots=True)
class ChatModeration:
    """What the platform's own moderation did (Twitch EventSub), from the chat source."""

    kind: ChatModerationKind
    user: str = ""  # login of the user it was done to (not for CHAT_CLEARED)
    message_id: str = ""  # MESSAGE_DELETED: the deleted message
    by: str = ""  # the moderator, when the platform says
    event_id: str = ""  # the platform's notification id (delivered at least once)


@dataclass(frozen=True, slots=True)
class Redemption:
    """Channel points spent on a question: a viewer redeemed the channel's question
    reward (Twitch EventSub ``channel.channel_points_custom_reward_redemption.add``)."""

    redemption_id: str
    reward_id: str
    user: str  # login, lower case
    text: str  # what the viewer typed: the question
    display_name: str = ""
    user_id: str = ""
    # Twitch's status: "unfulfilled" (ours to fulfil or refund), or "fulfilled" when the
    # reward skips the request queue (nothing to settle).
    status: str = "unfulfilled"
    received_at: float = field(default_factory=time.time)  # wall clock, seconds

    @property
    def event_id(self) -> str:
        """A natural key: Twitch may deliver the same redemption twice."""
        return f"redemption:{self.redemption_id}"


ChatEvent = ChatMessage | ChatModeration | Redemption


@dataclass(frozen=True, slots=True)
class ModCommand:
    """A moderator's chat command."""

    action: ModAction
    user: str
    argument: str = ""  # what follows the command (!block <user>)


AnswerMessage = Segment | AnswerAborted


@dataclass(frozen=True, slots=True)
class Clip:
    """Video frames and PCM of exactly equal duration: what the publisher plays.

    One segment may come as several clips (chunks), so the first frames go on air
    before the rest of the segment is rendered. ``last`` marks the final clip of the
    answer. ``frames`` is ``(n, height, width, 3)`` uint8 BGR; ``audio`` is mono int16
    with exactly ``n * sample_rate / fps`` samples.
    """

    answer_id: str
    index: int  # the segment's index
    frames: np.ndarray
    audio: np.ndarray
    fps: int
    sample_rate: int
    last: bool
    created_at: float = field(default_factory=time.monotonic)
    # The avatar loop position of the first frame, so the idle loop goes on from where
    # the clip ends (a video avatar does not jump); None = unknown.
    avatar_start: int | None = None

    def __post_init__(self) -> None:
        n = len(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[3] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be (n, h, w, 3) uint8, got {self.frames.shape} {self.frames.dtype}"
            )
        expected = n * self.sample_rate // self.fps
        if self.audio.ndim != 1 or self.audio.dtype != np.int16 or len(self.audio) != expected:
            raise ValueError(
                f"audio must be ({expected},) int16 for {n} frames, got "
                f"{self.audio.shape} {self.audio.dtype}"
            )

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps
