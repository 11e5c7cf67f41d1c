"""The voice engine interface and the embedded espeak-ng engine (the real program)."""

from __future__ import annotations

import io
import shutil
import stat
import sys
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from streamer.audio import Audio
from streamer.config import TTSSettings
from streamer.tts import EspeakEngine, TTSEngine, TTSError, make_tts
from streamer.tts.espeak import clean_text, parse_wav

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    eng = EspeakEngine(TTSSettings())
    eng.load()
    return eng


def voiced_s(audio: Audio) -> float:
    """Seconds of audio louder than -50 dBFS (in 10 ms blocks)."""
    size = audio.rate // 100
    n = len(audio.samples) // size
    blocks = audio.samples[: n * size].reshape(n, size).astype(np.float64)
    return float(np.sum(np.sqrt(np.mean(blocks**2, axis=1)) > 10 ** (-50 / 20)) / 100)


def fake_program(tmp_path: Path, body: str) -> Path:
    """An executable Python script standing in for espeak-ng."""
    path = tmp_path / "fake-espeak"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# --------------------------------------------------------------------------- factory


def test_make_tts_builds_the_espeak_engine() -> None:
    eng = make_tts(TTSSettings(engine="espeak", voice="en-gb", rate_wpm=200, pitch=40))
    assert isinstance(eng, EspeakEngine)
    assert isinstance(eng, TTSEngine)
    assert eng.name == "espeak"
    assert not eng.loaded  # load() is the worker thread's job


# --------------------------------------------------------------------------- espeak


def test_speech_is_audible_at_native_rate(engine: EspeakEngine) -> None:
    audio = engine.synthesize("Hello chat, thanks for the question.")
    assert audio.rate == 22050
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert 1.0 < audio.duration_s < 6.0
    assert np.max(np.abs(audio.samples)) > 0.1
    assert np.max(np.abs(audio.samples)) <= 1.0
    assert voiced_s(audio) > 0.8


def test_duration_grows_with_text(engine: EspeakEngine) -> None:
    short = engine.synthesize("Hello.")
    medium = engine.synthesize("Hello there, and welcome to the stream.")
    long = engine.synthesize(
        "Hello there, and welcome to the stream. Today we will answer every question "
        "you ask in the chat, one after another, until the end of the show."
    )
    assert short.duration_s < medium.duration_s < long.duration_s
    assert long.duration_s > 2 * medium.duration_s


def test_same_text_same_audio(engine: EspeakEngine) -> None:
    a = engine.synthesize("Deterministic speech.")
    b = engine.synthesize("Deterministic speech.")
    assert np.array_equal(a.samples, b.samples)


@needs_espeak
def test_rate_setting_changes_duration() -> None:
    text = "The quick brown fox jumps over the lazy dog, twice in a row."
    slow = EspeakEngine(TTSSettings(rate_wpm=100)).synthesize(text)
    fast = EspeakEngine(TTSSettings(rate_wpm=300)).synthesize(text)
    assert fast.duration_s < 0.6 * slow.duration_s


@needs_espeak
def test_pitch_setting_changes_audio() -> None:
    low = EspeakEngine(TTSSettings(pitch=10)).synthesize("Pitch test.")
    high = EspeakEngine(TTSSettings(pitch=90)).synthesize("Pitch test.")
    assert not np.array_equal(low.samples[: len(high.samples)], high.samples[: len(low.samples)])


@needs_espeak
def test_bad_voice_fails_at_load() -> None:
    eng = EspeakEngine(TTSSettings(voice="nosuchvoice"))
    with pytest.raises(TTSError, match=r"nosuchvoice.*espeak-ng --voices") as info:
        eng.load()
    assert "does not exist" in str(info.value)  # espeak-ng's own message is kept
    assert not eng.loaded


@pytest.mark.parametrize("voice", ["", "  ", "en us"])
def test_malformed_voice_name_fails_at_load(voice: str) -> None:
    with pytest.raises(TTSError, match="not an espeak-ng voice name"):
        EspeakEngine(TTSSettings(voice=voice)).load()


def test_missing_program_gives_install_hint(tmp_path: Path) -> None:
    eng = EspeakEngine(TTSSettings(), program=tmp_path / "nowhere" / "espeak-ng")
    with pytest.raises(TTSError, match=r"espeak-ng not found.*apt-get install espeak-ng"):
        eng.load()
    with pytest.raises(TTSError, match="apt-get install espeak-ng"):
        EspeakEngine(TTSSettings(), program="espeak-ng-that-is-not-on-path").load()


def test_program_failure_keeps_its_stderr(tmp_path: Path) -> None:
    program = fake_program(tmp_path, "sys.stderr.write('speech device exploded\\n'); sys.exit(3)")
    with pytest.raises(TTSError, match=r"exit code 3.*speech device exploded"):
        EspeakEngine(TTSSettings(), program=program).load()


