"""Settings of broadcast safety: what is checked before anything is spoken."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from streamer.config.base import _Model

# OpenAI's moderation categories (``/v1/moderations``, omni-moderation-latest).
OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


class PersonalDataSettings(_Model):
    # Built-in patterns; each one blocks a segment that contains it.
    phone: bool = True  # phone numbers in the usual spellings (+1 (555) 010-9999 ...)
    email: bool = True  # e-mail addresses, "at"/"dot" spellings included
    address: bool = True  # street addresses: a number, a name and a street word


class ModelCheckSettings(_Model):
    # none: word lists and patterns only. openai: a /v1/moderations endpoint (OpenAI's,
    # or a compatible one). guard: a guard model (Llama Guard 3...) on any
    # OpenAI-compatible chat server; it answers "safe", or "unsafe" and category codes.
    kind: Literal["none", "openai", "guard"] = "none"
    # null: OpenAI itself (openai), or llm.base_url (guard).
    base_url: str | None = None
    # openai: omni-moderation-latest; guard: the served name, e.g. llama-guard3:1b (Ollama).
    model: str | None = None
    # Name of the environment variable holding the key (never the key itself).
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(default=2.0, gt=0)
    # openai: a category in `thresholds` flags when it scores at least its threshold;
    # any other flags when OpenAI marks it or it scores at least default_threshold.
    # guard: the codes listed in ignore_categories (e.g. S6 "specialized advice") do not
    # flag.
    default_threshold: float = Field(default=0.5, gt=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    ignore_categories: list[str] = Field(default_factory=list)

    @property
    def resolved_model(self) -> str:
        if self.model:
            return self.model
        return "omni-moderation-latest" if self.kind == "openai" else "llama-guard3"

    @model_validator(mode="after")
    def _known(self) -> ModelCheckSettings:
        if self.kind == "openai":
            unknown = sorted(set(self.thresholds) - set(OPENAI_CATEGORIES))
            if unknown:
                raise ValueError(
                    f"moderation.model.thresholds: unknown categories {unknown}; "
                    f"known: {', '.join(OPENAI_CATEGORIES)}"
                )
        for name, value in self.thresholds.items():
            if not 0 < value <= 1:
                raise ValueError(
                    f"moderation.model.thresholds.{name} must be in (0, 1], got {value}"
                )
        return self


class ModerationSettings(_Model):
    # Check every segment (and the question, when it is read aloud) before it is
    # spoken. The word lists of filters.banned_words(_file) apply here too.
    enabled: bool = True
    # Words and phrases banned only from what is spoken (one a line, '#' comments).
    banned_words_file: Path | None = None
    banned_words: list[str] = Field(default_factory=list)
    personal_data: PersonalDataSettings = Field(default_factory=PersonalDataSettings)
    links: bool = True  # block segments that spell out a link
    # Block segments that repeat six or more words in a row of the system prompt.
    prompt_leak: bool = True
    model: ModelCheckSettings = Field(default_factory=ModelCheckSettings)
    # drop_answer: the flagged segment and the rest of the answer are never spoken.
    # replace_segment: the flagged segment is replaced by `replacement`, the rest is
    # checked and spoken as usual.
    on_flag: Literal["drop_answer", "replace_segment"] = "drop_answer"
    replacement: str = "Hmm, let's talk about something else!"
    # block (fail closed): a segment whose model check timed out or failed is not spoken.
    # allow: it is spoken (the word lists still apply).
    on_error: Literal["block", "allow"] = "block"
    # Users whose questions are never taken (one login a line); `!block user` and
    # `!unblock user` edit it. Relative to the config file; null: <data_dir>/blocked_users.txt.
    blocked_users_file: Path | None = None

    @model_validator(mode="after")
    def _replacement(self) -> ModerationSettings:
        if self.on_flag == "replace_segment" and not self.replacement.strip():
            raise ValueError(
                "moderation.replacement must be a line to say when on_flag is replace_segment"
            )
        return self
