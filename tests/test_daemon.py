"""The daemon as a user runs it: `streamer run` in a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo.yaml"

pytestmark = pytest.mark.slow


def streamer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamer", *args]


def run_streamer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        streamer_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )


def fast(data_dir: Path) -> list[str]:
    return [
        "--set",
        f"data_dir={data_dir}",
        "--set",
        "chat.replay_speed=0",
        "--set",
        "pool.interval_s=0.05",
        "--set",
        "llm.offline_word_delay_s=0",
        "--set",
        "log.format=json",
    ]


def json_logs(stderr: str) -> list[dict[str, object]]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_demo_once_prints_the_answer_segments(tmp_path: Path) -> None:
    proc = run_streamer("run", "--no-video", "--config", str(DEMO), "--once", *fast(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    # Each accepted demo question is answered, read back by the offline provider.
    for fragment in ("why is the sky blue", "favourite game", "rainbows form", "Bob Ross"):
        assert fragment in out, out
    # Rejected ones are not: the link, and alice's second question (cooldown).
    assert "spam.example.com" not in out
    assert "one more thing" not in out
    # Every answer ends with a segment flagged last.
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert sum("(last)" in line for line in lines) == 4, out
    logs = json_logs(proc.stderr)
    messages = " ".join(str(entry["message"]) for entry in logs)
    assert "no LLM" in messages or "offline" in messages
    assert (tmp_path / "questions.db").exists()
    assert (tmp_path / "streamer.log").exists()


def test_hostile_chat_never_crashes_the_daemon(tmp_path: Path) -> None:
    from tests.hostile_corpus import BANNED_WORDS, write_corpus

    corpus = write_corpus(tmp_path / "hostile.jsonl")
    assert corpus.lines >= 200
    banned = json.dumps(list(BANNED_WORDS))
    proc = run_streamer(
        "run",
        "--no-video",
        "--config",
        str(DEMO),
        "--once",
        *fast(tmp_path / "data"),
        "--set",
        f"chat.replay_file={corpus.path}",
        "--set",
        "filters.banned_words_file=null",
        "--set",
        f"filters.banned_words={banned}",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    logs = json_logs(proc.stderr)
    summary = [e for e in logs if str(e["message"]).startswith("chat summary")]
    assert len(summary) == 1
    stats = summary[0]["chat_stats"]
    assert isinstance(stats, dict)
    # Every well-formed line got a verdict, and every verdict has an outcome and a reason.
    assert stats["total"] == corpus.lines - corpus.malformed
    outcomes = sum(v for k, v in stats.items() if k.startswith("outcome."))
    reasons = sum(v for k, v in stats.items() if k.startswith("reason."))
    assert outcomes == reasons == stats["total"]
    assert stats.get("reason.internal_error", 0) == 0
    # Malformed lines were logged and skipped, one warning each.
    skipped = [e for e in logs if "skipped" in str(e["message"]) and e["level"] == "WARNING"]
    assert len(skipped) == corpus.malformed
    # No log line carries a megabyte, and no chat text forges a line of its own: every
    # stderr line is one JSON record and every stdout line one segment.
    for line in proc.stderr.splitlines():
        assert len(line) < 20_000
        assert line.startswith("{") and line.endswith("}"), line[:200]
    for line in proc.stdout.splitlines():
        assert line.startswith("[") and "\x1b" not in line and "\u202e" not in line, line[:200]
    # The accepted questions were all answered.
    assert stats.get("outcome.accepted", 0) > 0
    assert proc.stdout.count("(last)") == stats["outcome.accepted"]


def test_sigterm_finishes_then_a_restart_answers_the_rest(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    lines = [
        {"user": f"user{i}", "text": f"!ask question number {i} for the show?"} for i in range(5)
    ]
    # A long pause at the end keeps the chat open: the daemon runs until signalled.
    lines.append({"user": "late", "text": "!ask am I too late?", "delay_s": 600})
    chat.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    args = [*fast(data), "--set", f"chat.replay_file={chat}", "--set", "pool.policy=fifo"]
    errfile = tmp_path / "stderr.log"
    with errfile.open("w") as errs:
        proc = subprocess.Popen(
            streamer_cmd(
                "run",
                "--no-video",
                "--config",
                str(DEMO),
                *args,
                "--set",
                "chat.replay_speed=1",
                "--set",
                "pool.interval_s=1",
            ),
            stdout=subprocess.PIPE,
            stderr=errs,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # the first answer's first segment
            assert first.startswith("["), first
            proc.send_signal(signal.SIGTERM)
            rest = proc.stdout.read()  # the same buffered reader: no line is lost
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    err = errfile.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert "stopping" in err
    answered_before = (first + rest).count("(last)")
    assert 1 <= answered_before < 5, (first, rest, err[-3000:])
    # The rest were kept and are answered after a restart (the late question never came).
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    again = run_streamer(
        "run",
        "--no-video",
        "--config",
        str(DEMO),
        "--once",
        *args,
        "--set",
        f"chat.replay_file={empty}",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    answered = first + rest + again.stdout
    # (printed as the voice reads it: numbers in words)
    for word in ("zero", "one", "two", "three", "four"):
        assert answered.count(f"question number {word} ") == 1, answered


@pytest.mark.parametrize("moment", ["writing", "speaking"])
async def test_sigkill_mid_answer_loses_nothing_and_repeats_nothing(
    tmp_path: Path, moment: str
) -> None:
    """kill -9 while the LLM writes (nothing heard yet): the question is answered in full
    after a restart. kill -9 once the first segment was out: it is recorded truncated
    and not spoken again. Either way ``--once`` exits and the next question is answered."""
    from streamer.store import QuestionStore, Status
    from tests.fakes.openai_server import FakeOpenAIServer, Scenario

    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        json.dumps({"user": "alice", "text": "!ask tell me the longest story you know"})
        + "\n"
        # Keep the chat open so the first run never ends by itself.
        + json.dumps({"user": "late", "text": "!ask too late?", "delay_s": 600})
        + "\n",
        encoding="utf-8",
    )
    story = (
        "Well, that is a long story, my dear friend from the chat. It starts in a small "
        "village far away, where nobody had ever seen the sea."
    )
    data = tmp_path / "data"
    async with FakeOpenAIServer() as llm:
        # Stops mid-answer until released: before any segment, or after the first.
        stalled = Scenario.paused(story, after=2 if moment == "writing" else 18)
        llm.push(stalled)
        args = [
            "run",
            "--no-video",
            "--config",
            str(DEMO),
            *fast(data),
            "--set",
            f"chat.replay_file={chat}",
            "--set",
            "chat.replay_speed=1",
            "--set",
            "llm.provider=openai",
            "--set",
            f"llm.base_url={llm.base_url}",
            "--set",
            "llm.model=test",
        ]
        proc = await asyncio.create_subprocess_exec(
            *streamer_cmd(*args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            if moment == "speaking":
                async with asyncio.timeout(30):
                    first = (await proc.stdout.readline()).decode()
                assert first.startswith("[") and "#0" in first, first  # mid-answer now
            else:
                async with asyncio.timeout(30):
                    await llm.paused.wait()  # the LLM is writing: nothing is out yet
            proc.kill()  # SIGKILL: no clean-up at all
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            stalled.gate.set()
        assert proc.returncode == -signal.SIGKILL
        with QuestionStore(data / "questions.db") as store:
            (building,) = store.with_status(Status.BUILDING)
        answer_id = building.id[:8]

        # Restart with one new question: the interrupted one is settled, the new one answered.
        after = tmp_path / "after.jsonl"
        after.write_text(json.dumps({"user": "bob", "text": "!ask and now?"}) + "\n")
        again = await asyncio.create_subprocess_exec(
            *streamer_cmd(*args, "--once", "--set", f"chat.replay_file={after}"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        async with asyncio.timeout(60):
            out, err = await again.communicate()
    assert again.returncode == 0, err.decode()[-3000:]
    text = out.decode()
    lines = [line for line in text.splitlines() if line.startswith(f"[{answer_id}")]
    with QuestionStore(data / "questions.db") as store:
        alice = store.get(building.id)
        bob = [s for s in store.with_status(Status.DONE) if s.question.user == "bob"]
    assert alice is not None and bob and bob[0].outcome == "done"
    assert "bob" in str(llm.requests[-1].messages[-1]["content"])
    logs = json_logs(err.decode())
    if moment == "writing":
        # Nothing had been heard: answered from the start, in full.
        assert lines and "(last)" in lines[-1], text
        assert alice.status is Status.DONE and alice.outcome == "done"
        restored = [e for e in logs if "was being answered" in str(e["message"])]
        assert len(restored) == 1 and answer_id in str(restored[0]["message"])
        assert len(llm.requests) == 3  # alice twice, bob once
    else:
        # Heard: it ends where it stopped and is never spoken again.
        assert lines == [], text
        assert alice.status is Status.DONE and alice.outcome == "truncated"
        assert alice.reason is not None and "stopped" in alice.reason
        assert len(llm.requests) == 2
