"""Settings: one typed model, loaded from YAML, validated once.

Secrets never live here. The model only names the environment variables (or the
token file) that hold them; see ``streamer.secrets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

# Keys that look like a secret: refused in YAML with a pointer to the env variable.
SECRET_KEYS: Mapping[str, str] = {
    "api_key": "set the environment variable named by llm.api_key_env instead",
    "client_secret": "set the environment variable named by twitch.client_secret_env instead",
    "access_token": "run `streamer twitch login` (token file) or set TWITCH_ACCESS_TOKEN",
    "refresh_token": "run `streamer twitch login` (token file) or set TWITCH_REFRESH_TOKEN",
    "token": "run `streamer twitch login` (token file) or set TWITCH_ACCESS_TOKEN",
    "password": "secrets come from environment variables, never from the YAML file",
    "secret": "secrets come from environment variables, never from the YAML file",
}


ReplyReason = Literal[
    "cooldown",
    "too_short",
    "too_long",
    "banned_word",
    "link",
    "pool_full",
    "not_moderator",
    "empty",
]

DEFAULT_REPLY_ON: tuple[ReplyReason, ...] = (
    "cooldown",
    "too_short",
    "too_long",
    "link",
    "pool_full",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


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
    # Chat replies; {user} is the asker's display name (in queued_template and
    # picked_template: every asker of a merged question, e.g. "Alice @bob").
    # Empty string = no reply. ack: accepted into the pool; queued: picked for an
    # answer ({position} in line, the answer on air being number 1); picked: on air.
    ack_template: str = "@{user}, your question is in the queue"
    queued_template: str = "@{user}, your question is number {position} in line"
    picked_template: str = "@{user}, answering now"
    # Reply to rejected questions ({user}, {reason}); empty = log only.
    reject_template: str = "@{user}, {reason}"
    # Reasons that get a reply (others are only logged).
    reply_on: list[ReplyReason] = Field(default_factory=lambda: list(DEFAULT_REPLY_ON))

    @field_validator("ask", "skip", "clear", "pause", "resume")
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


class PersonaExample(_Model):
    user: str
    assistant: str


class PersonaSettings(_Model):
    name: str = "Ava"
    system_prompt: str = (
        "You are Ava, a cheerful virtual streamer. You answer questions from your "
        "Twitch chat in two to four spoken sentences. Never mention that you are an AI."
    )
    # A text file with the system prompt (overrides system_prompt). Relative to the config.
    system_prompt_file: Path | None = None
    examples: list[PersonaExample] = Field(default_factory=list)
    # A YAML file with more examples: a list of {user: ..., assistant: ...}.
    examples_file: Path | None = None


class LLMTimeouts(_Model):
    connect_s: float = Field(default=5.0, gt=0)
    first_token_s: float = Field(default=15.0, gt=0)
    total_s: float = Field(default=60.0, gt=0)


class LLMSettings(_Model):
    # offline: no network, reads the question back (demo). openai: any OpenAI-compatible
    # server (OpenAI, Ollama, vLLM, llama.cpp server, LM Studio...).
    provider: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    # Name of the environment variable holding the API key (never the key itself).
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(default=0.8, ge=0, le=2)
    max_tokens: int = Field(default=300, ge=1)
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    out_of_character_patterns: list[str] = Field(
        default_factory=lambda: [
            "as an ai",
            "language model",
            "openai",
            "i am an ai",
            "i'm an ai",
            "i cannot assist",
        ]
    )
    max_character_retries: int = Field(default=2, ge=0)
    character_reminder: str = (
        "Stay in character: answer as {name} would, and never mention being an AI, "
        "a language model, or any company."
    )
    # Remember the last memory_size answered questions (0 = no memory).
    memory_size: int = Field(default=5, ge=0)
    # The model's context window in tokens (Ollama's num_ctx, vLLM's max_model_len):
    # the oldest remembered turns are left out so prompt + max_tokens fit (counted
    # approximately, ~4 characters a token). 0 = do not budget.
    context_tokens: int = Field(default=4096, ge=0)
    timeouts: LLMTimeouts = Field(default_factory=LLMTimeouts)
    # After a failure (and one retry): put the question back in the pool, or drop it.
    on_failure: Literal["requeue", "drop"] = "requeue"
    # offline provider: seconds between streamed words (simulates a model).
    offline_word_delay_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _openai_needs_model(self) -> LLMSettings:
        if self.provider == "openai" and not self.model:
            raise ValueError("llm.model is required when llm.provider is 'openai'")
        if self.context_tokens and self.context_tokens <= self.max_tokens:
            raise ValueError(
                f"llm.context_tokens ({self.context_tokens}) must exceed llm.max_tokens "
                f"({self.max_tokens}): the answer needs room in the model's context"
            )
        return self


class SplitSettings(_Model):
    min_chars: int = Field(default=200, ge=1)
    first_min_chars: int = Field(default=40, ge=1)
    # A segment longer than this is cut at the last space (no sentence end in sight).
    max_chars: int = Field(default=400, ge=20)

    @model_validator(mode="after")
    def _order(self) -> SplitSettings:
        if self.max_chars < max(self.min_chars, self.first_min_chars):
            raise ValueError(
                "split.max_chars must be at least split.min_chars and split.first_min_chars"
            )
        return self


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
    # A moderator or broadcaster bot may send 100 messages per 30 s instead of 20.
    bot_is_moderator: bool = False
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


class SpeechTextSettings(_Model):
    """How answers are turned into speech-ready text before any voice speaks them."""

    # Words or phrases spoken another way, e.g. {"GIF": "jif", "Kubernetes": "koo ber
    # net eez"}. Matched as whole words, case-insensitively; applied before the rules.
    pronunciations: dict[str, str] = Field(default_factory=dict)
    # Twitch emotes spoken as a word (KEKW: "kek") or, mapped to "", left out; added to
    # the built-in list of common emotes, which are left out.
    emotes: dict[str, str] = Field(default_factory=dict)
    # A URL is spoken as its site name ("a link to example dot com"); false: "a link".
    read_url_domains: bool = True
    # 12 or 24: how times like 17:30 are read ("five thirty PM" or "seventeen thirty").
    clock: Literal[12, 24] = 12

    @field_validator("pronunciations", "emotes")
    @classmethod
    def _words(cls, value: dict[str, str]) -> dict[str, str]:
        for word in value:
            if not word.strip():
                raise ValueError("has an empty word: give each entry a word or phrase")
        return value


class TTSSettings(_Model):
    # espeak: espeak-ng, the embedded default voice (no model needed).
    # vits: a Coqui VITS model (one you fine-tuned with `streamer voice train`, or any
    # Coqui VITS checkpoint); needs the `voice` extra (installed by `make setup`).
    engine: Literal["espeak", "vits"] = "espeak"
    # espeak: voice name (`espeak-ng --voices` lists them), words per minute, pitch 0-99.
    voice: str = "en-us"
    rate_wpm: int = Field(default=165, ge=80, le=450)
    pitch: int = Field(default=50, ge=0, le=99)
    # vits: the checkpoint (best_model.pth or checkpoint_*.pth) and its config.json.
    # Relative to the config file; config_path null = config.json beside the model.
    model_path: Path | None = None
    config_path: Path | None = None
    # vits: the speaker of a multi-speaker model (null = its first speaker) and the
    # language of a multi-language model (null = its first language).
    speaker: str | None = None
    language: str | None = None
    # vits: auto = cuda when available, else cpu.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # vits: speaking speed, 1.0 = as trained; 1.2 is 20 % faster.
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    # Speech-ready text (every engine): numbers, dates, URLs, emotes, pronunciations.
    text: SpeechTextSettings = Field(default_factory=SpeechTextSettings)

    @model_validator(mode="after")
    def _needs_model(self) -> TTSSettings:
        if self.engine == "vits" and self.model_path is None:
            raise ValueError(
                "tts.model_path must be set when tts.engine is 'vits': the path of a Coqui "
                "VITS checkpoint (best_model.pth or checkpoint_*.pth), with its config.json "
                "beside it or in tts.config_path"
            )
        return self

    @property
    def resolved_config_path(self) -> Path | None:
        """``config_path``, else ``config.json`` beside ``model_path``."""
        if self.config_path is not None:
            return self.config_path
        if self.model_path is None:
            return None
        return self.model_path.parent / "config.json"


class LipSyncSettings(_Model):
    # puppet: animates the avatar's mouth from the speech; needs no model weights.
    # wav2lip: neural lip-sync from a Wav2Lip checkpoint you download yourself
    # (wav2lip.pth or wav2lip_gan.pth; research-only licence, not shipped); set
    # lipsync.checkpoint, then run `streamer avatar prepare` once (else the first start
    # detects the face itself).
    engine: Literal["puppet", "wav2lip"] = "puppet"
    # wav2lip: the generator checkpoint (.pth). Relative to the config file.
    checkpoint: Path | None = None
    # wav2lip: auto = cuda when available (float16), else cpu (float32).
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # wav2lip: exact = the model's own output for every frame; fast = only every
    # fast_stride-th speaking frame is generated, the ones between are blended.
    mode: Literal["exact", "fast"] = "exact"
    # wav2lip fast mode: 2 = every other frame generated, 3 (default) every third, 4.
    fast_stride: int = Field(default=3, ge=2, le=4)
    # wav2lip: soft = blend the new mouth and jaw into the avatar through a feathered
    # mask; hard = paste the whole face box as the reference script does.
    paste: Literal["soft", "hard"] = "soft"
    # wav2lip: frames per generator call; null = 32 on the CPU, 64 on a GPU.
    batch_size: int | None = Field(default=None, ge=1, le=512)
    # wav2lip: frames whose audio is silent show the avatar's own frame (no generation).
    skip_silence: bool = True
    # wav2lip: pixels added to the detected face box [top, bottom, left, right]; the
    # reference default adds 10 below the chin.
    pads: list[int] = Field(default_factory=lambda: [0, 10, 0, 0])
    # Where the mouth is in the avatar, [x, y, width, height] in avatar pixels (after
    # scaling to the output size). null = the avatar's sidecar file <avatar>.json, else
    # found with OpenCV's face detector.
    mouth_box: list[int] | None = None
    # How far the mouth opens at full loudness, as a fraction of the mouth box height.
    open_scale: float = Field(default=0.9, gt=0, le=3)
    # 0 = no smoothing between frames, 0.9 = very smooth.
    smoothing: float = Field(default=0.5, ge=0, lt=1)

    @field_validator("mouth_box")
    @classmethod
    def _box(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 4 or v[2] <= 0 or v[3] <= 0 or min(v[:2]) < 0):
            raise ValueError("mouth_box is [x, y, width, height] with width, height > 0")
        return v

    @field_validator("pads")
    @classmethod
    def _pads(cls, v: list[int]) -> list[int]:
        if len(v) != 4 or min(v) < 0 or max(v) > 200:
            raise ValueError("pads is [top, bottom, left, right], each 0 to 200 pixels")
        return v

    @model_validator(mode="after")
    def _needs_checkpoint(self) -> LipSyncSettings:
        if self.engine == "wav2lip" and self.checkpoint is None:
            raise ValueError(
                "lipsync.checkpoint must be set when lipsync.engine is 'wav2lip': the path "
                "of a Wav2Lip generator checkpoint you downloaded (wav2lip_gan.pth or "
                "wav2lip.pth)"
            )
        return self


class AvatarSettings(_Model):
    # A still image (.png, .jpg) or a looping face video (.mp4, ...). Relative to the
    # config file. null = the avatar shipped in media/.
    source: Path | None = None
    # A video avatar is kept in memory at the output size: at most this many seconds.
    max_seconds: float = Field(default=10.0, gt=0, le=120)


class OutputSettings(_Model):
    # Where the stream is published (nginx-rtmp, or any RTMP ingest).
    rtmp_url: str = "rtmp://127.0.0.1:1935/live/avatar"
    width: int = Field(default=1280, ge=64, le=3840)
    height: int = Field(default=720, ge=64, le=2160)
    fps: int = Field(default=25, ge=1, le=60)
    sample_rate: Literal[44100, 48000] = 48000
    video_bitrate_k: int = Field(default=2500, ge=100)
    audio_bitrate_k: int = Field(default=128, ge=32)
    # x264 preset: faster presets use less CPU.
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    # Record the whole stream to this file too (e.g. stream.mkv); null = no recording.
    record_file: Path | None = None
    # Keep each answer as an MP4 in answers_dir (default media/answers).
    keep_answers: bool = False
    answers_dir: Path | None = None
    # Answers built while the RTMP server is away play when it is back, unless older.
    max_clip_age_s: float = Field(default=120.0, gt=0)
    # A voice or lip-sync call that takes longer than this is a hung engine: the daemon
    # exits (code 1, with the reason) so a supervisor such as systemd restarts it.
    worker_stall_s: float = Field(default=120.0, gt=0)
    # Start a local nginx-rtmp for a loopback rtmp_url when none is listening (on the
    # URL's port).
    start_rtmp_server: bool = True
    # The port of `streamer rtmp-server` when rtmp_url is not a loopback URL.
    rtmp_server_port: int = Field(default=1935, ge=1, le=65535)
    # Where that local server listens: loopback by default; 0.0.0.0 in a container.
    rtmp_server_host: str = "127.0.0.1"

    @field_validator("rtmp_url")
    @classmethod
    def _rtmp(cls, v: str) -> str:
        if not v.startswith(("rtmp://", "rtmps://")):
            raise ValueError(
                "must start with rtmp:// or rtmps://, e.g. rtmp://127.0.0.1:1935/live/avatar"
            )
        return v

    @model_validator(mode="after")
    def _even(self) -> OutputSettings:
        if self.width % 2 or self.height % 2:
            raise ValueError("output.width and output.height must be even numbers (H.264)")
        if self.sample_rate % self.fps:
            good = [f for f in (20, 24, 25, 30, 50, 60) if self.sample_rate % f == 0]
            raise ValueError(
                f"output.sample_rate {self.sample_rate} is not a whole number of samples per "
                f"frame at output.fps {self.fps}: use fps {good} or another sample_rate"
            )
        return self


class StatusSettings(_Model):
    # `streamer status` reads the daemon's state from this local HTTP endpoint; 0 = off.
    port: int = Field(default=8765, ge=0, le=65535)
    host: str = "127.0.0.1"


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
    def token_file(self) -> Path:
        return self.twitch.token_file or self.data_dir / "twitch_tokens.json"


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    key: str
    value: Any
    problem: str

    def __str__(self) -> str:
        shown = _short(self.value)
        return f"{self.key}: {self.problem} (got {shown})"


class ConfigError(Exception):
    """A config file that cannot be used. ``issues`` name each bad key."""

    def __init__(self, source: str, issues: Iterable[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"config error in {self.source}:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_MISSING = object()


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        if isinstance(data, Mapping):
            if part not in data:
                return _MISSING
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return _MISSING
    return data


def _fix_for(err: Mapping[str, Any], key: str) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    leaf = key.rsplit(".", 1)[-1]
    if kind == "extra_forbidden":
        if leaf in SECRET_KEYS:
            return f"secrets are not read from the config file: {SECRET_KEYS[leaf]}"
        return (
            "unknown key: remove it or check its spelling "
            "(config/channel.example.yaml lists every key)"
        )
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "missing":
        return "required: add this key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": f"> {ctx.get('gt')}",
            "greater_than_equal": f">= {ctx.get('ge')}",
            "less_than": f"< {ctx.get('lt')}",
            "less_than_equal": f"<= {ctx.get('le')}",
        }[kind]
        return f"must be a number {bound}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"]).lower()


def _issues_from(
    exc: ValidationError, raw: Mapping[str, Any], *, prefix: str = ""
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join([prefix, *(str(p) for p in loc)] if prefix else [str(p) for p in loc])
        key = key or "(top level)"
        value = _lookup(raw, loc)
        if value is _MISSING:
            value = err.get("input") if err["type"] != "missing" else None
        if isinstance(value, Mapping) and err["type"] == "value_error":
            value = "{...}"
        if loc and str(loc[-1]) in SECRET_KEYS:
            value = "<hidden>"
        issues.append(ConfigIssue(key, value, _fix_for(err, key)))
    return issues


# --------------------------------------------------------------------------- loading


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"pool.interval_s=5"`` -> ``(["pool", "interval_s"], 5)``; VALUE read as YAML."""
    if "=" not in item:
        raise ConfigError(
            "--set", [ConfigIssue(item, item, "expected dotted.key=VALUE, e.g. pool.interval_s=5")]
        )
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError("--set", [ConfigIssue(key, item, "empty part in the dotted key")])
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError("--set", [ConfigIssue(key, text, f"not valid YAML: {exc}")]) from None
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    "--set", [ConfigIssue(where, child, "is not a section; cannot set a key in it")]
                )
            node = child
        node[parts[-1]] = value
    return raw


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Make relative paths relative to the config file's folder."""

    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else (base / p)

    return settings.model_copy(
        update={
            "data_dir": fix(settings.data_dir),
            "chat": settings.chat.model_copy(
                update={"replay_file": fix(settings.chat.replay_file)}
            ),
            "filters": settings.filters.model_copy(
                update={"banned_words_file": fix(settings.filters.banned_words_file)}
            ),
            "llm": settings.llm.model_copy(
                update={
                    "persona": settings.llm.persona.model_copy(
                        update={
                            "system_prompt_file": fix(settings.llm.persona.system_prompt_file),
                            "examples_file": fix(settings.llm.persona.examples_file),
                        }
                    )
                }
            ),
            "twitch": settings.twitch.model_copy(
                update={"token_file": fix(settings.twitch.token_file)}
            ),
            "lipsync": settings.lipsync.model_copy(
                update={"checkpoint": fix(settings.lipsync.checkpoint)}
            ),
            "tts": settings.tts.model_copy(
                update={
                    "model_path": fix(settings.tts.model_path),
                    "config_path": fix(settings.tts.config_path),
                }
            ),
            "avatar": settings.avatar.model_copy(update={"source": fix(settings.avatar.source)}),
            "output": settings.output.model_copy(
                update={
                    "record_file": fix(settings.output.record_file),
                    "answers_dir": fix(settings.output.answers_dir),
                }
            ),
        }
    )


