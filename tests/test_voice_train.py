"""`streamer voice train`: fine-tuning a tiny Coqui VITS on a small LJSpeech dataset that
espeak-ng speaks, on the CPU, through Coqui's real trainer."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamer.voice import train as voice_train
from streamer.voice.train import TrainError, TrainOptions, check_dataset, train, write_config

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("TTS") is None or importlib.util.find_spec("trainer") is None,
        reason="coqui-tts is not installed (the `voice` extra)",
    ),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a small shared machine two threads spinning for a busy
    core make the tiny model's steps several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SENTENCES = [
    "Hello there, my friends.",
    "This is a short test.",
    "The quick brown fox jumps.",
    "Thanks for watching the stream!",
    "See you again tomorrow.",
    "What a lovely day it is.",
]


def make_dataset(folder: Path, sentences: list[str] = SENTENCES) -> Path:
    """An LJSpeech dataset spoken by espeak-ng (22,050 Hz mono 16-bit)."""
    (folder / "wavs").mkdir(parents=True)
    lines = []
    for number, sentence in enumerate(sentences):
        clip = f"clip_{number:03d}"
        wav = folder / "wavs" / f"{clip}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), sentence], check=True, capture_output=True)
        lines.append(f"{clip}|{sentence.upper()}|{sentence}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_wav(path: Path, rate: int, seconds: float = 0.5, channels: int = 1) -> None:
    frames = np.zeros(int(rate * seconds) * channels, dtype="<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames.tobytes())


def load_state(path: Path) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


@dataclass
class Trained:
    dataset: Path
    base: Path
    out: Path
    checkpoint: Path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from tests.tiny_vits import save_tiny_vits

    root = tmp_path_factory.mktemp("voice_train")
    dataset = make_dataset(root / "dataset")
    base, _ = save_tiny_vits(root / "base")
    out = root / "out"
    checkpoint = train(
        TrainOptions(
            dataset=dataset,
            base=base,
            out=out,
            device="cpu",
            batch_size=2,
            max_steps=2,
            test_sentences=("Hello chat.", "Good night!"),
        ),
        progress=False,
    )
    return Trained(dataset, base, out, checkpoint)


def test_two_steps_write_a_checkpoint_config_and_samples(trained: Trained) -> None:
    import json

    assert trained.checkpoint.name == "checkpoint_2.pth"
    assert trained.checkpoint.is_file()
    run_dir = trained.checkpoint.parent
    assert run_dir.parent == (trained.out / "runs").resolve()

    written = json.loads((trained.out / "config.json").read_text())
    assert written["datasets"][0]["formatter"] == "ljspeech"
    assert written["datasets"][0]["path"] == str(trained.dataset.resolve())
    assert written["batch_size"] == 2
    assert written["mixed_precision"] is False
    assert written["run_eval"] is True
    assert written["test_sentences"] == ["Hello chat.", "Good night!"]
    base_config = json.loads((trained.base.parent / "config.json").read_text())
    assert written["characters"] == base_config["characters"]  # the base's vocabulary
    run_config = json.loads((run_dir / "config.json").read_text())
    assert run_config["batch_size"] == 2
    assert run_config["datasets"] == written["datasets"]

    for number in (1, 2):
        sample = trained.out / "samples" / f"step_2_{number}.wav"
        with wave.open(str(sample), "rb") as reader:
            assert reader.getframerate() == 22050
            assert reader.getnchannels() == 1
            assert reader.getnframes() > 0
    listing = (trained.out / "samples" / "sentences.txt").read_text()
    assert "1: Hello chat." in listing and "2: Good night!" in listing


def test_training_changed_the_weights(trained: Trained) -> None:
    base = load_state(trained.base)["model"]
    tuned = load_state(trained.checkpoint)
    assert tuned["step"] == 2
    assert base.keys() == tuned["model"].keys()
    changed = [key for key, value in base.items() if not np.array_equal(value, tuned["model"][key])]
    assert any(key.startswith("text_encoder.") for key in changed)
    assert any(key.startswith("waveform_decoder.") for key in changed)


def test_the_checkpoint_loads_and_speaks(trained: Trained) -> None:
    import warnings

    from TTS.utils.synthesizer import Synthesizer

    config = trained.checkpoint.parent / "config.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(tts_checkpoint=str(trained.checkpoint), tts_config_path=str(config))
        wav = np.asarray(synth.tts("Hello chat, how are you?", split_sentences=False))
    assert synth.output_sample_rate == 22050
    assert wav.size > 0 and np.all(np.isfinite(wav))

    from streamer.config import TTSSettings
    from streamer.tts.vits import VitsEngine

    engine = VitsEngine(
        TTSSettings(engine="vits", model_path=trained.checkpoint, config_path=config, device="cpu")
    )
    engine.load()
    audio = engine.synthesize("Hello chat, how are you?")
    assert audio.rate == 22050
    assert audio.samples.size > 0 and np.all(np.isfinite(audio.samples))


def test_resume_continues_the_run_until_ctrl_c(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer import Trainer

    out = tmp_path / "out"
    shutil.copytree(trained.out, out)  # leave the shared run as the other tests expect it
    options = TrainOptions(
        dataset=trained.dataset,
        base=trained.base,
        out=out,
        device="cpu",
        batch_size=2,
        test_sentences=("Hello chat.",),
    )
    with pytest.raises(TrainError, match=r"already has a training run.*--resume"):
        train(options, progress=False)

    real_step = Trainer.train_step

    def step_then_ctrl_c(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.total_steps_done == 4:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", step_then_ctrl_c)
    # Coqui continues at the saved step + 1 (3); after one step Ctrl-C saves step 4.
    with pytest.raises(
        voice_train.TrainInterrupted,
        match=r"stopped at step 4 \(checkpoint .*checkpoint_4\.pth\); continue with --resume",
    ):
        train(TrainOptions(**{**options.__dict__, "resume": True}), progress=False)
    run_dir = out / "runs" / trained.checkpoint.parent.name
    assert [path.name for path in (out / "runs").iterdir()] == [run_dir.name]
    state = load_state(run_dir / "checkpoint_4.pth")
    assert state["step"] == 4
    assert state["optimizer"] is not None
    assert "Continuing from checkpoint_2.pth" in (run_dir / "trainer_0_log.txt").read_text()


# --------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_vits import save_tiny_vits

    checkpoint, _ = save_tiny_vits(tmp_path_factory.mktemp("tiny_base"))
    return checkpoint


def small_dataset(folder: Path, rate: int = 22050) -> Path:
    (folder / "wavs").mkdir(parents=True)
    for name in ("a", "b"):
        write_wav(folder / "wavs" / f"{name}.wav", rate)
    (folder / "metadata.csv").write_text("a|Hi.|Hi.\nb|Yo.|Yo.\n", encoding="utf-8")
    return folder


def test_check_dataset_counts_the_clips(tmp_path: Path) -> None:
    assert check_dataset(small_dataset(tmp_path / "d"), 22050) == 2


def test_missing_metadata_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(TrainError, match=r"has no metadata\.csv"):
        check_dataset(tmp_path / "d")
    with pytest.raises(TrainError, match="is not a folder"):
        check_dataset(tmp_path / "nowhere")


def test_a_bad_line_is_named_by_its_number(tmp_path: Path) -> None:
    dataset = small_dataset(tmp_path / "d")
    (dataset / "metadata.csv").write_text("a|Hi.|Hi.\nb|Yo.\n", encoding="utf-8")
    with pytest.raises(TrainError, match=r"metadata\.csv line 2: expected 3 columns"):
        check_dataset(dataset)
    (dataset / "metadata.csv").write_text("a|Hi.|Hi.\n\nb|Yo.|Yo.\n", encoding="utf-8")
    with pytest.raises(TrainError, match="line 2: expected 3 columns"):
        check_dataset(dataset)
    (dataset / "metadata.csv").write_text("a|Hi.|  \n", encoding="utf-8")
    with pytest.raises(TrainError, match="line 1: the normalized text"):
        check_dataset(dataset)


def test_a_missing_or_wrong_wav_is_a_clear_error(tmp_path: Path) -> None:
    dataset = small_dataset(tmp_path / "d")
    (dataset / "wavs" / "b.wav").unlink()
    with pytest.raises(TrainError, match=r"line 2: .*b\.wav not found"):
        check_dataset(dataset)
    write_wav(dataset / "wavs" / "b.wav", 16000)
    with pytest.raises(TrainError, match="16000 Hz but the base model is 22050 Hz"):
        check_dataset(dataset, 22050)
    write_wav(dataset / "wavs" / "b.wav", 22050, channels=2)
    with pytest.raises(TrainError, match="2 channels"):
        check_dataset(dataset, 22050)
    (dataset / "wavs" / "b.wav").write_bytes(b"not a wav")
    with pytest.raises(TrainError, match="not a PCM WAV"):
        check_dataset(dataset, 22050)


def test_a_missing_base_is_a_clear_error(tmp_path: Path, tiny_base: Path) -> None:
    dataset = small_dataset(tmp_path / "d")
    options = TrainOptions(dataset=dataset, base=tmp_path / "nope.pth", out=tmp_path / "o")
    with pytest.raises(TrainError, match=r"--base .*nope\.pth not found"):
        train(options, progress=False)
    lone = tmp_path / "lone.pth"
    shutil.copyfile(tiny_base, lone)
    with pytest.raises(TrainError, match="--base-config"):
        write_config(TrainOptions(dataset=dataset, base=lone, out=tmp_path / "o"))


def test_the_dataset_must_match_the_base_rate(tmp_path: Path, tiny_base: Path) -> None:
    dataset = small_dataset(tmp_path / "d", rate=16000)
    with pytest.raises(TrainError, match="16000 Hz but the base model is 22050 Hz"):
        write_config(TrainOptions(dataset=dataset, base=tiny_base, out=tmp_path / "o"))


def test_write_config_sizes_for_the_cpu(tmp_path: Path, tiny_base: Path) -> None:
    import json

    dataset = small_dataset(tmp_path / "d")
    path = write_config(
        TrainOptions(dataset=dataset, base=tiny_base.parent, out=tmp_path / "o", device="cpu")
    )
    config = json.loads(path.read_text())
    assert config["batch_size"] == 1  # no more than the one training clip
    assert config["eval_batch_size"] == 1
    assert config["epochs"] == voice_train.MAX_EPOCHS
    assert config["num_loader_workers"] == 0
    assert config["save_step"] == voice_train.SAVE_STEP_CPU
    assert config["output_path"] == str((tmp_path / "o" / "runs").resolve())
    with pytest.raises(TrainError, match="--speaker 'x': the base model has one speaker"):
        write_config(TrainOptions(dataset=dataset, base=tiny_base, out=tmp_path / "o", speaker="x"))


def test_sizing_rules() -> None:
    assert voice_train._epochs(train_clips=400, batch_size=32) == 770
    assert voice_train._epochs(train_clips=100_000, batch_size=32) == voice_train.MIN_EPOCHS
    assert voice_train._eval_count(clips=300, fraction=0.05) == 15
    assert voice_train._eval_count(clips=6, fraction=0.05) == 1
    assert voice_train._eval_count(clips=10_000, fraction=0.05) == voice_train.MAX_EVAL_CLIPS
    assert voice_train._eval_count(clips=1, fraction=0.0) == 0
    assert voice_train._batch_size("cpu") == voice_train.CPU_BATCH
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        TrainOptions(dataset=Path("d"), base=Path("b"), out=Path("o"), max_steps=0)
    with pytest.raises(ValueError, match="eval_split"):
        TrainOptions(dataset=Path("d"), base=Path("b"), out=Path("o"), eval_split=1.0)


# --------------------------------------------------------------------------- CLI


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamer voice train")
    voice_train.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["--dataset", "d", "--base", "b", "--out", "o", "--max-steps", "0"])
    assert exit_info.value.code == 2


def test_cli_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["--dataset", str(tmp_path), "--base", str(tmp_path / "b.pth"), "--out", "o"])
    assert voice_train.run(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --base ") and "not found" in err


def test_cli_fine_tunes_a_multi_speaker_base_as_one_of_its_speakers(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.tiny_vits import save_tiny_vits

    base, _ = save_tiny_vits(tmp_path / "base", speakers=["alice", "bob"])
    out = tmp_path / "out"
    args = parse(
        [
            *("--dataset", str(trained.dataset), "--base", str(base), "--out", str(out)),
            *("--speaker", "bob", "--device", "cpu", "--batch-size", "2", "--max-steps", "1"),
            *("--test-sentence", "Hello chat."),
        ]
    )
    assert voice_train.run(args) == 0
    printed = capsys.readouterr().out.splitlines()
    model_line = next(line for line in printed if line.startswith("  model_path: "))
    checkpoint = Path(model_line.removeprefix("  model_path: "))
    config = checkpoint.parent / "config.json"
    assert checkpoint.name == "checkpoint_1.pth"
    assert printed[-4:] == [
        "  engine: vits",
        f"  model_path: {checkpoint}",
        f"  config_path: {config}",
        "  speaker: bob",
    ]
    assert (checkpoint.parent / "speakers.pth").is_file()

    before = load_state(base)["model"]["emb_g.weight"]
    after = load_state(checkpoint)["model"]["emb_g.weight"]
    assert after.shape == before.shape  # the speaker table keeps its speakers
    moved = (after - before).abs().sum(dim=1)
    assert moved[1] > 10 * moved[0]  # bob learnt; alice only decayed

    from streamer.config import TTSSettings
    from streamer.tts.vits import VitsEngine

    engine = VitsEngine(
        TTSSettings(
            engine="vits", model_path=checkpoint, config_path=config, device="cpu", speaker="bob"
        )
    )
    engine.load()
    assert engine.speakers == ["alice", "bob"]
    assert engine.synthesize("Hello there.").samples.size > 0
