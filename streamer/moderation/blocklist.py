"""The local block list: users whose questions are never taken.

One login a line in ``moderation.blocked_users_file`` (``#`` starts a comment), lower
case. ``!block user`` and ``!unblock user`` edit it; every change is written at once
(to a temporary file, synced, then renamed), so a crash never leaves half a list. The
file is read at start: edit it by hand while the daemon is stopped (comment lines at
the top are kept). A Twitch login is 1 to 25 of ``a-z 0-9 _``; anything else is not a
login and is refused.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

log = logging.getLogger(__name__)

_LOGIN = re.compile(r"[a-z0-9_]{1,25}")
_HEADER = "# blocked users, one login a line (!block / !unblock edit this file)"


def login(name: str) -> str:
    """``"@Alice"`` -> ``"alice"``; ``""`` for anything that is not a Twitch login."""
    folded = unicodedata.normalize("NFC", name.strip().lstrip("@")).lower()
    return folded if _LOGIN.fullmatch(folded) else ""


class BlockList:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: set[str] = set()
        self._header: list[str] = []  # the comment lines at the top of the file
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                entry = line.split("#", 1)[0].strip()
                if not entry:
                    if line.strip() and len(self._header) == i:
                        self._header.append(line)
                    continue
                name = login(entry)
                if name:
                    self._users.add(name)
                else:
                    log.warning(
                        "block list %s line %d: %r is not a Twitch login", path, i + 1, entry
                    )
            log.info("block list %s: %d users", path, len(self._users))

    def __contains__(self, user: object) -> bool:
        return isinstance(user, str) and login(user) in self._users

    def __len__(self) -> int:
        return len(self._users)

    def add(self, user: str) -> bool:
        """True when ``user`` was not blocked before."""
        name = login(user)
        if not name or name in self._users:
            return False
        self._users.add(name)
        self._save()
        return True

    def remove(self, user: str) -> bool:
        name = login(user)
        if name not in self._users:
            return False
        self._users.discard(name)
        self._save()
        return True

    def _save(self) -> None:
        header = self._header or [_HEADER]
        text = "".join(f"{line}\n" for line in [*header, *sorted(self._users)])
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error(
                "could not save the block list %s (%s): the change lasts until the daemon stops",
                self.path,
                exc,
            )
