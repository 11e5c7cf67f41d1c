"""``tts.runtime: onnx``: the tiny Coqui VITS of the other tests, exported to ONNX through
Coqui's exporter and run on onnxruntime, against the same model on torch."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.config import ConfigError, TTSSettings, settings_from_dict
from streamer.tts import make_tts
from streamer.tts.base import TTSError
from streamer.tts.vits import VitsEngine
from tests.tiny_vits import save_tiny_vits

pytest.importorskip("TTS")
pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4
"""Largest sample difference allowed between the runtimes (samples are in [-1, 1]); the
two give the same number of samples. Seen: under 1e-7."""
TEXTS = [
    "test.",
    "hello there, this sentence is a good deal longer than the other one.",
    "Numbers read as words: twenty five, and a question?",
]


def without_noise(folder: Path, **kw: object) -> tuple[Path, Path]:
    """A tiny VITS whose config turns off the sampling noise (posterior and durations):
    torch and onnxruntime draw different random numbers, so only this compares."""
    model, config = save_tiny_vits(folder, **kw)  # type: ignore[arg-type]
    data = json.loads(config.read_text())
    data["model_args"]["inference_noise_scale"] = 0.0
    data["model_args"]["inference_noise_scale_dp"] = 0.0
    config.write_text(json.dumps(data))
    return model, config


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return without_noise(tmp_path_factory.mktemp("vits"))


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return without_noise(tmp_path_factory.mktemp("vits2"), speakers=["alice", "bob"])


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Exports go to a test folder, never to the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    return shared_cache


def engine(model: Path, runtime: str, **kw: object) -> VitsEngine:
    found = VitsEngine(
        TTSSettings(engine="vits", model_path=model, runtime=runtime, device="cpu", **kw)  # type: ignore[arg-type]
    )
    found.load()
    return found


def assert_same(torch_run: VitsEngine, onnx_run: VitsEngine, text: str) -> float:
    a, b = torch_run.synthesize(text), onnx_run.synthesize(text)
    assert a.rate == b.rate and a.samples.dtype == b.samples.dtype == np.float32
    assert a.samples.shape == b.samples.shape, text
    diff = float(np.abs(a.samples - b.samples).max()) if len(a.samples) else 0.0
    assert diff <= TOLERANCE, (text, diff)
    return diff


def test_onnx_speaks_as_torch_does(voice: tuple[Path, Path]) -> None:
    on_torch, on_onnx = engine(voice[0], "torch"), engine(voice[0], "onnx")
    assert on_onnx.describe.endswith("(onnx on cpu)")
    assert on_torch.describe.endswith("(torch on cpu)")
    assert on_onnx.sample_rate == on_torch.sample_rate == 22050
    for text in TEXTS:
        assert_same(on_torch, on_onnx, text)
    # A blank text is the same short silence; the tail pause is trimmed the same way.
    assert_same(on_torch, on_onnx, "...")
    long = on_onnx.synthesize(TEXTS[1]).samples
    assert np.any(long) and np.abs(long).max() <= 1.0

    # tts.speed goes into the graph's length scale. (Slower, not faster: without noise
    # this random model gives each token one frame, the least there is.)
    slow_torch, slow_onnx = (
        engine(voice[0], "torch", speed=0.5),
        engine(voice[0], "onnx", speed=0.5),
    )
    assert_same(slow_torch, slow_onnx, TEXTS[1])
    ratio = len(slow_onnx.synthesize(TEXTS[1]).samples) / len(long)
    assert 1.5 < ratio < 2.5


def test_the_export_is_made_once_then_reused(
    voice: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "streamer" / "vits-onnx"
    caplog.set_level(logging.INFO, logger="streamer.tts.vits_onnx")
    first = engine(voice[0], "onnx")
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx"  # no temporary file left
    made = files[0].stat()
    exports = [r for r in caplog.records if "exporting" in r.getMessage()]
    assert len(exports) == 1

    # The second start reuses the file: it can, even without the exporter's onnx package.
    monkeypatch.setitem(sys.modules, "onnx", None)
    caplog.clear()
    second = engine(voice[0], "onnx")
    again = files[0].stat()
    assert (again.st_ino, again.st_mtime_ns, again.st_size) == (
        made.st_ino,
        made.st_mtime_ns,
        made.st_size,
    )
    assert list(folder.iterdir()) == files
    assert not [r for r in caplog.records if "exporting" in r.getMessage()]
    assert np.array_equal(first.synthesize(TEXTS[0]).samples, second.synthesize(TEXTS[0]).samples)
    monkeypatch.delitem(sys.modules, "onnx")

    # A damaged cache file is exported again.
    files[0].write_bytes(b"not an onnx model")
    caplog.clear()
    third = engine(voice[0], "onnx")
    assert "does not load" in caplog.text and "exporting" in caplog.text
    assert list(folder.iterdir()) == files and files[0].stat().st_size == made.st_size
    assert np.array_equal(first.synthesize(TEXTS[0]).samples, third.synthesize(TEXTS[0]).samples)


def test_a_new_checkpoint_gets_its_own_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model, _ = without_noise(tmp_path / "voice", seed=3)
    engine(model, "onnx")
    model, _ = without_noise(tmp_path / "voice", seed=4)  # retrained, same path
    engine(model, "onnx")
    assert len(list((tmp_path / "cache" / "streamer" / "vits-onnx").glob("*.onnx"))) == 2


def test_missing_onnx_package_says_how_to_install(
    voice: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached: must export
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(TTSError, match=r"cannot import onnx.*pip install onnx.*tts.runtime: torch"):
        engine(voice[0], "onnx")


def test_cuda_without_onnxruntime_gpu(voice: tuple[Path, Path]) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(TTSError, match=r"tts.device is cuda but onnxruntime has no CUDA"):
        VitsEngine(
            TTSSettings(engine="vits", model_path=voice[0], runtime="onnx", device="cuda")
        ).load()


def test_speakers_on_onnx(two_speakers: tuple[Path, Path]) -> None:
    model = two_speakers[0]
    default = engine(model, "onnx")
    assert default.speakers == ["alice", "bob"]
    alice, bob = engine(model, "onnx", speaker="alice"), engine(model, "onnx", speaker="bob")
    text = TEXTS[1]
    assert np.array_equal(default.synthesize(text).samples, alice.synthesize(text).samples)
    a, b = alice.synthesize(text).samples, bob.synthesize(text).samples
    assert len(a) != len(b) or not np.allclose(a, b)
    assert_same(engine(model, "torch", speaker="bob"), bob, text)
    assert_same(engine(model, "torch", speaker="alice"), alice, text)


def test_runtime_is_checked_by_the_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"tts.runtime: must be one of 'torch' or 'onnx'"):
        settings_from_dict({"tts": {"runtime": "tensorrt"}}, base=tmp_path)
    settings = settings_from_dict({"tts": {"engine": "espeak", "runtime": "onnx"}}, base=tmp_path)
    assert settings.tts.runtime == "onnx"
    with caplog.at_level(logging.WARNING, logger="streamer.tts"):
        make_tts(settings.tts)
    assert "tts.runtime onnx applies to tts.engine vits only; the espeak engine ignores it" in (
        caplog.text
    )
    assert TTSSettings().runtime == "torch"
