"""The soak benchmark's short version, as CI runs it: two minutes on air with faults.

`python -m bench.soak --minutes 2`: the demo daemon as a process with video to its own
nginx-rtmp, questions every few seconds, LLM cuts and 500s, one ffmpeg SIGKILL and one
nginx restart. It must end by itself with every question recorded once, no stall and
audio and video together at the end (its own exit status says so).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_publisher import needs_media

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, needs_media]


@pytest.mark.timeout(600)  # two minutes on air, then the daemon drains and exits
def test_two_minutes_on_air_through_faults(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "2", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    assert "result: PASS" in out
    assert "| stalls | 0 |" in out
    assert "ffmpeg" in out and "SIGKILLed" in out and "nginx stopped" in out
    rows = dict(
        line.strip("|").split("|")[:2] for line in out.splitlines() if line.startswith("| ")
    )
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    assert int(rows["asked"]) == int(rows["(recorded in all)"]) > 0
    assert int(rows["answered"]) > 0
