"""Chat sources: Twitch (EventSub), a replay file, or the operator's console."""
