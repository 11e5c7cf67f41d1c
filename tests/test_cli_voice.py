"""`streamer say` and `streamer doctor`, run as the operator runs them (in-process)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from streamer.cli import main


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0, rate


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("TTS")
    from tests.tiny_vits import save_tiny_vits

    return save_tiny_vits(tmp_path_factory.mktemp("vits"))


def vits_args(model: Path) -> list[str]:
    return ["--set", "tts.engine=vits", "--set", f"tts.model_path={json.dumps(str(model))}"]


def test_say_with_the_default_voice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hello.wav"
    assert main(["say", "Hello chat, it costs $5 😄", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "read as: Hello chat, it costs five dollars" in printed
    assert f"wrote {out}" in printed and "voice espeak" in printed
    samples, rate = read_wav(out)
    assert rate == 22050
    assert 0.8 < len(samples) / rate < 10
    rms = float(np.sqrt(np.mean(samples[np.abs(samples) > 1e-3] ** 2)))
    assert -26 < 20 * np.log10(rms) < -14  # loudness-normalised like segments on air
    assert not list(tmp_path.glob(".*.part"))


def test_say_with_a_vits_voice(
    tmp_path: Path, voice: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vits.wav"
    text = "Two sentences here. And a second one!"
    rc = main(["say", text, "--out", str(out), "--rate", "16000", *vits_args(voice[0])])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "voice vits" in printed.out
    samples, rate = read_wav(out)
    assert rate == 16000 and len(samples) > 1600
    assert np.all(np.isfinite(samples))


def test_say_reads_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("From standard input."))
    out = tmp_path / "stdin.wav"
    assert main(["say", "-", "--out", str(out)]) == 0
    assert out.is_file()
    monkeypatch.setattr("sys.stdin", io.StringIO("   "))
    assert main(["say", "-", "--out", str(out)]) == 2
    assert "nothing to say" in capsys.readouterr().err


def test_say_with_a_broken_voice_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "best_model.pth"
    model.write_bytes(b"\x00" * 64)
    (tmp_path / "config.json").write_text(json.dumps({"model": "vits"}))
    rc = main(["say", "hello", "--out", str(tmp_path / "x.wav"), *vits_args(model)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("error: cannot load the VITS model") and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()
    rc = main(["say", "hello", "--out", str(tmp_path / "x.wav"), "--set", "tts.engine=vits"])
    assert rc == 2
    assert "tts.model_path must be set" in capsys.readouterr().err


def test_doctor_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["doctor"])
    out = capsys.readouterr().out
    for name in ("python", "ffmpeg", "nginx", "nginx-rtmp", "espeak-ng", "torch", "coqui-tts"):
        assert any(line.split()[1:2] == [name] for line in out.splitlines()), (name, out)
    assert rc == 0, out  # CI installs everything the default config needs
    assert "ok    ffmpeg" in out and "add --config" in out


def test_doctor_loads_the_configured_voice(
    tmp_path: Path, voice: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", *vits_args(voice[0])]) == 0
    out = capsys.readouterr().out
    assert f"ok    voice          vits {voice[0]} (torch on cpu) loads and speaks" in out
    assert " onnx " not in out  # the exporter's package matters for runtime onnx only
    assert "ok    lip-sync       puppet" in out

    broken = tmp_path / "model.pth"
    broken.write_bytes(b"junk")
    (tmp_path / "config.json").write_text(json.dumps({"model": "glow_tts"}))
    assert main(["doctor", *vits_args(broken)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  voice" in out and "'glow_tts' model" in out
    assert "1 problem(s): voice" in out


def test_doctor_with_the_onnx_runtime(
    tmp_path: Path,
    voice: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = [*vits_args(voice[0]), "--set", "tts.runtime=onnx", "--set", "tts.device=cpu"]
    assert main(["doctor", *args]) == 0
    out = capsys.readouterr().out
    assert "ok    onnx" in out
    assert f"ok    voice          vits {voice[0]} (onnx on cpu) loads and speaks" in out
    assert len(list((tmp_path / "streamer" / "vits-onnx").glob("*.onnx"))) == 1