def _check_files(settings: Settings) -> list[ConfigIssue]:
    issues = []
    checks = [
        (
            "chat.replay_file",
            settings.chat.replay_file if settings.chat.source == "replay" else None,
        ),
        ("filters.banned_words_file", settings.filters.banned_words_file),
        ("llm.persona.system_prompt_file", settings.llm.persona.system_prompt_file),
        ("llm.persona.examples_file", settings.llm.persona.examples_file),
        ("avatar.source", settings.avatar.source),
        (
            "lipsync.checkpoint",
            settings.lipsync.checkpoint if settings.lipsync.engine == "wav2lip" else None,
        ),
        ("tts.model_path", settings.tts.model_path if settings.tts.engine == "vits" else None),
        (
            "tts.config_path",
            settings.tts.resolved_config_path if settings.tts.engine == "vits" else None,
        ),
    ]
    hints = {
        "tts.model_path": "file not found: fix the path (the voice's best_model.pth or "
        "checkpoint_N.pth), or use tts.engine: espeak",
        "tts.config_path": "file not found: put the config.json written with the checkpoint "
        "there, or set tts.config_path to it",
        "lipsync.checkpoint": "file not found: fix the path, or use lipsync.engine: puppet",
    }
    for key, path in checks:
        if path is not None and not path.is_file():
            fix = hints.get(key, "file not found: fix the path or remove the key")
            issues.append(ConfigIssue(key, str(path), fix))
    return issues


