"""The whole config: one section a field."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from streamer.config.base import _Model
from streamer.config.chat import (
    ChatSettings,
    CommandSettings,
    FilterSettings,
    LogSettings,
    PoolSettings,
    StatusSettings,
    TwitchSettings,
)
from streamer.config.llm import LLMSettings, SplitSettings
from streamer.config.media import AvatarSettings, LipSyncSettings, OutputSettings, TTSSettings
from streamer.config.moderation import ModerationSettings


class Settings(_Model):
    # Folder for the question database, logs and tokens. Relative to the config file.
    data_dir: Path = Path("data")
    log: LogSettings = Field(default_factory=LogSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    split: SplitSettings = Field(default_factory=SplitSettings)
    twitch: TwitchSettings = Field(default_factory=TwitchSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    lipsync: LipSyncSettings = Field(default_factory=LipSyncSettings)
    avatar: AvatarSettings = Field(default_factory=AvatarSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)

    @model_validator(mode="after")
    def _twitch_needs_ids(self) -> Settings:
        if self.chat.source == "twitch":
            missing = [
                f"twitch.{k}"
                for k in ("client_id", "bot_id", "owner_id")
                if not getattr(self.twitch, k)
            ]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)} must be set when chat.source is 'twitch' "
                    "(see config/channel.example.yaml)"
                )
        return self

    @property
    def blocked_users_file(self) -> Path:
        return self.moderation.blocked_users_file or self.data_dir / "blocked_users.txt"

    @property
    def broadcaster_token_file(self) -> Path:
        default = self.data_dir / "twitch_broadcaster_tokens.json"
        return self.twitch.broadcaster_token_file or default

    @property
    def token_file(self) -> Path:
        return self.twitch.token_file or self.data_dir / "twitch_tokens.json"
