"""The daemon against a real OpenAI-compatible server: Hugging Face's `transformers serve`
with a tiny local model whose context is 1,024 tokens (``tests/real_llm.py``).

As a new user saw it: once the rolling memory plus the prompt outgrow the context the
server answers HTTP 400 ("The prompt has 1102 tokens, but the model takes at most
1024..."), and before the fix every later question failed until a restart. Every answer
is also cut by ``max_tokens`` mid-sentence (``finish_reason: length``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.store import QuestionStore, Status
from tests.real_llm import SENTENCE, build_model, serve_command, transformers_serve
from tests.test_daemon import DEMO, ROOT, fast, json_logs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(serve_command() is None, reason="needs transformers[serving]"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("tiny-llm")
    model = build_model(folder / "model", context=1024)
    with transformers_serve(model, folder / "serve.log") as url:
        yield url, model


def test_a_small_context_fills_and_every_question_is_still_answered(
    tmp_path: Path, server: tuple[str, Path]
) -> None:
    url, model = server
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        "".join(
            json.dumps({"user": f"viewer{i}", "text": f"!ask question {i}: what about the sea?"})
            + "\n"
            for i in range(12)
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamer",
            "run",
            "--no-video",
            "--once",
            "--config",
            str(DEMO),
            *fast(tmp_path / "data"),
            "--set",
            f"chat.replay_file={chat}",
            "--set",
            "pool.policy=fifo",
            "--set",
            "filters.user_cooldown_s=0",
            "--set",
            "llm.provider=openai",
            "--set",
            f"llm.base_url={url}",
            "--set",
            f"llm.model={model}",
            "--set",
            "llm.max_tokens=30",
            "--set",
            "llm.memory_size=20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    messages = [str(e["message"]) for e in json_logs(proc.stderr)]
    # The overflow happened, was recognised from the server's own words, and trimmed.
    assert any("did not fit the model's context" in m and "takes at most 1024" in m
               for m in messages), messages[-20:]  # fmt: skip
    with QuestionStore(tmp_path / "data" / "questions.db") as store:
        done = store.with_status(Status.DONE)
        dropped = store.with_status(Status.DROPPED)
    assert len(done) == 12 and not dropped
    # Cut at max_tokens mid-sentence: every answer ends at its last whole sentence.
    lines = proc.stdout.splitlines()
    last = [line for line in lines if "(last)" in line]
    assert len(last) == 12
    assert all(line.endswith(SENTENCE.strip()[-10:]) for line in last), last
    assert all(line.isprintable() for line in lines)