def _with_file_examples(settings: Settings) -> Settings:
    """Append the examples of ``llm.persona.examples_file`` (validated like the config)."""
    persona = settings.llm.persona
    path = persona.examples_file
    if path is None:
        return settings
    key = "llm.persona.examples_file"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            str(path), [ConfigIssue(key, str(path), f"cannot read it: {exc}")]
        ) from None
    if not isinstance(data, list):
        raise ConfigError(
            str(path), [ConfigIssue(key, str(path), "must be a YAML list of {user, assistant}")]
        )
    try:
        examples = TypeAdapter(list[PersonaExample]).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(str(path), _issues_from(exc, {}, prefix=key)) from None
    persona = persona.model_copy(update={"examples": [*persona.examples, *examples]})
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"persona": persona})})


def settings_from_dict(
    raw: Mapping[str, Any], *, source: str = "<dict>", base: Path | None = None
) -> Settings:
    """Validate a mapping (already read from YAML); raise ConfigError naming bad keys."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, _issues_from(exc, raw)) from None
    settings = _resolve_paths(settings, base or Path.cwd())
    issues = _check_files(settings)
    if issues:
        raise ConfigError(source, issues)
    return _with_file_examples(settings)


def load_settings(path: Path | None, overrides: Iterable[str] = ()) -> Settings:
    """Read YAML at ``path`` (or only defaults), apply ``--set`` overrides, validate."""
    raw: Any = {}
    source = str(path) if path else "<defaults>"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                source, [ConfigIssue("--config", str(path), exc.strerror or str(exc))]
            ) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                source, [ConfigIssue("(file)", str(path), f"not valid YAML: {exc}")]
            ) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                source, [ConfigIssue("(top level)", raw, "must be a mapping of sections")]
            )
    overrides = list(overrides)
    raw = apply_overrides(raw, overrides)
    if overrides:
        # Keys only: a value might be a secret typed where it does not belong.
        source += " with --set " + ", ".join(item.partition("=")[0] for item in overrides)
    base = path.parent.resolve() if path else Path.cwd()
    return settings_from_dict(raw, source=source, base=base)
