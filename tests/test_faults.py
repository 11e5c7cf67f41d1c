"""The fault matrix at the daemon: `streamer run` as a process through each LLM fault.

Each case runs the real daemon (``--no-video --once``, the real openai client) against
the local OpenAI server, which answers the first questions with a fault, three in a row
(or mixed), and the last question normally. Each asserts what a 24/7 stream needs:
the daemon exits by itself (``--once``: nothing stalled), the NEXT question after the
faults is answered, every question ends in one recorded state in the database, and
nothing that was printed (heard) is printed again.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from streamer.store import QuestionStore, Status
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.test_daemon import DEMO, ROOT, fast, json_logs, streamer_cmd

pytestmark = pytest.mark.slow

STORY = (
    "Well, that is a long story, my dear friend from the chat. It starts in a small "
    "village far away, where nobody had ever seen the sea. Then one day a ship came."
)
GOOD = "Blue, like the sky on a clear day. That is my favourite colour of all."


def cut_after_first_segment() -> Scenario:
    return Scenario.cut(STORY, after=20)


def garbage_mid_answer() -> Scenario:
    return Scenario.garbage(STORY, after=20)


def out_of_character_after_text() -> Scenario:
    return Scenario.reply(STORY.replace("Then one day", "As an AI language model, one day"))


def missing_done_after_text() -> Scenario:
    return Scenario.without_done(STORY)


def http_500() -> Scenario:
    return Scenario.error(500)


def first_token_stall() -> Scenario:
    return Scenario.stalled()


def whole_answer_timeout() -> Scenario:
    return Scenario.reply(STORY, delay_s=0.2)  # ~30 chunks: well past total_s


def wrong_model() -> Scenario:
    body = {"error": {"message": "The model `test` does not exist", "code": "model_not_found"}}
    return Scenario.error(404, body)


# name -> (the scenarios for the faulty questions, in order; True when text was heard)
CASES: dict[str, tuple[Callable[[], list[Scenario]], bool]] = {
    "cut after the first segment": (lambda: [cut_after_first_segment()] * 3, True),
    "garbage data line mid-answer": (lambda: [garbage_mid_answer()] * 3, True),
    "out of character after text": (lambda: [out_of_character_after_text()] * 3, True),
    "no [DONE] after text": (lambda: [missing_done_after_text()] * 3, True),
    # Each question: the request and its one retry fail; requeued, then answered.
    "HTTP 500 on the try and the retry": (lambda: [http_500()] * 6, False),
    "first-token stall": (lambda: [first_token_stall()] * 6, False),
    # (slow from the first word: nothing is out before total_s, so it is asked again)
    "whole-answer timeout": (lambda: [whole_answer_timeout()] * 6, False),
    "permanent 4xx": (lambda: [wrong_model()] * 3, False),
    "mixed": (
        lambda: [cut_after_first_segment(), http_500(), http_500(), missing_done_after_text()],
        True,
    ),
}


def chat_file(path: Path, questions: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"user": f"user{i}", "text": f"!ask {q}"}) + "\n"
            for i, q in enumerate(questions)
        ),
        encoding="utf-8",
    )
    return path


async def run_daemon(
    tmp_path: Path, llm: FakeOpenAIServer, questions: list[str], *extra: str
) -> tuple[int, str, str]:
    chat = chat_file(tmp_path / "chat.jsonl", questions)
    args = [
        "run", "--no-video", "--once", "--config", str(DEMO), *fast(tmp_path / "data"),
        "--set", f"chat.replay_file={chat}", "--set", "pool.policy=fifo",
        "--set", "llm.provider=openai", "--set", f"llm.base_url={llm.base_url}",
        "--set", "llm.model=test", "--set", "llm.timeouts.first_token_s=0.5",
        "--set", "llm.timeouts.total_s=2", "--set", "pool.max_attempts=3", *extra,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *streamer_cmd(*args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        async with asyncio.timeout(90):  # a stall is the bug: --once must end
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def final_states(data: Path) -> dict[str, tuple[Status, str | None]]:
    with QuestionStore(data / "questions.db") as store:
        rows = [s for status in Status for s in store.with_status(status)]
    return {s.question.user: (s.status, s.outcome) for s in rows}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_daemon_survives_each_llm_fault(tmp_path: Path, case: str) -> None:
    make, heard = CASES[case]
    faults = make()
    async with FakeOpenAIServer(default=Scenario.reply(GOOD)) as llm:
        llm.push(*faults)
        questions = [f"tell me story number {n} please" for n in ("one", "two", "three")]
        questions.append("what is your favourite colour?")
        code, out, err = await run_daemon(tmp_path, llm, questions)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    states = final_states(tmp_path / "data")
    # Every question ended, in one recorded state; none is left waiting or half-done.
    assert set(states) == {f"user{i}" for i in range(4)}, states
    assert all(status in (Status.DONE, Status.DROPPED) for status, _ in states.values()), states
    # The next question after the faults is answered, in full.
    assert states["user3"] == (Status.DONE, "done"), states
    lines = out.splitlines()
    ids = Counter(line[1:9] for line in lines)
    last = [line for line in lines if "(last)" in line]
    assert any("favourite colour" in line or "Blue" in line for line in lines), out
    assert last, out
    # Nothing heard is said again: each answer's segments are printed once, in order.
    for answer_id in ids:
        indexes = [
            int(line.split("#")[1].split()[0].rstrip("]"))
            for line in lines
            if line.startswith(f"[{answer_id}") and "#" in line
        ]
        assert indexes == list(range(len(indexes))), (answer_id, out)
    if heard:
        assert any(outcome == "truncated" for _, outcome in states.values()), states
    # The stop summary counts questions (4), not attempts.
    summary = [e for e in json_logs(err) if str(e["message"]).startswith("stopped:")]
    assert len(summary) == 1
    counted = summary[0]["questions"]
    assert isinstance(counted, dict) and sum(counted.values()) == 4, counted


async def test_context_filled_by_the_memory_then_trimmed(tmp_path: Path) -> None:
    """A server with a small context (HTTP 400 for every prompt that outgrows it) and
    the default llm.context_tokens: the memory grows until the 400s, then the answerer
    learns the real size; every question is answered."""
    long = "A long answer that the daemon remembers and sends again with every prompt. " * 8
    async with FakeOpenAIServer(default=Scenario.reply(long), context_tokens=1200) as llm:
        questions = [f"question number {n} for you?" for n in range(8)]
        code, _out, err = await run_daemon(tmp_path, llm, questions, "--set", "llm.memory_size=10")
        refused = [r for r in llm.requests if len(str(r.messages)) // 4 > 1200 - 300]
    assert code == 0, err[-3000:]
    states = final_states(tmp_path / "data")
    assert all(v == (Status.DONE, "done") for v in states.values()), states
    assert len(states) == 8
    assert refused, "the memory never outgrew the context: the case did not happen"
    assert "did not fit the model's context" in err
