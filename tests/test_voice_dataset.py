"""``streamer voice dataset``: real espeak-ng recordings through real ffmpeg and pydub,
and a real openai-whisper model (random weights, built here) loaded from a .pt file the
way a user's model is. The fake transcriber stands in for Whisper where the test needs
to know the text."""

from __future__ import annotations

import argparse
import functools
import importlib.abc
import importlib.machinery
import io
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from numpy.typing import NDArray

from streamer.voice import dataset
from streamer.voice.dataset import (
    INSTALL_HINT,
    NO_SPEECH,
    SILENT_INPUT,
    TOO_LONG,
    TOO_SHORT,
    DatasetError,
    DatasetOptions,
    DatasetSummary,
    WhisperTranscriber,
    _resolve_device,
    add_arguments,
    build_dataset,
    clean_text,
    normalise,
    parse_time,
    read_audio,
    run,
)

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
    reason="needs espeak-ng and ffmpeg",
)

RATE = 22_050
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore every summer.",
    "A journey of a thousand miles begins with one step.",
    "Bright stars shine over the quiet mountain village tonight.",
]
SHORT_WORD = "Hi"
# Each sentence at another level, so the -20 dBFS normalisation has work to do.
GAINS = [1.0, 0.25, 0.6, 0.1]
FFMPEG = ["ffmpeg", "-nostdin", "-loglevel", "error"]
LINE = re.compile(r"^(spk_\d{4})\|([^|\r\n]+)\|([^|\r\n]+)$")


def speak(text: str, folder: Path) -> NDArray[np.float32]:
    path = folder / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples: NDArray[np.float32] = pcm.astype(np.float32) / np.float32(32768)
    return samples


def write_wav(path: Path, samples: NDArray[np.float32], rate: int = RATE) -> Path:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def join(parts: list[NDArray[np.float32]], gap_s: float) -> NDArray[np.float32]:
    gap = np.zeros(int(gap_s * RATE), dtype=np.float32)
    out: list[NDArray[np.float32]] = [gap]
    for part in parts:
        out += [part, gap]
    return np.concatenate(out)


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NDArray[np.float32]]:
    folder = tmp_path_factory.mktemp("espeak")
    return {text: speak(text, folder) for text in [*SENTENCES, SHORT_WORD]}


def starts(voices: dict[str, NDArray[np.float32]]) -> list[float]:
    """Where each part of the recording (sentence 1, the short word, 2, 3, 4) begins."""
    order = [SENTENCES[0], SHORT_WORD, *SENTENCES[1:]]
    out, at = [], 1.0
    for text in order:
        out.append(at)
        at += len(voices[text]) / RATE + 1.0
    return out


@pytest.fixture(scope="module")
def recording(
    tmp_path_factory: pytest.TempPathFactory, voices: dict[str, NDArray[np.float32]]
) -> Path:
    """Sentence 1, the short word, sentences 2-4, 1 s of silence between them, as a
    44.1 kHz stereo AAC .mp4 (ffmpeg converts it back)."""
    folder = tmp_path_factory.mktemp("recording")
    parts = [voices[SENTENCES[0]] * GAINS[0], voices[SHORT_WORD]]
    parts += [voices[s] * g for s, g in zip(SENTENCES[1:], GAINS[1:], strict=True)]
    wav = write_wav(folder / "joined.wav", join(parts, 1.0))
    mp4 = folder / "talk.mp4"
    subprocess.run(
        [*FFMPEG, "-i", str(wav), "-ar", "44100", "-ac", "2", "-c:a", "aac", str(mp4)],
        check=True,
    )
    return mp4


