"""Chat names and texts made safe to show: logins, display names, the askers of a
question, and message excerpts for the log (the reader's helpers)."""

from __future__ import annotations

import re
import unicodedata

from streamer.filters import sanitize
from streamer.messages import Question

_LOG_TEXT_CHARS = 80
_MAX_NAME_CHARS = 25  # Twitch logins and display names are at most 25 characters
_NAME_SCAN = 256  # characters of a name looked at before cleaning
_NO_NAME = "viewer"  # a login with nothing usable left
_MAX_MENTIONS = 5  # askers named in the "answering now" reply
MAX_REPLY_CHARS = 500  # Twitch's limit for one chat message
_NOT_LOGIN_RE = re.compile(r"\W+")  # \w: letters, digits and "_" of any script


def shorten(text: str, limit: int = _LOG_TEXT_CHARS) -> str:
    """``repr`` of at most ``limit`` characters: control characters cannot forge a line."""
    if len(text) > limit:
        return repr(text[:limit]) + f"...(+{len(text) - limit} chars)"
    return repr(text)


def clean_login(login: str) -> str:
    """Letters, digits and ``_`` only, lower case, at most 25; "viewer" if none is left."""
    folded = unicodedata.normalize("NFC", login[:_NAME_SCAN]).lower()
    return _NOT_LOGIN_RE.sub("", folded)[:_MAX_NAME_CHARS] or _NO_NAME


def clean_display_name(display_name: str, login: str) -> str:
    """The display name sanitized and cut to 25 characters, else the clean login.

    Repeats are kept (a name is not a flood) so that cleaning a clean name changes nothing.
    """
    shown = sanitize(display_name, _NAME_SCAN, collapse=False)[:_MAX_NAME_CHARS].strip()
    return shown or clean_login(login)


def askers_text(question: Question) -> str:
    """``{user}`` of the picked reply: "Alice @bob @carol", at most 5 names + "and N more".

    The first name is the question's display name (the template supplies its ``@``); the
    others are the logins of those whose duplicates were merged into it. Names are
    cleaned again: a question stored by an older version may carry raw ones.
    """
    first = clean_display_name(question.display_name, question.user)
    seen = {clean_login(question.user)}
    others: list[str] = []
    for asker in question.askers:
        login = clean_login(asker)
        if login not in seen:
            seen.add(login)
            others.append(login)
    shown = others[: _MAX_MENTIONS - 1]
    text = " @".join([first, *shown])
    if len(others) > len(shown):
        text += f" and {len(others) - len(shown)} more"
    return text
