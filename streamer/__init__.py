"""streamer: an AI virtual streamer that answers Twitch chat questions in character."""

__version__ = "0.1.0"
