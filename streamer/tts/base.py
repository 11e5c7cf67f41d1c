"""The interface every voice engine speaks, and the error it raises."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamer.audio import Audio


class TTSError(Exception):
    """A voice engine cannot start or cannot speak a text.

    The message is meant for the operator: it says what went wrong and, where it can,
    how to fix it (which package to install, which setting to change).
    """


@runtime_checkable
class TTSEngine(Protocol):
    """Turns text into speech.

    ``load()`` runs once, in the video builder's worker thread, before the first
    ``synthesize()``; heavy or failing set-up (finding a program, loading a model,
    checking a voice) happens there so a bad configuration fails at start. After it,
    ``synthesize()`` is called from that one worker thread, one text at a time.
    """

    name: str

    @property
    def describe(self) -> str:
        """The engine and its voice, for the log and ``streamer say``."""
        ...

    def load(self) -> None:
        """Prepare the engine; raise :class:`TTSError` saying what is missing and how
        to install or fix it."""
        ...

    def synthesize(self, text: str) -> Audio:
        """Speak ``text`` as mono float32 audio at the engine's native rate.

        An empty or whitespace-only text gives a short silence, not an error. Any
        failure raises :class:`TTSError`.
        """
        ...
