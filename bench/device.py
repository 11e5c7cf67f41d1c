"""The GPU bench: what one CUDA card does for this project, in one table, in minutes.

``python -m bench.device`` on a machine with CUDA measures:

- the Wav2Lip generator (random weights in the reference architecture; the cost does not
  depend on the weights) in float16 through ``FastGenerator``: frames per second at
  batch 1, 8 and 32, the face encoder cached as the daemon caches it;
- how many 25 fps channels that card sustains with the generator alone (the best
  batch's fps / 25);
- the voices' real-time factors on the card: Piper's joe voice (onnxruntime's CUDA
  provider, when ``onnxruntime-gpu`` is installed) and a VITS of the LJSpeech size
  (random weights, coqui-tts), each also on the CPU for comparison.

Without CUDA it prints one line saying so and exits 0 (``--device cpu`` runs the same
table on the CPU, small, to check the script itself).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

TEXT = (
    "Hello chat! Today we talk about why the sky is blue: sunlight scatters off the air, "
    "and blue light scatters the most."
)
CHANNEL_FPS = 25


def generator_fps(device: str, batch: int, seconds: float) -> float:
    """Frames per second of the Wav2Lip generator (fp16 on CUDA) at one batch size."""
    import numpy as np
    import torch

    from wav2lip_fast.fast import FastGenerator
    from wav2lip_fast.model import Wav2Lip

    torch.manual_seed(0)
    gen = FastGenerator(Wav2Lip().eval(), device=device)
    faces = np.random.default_rng(0).integers(0, 255, (batch, 3, 96, 96), dtype=np.uint8)
    cache = gen.prepare_faces(faces)
    mel = torch.randn(batch, 1, 80, 16)
    gen.generate(mel, cache)  # warm-up (kernels, allocator)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    frames, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        gen.generate(mel, cache)
        frames += batch
    sync()
    return frames / (time.perf_counter() - started)


def voice_rtf(settings: object, rounds: int = 3) -> float:
    """Synthesis seconds per second of speech for one voice (after a warm-up)."""
    from streamer.tts import make_tts

    engine = make_tts(settings)  # type: ignore[arg-type]
    engine.load()
    engine.synthesize(TEXT)
    synth = speech = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        audio = engine.synthesize(TEXT)
        synth += time.perf_counter() - started
        speech += audio.duration_s
    return synth / speech


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("device bench: skipped: no CUDA device here (python -m bench.device --device cpu "
              "runs it on the CPU)")  # fmt: skip
        return 0
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    rows: list[tuple[str, str]] = []
    best = 0.0
    for batch in (1, 8, 32):
        fps = generator_fps(args.device, batch, args.seconds)
        best = max(best, fps)
        kind = "fp16" if args.device.startswith("cuda") else "fp32"
        rows.append((f"Wav2Lip generator {kind}, batch {batch}", f"{fps:,.0f} fps"))
    rows.append(("25 fps channels (generator alone)", f"{best / CHANNEL_FPS:.1f}"))

    from streamer.config import TTSSettings
    from streamer.tts.base import TTSError
    from streamer.tts.piper import packaged_voice

    if packaged_voice() is not None:
        for device in (args.device, "cpu") if args.device != "cpu" else ("cpu",):
            try:
                rtf = voice_rtf(TTSSettings(engine="piper", device=device))  # type: ignore[arg-type]
                rows.append((f"Piper joe medium on {device}", f"RTF {rtf:.3f}"))
            except TTSError as exc:
                rows.append((f"Piper joe medium on {device}", f"skipped: {exc}"[:90]))
    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp:
        try:
            from tests.tiny_vits import save_tiny_vits

            model, config = save_tiny_vits(Path(tmp) / "vits", full=True)
        except ImportError as exc:
            rows.append(("VITS LJSpeech-size", f"skipped: {exc}"))
        else:
            for device in (args.device, "cpu") if args.device != "cpu" else ("cpu",):
                settings = TTSSettings(
                    engine="vits", model_path=model, config_path=config,
                    device="cuda" if device.startswith("cuda") else "cpu",
                )  # fmt: skip
                rtf = voice_rtf(settings)
                rows.append((f"VITS LJSpeech-size (random) on {device}", f"RTF {rtf:.3f}"))
    width = max(len(r[0]) for r in rows)
    print(f"device bench on {name}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
