"""The channel's language (``channel.language``): chat replies, splitter
abbreviations, speech-text number reading and the language's setting defaults."""

from streamer.lang.replies import LANGUAGES, REPLY_KEYS, Replies

__all__ = ["LANGUAGES", "REPLY_KEYS", "Replies"]
