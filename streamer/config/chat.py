"""Settings of the chat side: log, chat source, commands, filters, pool, Twitch, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from streamer.config.base import _Model

ReplyReason = Literal[
    "cooldown",
    "too_short",
    "too_long",
    "banned_word",
    "link",
    "pool_full",
    "not_moderator",
    "empty",
    "blocked",
]

DEFAULT_REPLY_ON: tuple[ReplyReason, ...] = (
    "cooldown",
    "too_short",
    "too_long",
    "link",
    "pool_full",
)


class LogSettings(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "text" for a terminal, "json" (one object a line) for log collectors.
    format: Literal["text", "json"] = "text"
    # Also write the log to <data_dir>/streamer.log.
    file: bool = True


class ChatSettings(_Model):
    source: Literal["twitch", "replay", "console"] = "console"
    # JSON Lines file for source=replay, relative to the config file's folder.
    replay_file: Path | None = None
    # Multiply every delay_s of the replay file by this (0 = as fast as possible).
    replay_speed: float = Field(default=1.0, ge=0)
    # Who the operator is in source=console.
    console_user: str = "operator"
    console_badges: list[str] = Field(default_factory=lambda: ["broadcaster"])

    @model_validator(mode="after")
    def _replay_needs_file(self) -> ChatSettings:
        if self.source == "replay" and self.replay_file is None:
            raise ValueError(
                "chat.replay_file is required when chat.source is 'replay' "
                "(a JSON Lines file, one message a line)"
            )
        return self


class CommandSettings(_Model):
    prefix: str = Field(default="!", min_length=1, max_length=3)
    ask: str = "ask"
    ask_aliases: list[str] = Field(default_factory=lambda: ["question", "q"])
    skip: str = "skip"
    clear: str = "clear"
    pause: str = "pause"
    resume: str = "resume"
    block: str = "block"  # !block <user>: their questions are dropped and never taken
    unblock: str = "unblock"
    # Chat replies; {user} is the asker's display name (in queued_template and
    # picked_template: every asker of a merged question, e.g. "Alice @bob").
    # Empty string = no reply. ack: accepted into the pool; queued: picked for an
    # answer ({position} in line, the answer on air being number 1); picked: on air;
    # reject: a refused question ({reason}). null = the channel language's reply
    # (the same as channel.replies ack/queued/picked/reject; set one of the two).
    ack_template: str | None = None
    queued_template: str | None = None
    picked_template: str | None = None
    reject_template: str | None = None
    # Reasons that get a reply (others are only logged).
    reply_on: list[ReplyReason] = Field(default_factory=lambda: list(DEFAULT_REPLY_ON))

    def reply_templates(self) -> dict[str, str]:
        """The replies set here, by their key in channel.replies (ack, queued...)."""
        keys = ("ack", "queued", "picked", "reject")
        return {k: t for k in keys if (t := getattr(self, f"{k}_template")) is not None}

    @field_validator("ask", "skip", "clear", "pause", "resume", "block", "unblock")
    @classmethod
    def _word(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("a command name is one word without spaces, e.g. 'ask'")
        return v.lower()


class FilterSettings(_Model):
    min_chars: int = Field(default=5, ge=1)
    max_chars: int = Field(default=300, ge=10)
    # Seconds between two accepted questions of one user (broadcaster and mods exempt).
    user_cooldown_s: float = Field(default=60.0, ge=0)
    # One word or phrase a line; '#' starts a comment. Relative to the config file.
    banned_words_file: Path | None = None
    banned_words: list[str] = Field(default_factory=list)
    allow_links: bool = False

    @model_validator(mode="after")
    def _order(self) -> FilterSettings:
        if self.min_chars > self.max_chars:
            raise ValueError("filters.min_chars must not exceed filters.max_chars")
        return self


class PoolSettings(_Model):
    # Every interval_s seconds one question moves from the pool to the build queue.
    interval_s: float = Field(default=30.0, gt=0)
    policy: Literal["random", "priority", "fifo"] = "random"
    # policy=random only: drop the questions not picked (the original behaviour).
    clear_on_pick: bool = False
    max_age_s: float = Field(default=600.0, gt=0)
    max_size: int = Field(default=500, ge=1)
    # policy=priority: a question gains one priority level per aging_s seconds waited.
    aging_s: float = Field(default=120.0, gt=0)
    # Questions picked but not yet answered; the pick waits while it is full.
    build_queue_size: int = Field(default=3, ge=1)
    # A question that failed this many times is dropped (with a log line).
    max_attempts: int = Field(default=2, ge=1)


class ChannelPointsSettings(_Model):
    # The custom reward whose redemptions are questions (its text is the question); ""
    # = off. `streamer twitch reward create --title ... --cost ...` makes one and prints
    # its id. Refunds and fulfilment work only for a reward made with this client id.
    reward_id: str = ""
    # Priority of these questions with pool.policy: priority (at least this level).
    priority: Literal["moderator", "vip", "subscriber", "first_time", "viewer"] = "vip"


class TwitchSettings(_Model):
    # Your application's client id (dev.twitch.tv/console). Not a secret.
    client_id: str = ""
    # Environment variable with the application's client secret.
    client_secret_env: str = "TWITCH_CLIENT_SECRET"
    # User id of the bot account and of the broadcaster (numbers, as strings).
    bot_id: str = ""
    owner_id: str = ""
    # Where `streamer twitch login` stores the bot's tokens (mode 0600).
    # Default: <data_dir>/twitch_tokens.json.
    token_file: Path | None = None
    # Where `streamer twitch login --broadcaster` stores the broadcaster's own token
    # (bans and timeouts, channel points). Default: <data_dir>/twitch_broadcaster_tokens.json.
    broadcaster_token_file: Path | None = None
    # A moderator or broadcaster bot may send 100 messages per 30 s instead of 20.
    bot_is_moderator: bool = False
    # Shared Chat (channels streaming together share one chat): ignore the messages sent
    # in the other channels, or accept them as questions. Either way only badges in this
    # channel grant rights here (a moderator there is a viewer here).
    shared_chat: Literal["ignore", "accept"] = "ignore"
    # Channel points as questions (needs the broadcaster's token: `streamer twitch login
    # --broadcaster`): rejected, expired, dropped or moderated ones are refunded.
    channel_points: ChannelPointsSettings = Field(default_factory=ChannelPointsSettings)
    # Advanced: other servers (tests, proxies).
    api_url: str = "https://api.twitch.tv/helix/"
    auth_url: str = "https://id.twitch.tv/"
    eventsub_url: str = "wss://eventsub.wss.twitch.tv/ws"

    @field_validator("bot_id", "owner_id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        # YAML reads 123456 as a number; an id is text.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("bot_id", "owner_id")
    @classmethod
    def _numeric(cls, v: str) -> str:
        if v and not v.isdigit():
            raise ValueError(
                "a Twitch user id is a number such as '123456789', not a login name; "
                "`streamer twitch login` prints it"
            )
        return v


class StatusSettings(_Model):
    # The operator console (http://host:port/), the OBS overlay (/overlay), metrics
    # (/metrics) and `streamer status` (/status) are served here; 0 = off.
    port: int = Field(default=8765, ge=0, le=65535)
    # Loopback by default; another address needs the console token (see token_env).
    host: str = "127.0.0.1"
    # Actions need a token: from this environment variable, else
    # <data_dir>/console_token (created at first start, mode 0600, printed once).
    token_env: str = "STREAMER_CONSOLE_TOKEN"
    # Your own style for the overlay (a CSS file replacing the built-in one).
    overlay_css: Path | None = None
    # The console's live preview (WebRTC, encoded only while someone watches).
    preview: bool = True
    preview_width: int = Field(default=640, ge=64, le=1920)
    preview_height: int = Field(default=360, ge=36, le=1080)
    # The host's voice: push-to-talk in the console, recognised by Whisper (a model name
    # in ~/.cache/whisper, or a .pt file), asked as a question of the host, answered next.
    host_voice: bool = True
    host_voice_model: str = "base.en"
    host_voice_language: str | None = None  # None: Whisper guesses (an .en model: English)
    host_name: str = "host"  # who asks the host's questions (shown and read aloud)