class ScriptedTranscriber:
    """Stands in for Whisper: returns the next scripted text and records what it heard."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.heard: list[NDArray[np.float32]] = []

    def transcribe(self, samples_16k: NDArray[np.float32]) -> str:
        self.heard.append(samples_16k)
        return self.texts.pop(0)


def shout(text: str) -> str:
    return text.upper() + " | done"


def wav_info(path: Path) -> tuple[int, int, int, NDArray[np.float64]]:
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), pcm / 32768.0


def dbfs(x: NDArray[np.float64]) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x**2))))


def read_metadata(out: Path) -> list[re.Match[str]]:
    raw = (out / "metadata.csv").read_bytes()
    assert b"\r" not in raw
    text = raw.decode("utf-8")
    assert text.endswith("\n")
    matches = []
    for line in text.removesuffix("\n").split("\n"):
        match = LINE.fullmatch(line)
        assert match, f"bad metadata line: {line!r}"
        matches.append(match)
    ids = [m.group(1) for m in matches]
    assert ids == [f"spk_{i:04d}" for i in range(1, len(ids) + 1)]
    assert sorted(p.stem for p in (out / "wavs").iterdir()) == ids
    return matches


def test_builds_an_ljspeech_dataset(
    recording: Path, voices: dict[str, NDArray[np.float32]], tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    texts = [
        " The quick brown fox | jumps.\r\n",
        "She sells 2 shells.",
        "A journey\nof steps.",
        "Bright  stars. ",
    ]
    transcriber = ScriptedTranscriber(texts)
    summary = build_dataset(
        [str(recording)],
        out,
        "spk",
        DatasetOptions(),
        normalize=shout,
        transcriber=transcriber,
        progress=False,
    )

    assert summary.clips == 4
    # The short word, from 250 ms before its sound (espeak starts with a little silence).
    short_at = starts(voices)[1]
    [rejected] = summary.rejected
    assert (rejected.source, rejected.reason) == (str(recording), TOO_SHORT)
    assert rejected.start_s == pytest.approx(short_at, abs=0.25)
    assert summary.metadata == out / "metadata.csv"
    lines = read_metadata(out)
    expected = ["The quick brown fox jumps.", "She sells 2 shells.", "A journey of steps."]
    expected.append("Bright stars.")
    assert [m.group(2) for m in lines] == expected
    assert [m.group(3) for m in lines] == [t.upper() + " done" for t in expected]

    total = 0.0
    for i, text in enumerate(SENTENCES):
        rate, channels, width, samples = wav_info(out / "wavs" / f"spk_{i + 1:04d}.wav")
        assert (rate, channels, width) == (22_050, 1, 2)
        seconds = len(samples) / rate
        total += seconds
        # The sentence plus up to 250 ms of silence on each side.
        speech = len(voices[text]) / RATE
        assert 1.0 <= seconds <= speech + 0.6
        assert abs(dbfs(samples) + 20.0) < 1.0, f"clip {i + 1}: {dbfs(samples):.2f} dBFS"
        assert np.abs(samples).max() < 10 ** (-0.9 / 20)  # never past the -1 dBFS ceiling
        # Whisper's input: the same clip, mono float32 at 16 kHz.
        heard = transcriber.heard[i]
        assert heard.dtype == np.float32 and heard.ndim == 1
        assert len(heard) == pytest.approx(seconds * 16_000, abs=20)
    assert summary.total_s == pytest.approx(total, abs=0.01)

    report = summary.report()
    assert report.startswith(f"4 clips, {total / 60:.1f} minutes of speech in {out}")
    assert "rejected 1 clip:" in report and "too short (1): talk.mp4 at 0:0" in report
    assert (out / "summary.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.fixture(scope="module")
def whisper() -> ModuleType:
    """openai-whisper (the ``voice`` extra): the tests that need it skip without it."""
    pytest.importorskip("torch")
    module: ModuleType = pytest.importorskip("whisper")
    return module


@pytest.fixture(scope="module")
def random_whisper(tmp_path_factory: pytest.TempPathFactory, whisper: ModuleType) -> Path:
    """A real (tiny) Whisper checkpoint with random weights, saved as openai-whisper does."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    model = Whisper(dims)
    with torch.no_grad():
        # Whisper leaves this uninitialised (torch.empty); checkpoints always set it.
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
        # Random weights repeat the last special token forever (nothing to print);
        # silencing the special tokens makes the model babble text instead.
        model.decoder.token_embedding.weight[50257:] = 0
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_real_whisper_model_from_a_file(
    recording: Path, random_whisper: Path, tmp_path: Path
) -> None:
    """A real Whisper (random weights) decodes garbage; the metadata stays valid."""
    path = random_whisper
    transcriber = WhisperTranscriber(str(path), device="auto", temperature=0.0, sample_len=16)
    out = tmp_path / "ds"
    summary = build_dataset(
        [str(recording)],
        out,
        "spk",
        DatasetOptions(whisper_model=str(path)),
        normalize=str.lower,
        transcriber=transcriber,
        progress=False,
    )
    lines = read_metadata(out)
    assert summary.clips == len(lines) >= 1
    no_speech = [r for r in summary.rejected if r.reason == NO_SPEECH]
    assert summary.clips + len(no_speech) == 4
    for match in lines:
        assert match.group(2) == match.group(2).strip()