def test_text_goes_on_stdin_never_on_the_command_line(tmp_path: Path) -> None:
    log = tmp_path / "call.txt"
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(np.full(2205, 1000, dtype="<i2").tobytes())
    (tmp_path / "out.wav").write_bytes(wav.getvalue())
    program = fake_program(
        tmp_path,
        f"data = sys.stdin.buffer.read()\n"
        f"open({str(log)!r}, 'w').write(repr(sys.argv[1:]) + '\\n' + data.decode())\n"
        f"sys.stdout.buffer.write(open({str(tmp_path / 'out.wav')!r}, 'rb').read())",
    )
    eng = EspeakEngine(TTSSettings(voice="en-gb", rate_wpm=200, pitch=30), program=program)
    eng.load()
    audio = eng.synthesize("--help -v xx <b>&amp;</b>")
    assert audio.rate == 22050 and len(audio.samples) == 2205
    argv, _, text = log.read_text().partition("\n")
    assert text == "--help -v xx <b>&amp;</b>"
    assert "--help" not in argv and "xx" not in argv
    assert "'--stdin'" in argv and "'--stdout'" in argv
    assert "'-m'" not in argv and "--punct" not in argv  # plain text, no SSML
    assert "'en-gb'" in argv and "'200'" in argv and "'30'" in argv


def test_slow_program_times_out(tmp_path: Path) -> None:
    program = fake_program(tmp_path, "time.sleep(30)")
    eng = EspeakEngine(TTSSettings(), program=program, timeout_s=0.3)
    with pytest.raises(TTSError, match=r"more than 0\.3 s"):
        eng.load()


def test_garbage_output_is_an_error(tmp_path: Path) -> None:
    program = fake_program(tmp_path, "sys.stdout.write('this is not a wav file at all')")
    with pytest.raises(TTSError, match="no valid WAV"):
        EspeakEngine(TTSSettings(), program=program).load()


HOSTILE = [
    "-v xx --help",
    "--stdout",
    "-",
    "<speak><break time='10s'/>hello</speak>",
    "1 < 2 && 3 > 2",
    "&amp; &lt;tag&gt; &#128512;",
    "\"quoted\" 'single' `back` \\backslash",
    "emoji 😀🔥👍🏽 and flags 🇫🇷",
    "中文的问题：你好吗？",
    "Привет, как дела? مرحبا שלום こんにちは",
    "nul\x00byte and \x1b[31mANSI\x1b[0m escape",
    "lone surrogate \ud800 here",
    "bidi \u202eoverride\u202c and zero\u200bwidth",
    "%s %n {0} $(rm -rf /) `id`",
    "new\nlines\r\nand\ttabs",
    "...",
    "😀",
    "word " * 400,  # 2000 characters
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_does_not_break_it(engine: EspeakEngine, text: str) -> None:
    audio = engine.synthesize(text)
    assert audio.rate == 22050
    assert len(audio.samples) > 0
    assert np.all(np.isfinite(audio.samples))
    assert np.max(np.abs(audio.samples)) <= 1.0


def test_leading_dash_is_spoken(engine: EspeakEngine) -> None:
    audio = engine.synthesize("-v xx hello there")
    assert voiced_s(audio) > 0.5


def test_long_text_is_spoken_whole(engine: EspeakEngine) -> None:
    audio = engine.synthesize("word " * 400)
    assert audio.duration_s > 60  # 400 words at 165 per minute


@pytest.mark.parametrize("text", ["", " ", "\n\t  ", "\x00\x01"])
def test_blank_text_is_short_silence(text: str, tmp_path: Path) -> None:
    # Needs no program run: a failing program would raise.
    program = fake_program(tmp_path, "sys.exit(1)")
    eng = EspeakEngine(TTSSettings(), program=program)
    eng._path = str(program)  # as if load() had passed
    audio = eng.synthesize(text)
    assert audio.rate == 22050
    assert 0 < audio.duration_s <= 0.5
    assert not np.any(audio.samples)


def test_synthesize_loads_on_first_use_and_works_from_a_thread() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    eng = EspeakEngine(TTSSettings())
    result: list[Audio] = []
    worker = threading.Thread(target=lambda: result.append(eng.synthesize("From a thread.")))
    worker.start()
    worker.join(timeout=30)
    assert eng.loaded
    assert result and result[0].duration_s > 0.5


# --------------------------------------------------------------------------- helpers


def test_clean_text_replaces_control_characters() -> None:
    assert clean_text("a\x00b\x1bc\nd\te\ud800") == "a b c\nd\te "


def test_parse_wav_mixes_stereo_to_mono() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.array([16384, 0, -16384, -16384], dtype="<i2").tobytes())
    audio = parse_wav(buf.getvalue())
    assert audio.rate == 16000
    assert audio.samples.tolist() == [0.25, -0.5]


def test_parse_wav_rejects_other_sample_widths() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 10)
    with pytest.raises(TTSError, match="8-bit"):
        parse_wav(buf.getvalue())
