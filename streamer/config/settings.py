"""The whole config: one section a field."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from streamer.config.base import _Model
from streamer.config.channel import ChannelSettings
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
from streamer.lang import defaults
from streamer.lang.replies import Replies, check_template


class Settings(_Model):
    # Folder for the question database, logs and tokens. Relative to the config file.
    data_dir: Path = Path("data")
    channel: ChannelSettings = Field(default_factory=ChannelSettings)
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

    @model_validator(mode="after")
    def _language_defaults(self) -> Settings:
        """Settings the operator left unset take the channel language's defaults."""
        for key, template in self.commands.reply_templates().items():
            if key in self.channel.replies:
                raise ValueError(
                    f"commands.{key}_template and channel.replies.{key} are the same "
                    "reply: set only one of them"
                )
            problem = check_template(key, template)
            if problem:
                raise ValueError(f"commands.{key}_template {problem}")
        language = self.channel.language
        if language == "en":
            return self
        llm, persona = self.llm, self.llm.persona
        if "system_prompt" not in persona.model_fields_set:
            prompt = defaults.SYSTEM_PROMPTS[language].format(name=persona.name)
            persona = persona.model_copy(update={"system_prompt": prompt})
        update: dict[str, object] = {"persona": persona}
        if "character_reminder" not in llm.model_fields_set:
            update["character_reminder"] = defaults.CHARACTER_REMINDERS[language]
        if "question_template" not in llm.model_fields_set:
            update["question_template"] = defaults.QUESTION_TEMPLATES[language]
        if "out_of_character_patterns" not in llm.model_fields_set:
            extra = defaults.OUT_OF_CHARACTER[language]
            update["out_of_character_patterns"] = [*llm.out_of_character_patterns, *extra]
        object.__setattr__(self, "llm", llm.model_copy(update=update))
        if "replacement" not in self.moderation.model_fields_set:
            replacement = defaults.REPLACEMENTS[language]
            moderation = self.moderation.model_copy(update={"replacement": replacement})
            object.__setattr__(self, "moderation", moderation)
        if "voice" not in self.tts.model_fields_set:
            tts = self.tts.model_copy(update={"voice": defaults.ESPEAK_VOICES[language]})
            object.__setattr__(self, "tts", tts)
        return self

    @property
    def replies(self) -> Replies:
        """The chat replies: the channel language's, the operator's in their place."""
        overrides = {**self.channel.replies, **self.commands.reply_templates()}
        return Replies(self.channel.language, overrides)

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
