"""An hour on air (`make soak`, or `python -m bench.soak --minutes 60`).

The demo daemon (`streamer run --config config/demo.yaml --once`, as a process) with
video, publishing to its own nginx-rtmp on a free port; a generated chat asking every
few seconds (each viewer once, a moderator's ``!skip`` now and then); its LLM the local
OpenAI-compatible test server, which cuts some answers mid-stream and answers others
with HTTP 500; one ffmpeg SIGKILL and one nginx restart (10 s down) on a schedule. It
samples the daemon's RSS, threads and open files every 2 s, reads the stream back with
ffmpeg (packets only, no decoding), and prints:

- questions asked / answered / truncated / skipped / failed / expired (they must add up);
- stalls (questions waiting while no answer ends for ``STALL_S``): the goal is 0;
- the largest video gap inside one reader session, and the A/V offset at the end;
- RSS, threads and open files, sampled every 2 s and compared while the publisher holds
  no clip (its queue alone holds up to ~5 s of raw frames): the median of the first 30
  such samples after 5 minutes (1 with ``--minutes`` < 10) against the median of the
  last 30, and the growth (goal: under 5 %).

Exit status 1 if a goal is missed (stalls, A/V, counts; memory and threads in runs of
10 minutes or more), so CI can run a short version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from streamer.rtmp_server import RtmpServer
from streamer.status import fetch_status
from streamer.store import QuestionStore, Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "demo.yaml"
ASK_EVERY_S = 7.0
SKIP_EVERY = 13  # a moderator's !skip after every N-th question
CUT_EVERY = 5  # the LLM cuts every N-th answer after its first sentence
ERROR_EVERY = 7  # ... and answers HTTP 500 (twice: the request and its retry)
STATUS_EVERY_S = 2.0
STALL_S = 60.0
# Samples with no clip in the publisher compared at each end (the first and the last).
IDLE_SAMPLES = 30
NGINX_DOWN_S = 10.0
REPLY = (
    "Oh, what a lovely question from the chat! I think the answer is blue, like the sky. "
    "Thank you for asking me."
)
PACKET = re.compile(r"^\s*(\d+),\s*(-?\d+),\s*(-?\d+),\s*(\d+),")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ReaderSession:
    """One ffmpeg subscriber: packet timestamps only (stream copy, nothing decoded)."""

    url: str
    video: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None

    def start(self) -> ReaderSession:
        cmd = [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-nostdin",
            "-rw_timeout", "5000000", "-copyts", "-i", self.url,
            "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "framecrc", "pipe:1",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        tb = {0: 1e-3, 1: 1e-3}
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("#tb "):
                index, value = line[4:].split(":")
                num, den = value.strip().split("/")
                tb[int(index)] = int(num) / int(den)
                continue
            m = PACKET.match(line)
            if m:
                stream = int(m.group(1))
                (self.video if stream == 0 else self.audio).append(int(m.group(3)) * tb[stream])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread is not None:
            self.thread.join(5)

    def max_gap(self) -> float:
        v = sorted(self.video)
        return max((b - a for a, b in itertools.pairwise(v)), default=0.0)

    def av_offset(self) -> float:
        if not self.video or not self.audio:
            return 0.0
        return (max(self.video) + 0.04) - (max(self.audio) + 1024 / 48000)


def write_chat(path: Path, minutes: float) -> int:
    """Questions every ASK_EVERY_S for ``minutes``, a !skip now and then; returns asks."""
    lines = []
    n = int(minutes * 60 / ASK_EVERY_S)
    for i in range(n):
        lines.append({"user": f"viewer{i}", "text": f"!ask question number {i}, how are you?",
                      "delay_s": ASK_EVERY_S})  # fmt: skip
        if i % SKIP_EVERY == SKIP_EVERY - 1:
            lines.append({"user": "mod", "text": "!skip", "badges": ["moderator"], "delay_s": 3})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return n


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def publisher_ffmpeg(pid: int) -> int | None:
    for child in children(pid):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if cmd and cmd[0].endswith(b"ffmpeg") and b"rawvideo" in cmd and b"flv" in cmd:
                return child
    return None


def sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    anon = re.search(r"RssAnon:\s+(\d+)", status)
    return {"t": time.monotonic(), "rss_mb": rss, "threads": threads,
            # Anonymous memory (heap, stacks) apart from mapped files (code, libraries).
            "anon_mb": int(anon.group(1)) / 1024 if anon else rss,
            "files": len(os.listdir(f"/proc/{pid}/fd"))}  # fmt: skip


async def soak(minutes: float, keep: Path | None, trace: bool = False) -> int:
    work = keep or Path(tempfile.mkdtemp(prefix="streamer-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    port, status_port = free_port(), free_port()
    server = RtmpServer(work / "rtmp", port=port)
    server.start()
    url = server.url()
    chat = work / "chat.jsonl"
    asked = write_chat(chat, minutes)
    duration = minutes * 60
    samples: list[dict[str, float]] = []
    readers: list[ReaderSession] = []
    stalls: list[float] = []
    events: list[str] = []
    async with FakeOpenAIServer(default=Scenario.reply(REPLY, delay_s=0.01)) as llm:
        cmd = [
            sys.executable, "-m", "streamer", "run", "--once", "--config", str(CONFIG),
            "--set", f"data_dir={work / 'data'}", "--set", f"chat.replay_file={chat}",
            "--set", "chat.replay_speed=1", "--set", "llm.provider=openai",
            "--set", f"llm.base_url={llm.base_url}", "--set", "llm.model=soak",
            "--set", f"output.rtmp_url={url}", "--set", "output.start_rtmp_server=false",
            "--set", f"status.port={status_port}", "--set", "log.format=json",
            "--set", "filters.user_cooldown_s=0", "--set", "pool.max_age_s=600",
        ]  # fmt: skip
        errlog = (work / "daemon.log").open("w")
        env = dict(os.environ)
        if trace:
            env["STREAMER_TRACEMALLOC"] = str(work / "tracemalloc.txt")
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=errlog, cwd=ROOT, env=env
        )
        started = time.monotonic()
        readers.append(ReaderSession(url).start())
        killed = restarted = False
        last_ended, last_change = -1, time.monotonic()
        next_cut, next_error = CUT_EVERY, ERROR_EVERY
        try:
            while proc.returncode is None:
                now = time.monotonic()
                elapsed = now - started
                # LLM faults, one pending at a time: a cut answer every CUT_EVERY
                # requests, a 500 (the request and its retry) every ERROR_EVERY.
                if not llm.scenarios and elapsed < duration:
                    n = len(llm.requests)
                    if n >= next_cut:
                        llm.push(Scenario.cut(REPLY, after=14))
                        next_cut = n + CUT_EVERY
                    elif n >= next_error:
                        llm.push(Scenario.error(500), Scenario.error(500))
                        next_error = n + ERROR_EVERY
                if not killed and elapsed > 0.4 * duration:
                    ffmpeg = publisher_ffmpeg(proc.pid)
                    if ffmpeg is not None:
                        os.kill(ffmpeg, signal.SIGKILL)
                        events.append(f"{elapsed:.0f} s: ffmpeg {ffmpeg} SIGKILLed")
                        killed = True
                if not restarted and elapsed > 0.7 * duration:
                    restarted = True
                    events.append(f"{elapsed:.0f} s: nginx stopped for {NGINX_DOWN_S:.0f} s")
                    await asyncio.to_thread(server.stop)
                    await asyncio.sleep(NGINX_DOWN_S)
                    await asyncio.to_thread(server.start)
                if not readers[-1].alive():
                    readers.append(ReaderSession(url).start())
                with contextlib.suppress(Exception):
                    state = await fetch_status("127.0.0.1", status_port)
                    publisher = state.get("next_stage", {}).get("publisher", {})
                    point = sample(proc.pid)
                    heap = state.get("heap", {})
                    for key in ("in_use_mb", "free_mb", "mapped_mb"):
                        point[key] = float(heap.get(key, 0.0))
                    # Idle: no clip waits or plays, so the memory is the daemon's own
                    # (the clip queue holds up to ~5 s of raw frames, ~400 MB at 720p).
                    point["idle"] = float(not state.get("answers") and
                                          not publisher.get("clips_queued") and
                                          not publisher.get("on_air"))  # fmt: skip
                    samples.append(point)
                    ended = sum(state.get("questions_ended", {}).values())
                    pool = state.get("pool", {})
                    waiting = state.get("answers") or pool.get("pooled") or pool.get("queued")
                    if ended != last_ended:
                        last_ended, last_change = ended, now
                    elif waiting and now - last_change > STALL_S:
                        stalls.append(elapsed)
                        events.append(f"{elapsed:.0f} s: STALL, nothing ended for {STALL_S} s")
                        last_change = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), STATUS_EVERY_S)
                if elapsed > duration + 600:
                    events.append("the daemon did not finish 10 minutes after the chat ended")
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            errlog.close()
            for reader in readers:
                reader.stop()
            server.stop()
    code = proc.returncode
    return report(work, asked, code, samples, readers, stalls, events, minutes)


def report(
    work: Path,
    asked: int,
    code: int | None,
    samples: list[dict[str, float]],
    readers: list[ReaderSession],
    stalls: list[float],
    events: list[str],
    minutes: float,
) -> int:
    with QuestionStore(work / "data" / "questions.db") as store:
        rows = [s for status in Status for s in store.with_status(status)]
    outcome: dict[str, int] = {}
    for s in rows:
        key = s.outcome or (s.reason or s.status.value)
        if s.status is Status.DROPPED and s.outcome is None:
            key = "expired" if s.reason == "expired" else f"dropped ({s.reason})"
        outcome[key] = outcome.get(key, 0) + 1
    ended = sum(outcome.values())
    warm = 5 * 60 if minutes >= 10 else 60
    t0 = samples[0]["t"] if samples else 0.0
    quiet = [s for s in samples if s["idle"] and s["t"] - t0 >= warm]
    k = max(1, min(IDLE_SAMPLES, len(quiet) // 2))  # the first k against the last k

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2] if values else 0.0

    gaps = [r.max_gap() for r in readers if len(r.video) > 25]
    av = readers[-1].av_offset() if readers else 0.0
    print(f"\nsoak: {minutes:g} min on air, daemon exit code {code}, data in {work}")
    for line in events:
        print(f"  {line}")
    print("| questions | count |\n|---|---|")
    print(f"| asked | {asked} |")
    for key in ("done", "truncated", "skipped", "failed", "requeued", "expired"):
        print(f"| {key if key != 'done' else 'answered'} | {outcome.pop(key, 0)} |")
    for key, n in outcome.items():
        print(f"| {key} | {n} |")
    print(f"| (recorded in all) | {ended} |")
    print("\n| stream | value |\n|---|---|")
    print(f"| stalls | {len(stalls)} |")
    print(f"| reader sessions | {len(readers)} |")
    print(f"| max video gap inside a session | {max(gaps, default=0.0) * 1000:.0f} ms |")
    print(f"| A/V offset at the end | {av * 1000:+.0f} ms |")
    print(f"\n{len(samples)} samples of the daemon process every {STATUS_EVERY_S:g} s, "
          f"{len(quiet)} after {warm // 60} min with no clip in the publisher; medians of "
          f"the first and the last {k} of those:")  # fmt: skip
    print("| process | after warm-up | at the end | growth | max (any sample) |")
    print("|---|---|---|---|---|")
    (work / "samples.jsonl").write_text(
        "".join(json.dumps({**x, "t": x["t"] - t0}) + "\n" for x in samples), encoding="utf-8"
    )
    blocks: dict[int, list[float]] = {}
    for s in samples:
        if s["idle"]:
            blocks.setdefault(int((s["t"] - t0) // 300), []).append(s["rss_mb"])
    print(
        "idle RSS, median of each 5 minutes: "
        + ", ".join(
            f"{b * 5}-{b * 5 + 5} min {median(v):.0f} MB" for b, v in sorted(blocks.items())
        )
    )
    growths = {}
    for key, unit in (
        ("rss_mb", " MB"), ("anon_mb", " MB"), ("in_use_mb", " MB"), ("free_mb", " MB"),
        ("threads", ""), ("files", ""),
    ):  # fmt: skip
        base = median([s[key] for s in quiet[:k]])
        last = median([s[key] for s in quiet[-k:]])
        growths[key] = (last - base) / base * 100 if base else 0.0
        top = max((s[key] for s in samples), default=0.0)
        print(f"| {key} | {base:.0f}{unit} | {last:.0f}{unit} | {growths[key]:+.1f} % | "
              f"{top:.0f}{unit} |")  # fmt: skip
    ok = code == 0 and not stalls and ended == asked and abs(av) <= 0.04
    if minutes >= 10:  # a short run has no flat stretch to compare
        ok = ok and growths["rss_mb"] < 5 and growths["threads"] < 5
    print("\nresult:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--keep", type=Path, help="folder for the data, logs and chat file")
    parser.add_argument(
        "--trace", action="store_true",
        help="trace the daemon's Python allocations (slower): growth by line in "
        "<data>/tracemalloc.txt",
    )  # fmt: skip
    args = parser.parse_args(argv)
    return asyncio.run(soak(args.minutes, args.keep, args.trace))


if __name__ == "__main__":
    sys.exit(main())