def test_a_clip_without_text_is_dropped_and_numbering_stays_contiguous(
    recording: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    summary = build_dataset(
        [str(recording), str(recording)],
        out,
        "spk",
        DatasetOptions(),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["one", "  ", "three", "|", "five", "6", "7", "8"]),
        progress=False,
    )
    assert [m.group(2) for m in read_metadata(out)] == ["one", "three", "five", "6", "7", "8"]
    reasons = sorted(r.reason for r in summary.rejected)
    assert reasons == [NO_SPEECH, NO_SPEECH, TOO_SHORT, TOO_SHORT]
    assert "no speech recognised (2)" in summary.report()


def test_start_and_end_cut_every_input(
    recording: Path, voices: dict[str, NDArray[np.float32]], tmp_path: Path
) -> None:
    # From the silence after sentence 1 to the silence before sentence 4.
    at = starts(voices)
    summary = build_dataset(
        [str(recording)],
        tmp_path / "ds",
        "spk",
        DatasetOptions(start_s=at[1] - 0.5, end_s=at[4] - 0.5),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["two", "three"]),
        progress=False,
    )
    assert summary.clips == 2
    # Times count from the start of the input, not from --start.
    [rejected] = summary.rejected
    assert (rejected.source, rejected.reason) == (str(recording), TOO_SHORT)
    assert rejected.start_s == pytest.approx(at[1], abs=0.25)


def trim(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Without espeak's own silence at both ends."""
    sound = np.nonzero(np.abs(x) > 0.01)[0]
    return x[sound[0] : sound[-1] + 1]


def test_long_stretches_are_split_again_at_shorter_pauses(
    voices: dict[str, NDArray[np.float32]], tmp_path: Path
) -> None:
    # Four sentences (2.4-2.9 s) 0.3 s apart, under --min-silence-ms: one 12 s stretch.
    # Then an 8 s tone: no pause at all.
    speech = join([trim(voices[s]) for s in SENTENCES], 0.3)
    t = np.arange(int(8 * RATE)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    path = write_wav(tmp_path / "long.wav", np.concatenate([speech, np.zeros(RATE), tone]))
    summary = build_dataset(
        [str(path)],
        tmp_path / "ds",
        "spk",
        DatasetOptions(max_clip_s=6.0),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["a", "b", "c"]),
        progress=False,
    )
    # Cut at the 0.3 s pauses, as few as fit: sentences 1+2 (5.5 s), 3, 4.
    lengths = [wav_info(w)[3].size / RATE for w in sorted((tmp_path / "ds" / "wavs").iterdir())]
    assert summary.clips == 3
    assert lengths == [pytest.approx(x, abs=0.3) for x in (5.5, 2.8, 3.3)]
    assert all(x <= 6.0 for x in lengths)
    assert [r.reason for r in summary.rejected] == [TOO_LONG]
    assert summary.rejected[0].start_s == pytest.approx(len(speech) / RATE + 0.75, abs=0.3)


def test_peaks_limit_the_gain_instead_of_clipping() -> None:
    from pydub import AudioSegment

    # Quiet noise with a few loud clicks: -20 dBFS RMS would need peaks far over 0 dBFS.
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.003, RATE * 2)
    x[:: RATE // 4] = 0.5
    pcm = (x * 32767).astype("<i2")
    clip = AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=RATE, channels=1)
    loud, short_db = normalise(clip, -20.0, -1.0)
    assert loud.max_dBFS == pytest.approx(-1.0, abs=0.1)
    assert short_db > 3 and loud.dBFS == pytest.approx(-20.0 - short_db, abs=0.1)

    sine = (0.01 * np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE) * 32767).astype("<i2")
    quiet = AudioSegment(data=sine.tobytes(), sample_width=2, frame_rate=RATE, channels=1)
    level, none = normalise(quiet, -20.0, -1.0)
    assert none == 0.0 and level.dBFS == pytest.approx(-20.0, abs=0.1)

    summary = DatasetSummary(
        clips=3, total_s=90, rejected=[], out_dir=Path("ds"), metadata=Path("ds/metadata.csv")
    )
    summary.limited, summary.limited_max_db = 2, short_db
    assert f"2 clips left up to {short_db:.1f} dB under -20 dBFS" in summary.report()


def test_texts_are_cleaned_for_metadata() -> None:
    assert clean_text("  a|b\r\nc\td  ") == "a b c d"
    assert clean_text(" | \n ") == ""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("12.5", 12.5), ("1:30", 90.0), ("01:02:03.5", 3723.5), ("0:05", 5.0)],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "-3", "1:75", "1:60:00", "a:10", "1:2:3:4", "nan", "1::2"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


