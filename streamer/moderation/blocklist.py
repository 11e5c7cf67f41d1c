"""The local block list: users whose questions are never taken.

One login a line in ``moderation.blocked_users_file`` (``#`` starts a comment), lower
case. ``!block user`` and ``!unblock user`` edit it; every change is written at once
(to a temporary file, then renamed), so a crash never leaves half a list.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def login(name: str) -> str:
    """``"@Alice"`` -> ``"alice"``: how Twitch logins compare."""
    return name.strip().lstrip("@").casefold()


class BlockList:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: set[str] = set()
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                name = login(line.split("#", 1)[0])
                if name:
                    self._users.add(name)
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        text = "# blocked users, one login a line (!block / !unblock edit this file)\n"
        tmp.write_text(text + "".join(f"{u}\n" for u in sorted(self._users)), encoding="utf-8")
        os.replace(tmp, self.path)
