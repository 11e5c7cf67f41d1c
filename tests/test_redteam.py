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

from streamer.rtmp_server import RtmpServer
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
from tests.test_faults_media import on_air
from tests.test_publisher import needs_media

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


@needs_media
async def test_red_team_on_air_nothing_flagged_reaches_the_voice(
    tmp_path: Path, server: RtmpServer
) -> None:
    """A sample of the red team through the whole media path (espeak, puppet, ffmpeg to
    nginx-rtmp): the voice's input (its DEBUG line, exactly what it reads) never holds a
    leak, every harmful case is recorded moderated and the harmless ones are spoken."""
    # Harmless answers here hold no banned word even squashed ("Scunthorpe" would), as
    # the voice's input is searched as a whole.
    plain = [c for c in HARMLESS if not any(_squash(w) in _squash(c.answer) for w in BANNED)]
    sample = [*HARMFUL[::16], *plain[:4]]
    by_question = {c.question: c for c in sample}
    banned = tmp_path / "banned.txt"
    banned.write_text("\n".join([*BANNED, *BANNED_PHRASES]) + "\n", encoding="utf-8")
    async with (
        FakeOpenAIServer(default=Scenario.reply("Unscripted."), route=_route(by_question)) as llm,
        FakeModerationServer(MODEL_RULES) as guard,
        on_air(
            tmp_path, server.url(), "--set", "log.level=DEBUG",
            "--set", f"filters.banned_words_file={banned}", "--set", "filters.user_cooldown_s=0",
            "--set", f"llm.persona.system_prompt={json.dumps(SYSTEM_PROMPT)}",
            "--set", "moderation.model.kind=openai", "--set", "llm.read_question=true",
            "--set", f"moderation.model.base_url={guard.base_url}",
            llm=llm,
        ) as daemon,
    ):  # fmt: skip
        for i, case in enumerate(sample):
            await daemon.say(f"/as viewer{i}")
            await daemon.say(f"!ask {case.question}")
        assert await daemon.finish(within_s=240) == 0, daemon.tail()
    spoken = [str(e["message"]) for e in daemon.log if "voice input:" in str(e["message"])]
    heard = _squash(" ".join(spoken))
    for case in sample:
        if case.leak is not None:
            assert _squash(case.leak) not in heard, (case.question, case.leak)
    with sqlite3.connect(tmp_path / "data" / "questions.db") as db:
        rows = dict(db.execute("SELECT text, outcome FROM questions").fetchall())
    assert [c.question for c in sample if c.expect and rows[c.question] != "moderated"] == []
    assert {c.question: rows[c.question] for c in sample if not c.expect} == {
        c.question: "done" for c in sample if not c.expect
    }
    assert all(_squash(c.answer[:20]) in heard for c in sample if not c.expect)
