"""The console's action token: what a request must carry to change anything.

The token comes from the environment variable ``status.token_env``
(``STREAMER_CONSOLE_TOKEN``) or from ``<data_dir>/console_token``, which the first
start creates (mode 0600) and prints once. Pages and reads need no token; every action
is a ``POST`` with the token in the ``X-Streamer-Token`` header, so a link or a form on
another site cannot act (a browser sends no custom header across origins without the
daemon's consent, and the daemon gives none).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

HEADER = "X-Streamer-Token"
MIN_LENGTH = 16


class ConsoleTokenError(Exception):
    """No usable token where one is needed (the console on a non-loopback address)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def console_token(path: Path, env: Mapping[str, str], env_name: str) -> tuple[str, bool]:
    """``(token, created)``: the environment's, else the file's, else a new one saved
    to ``path`` with mode 0600 (``created`` True: show it to the operator once)."""
    given = env.get(env_name, "").strip()
    if given:
        if len(given) < MIN_LENGTH:
            raise ConsoleTokenError(
                f"${env_name} is too short ({len(given)} characters): use at least "
                f"{MIN_LENGTH}, e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`"
            )
        return given, False
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= MIN_LENGTH:
            return token, False
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token, True


def allowed(given: str | None, token: str) -> bool:
    """Whether a request's token is the console's (constant-time comparison)."""
    if not given or not token:
        return False
    return hmac.compare_digest(str(given).encode("utf-8"), token.encode("utf-8"))
