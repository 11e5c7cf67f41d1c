"""Shared fixtures. Fakes live in tests/fakes and speak real protocols."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamer.rtmp_server import RtmpServer


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    before = asyncio.all_tasks()
    yield
    # Give cancelled tasks one turn of the loop to finish.
    await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    for task in leaked:
        task.cancel()
    assert not leaked, (
        f"test leaked tasks: {[t.get_name() + ' ' + repr(t.get_coro()) for t in leaked]}"
    )


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Tests that run the CLI configure logging; give the next test a clean slate."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RtmpServer]:
    """A real nginx-rtmp on a free loopback port (a test module may define its own)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = RtmpServer(tmp_path / "rtmp", port=port)
    srv.start()
    yield srv
    srv.stop()
