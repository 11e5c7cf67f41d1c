"""Secrets never reach a log line, in text or JSON form."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from streamer.logs import setup_logging


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked(tmp_path: Path, fmt: str) -> None:
    log_file = tmp_path / "streamer.log"
    secrets = setup_logging("INFO", fmt, log_file)
    secrets.add("sk-live-abcdef123456")
    secrets.add("ab")  # too short to mask safely: ignored
    log = logging.getLogger("streamer.test")
    try:
        log.info("calling with key %s", "sk-live-abcdef123456")
        try:
            raise RuntimeError("bad key sk-live-abcdef123456")
        except RuntimeError:
            log.exception("failed")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "sk-live-abcdef123456" not in text
    assert text.count("***") >= 2
    if fmt == "json":
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert records[0]["message"] == "calling with key ***"
        assert "RuntimeError" in records[1]["exc"]
    # Calling again replaces our handlers instead of adding more.
    setup_logging("INFO", fmt, None)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_streamer", False)]
    assert len(ours) == 1
    for handler in ours:
        logging.getLogger().removeHandler(handler)
