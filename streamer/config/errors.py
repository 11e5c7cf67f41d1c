"""Config errors that name the bad key and its fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

# Keys that look like a secret: refused in YAML with a pointer to the env variable.
SECRET_KEYS: Mapping[str, str] = {
    "api_key": "set the environment variable named by llm.api_key_env instead",
    "client_secret": "set the environment variable named by twitch.client_secret_env instead",
    "access_token": "run `streamer twitch login` (token file) or set TWITCH_ACCESS_TOKEN",
    "refresh_token": "run `streamer twitch login` (token file) or set TWITCH_REFRESH_TOKEN",
    "token": "run `streamer twitch login` (token file) or set TWITCH_ACCESS_TOKEN",
    "password": "secrets come from environment variables, never from the YAML file",
    "secret": "secrets come from environment variables, never from the YAML file",
}


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    key: str
    value: Any
    problem: str

    def __str__(self) -> str:
        shown = _short(self.value)
        return f"{self.key}: {self.problem} (got {shown})"


class ConfigError(Exception):
    """A config file that cannot be used. ``issues`` name each bad key."""

    def __init__(self, source: str, issues: Iterable[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"config error in {self.source}:"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_MISSING = object()


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        if isinstance(data, Mapping):
            if part not in data:
                return _MISSING
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return _MISSING
    return data


def _fix_for(err: Mapping[str, Any], key: str) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    leaf = key.rsplit(".", 1)[-1]
    if kind == "extra_forbidden":
        if leaf in SECRET_KEYS:
            return f"secrets are not read from the config file: {SECRET_KEYS[leaf]}"
        return (
            "unknown key: remove it or check its spelling "
            "(config/channel.example.yaml lists every key)"
        )
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "missing":
        return "required: add this key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": f"> {ctx.get('gt')}",
            "greater_than_equal": f">= {ctx.get('ge')}",
            "less_than": f"< {ctx.get('lt')}",
            "less_than_equal": f"<= {ctx.get('le')}",
        }[kind]
        return f"must be a number {bound}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"]).lower()


def _issues_from(
    exc: ValidationError, raw: Mapping[str, Any], *, prefix: str = ""
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join([prefix, *(str(p) for p in loc)] if prefix else [str(p) for p in loc])
        key = key or "(top level)"
        value = _lookup(raw, loc)
        if value is _MISSING:
            value = err.get("input") if err["type"] != "missing" else None
        if isinstance(value, Mapping) and err["type"] == "value_error":
            value = "{...}"
        if loc and str(loc[-1]) in SECRET_KEYS:
            value = "<hidden>"
        issues.append(ConfigIssue(key, value, _fix_for(err, key)))
    return issues
