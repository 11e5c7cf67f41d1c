"""What the console's live preview costs (`make bench`): the daemon's CPU with nobody
watching, then with one viewer.

The demo (`make run`'s config: 1280x720 at 25 fps, the preview at 640x360) runs as a
process publishing to its own nginx-rtmp; Debian's chromium, headless, opens the console
and clicks Watch. The daemon's CPU time (all its threads; its ffmpeg and nginx children
are not counted: the preview does not change their work) is read from /proc over
``WINDOW_S`` seconds of idle loop, once before and once while the viewer watches. The
browser's own CPU is printed apart: it decodes on the viewer's machine, not the
streamer's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOW_S = 20.0
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def total_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each of ``pids`` still running."""
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_s(pid)
        except OSError:
            continue
    return found


async def window(pids: list[int]) -> float:
    """Cores used by ``pids`` over WINDOW_S seconds."""
    start = {p: cpu_s(p) for p in pids}
    t0 = time.monotonic()
    await asyncio.sleep(WINDOW_S)
    used = sum(cpu_s(p) - start[p] for p in pids)
    return used / (time.monotonic() - t0)


def browser_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"chromium" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


async def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("preview: skipped: needs Debian's chromium (scripts/setup.sh --tests)")
        return 0
    from playwright.async_api import async_playwright

    data = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    port, rtmp = _free_port(), _free_port()
    cmd = [
        sys.executable, "-m", "streamer", "run", "--config", str(ROOT / "config" / "demo.yaml"),
        "--set", f"data_dir={data}", "--set", f"status.port={port}",
        "--set", f"output.rtmp_url=rtmp://127.0.0.1:{rtmp}/live/avatar",
        "--set", f"output.rtmp_server_port={rtmp}", "--set", "chat.replay_speed=1000",
        "--set", "log.file=false",
    ]  # fmt: skip
    env = {**os.environ, "STREAMER_CONSOLE_TOKEN": "bench-preview-token-0123456789"}
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        while b"publisher: streaming to" not in await proc.stderr.readline():
            if proc.returncode is not None:
                print("preview: the daemon did not start")
                return 1
        drain = asyncio.create_task(_drain(proc.stderr))
        await asyncio.sleep(30.0)  # the demo's questions are answered: the idle loop plays
        idle = await window([proc.pid])
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.click("#watch")
            await page.wait_for_function(
                "document.querySelector('#preview').currentTime > 2", timeout=30_000
            )
            start = total_cpu(browser_pids())
            watched = await window([proc.pid])
            end = total_cpu(list(start))
            browser_cpu = sum(end[b] - start[b] for b in end) / WINDOW_S
            played = await page.evaluate("document.querySelector('#preview').currentTime")
            await browser.close()
        drain.cancel()
    finally:
        proc.terminate()
        await proc.wait()
        shutil.rmtree(data, ignore_errors=True)
    print(f"preview (1280x720 stream, 640x360 VP8 preview, {os.cpu_count()} cores):")
    print(f"  daemon CPU, nobody watching: {idle:.2f} cores")
    print(f"  daemon CPU, one viewer:      {watched:.2f} cores (+{watched - idle:.2f})")
    print(f"  the viewer's browser:        {browser_cpu:.2f} cores (on the viewer's machine)")
    print(f"  the <video> played {played:.1f} s")
    return 0


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
