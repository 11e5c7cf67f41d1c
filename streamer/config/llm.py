"""Settings of the answer: persona, LLM client, splitter."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from streamer.config.base import _Model


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
    # Read the question aloud before the answer ("alice asks: ..."); it is checked by
    # moderation like the answer, and a flagged question drops the whole answer.
    read_question: bool = False
    question_template: str = "{name} asks: {question}"
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
        if self.read_question and "{question}" not in self.question_template:
            raise ValueError(
                "llm.question_template must contain {question} when llm.read_question is "
                'true, e.g. "{name} asks: {question}"'
            )
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
