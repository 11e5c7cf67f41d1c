"""The vits engine with tiny Coqui VITS models (random weights) built and saved here in
the trainer's format, loaded through the same path as an operator's fine-tuned voice."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.audio import Audio
from streamer.avatar import load_avatar
from streamer.builder import VideoBuilder
from streamer.config import (
    ConfigError,
    LipSyncSettings,
    OutputSettings,
    TTSSettings,
    settings_from_dict,
)
from streamer.lipsync import make_lipsync
from streamer.messages import Segment
from streamer.speech_text import SpeechText
from streamer.tts import make_tts
from streamer.tts.base import TTSEngine, TTSError
from streamer.tts.vits import VitsEngine
from tests.tiny_vits import save_tiny_vits

pytest.importorskip("TTS")


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return save_tiny_vits(tmp_path_factory.mktemp("vits"))


@pytest.fixture(scope="module")
def voice16k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return save_tiny_vits(tmp_path_factory.mktemp("vits16k"), sample_rate=16000)


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return save_tiny_vits(tmp_path_factory.mktemp("vits2"), speakers=["alice", "bob"])


def settings(model: Path, config: Path | None = None, **kw: object) -> TTSSettings:
    return TTSSettings(engine="vits", model_path=model, config_path=config, **kw)  # type: ignore[arg-type]


def seeded(engine: VitsEngine, text: str) -> Audio:
    import torch

    torch.manual_seed(1)  # VITS samples noise: fix it to compare two runs
    return engine.synthesize(text)


def test_loads_like_a_users_model_and_speaks(voice: tuple[Path, Path]) -> None:
    model, _config = voice
    # config_path not set: config.json beside the checkpoint, as the trainer writes it
    engine = make_tts(settings(model))
    assert isinstance(engine, VitsEngine)
    assert isinstance(engine, TTSEngine)
    engine.load()
    assert engine.sample_rate == 22050
    assert engine.speakers == [] and engine.languages == []
    short = engine.synthesize("hello there.")
    long = engine.synthesize("hello there, this sentence is a good deal longer than the other.")
    for audio in (short, long):
        assert audio.rate == 22050
        assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
        assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max() <= 1.0
        assert audio.duration_s > 0.05
    # The duration follows the text: the duration predictor gives each character time.
    assert long.duration_s > 1.5 * short.duration_s


def test_blank_text_is_a_short_silence(voice: tuple[Path, Path]) -> None:
    engine = VitsEngine(settings(voice[0]))
    engine.load()
    for text in ("", "   ", "..."):
        audio = engine.synthesize(text)
        assert audio.rate == 22050 and 0 < audio.duration_s <= 0.25
        assert not np.any(audio.samples)


def test_speed_shortens_the_speech(voice: tuple[Path, Path]) -> None:
    normal = VitsEngine(settings(voice[0]))
    fast = VitsEngine(settings(voice[0], speed=2.0))
    normal.load()
    fast.load()
    text = "a sentence long enough to measure how fast it is spoken."
    ratio = seeded(fast, text).duration_s / seeded(normal, text).duration_s
    # Each character lasts a whole number of frames (at least one), so not quite half.
    assert 0.4 < ratio < 0.8


def test_speaker_selection(two_speakers: tuple[Path, Path]) -> None:
    model, config = two_speakers
    default = VitsEngine(settings(model, config))
    default.load()
    assert default.speakers == ["alice", "bob"]
    alice = VitsEngine(settings(model, config, speaker="alice"))
    bob = VitsEngine(settings(model, config, speaker="bob"))
    alice.load()
    bob.load()
    text = "the same words from two voices."
    a, b, first = seeded(alice, text), seeded(bob, text), seeded(default, text)
    assert np.array_equal(a.samples, first.samples)  # no speaker set: the first one
    assert len(a.samples) != len(b.samples) or not np.allclose(a.samples, b.samples)

    with pytest.raises(TTSError, match=r"tts.speaker 'carol' is not in the model.*'alice'"):
        VitsEngine(settings(model, config, speaker="carol")).load()


def test_speaker_on_a_single_speaker_model_is_an_error(voice: tuple[Path, Path]) -> None:
    with pytest.raises(TTSError, match=r"tts.speaker is 'alice' but the model has only one"):
        VitsEngine(settings(voice[0], speaker="alice")).load()
    with pytest.raises(TTSError, match=r"tts.language is 'de'"):
        VitsEngine(settings(voice[0], language="de")).load()


def test_builder_resamples_and_normalises_the_voice(voice16k: tuple[Path, Path]) -> None:
    output = OutputSettings(width=320, height=180, fps=25, sample_rate=48000)
    avatar = load_avatar(None, 320, 180, 25, 10)
    engine = VitsEngine(settings(voice16k[0]))
    engine.load()
    assert engine.sample_rate == 16000
    builder = VideoBuilder(
        engine,
        make_lipsync(LipSyncSettings()),
        avatar,
        output,
        player=None,  # type: ignore[arg-type]  # _speak never reaches the player
        speech_text=SpeechText(),
    )
    raw = seeded(engine, "we have twenty five dollars and forty cents.")
    import torch

    torch.manual_seed(1)
    speech, frames = builder._speak("We have $25.40.")  # speech-ready text first
    assert speech.rate == 48000
    assert frames == -(-round(raw.duration_s * 48000) // 1920)
    assert len(speech.samples) == frames * 1920
    from streamer.audio import loudness_dbfs

    level = loudness_dbfs(speech)
    assert level is not None
    assert level == pytest.approx(-20.0, abs=0.5)
    assert loudness_dbfs(raw) != pytest.approx(-20.0, abs=3.0)  # the builder changed it


async def test_builder_start_fails_on_a_bad_model(tmp_path: Path) -> None:
    model = tmp_path / "best_model.pth"
    model.write_bytes(b"not a checkpoint at all")
    (tmp_path / "config.json").write_text(json.dumps({"model": "vits"}))
    builder = VideoBuilder(
        make_tts(settings(model)),
        make_lipsync(LipSyncSettings()),
        load_avatar(None, 320, 180, 25, 10),
        OutputSettings(width=320, height=180, fps=25, sample_rate=48000),
        player=None,  # type: ignore[arg-type]
    )
    with pytest.raises(TTSError, match=r"cannot load the VITS model .*best_model.pth"):
        await builder.start()
    await builder.close()


def test_missing_files_are_named(tmp_path: Path, voice: tuple[Path, Path]) -> None:
    with pytest.raises(TTSError, match=r"tts.model_path .* not found"):
        VitsEngine(settings(tmp_path / "nope.pth")).load()
    lone = tmp_path / "lone.pth"
    shutil.copy(voice[0], lone)  # no config.json beside it
    with pytest.raises(TTSError, match=r"set tts.config_path"):
        VitsEngine(settings(lone)).load()


def test_a_config_of_another_model_is_refused(tmp_path: Path, voice: tuple[Path, Path]) -> None:
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"model": "glow_tts"}))
    with pytest.raises(TTSError, match=r"'glow_tts' model; the vits engine loads Coqui VITS"):
        VitsEngine(settings(voice[0], other)).load()
    other.write_text("{not json")
    with pytest.raises(TTSError, match=r"is not a JSON file"):
        VitsEngine(settings(voice[0], other)).load()


def test_a_checkpoint_that_does_not_match_its_config(
    tmp_path: Path, voice: tuple[Path, Path]
) -> None:
    data = json.loads(voice[1].read_text())
    data["model_args"]["hidden_channels"] = 48
    wrong = tmp_path / "config.json"
    wrong.write_text(json.dumps(data))
    with pytest.raises(TTSError, match=r"cannot load the VITS model"):
        VitsEngine(settings(voice[0], wrong)).load()


def test_cuda_asked_without_cuda(voice: tuple[Path, Path]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TTSError, match=r"tts.device is 'cuda' but"):
        VitsEngine(settings(voice[0], device="cuda")).load()


def test_missing_coqui_says_how_to_install(
    voice: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "TTS.utils.synthesizer", None)
    with pytest.raises(TTSError, match=r"cannot import coqui-tts.*make setup"):
        VitsEngine(settings(voice[0])).load()


def test_config_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tts.model_path must be set"):
        settings_from_dict({"tts": {"engine": "vits"}}, base=tmp_path)
    with pytest.raises(ConfigError, match=r"tts.model_path"):
        settings_from_dict({"tts": {"engine": "vits", "model_path": "x.pth"}}, base=tmp_path)
    (tmp_path / "voice").mkdir()
    (tmp_path / "voice" / "best_model.pth").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"tts.config_path"):
        settings_from_dict(
            {"tts": {"engine": "vits", "model_path": "voice/best_model.pth"}}, base=tmp_path
        )
    (tmp_path / "voice" / "config.json").write_text("{}")
    s = settings_from_dict(
        {"tts": {"engine": "vits", "model_path": "voice/best_model.pth"}}, base=tmp_path
    )
    assert s.tts.model_path == tmp_path / "voice" / "best_model.pth"
    assert s.tts.resolved_config_path == tmp_path / "voice" / "config.json"


async def test_segment_through_the_builder(voice: tuple[Path, Path]) -> None:
    """A segment spoken by the VITS voice becomes clips with matching audio and video."""
    from tests.test_builder import Collector

    output = OutputSettings(width=320, height=180, fps=25, sample_rate=48000)
    player = Collector()
    builder = VideoBuilder(
        make_tts(settings(voice[0])),
        make_lipsync(LipSyncSettings()),
        load_avatar(None, 320, 180, 25, 10),
        output,
        player,
        speech_text=SpeechText(),
    )
    await builder.start()
    await builder(Segment(answer_id="a1", index=0, text="Hi @xX_gamer99_Xx! 😄", last=True))
    await builder.close()
    frames = sum(len(c.frames) for c in player.clips)
    samples = sum(len(c.audio) for c in player.clips)
    assert frames > 0 and samples == frames * 1920
    assert player.clips[-1].last
