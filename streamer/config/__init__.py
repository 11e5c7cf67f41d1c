"""Settings: one typed model, loaded from YAML, validated once.

Secrets never live here. The model only names the environment variables (or the
token file) that hold them; see ``streamer.secrets``.

One module a part: ``base`` (the strict model), ``chat`` / ``llm`` / ``media`` (the
sections), ``settings`` (the whole), ``errors`` (messages that name the key and the
fix) and ``load`` (YAML, ``--set``, paths and files).
"""

from streamer.config.chat import (
    DEFAULT_REPLY_ON,
    ChannelPointsSettings,
    ChatSettings,
    CommandSettings,
    FilterSettings,
    LogSettings,
    PoolSettings,
    ReplyReason,
    StatusSettings,
    TwitchSettings,
)
from streamer.config.errors import SECRET_KEYS, ConfigError, ConfigIssue
from streamer.config.llm import (
    LLMSettings,
    LLMTimeouts,
    PersonaExample,
    PersonaSettings,
    SplitSettings,
)
from streamer.config.load import apply_overrides, load_settings, parse_override, settings_from_dict
from streamer.config.media import (
    AvatarSettings,
    LipSyncSettings,
    OutputSettings,
    SpeechTextSettings,
    TTSSettings,
)
from streamer.config.moderation import (
    OPENAI_CATEGORIES,
    ModelCheckSettings,
    ModerationSettings,
    PersonalDataSettings,
)
from streamer.config.settings import Settings

__all__ = [
    "DEFAULT_REPLY_ON",
    "OPENAI_CATEGORIES",
    "SECRET_KEYS",
    "AvatarSettings",
    "ChannelPointsSettings",
    "ChatSettings",
    "CommandSettings",
    "ConfigError",
    "ConfigIssue",
    "FilterSettings",
    "LLMSettings",
    "LLMTimeouts",
    "LipSyncSettings",
    "LogSettings",
    "ModelCheckSettings",
    "ModerationSettings",
    "OutputSettings",
    "PersonaExample",
    "PersonaSettings",
    "PersonalDataSettings",
    "PoolSettings",
    "ReplyReason",
    "Settings",
    "SpeechTextSettings",
    "SplitSettings",
    "StatusSettings",
    "TTSSettings",
    "TwitchSettings",
    "apply_overrides",
    "load_settings",
    "parse_override",
    "settings_from_dict",
]