# --- errors ---------------------------------------------------------------------------


def build(inputs: list[str], out: Path, options: DatasetOptions | None = None) -> None:
    build_dataset(
        inputs,
        out,
        "spk",
        options or DatasetOptions(),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["x"] * 10),
        progress=False,
    )


def test_unreadable_inputs(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(DatasetError, match=r"notes\.wav: cannot read audio: Invalid data"):
        build([str(text)], tmp_path / "a")

    video = tmp_path / "mute.mp4"
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", "testsrc=d=1:s=64x64", str(video)],
        check=True,
    )
    with pytest.raises(DatasetError, match=r"mute\.mp4: cannot read audio: no audio track$"):
        build([str(video)], tmp_path / "b")

    with pytest.raises(DatasetError, match=r"missing\.wav: no such file$"):
        build([str(tmp_path / "missing.wav")], tmp_path / "c")
    assert not (tmp_path / "a" / "metadata.csv").exists()


def test_silence_only_gives_no_dataset(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(RATE * 3, dtype=np.float32))
    with pytest.raises(DatasetError, match=f"no usable clips: 1 {SILENT_INPUT}"):
        build([str(path)], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_start_past_the_end(recording: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no audio between --start and --end"):
        read_audio(recording, RATE, 600.0, 700.0)


def test_urls_need_yt_dlp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # not importable
    monkeypatch.setenv("PATH", str(tmp_path))  # no yt-dlp program
    with pytest.raises(DatasetError, match=r"install yt-dlp \(pip install yt-dlp\) to read URLs"):
        build(["https://example.com/talk"], tmp_path / "ds")


FAKE_YT_DLP = """#!/bin/sh
# Stands in for yt-dlp: logs its arguments, "downloads" $FAKE_MEDIA to --output.
echo "$@" > "$FAKE_LOG"
while [ $# -gt 0 ]; do
    case "$1" in --output) out="$2"; shift;; esac
    shift
done
cp "$FAKE_MEDIA" "$(echo "$out" | sed 's/%(ext)s/mp4/')"
"""


def test_urls_download_through_yt_dlp(
    recording: Path,
    voices: dict[str, NDArray[np.float32]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "yt-dlp"
    program.write_text(FAKE_YT_DLP)
    program.chmod(0o755)
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MEDIA", str(recording))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "args.txt"))
    url = "https://example.com/watch?v=talk"
    summary = build_dataset(
        [url],
        tmp_path / "ds",
        "spk",
        DatasetOptions(start_s=1.5, end_s=90.0),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["x"] * 4),
        progress=False,
    )
    args = (tmp_path / "args.txt").read_text()
    assert "--download-sections *1.500-90.000" in args and args.rstrip().endswith(f"-- {url}")
    # The fake ignores the cut: the file is read whole, times count from --start.
    assert summary.clips == 4
    [rejected] = summary.rejected
    assert rejected.source == url
    assert rejected.start_s == pytest.approx(starts(voices)[1] + 1.5, abs=0.25)
    assert "too short (1): https://example.com/watch?v=talk at" in summary.report()


def test_existing_dataset_needs_force(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build([str(recording)], out)
    (out / "wavs" / "old.wav").write_bytes(b"old")
    with pytest.raises(DatasetError, match="already holds a dataset: pass --force"):
        build([str(recording)], out)
    build_dataset(
        [str(recording)],
        out,
        "spk",
        DatasetOptions(),
        normalize=str.lower,
        transcriber=ScriptedTranscriber(["y"] * 4),
        progress=False,
        force=True,
    )
    assert not (out / "wavs" / "old.wav").exists()
    assert [m.group(2) for m in read_metadata(out)] == ["y"] * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_clip_s": 5.0, "max_clip_s": 4.0}, "use 0 < min < max"),
        ({"max_clip_s": 40.0}, "Whisper hears 30 s at most"),
        ({"start_s": 10.0, "end_s": 5.0}, "--end: must come after --start"),
        ({"silence_offset_db": 6.0}, "--silence-thresh"),
    ],
)
def test_bad_options(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        DatasetOptions(**kwargs)  # type: ignore[arg-type]


def test_bad_name(tmp_path: Path, recording: Path) -> None:
    with pytest.raises(DatasetError, match="--name 'a/b'"):
        build_dataset(
            [str(recording)],
            tmp_path,
            "a/b",
            DatasetOptions(),
            normalize=str.lower,
            transcriber=ScriptedTranscriber([]),
        )


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty Whisper cache and no network: the download must fail."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path / "cache" / "whisper"


def test_whisper_model_not_in_cache(whisper: ModuleType, offline: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="cpu")
    message = str(caught.value)
    assert message.startswith(f"Whisper model 'tiny' is not in {offline} and could not be")
    assert "pass --whisper-model PATH.pt, or connect to the internet once" in message
    assert "\n" not in message


class FakeDownload(io.BytesIO):
    """What urllib.request.urlopen returns, for bytes that are not the model."""

    def info(self) -> dict[str, str]:
        return {"Content-Length": str(len(self.getvalue()))}


def test_whisper_download_that_is_damaged(
    whisper: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: FakeDownload(b"\0" * 100))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "whisper"
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="cpu", download_root=cache)
    message = str(caught.value)
    assert message.startswith(f"Whisper model 'tiny' is not in {cache} and could not be")
    assert "SHA256 checksum does not not match" in message  # Whisper's words
    assert not list(cache.iterdir())  # the damaged download is not left in the cache


def test_whisper_model_damaged_in_the_cache(whisper: ModuleType, offline: Path) -> None:
    offline.mkdir(parents=True)
    (offline / "tiny.pt").write_bytes(b"\0" * 100)  # Whisper checks the SHA256: not it
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="cpu")
    message = str(caught.value)
    assert message.startswith(f"Whisper model 'tiny': {offline / 'tiny.pt'} is damaged and")
    assert "could not be downloaded again (<urlopen error no network in tests>)" in message
    assert (offline / "tiny.pt").is_file()  # the user's file: not ours to delete


def fake_gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_whisper_load_errors_are_reported_as_they_are(
    whisper: ModuleType, offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every failure is a missing download: the real reason, in one line."""
    import torch

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB.\nGPU 0 has 1.00 GiB free."
        )

    fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(whisper, "load_model", out_of_memory)
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("small", device="cuda")
    assert str(caught.value) == (
        "Whisper model small: the GPU has not enough memory for it (CUDA out of memory. "
        "Tried to allocate 2.00 GiB. GPU 0 has 1.00 GiB free.): use a smaller model or "
        "--device cpu"
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Error(s) in loading state_dict for Whisper:\n\tsize mismatch")

    monkeypatch.setattr(whisper, "load_model", broken)
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("small", device="cpu")
    assert str(caught.value) == (
        "Whisper model 'small' cannot be loaded: Error(s) in loading state_dict for "
        "Whisper: size mismatch"
    )


def test_cuda_device_index(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    fake_gpus(monkeypatch, 2)
    assert _resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(DatasetError) as caught:
        _resolve_device("cuda:2")
    assert (
        str(caught.value)
        == "--device cuda:2: there is no GPU 2 (2 CUDA GPUs: use cuda:0 to cuda:1)"
    )
    fake_gpus(monkeypatch, 1)
    with pytest.raises(DatasetError, match=r"there is no GPU 1 \(1 CUDA GPU: use cuda:0\)$"):
        _resolve_device("CUDA:1")
    fake_gpus(monkeypatch, 0)
    with pytest.raises(DatasetError, match="no CUDA GPU is available"):
        _resolve_device("cuda:0")
    with pytest.raises(DatasetError, match="use auto, cpu, cuda or cuda:N"):
        _resolve_device("gpu")


class BrokenImport(importlib.abc.MetaPathFinder):
    """Makes importing some modules fail the way a broken install does."""

    def __init__(self, names: set[str], error: Exception) -> None:
        self.names, self.error = names, error

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in self.names:
            raise self.error
        return None


def test_missing_voice_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "whisper", None)  # not importable
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="cpu")
    assert str(caught.value) == f"Whisper is not installed: {INSTALL_HINT}"
    assert INSTALL_HINT == "run `make setup` or pip install -e '.[voice]'"

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="auto")
    assert str(caught.value) == f"torch is not installed: {INSTALL_HINT}"


def test_broken_voice_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    for name in [m for m in sys.modules if m == "whisper" or m.startswith("whisper.")]:
        monkeypatch.delitem(sys.modules, name)
    error = OSError("libtorch_cuda.so: cannot open shared object file")
    monkeypatch.setattr(sys, "meta_path", [BrokenImport({"whisper"}, error), *sys.meta_path])
    with pytest.raises(DatasetError) as caught:
        WhisperTranscriber("tiny", device="cpu")
    assert str(caught.value) == (
        "Whisper cannot be imported (libtorch_cuda.so: cannot open shared object file): "
        + INSTALL_HINT
    )

    monkeypatch.delitem(sys.modules, "torch")
    missing = ModuleNotFoundError("No module named 'tiktoken'", name="tiktoken")
    monkeypatch.setattr(sys, "meta_path", [BrokenImport({"torch"}, missing), *sys.meta_path])
    with pytest.raises(
        DatasetError, match=r"^torch cannot be imported \(No module named 'tiktoken'\)"
    ):
        _resolve_device("cpu")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("tinyy", "unknown Whisper model 'tinyy': use one of tiny.en, tiny"),
        ("models/mine.pt", "Whisper model models/mine.pt: no such file"),
    ],
)
def test_whisper_model_names(whisper: ModuleType, model: str, message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        WhisperTranscriber(model, device="cpu")


def test_whisper_checkpoint_that_is_not_one(whisper: ModuleType, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(DatasetError, match=r"junk\.pt: not a Whisper checkpoint"):
        WhisperTranscriber(str(junk), device="cpu")


# --- the command line -------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamer voice dataset")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_arguments_and_defaults(tmp_path: Path) -> None:
    args = parse(["a.wav", "b.mp4", "--out", str(tmp_path), "--name", "spk", "--start", "1:30"])
    assert args.inputs == ["a.wav", "b.mp4"] and args.start == 90.0 and args.end is None
    assert args.min_silence_ms == 500 and args.silence_thresh == -16.0
    assert args.keep_silence_ms == 250 and (args.min_seconds, args.max_seconds) == (1.0, 15.0)
    assert args.whisper_model == "small" and args.device == "auto" and not args.force


def test_bad_time_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["a.wav", "--out", str(tmp_path), "--name", "spk", "--end", "soon"])
    assert exited.value.code == 2
    assert "use seconds (90, 12.5) or [HH:]MM:SS" in capsys.readouterr().err


def test_run_reports_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = parse([str(tmp_path / "gone.wav"), "--out", str(tmp_path / "ds"), "--name", "spk"])
    assert run(args) == 1
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'gone.wav'}: no such file\n"

    args = parse(["x.wav", "--out", str(tmp_path), "--name", "s", "--min-seconds", "20"])
    assert run(args) == 2
    assert capsys.readouterr().err.startswith("error: --min-seconds 20 / --max-seconds 15")


def test_run_builds_a_dataset(
    recording: Path,
    random_whisper: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("streamer.speech_text")

    # The real class: random weights only decode faster with a short, greedy search.
    fast = functools.partial(WhisperTranscriber, temperature=0.0, sample_len=16)
    monkeypatch.setattr(dataset, "WhisperTranscriber", fast)
    out = tmp_path / "ds"
    argv = [str(recording), "--out", str(out), "--name", "spk", "-q"]
    argv += ["--whisper-model", str(random_whisper), "--language", "en"]
    assert run(parse(argv)) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    lines = read_metadata(out)
    assert printed.out.startswith(f"{len(lines)} clip")


def test_run_missing_whisper(
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "whisper", None)
    argv = [str(recording), "--out", str(tmp_path / "ds"), "--name", "spk", "-q"]
    assert run(parse(argv)) == 1
    assert capsys.readouterr().err == f"error: Whisper is not installed: {INSTALL_HINT}\n"
    assert not (tmp_path / "ds").exists()


def test_run_keeps_what_was_said(
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The normalized column is speech-ready, but no chat rule changes what was said."""
    said = [
        "Pog, that was EZ Clap.",
        "idk, gg wp tbh.",
        "CoolGuy42 gave it 3.5/5 stars.",
        "Copium on x86, $5 at 5:30pm.",
    ]

    def scripted(model: str, **kwargs: object) -> ScriptedTranscriber:
        return ScriptedTranscriber(said)

    monkeypatch.setattr(dataset, "WhisperTranscriber", scripted)
    out = tmp_path / "ds"
    assert run(parse([str(recording), "--out", str(out), "--name", "spk", "-q"])) == 0
    assert capsys.readouterr().err == ""
    lines = read_metadata(out)
    assert [m.group(2) for m in lines] == said
    assert [m.group(3) for m in lines] == [
        "Pog, that was EZ Clap.",
        "idk, gg wp tbh.",
        "CoolGuy forty-two gave it three point five out of five stars.",
        "Copium on x eighty-six, five dollars at five thirty PM.",
    ]
