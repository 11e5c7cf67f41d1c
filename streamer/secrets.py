"""Secrets: only from environment variables or a token file with mode 0600.

Nothing here is ever read from the YAML config, and every value returned is meant
to be registered with ``logs.SecretFilter`` so it never reaches a log line.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SecretError(Exception):
    """A secret is missing or stored unsafely; the message says how to fix it."""


def from_env(name: str, *, purpose: str, env: Mapping[str, str] | None = None) -> str:
    value = (env if env is not None else os.environ).get(name, "").strip()
    if not value:
        raise SecretError(f"environment variable {name} is not set: it must hold {purpose}")
    return value


@dataclass(frozen=True, slots=True)
class TwitchTokens:
    access_token: str
    refresh_token: str
    user_id: str = ""
    login: str = ""


def write_private_json(path: Path, data: Mapping[str, object]) -> None:
    """Write JSON readable by the owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def save_twitch_tokens(path: Path, tokens: TwitchTokens) -> None:
    write_private_json(
        path,
        {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "user_id": tokens.user_id,
            "login": tokens.login,
        },
    )


def load_twitch_tokens(path: Path, env: Mapping[str, str] | None = None) -> TwitchTokens:
    """Tokens from TWITCH_ACCESS_TOKEN/TWITCH_REFRESH_TOKEN, else from the token file."""
    env = env if env is not None else os.environ
    access, refresh = env.get("TWITCH_ACCESS_TOKEN", ""), env.get("TWITCH_REFRESH_TOKEN", "")
    if access and refresh:
        return TwitchTokens(access, refresh)
    if not path.exists():
        raise SecretError(
            f"no Twitch token: run `streamer twitch login --config FILE` (writes {path}) "
            "or set TWITCH_ACCESS_TOKEN and TWITCH_REFRESH_TOKEN"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"{path} is readable by other users (mode {mode:o}): run `chmod 600 {path}`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TwitchTokens(
            str(data["access_token"]),
            str(data["refresh_token"]),
            str(data.get("user_id", "")),
            str(data.get("login", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SecretError(
            f"{path} is not a token file ({exc}): run `streamer twitch login` again"
        ) from None
