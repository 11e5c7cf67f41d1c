"""The channel's language and its chat replies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from streamer.config.base import _Model
from streamer.lang.replies import check_template


class ChannelSettings(_Model):
    # The channel's language: the chat replies, the speech text (numbers, dates, money
    # and times read in it), the sentence splitter's abbreviations, and the defaults of
    # the persona prompt, the out-of-character patterns, the moderation replacement and
    # the espeak-ng voice. A value set in the config always wins over these defaults.
    language: Literal["en", "fr", "de", "es"] = "en"
    # Any chat reply, by key, in place of the language's own (see README, "Chat
    # replies"): e.g. {ack: "@{user}, got it!"}. "" for ack/queued/picked/reject: no reply.
    replies: dict[str, str] = Field(default_factory=dict)

    @field_validator("replies")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for key, template in value.items():
            problem = check_template(key, template)
            if problem:
                raise ValueError(f"{key}: {problem}")
        return value
