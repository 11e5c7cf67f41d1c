"""Benchmark of the wav2lip engine (`make bench`): one-shot command and daemon steady state.

Media, made here: a 10 s, 1280x720, 25 fps face video (the shipped avatar, drifting a
few pixels so every frame differs and has its own face box), the shipped still avatar,
10.0 s of espeak-ng speech (with its natural pauses), and a Wav2Lip checkpoint with
random weights saved in the reference layout (the public weights cannot be
downloaded here and never ship; the architecture and so the cost are the same).

Prints:
- ``streamer avatar prepare`` wall time (face detection over 250 frames, cached);
- one-shot: the wall time of ``streamer lipsync`` as a user runs it (a new process:
  Python and torch start-up, checkpoint load, cached avatar, mel, generator, paste,
  x264 encode, mux), in exact and fast modes, and its peak memory (max RSS);
- steady state inside the daemon: frames/s of the daemon's wav2lip engine rendering
  10 s segments at 1280x720 (after a warm-up segment), exact and fast, with where the
  time goes (generator vs paste-back) and how many frames were silence;
- fast mode's distance from exact on the benchmark clip: PSNR over the face boxes
  (the only pixels that differ) and over whole frames.

Run alone: ``.venv/bin/python -m bench.lipsync`` (``--quick`` for 3 s media).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
AVATAR = ROOT / "media" / "avatar.png"
WIDTH, HEIGHT, FPS = 1280, 720, 25
TEXT = (
    "Hello chat! Today we talk about why the sky is blue. Sunlight scatters off the air, "
    "and blue light scatters the most. That is why the sky looks blue at noon, and red "
    "at sunset, when the light travels through much more air."
)


def make_face_video(path: Path, seconds: float) -> None:
    """The shipped avatar drifting on a slow circle of a few pixels, as an H.264 MP4."""
    base = cv2.imread(str(AVATAR))
    base = cv2.resize(base, (WIDTH, HEIGHT))
    n = round(seconds * FPS)
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{WIDTH}x{HEIGHT}", "-framerate",
        str(FPS), "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
        "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(n):
        angle = 2 * np.pi * i / 100
        shift = np.float32([[1, 0, 6 * np.cos(angle)], [0, 1, 4 * np.sin(angle)]])
        frame = cv2.warpAffine(base, shift, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE)
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg could not write the face video")


def make_speech(path: Path, seconds: float) -> np.ndarray:
    """espeak-ng speech cut (or padded with silence) to exactly ``seconds``, 16 kHz."""
    from wav2lip_fast import load_audio

    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), TEXT], check=True)
    wav = load_audio(raw)
    n = round(seconds * 16000)
    wav = np.pad(wav, (0, max(0, n - len(wav))))[:n]
    pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2")
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return wav.astype(np.float32)


def make_checkpoint(path: Path) -> None:
    from tests.wav2lip_media import randomize
    from wav2lip_fast import Wav2Lip, save_reference_checkpoint

    save_reference_checkpoint(randomize(Wav2Lip(), seed=11), path, module_prefix=True)


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mb: float
    output: str


def run_cli(args: list[str]) -> Run:
    """Run ``streamer ARGS`` in a new process: wall time and its own peak memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"streamer {' '.join(args)} failed:\n{output}")
    return Run(elapsed, usage.ru_maxrss / 1024, output.strip().splitlines()[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def split_mode(name: str) -> tuple[str, int]:
    """``exact`` / ``fast`` (stride 3) / ``fastN`` -> (lipsync.mode, lipsync.fast_stride)."""
    if name == "exact":
        return "exact", 3
    if name == "fast":
        return "fast", 3
    if name.startswith("fast") and name[4:].isdigit():
        return "fast", int(name[4:])
    raise SystemExit(f"unknown mode {name!r}: use exact, fast, fast2, fast4")


def steady_state(
    name: str, checkpoint: Path, video: Path, speech: np.ndarray, data_dir: Path
) -> tuple[np.ndarray, dict[str, float]]:
    """The daemon's wav2lip engine on 10 s segments: (frames, numbers)."""
    mode, stride = split_mode(name)
    from streamer.audio import Audio, resample
    from streamer.avatar import load_avatar
    from streamer.config import AvatarSettings, LipSyncSettings
    from streamer.lipsync.wav2lip import Wav2LipEngine

    settings = LipSyncSettings(
        engine="wav2lip",
        checkpoint=checkpoint,
        device="cpu",
        mode=mode,  # type: ignore[arg-type]
        fast_stride=stride,
    )
    avatar = load_avatar(video, WIDTH, HEIGHT, FPS, 10.0)
    engine = Wav2LipEngine(settings, data_dir=data_dir, avatar_settings=AvatarSettings())
    started = time.perf_counter()
    engine.load(avatar)
    load_s = time.perf_counter() - started
    audio = resample(Audio(speech, 16000), 48000)
    # Warm-up: one short segment (first-call allocations, thread pools).
    for _ in engine.render(Audio(audio.samples[:48000], 48000), 0, FPS):
        pass
    core = engine._core
    assert core is not None
    st = core.stats
    before = (st.frames, st.generated, st.generate_s, st.paste_s, st.silent, st.interpolated)
    started = time.perf_counter()
    frames = np.concatenate(list(engine.render(audio, 0, FPS)))
    elapsed = time.perf_counter() - started
    n = st.frames - before[0]
    generated = st.generated - before[1]
    return frames, {
        "silent": st.silent - before[4],
        "interpolated": st.interpolated - before[5],
        "load_s": load_s,
        "fps": n / elapsed,
        "frames": n,
        "generated": generated,
        "generate_s": core.stats.generate_s - before[2],
        "paste_s": core.stats.paste_s - before[3],
        "elapsed": elapsed,
        "generator_fps": generated / max(core.stats.generate_s - before[2], 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s media instead of 10 s")
    parser.add_argument(
        "--modes",
        default="exact,fast2,fast,fast4",
        help="comma-separated: exact, fast (stride 3), fast2, fast4",
    )
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 10.0
    modes = [m for m in args.modes.split(",") if m]
    threads = os.cpu_count()
    print(
        f"lip-sync benchmark on {threads} cores: wav2lip engine, random weights, "
        f"{seconds:g} s clip at {WIDTH}x{HEIGHT} {FPS} fps, espeak-ng speech"
    )
    with tempfile.TemporaryDirectory(prefix="bench-lipsync-") as tmp:
        work = Path(tmp)
        video, wav, ckpt = work / "face.mp4", work / "speech.wav", work / "wav2lip.pth"
        started = time.perf_counter()
        make_face_video(video, seconds)
        speech = make_speech(wav, seconds)
        make_checkpoint(ckpt)
        print(f"  media made in {time.perf_counter() - started:.1f} s")
        cfg = work / "channel.yaml"
        cfg.write_text(
            f"data_dir: {work / 'data'}\nlipsync:\n  engine: wav2lip\n  checkpoint: {ckpt}\n"
            f"  device: cpu\navatar:\n  max_seconds: {seconds}\n"
        )

        prep = run_cli(["avatar", "prepare", str(video), "--config", str(cfg), "-q"])
        print(f"avatar prepare ({round(seconds * FPS)} frames, Haar): {prep.seconds:.1f} s")
        still = run_cli(["avatar", "prepare", str(AVATAR), "--config", str(cfg), "-q"])
        print(f"avatar prepare (still image): {still.seconds:.1f} s")

        print("one-shot `streamer lipsync` (new process, prepared avatar):")
        for mode in modes:
            for face, label in ((video, "video"), (AVATAR, "still")):
                out = work / f"out-{mode}-{label}.mp4"
                r = run_cli(
                    [
                        "lipsync", "--face", str(face), "--audio", str(wav), "--out", str(out),
                        "--config", str(cfg), "--mode", split_mode(mode)[0],
                        "--fast-stride", str(split_mode(mode)[1]), "-q",
                    ]
                )  # fmt: skip
                print(
                    f"  {mode:5s} {label:5s}: {r.seconds:5.1f} s wall, peak memory "
                    f"{r.max_rss_mb:,.0f} MB  ({r.output})"
                )

        print("steady state in the daemon (wav2lip engine, 10 s segments, video avatar):")
        results: dict[str, np.ndarray] = {}
        for mode in modes:
            frames, s = steady_state(mode, ckpt, video, speech, work / "data")
            results[mode] = frames
            print(
                f"  {mode:5s}: {s['fps']:5.1f} frames/s ({s['frames']} frames: "
                f"{s['generated']} generated, {s['interpolated']} interpolated, "
                f"{s['silent']} silent); "
                f"generator {s['generate_s']:.1f} s ({s['generator_fps']:.1f} frames/s), "
                f"paste-back {s['paste_s']:.1f} s, load {s['load_s']:.1f} s"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak memory of this process (every mode loaded in turn): {peak:,.0f} MB")

        if "exact" in results:
            a = results["exact"]
            others = [m for m in results if m != "exact"]
            if others:
                changed = np.zeros(a.shape[1:3], bool)
                for m in others:
                    changed |= (a != results[m]).any(axis=(0, 3))
                ys, xs = np.nonzero(changed)
                rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
            for m in others:
                b = results[m]
                per_frame = [psnr(a[i][rows, cols], b[i][rows, cols]) for i in range(len(a))]
                finite = [p for p in per_frame if np.isfinite(p)]
                print(
                    f"{m} vs exact: PSNR over the face region "
                    f"{psnr(a[:, rows, cols], b[:, rows, cols]):.1f} dB (worst frame "
                    f"{min(finite) if finite else float('inf'):.1f} dB), over whole frames "
                    f"{psnr(a, b):.1f} dB"
                )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
