"""Logging set-up: text or JSON lines, and a filter that masks secrets."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

MASK = "***"


class SecretFilter(logging.Filter):
    """Replaces every registered secret in a record's final message with ``***``."""

    def __init__(self) -> None:
        super().__init__()
        # An immutable tuple, swapped whole: a token refresh adds a secret on the event
        # loop while other threads log, and iterating a set that grows would raise.
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            with self._lock:
                if secret not in self._secrets:
                    self._secrets = (*self._secrets, secret)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = self.mask(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


class _DropStarletteHint(logging.Filter):
    """twitchio warns on every start that its optional web adapter is not installed;
    we do not use it (login is the device-code flow)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "StarletteAdapter" not in record.getMessage()


def setup_logging(level: str = "INFO", fmt: str = "text", file: Path | None = None) -> SecretFilter:
    """Configure the root logger; return the secret filter to register secrets with."""
    secret_filter = SecretFilter()
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        formatter.converter = time.localtime
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_streamer", False):  # ours, from an earlier call
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(secret_filter)
        handler._streamer = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries: their INFO lines are noise for an operator.
    twitchio_client = logging.getLogger("twitchio.client")
    if not any(isinstance(f, _DropStarletteHint) for f in twitchio_client.filters):
        twitchio_client.addFilter(_DropStarletteHint())
    for name in ("httpx", "httpx2", "openai", "apscheduler", "twitchio.websockets", "aiohttp"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return secret_filter
