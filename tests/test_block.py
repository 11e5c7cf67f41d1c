"""The local block list: the file, and `!block` / `!unblock` through the daemon process."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

from streamer.moderation.blocklist import BlockList
from tests.fakes.openai_server import FakeOpenAIServer, Scenario
from tests.test_daemon import DEMO, ROOT, fast, json_logs, streamer_cmd

SLOW = (
    "Well, let me tell you a long story about the sea and the ships on it. "
    "It goes on for a while, sentence after sentence, so it is on air for some time. "
    "And then there is even more of it, because stories about the sea never end."
)


def test_the_file_is_read_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "blocked.txt"
    path.write_text("# my list\n@Alice\nbob  # a note\nnot-a-login\n\n", encoding="utf-8")
    blocked = BlockList(path)
    assert "alice" in blocked and "ALICE" in blocked and "bob" in blocked
    assert len(blocked) == 2 and "carol" not in blocked
    assert blocked.add("@Carol") and not blocked.add("carol")
    assert not blocked.add("bob-smith") and not blocked.add("한국어")  # not Twitch logins
    assert path.read_text(encoding="utf-8").splitlines()[0] == "# my list"  # kept
    assert blocked.remove("alice") and not blocked.remove("alice")
    again = BlockList(path)
    assert sorted(u for u in ("alice", "bob", "carol") if u in again) == ["bob", "carol"]
    assert not (tmp_path / "blocked.txt.tmp").exists()


@pytest.mark.slow
async def test_block_pulls_the_answer_on_air_and_drops_their_questions(tmp_path: Path) -> None:
    mod = {"user": "mod", "badges": ["moderator"]}
    lines = [
        {"user": "viewer1", "text": "!ask tell me a long story please"},
        {"user": "viewer1", "text": "!ask and another story after that", "delay_s": 0.1},
        {**mod, "text": "!block @Viewer1", "delay_s": 3.5},
        {"user": "viewer1", "text": "!ask may I ask one more thing?", "delay_s": 0.3},
        {"user": "viewer2", "text": "!ask what is your favourite colour?", "delay_s": 0.1},
        {**mod, "text": "!unblock viewer1", "delay_s": 1.0},
        {"user": "viewer1", "text": "!ask am I allowed back in now?", "delay_s": 0.2},
    ]
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    data = tmp_path / "data"

    def route(messages: list[dict[str, object]]) -> Scenario | None:
        asked = str(messages[-1].get("content", ""))
        if "story" in asked:
            return Scenario.reply(SLOW, delay_s=0.15)
        return Scenario.reply("Blue, like the sea. That is my answer.")

    async with FakeOpenAIServer(route=route) as llm:
        args = [
            "run", "--no-video", "--once", "--config", str(DEMO), *fast(data),
            "--set", f"chat.replay_file={chat}", "--set", "chat.replay_speed=1",
            "--set", "pool.policy=fifo", "--set", "filters.user_cooldown_s=0",
            "--set", "llm.provider=openai", "--set", f"llm.base_url={llm.base_url}",
            "--set", "llm.model=test", "--set", "llm.timeouts.total_s=30",
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *streamer_cmd(*args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        async with asyncio.timeout(90):
            out_b, err_b = await proc.communicate()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err[-3000:]
    with sqlite3.connect(data / "questions.db") as db:
        rows = db.execute("SELECT user, text, status, outcome, reason FROM questions").fetchall()
    ended = {text: (user, status, outcome, reason) for user, text, status, outcome, reason in rows}
    # Both of viewer1's questions are gone: the one on air pulled (moderated), the
    # other dropped; their question while blocked was never taken.
    story = ended["tell me a long story please"]
    assert story[1:3] == ("dropped", "moderated") and "blocked by mod" in story[3], story
    other = ended["and another story after that"]
    assert other[1] == "dropped" and "blocked by mod" in other[3], other
    assert "may I ask one more thing?" not in ended
    # Everyone else, and viewer1 once unblocked, is answered.
    assert ended["what is your favourite colour?"][1:3] == ("done", "done")
    assert ended["am I allowed back in now?"][1:3] == ("done", "done")
    # The story was on air (its first segment printed) and stopped there.
    assert "long story about the sea" in out and "stories about the sea never end" not in out
    replies = [str(e["message"]) for e in json_logs(err)]
    assert any("!block: blocked viewer1; 1 answer" in m or "blocked viewer1;" in m for m in replies)
    assert any("unblocked viewer1" in m for m in replies)
    assert any("rejected" in m and "blocked" in m for m in replies), replies[-20:]
    assert (data / "blocked_users.txt").read_text(encoding="utf-8").splitlines()[1:] == []
