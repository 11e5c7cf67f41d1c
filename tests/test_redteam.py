"""The red team, replayed through the daemon process.

``streamer run --no-video --once`` with the real openai client against a scripted local
LLM (each question gets its case's answer) and the local moderation server (OpenAI's
``/v1/moderations``) as the model check. Harmful and harmless cases alternate, so every
harmful answer is followed by a question that must be answered in full. Asserted:

* not one leak string in what is printed (``--no-video`` prints the speech-ready text
  the voice would read, one line a segment; the question is read aloud first, so
  unsafe text in a question is checked too);
* every harmful case recorded ``moderated`` with its category, every harmless one
  ``done`` (false positives are counted and reported);
* the daemon exits by itself (nothing stalled).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.moderation_server import FakeModerationServer
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.redteam import (
    BANNED,
    BANNED_PHRASES,
    HARMFUL,
    HARMLESS,
    MODEL_RULES,
    SYSTEM_PROMPT,
    Case,
)
from tests.test_daemon import DEMO, ROOT, fast, streamer_cmd

pytestmark = pytest.mark.slow


def _squash(text: str) -> str:
    """Case, width and spacing folded, so a leak printed in another shape still counts."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", "", text)


def _route(cases: dict[str, Case]) -> Any:
    def route(messages: list[dict[str, Any]]) -> Scenario | None:
        asked = str(messages[-1].get("content", "")) if messages else ""
        for question, case in cases.items():
            if asked.endswith(question):
                if case.chunks is not None:
                    return Scenario.reply(case.answer, chunks=list(case.chunks))
                return Scenario.reply(case.answer)
        return None

    return route


async def test_red_team_nothing_flagged_is_spoken(tmp_path: Path) -> None:
    cases = [c for pair in zip(HARMFUL, HARMLESS, strict=False) for c in pair]
    cases += HARMLESS[len(HARMFUL) :]
    by_question = {c.question: c for c in cases}
    banned = tmp_path / "banned.txt"
    banned.write_text("\n".join([*BANNED, *BANNED_PHRASES]) + "\n", encoding="utf-8")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        "".join(
            json.dumps({"user": f"viewer{i}", "text": f"!ask {c.question}"}) + "\n"
            for i, c in enumerate(cases)
        ),
        encoding="utf-8",
    )
    data = tmp_path / "data"
    async with (
        FakeOpenAIServer(default=Scenario.reply("Unscripted."), route=_route(by_question)) as llm,
        FakeModerationServer(MODEL_RULES) as guard,
    ):
        args = [
            "run", "--no-video", "--once", "--config", str(DEMO), *fast(data),
            "--set", f"chat.replay_file={chat}", "--set", "pool.policy=fifo",
            "--set", "pool.build_queue_size=5", "--set", "filters.user_cooldown_s=0",
            "--set", "llm.provider=openai", "--set", f"llm.base_url={llm.base_url}",
            "--set", "llm.model=test", "--set", "llm.memory_size=0",
            "--set", f"llm.persona.system_prompt={json.dumps(SYSTEM_PROMPT)}",
            "--set", f"filters.banned_words_file={banned}",
            "--set", "moderation.model.kind=openai", "--set", "llm.read_question=true",
            "--set", f"moderation.model.base_url={guard.base_url}",
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *streamer_cmd(*args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "sk-test-redteam"},
        )
        try:
            async with asyncio.timeout(300):  # --once must end: a stall is the bug
                out_b, err_b = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]

    with sqlite3.connect(data / "questions.db") as db:
        rows = db.execute("SELECT id, text, status, outcome, reason FROM questions").fetchall()
    by_text = {text: (qid, status, outcome, reason) for qid, text, status, outcome, reason in rows}
    lost = [c.question for c in cases if c.question not in by_text]
    assert not lost, f"questions lost (rejected by the input filters?): {lost}"
    printed: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = re.match(r"\[([0-9a-f]{8}) ", line)
        if m:
            printed.setdefault(m.group(1), []).append(line)

    leaks, missed, false_positives = [], [], []
    for case in cases:
        qid, _status, outcome, reason = by_text[case.question]
        spoken = _squash(" ".join(printed.get(qid[:8], [])))
        if case.expect is None:
            if outcome != "done":
                false_positives.append((case.question, case.answer, outcome, reason))
            continue
        assert case.leak is not None
        if _squash(case.leak) in spoken:
            leaks.append((case.question, case.leak))
        if outcome != "moderated" or case.expect not in (reason or ""):
            missed.append((case.question, outcome, reason))
    print(
        f"red team: {len(HARMFUL)} harmful, {len(HARMLESS)} harmless; leaks {len(leaks)}, "
        f"not recorded moderated {len(missed)}, false positives {len(false_positives)}"
    )
    assert not leaks, leaks
    assert not missed, missed
    assert not false_positives, false_positives
    # The flagged text never reaches the log either (only a redacted hint).
    for case in HARMFUL:
        if case.expect == "banned_word" and case.leak and len(case.leak) > 4:
            assert case.leak not in err, case.leak
    assert "moderation" in err
