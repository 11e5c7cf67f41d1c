"""The wav2lip engine inside the daemon, its settings and its two commands.

Random-weight checkpoints saved in the reference layout, a face OpenCV's detector
finds, real espeak-ng speech through the real VideoBuilder, the real CLI writing an
MP4 that ffprobe reads back.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.audio import Audio
from streamer.avatar import load_avatar
from streamer.builder import VideoBuilder
from streamer.cli import main
from streamer.config import (
    AvatarSettings,
    ConfigError,
    LipSyncSettings,
    OutputSettings,
    TTSSettings,
    load_settings,
)
from streamer.lipsync import LipSyncError, make_lipsync
from streamer.lipsync.wav2lip import Wav2LipEngine, avatar_cache_dir
from streamer.messages import Clip, Segment
from streamer.tts import make_tts
from tests.test_wav2lip_engine import speech_like
from tests.wav2lip_media import H, W, draw_face, randomize, write_video
from wav2lip_fast import Wav2Lip, save_reference_checkpoint

OUTPUT = OutputSettings(width=W, height=H, fps=25, sample_rate=48000)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "wav2lip_gan.pth"
    save_reference_checkpoint(randomize(Wav2Lip(), seed=7), path, module_prefix=True)
    return path


@pytest.fixture
def face_png(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), draw_face())
    return path


def settings_for(checkpoint: Path, **kw: object) -> LipSyncSettings:
    return LipSyncSettings(engine="wav2lip", checkpoint=checkpoint, device="cpu", **kw)


def speech_48k(seconds: float) -> Audio:
    from streamer.audio import resample

    return resample(Audio(speech_like(seconds), 16000), 48000)


# --- settings ----------------------------------------------------------------------


def test_wav2lip_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, ["lipsync.engine=wav2lip"])
    assert "lipsync.checkpoint" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_settings(None, ["lipsync.engine=wav2lip", f"lipsync.checkpoint={tmp_path}/no.pth"])
    assert "lipsync.checkpoint" in str(err.value) and "file not found" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_settings(None, ["lipsync.pads=[0, 10]"])
    assert "lipsync.pads" in str(err.value)


def test_checkpoint_path_is_relative_to_the_config(tmp_path: Path, checkpoint: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.pth").write_bytes(checkpoint.read_bytes())
    cfg = tmp_path / "channel.yaml"
    cfg.write_text("lipsync:\n  engine: wav2lip\n  checkpoint: models/w.pth\n")
    settings = load_settings(cfg)
    assert settings.lipsync.checkpoint == tmp_path / "models" / "w.pth"


# --- the engine in the daemon ------------------------------------------------------


def test_still_avatar_renders_exact_frames_and_caches_the_face(
    checkpoint: Path, face_png: Path, tmp_path: Path
) -> None:
    avatar = load_avatar(face_png, W, H, 25, 10)
    engine = make_lipsync(settings_for(checkpoint), data_dir=tmp_path, avatar=AvatarSettings())
    assert isinstance(engine, Wav2LipEngine) and engine.name == "wav2lip"
    engine.load(avatar)
    caches = list(avatar_cache_dir(tmp_path).glob("*.npz"))
    assert len(caches) == 1
    batches = list(engine.render(speech_48k(3.0), start_frame=11, fps=25))
    assert sum(len(b) for b in batches) == 75 and len(batches[0]) <= 4
    assert all(b.shape[1:] == (H, W, 3) and b.dtype == np.uint8 for b in batches)
    frames = np.concatenate(batches)
    assert (frames != avatar.frames[0]).any(axis=(1, 2, 3)).sum() > 50  # lips moved

    # A second start reads the cache: the face is not detected again.
    stamp = caches[0].stat().st_mtime_ns
    again = Wav2LipEngine(
        settings_for(checkpoint), data_dir=tmp_path, avatar_settings=AvatarSettings()
    )
    again.load(avatar)
    assert caches[0].stat().st_mtime_ns == stamp
    assert list(avatar_cache_dir(tmp_path).glob("*.npz")) == caches


def test_video_avatar_follows_the_ping_pong_loop(checkpoint: Path, tmp_path: Path) -> None:
    path = write_video(tmp_path / "face.mp4", [draw_face(shift=(i % 5) - 2) for i in range(6)])
    avatar = load_avatar(path, W, H, 25, 10)
    engine = Wav2LipEngine(
        settings_for(checkpoint, paste="hard"), data_dir=tmp_path, avatar_settings=AvatarSettings()
    )
    engine.load(avatar)
    silence = Audio(np.zeros(48000 // 25 * 12, np.float32), 48000)  # 12 silent frames
    frames = np.concatenate(list(engine.render(silence, start_frame=4, fps=25)))
    assert len(frames) == 12
    for i in range(12):
        assert (frames[i] == avatar.frame(4 + i)).all()  # 4 5 4 3 2 1 0 1 2 ...
    # Speaking frames: pasted over the loop's frame, with that frame's own face box.
    boxes = next(avatar_cache_dir(tmp_path).glob("*.npz"))
    with np.load(boxes, allow_pickle=False) as cache:
        face_boxes = cache["boxes"]
    frames = np.concatenate(list(engine.render(speech_48k(0.48), start_frame=4, fps=25)))
    assert len(frames) == 12
    for i in range(12):
        k = avatar.index(4 + i)
        x1, y1, x2, y2 = face_boxes[k].tolist()
        outside = frames[i].copy()
        outside[y1:y2, x1:x2] = avatar.frames[k][y1:y2, x1:x2]
        assert (outside == avatar.frames[k]).all(), f"frame {i} is not drawn on avatar frame {k}"
        assert (frames[i][y1:y2, x1:x2] != avatar.frames[k][y1:y2, x1:x2]).any()


def test_a_bad_checkpoint_or_no_face_fails_at_load_with_the_key(
    checkpoint: Path, face_png: Path, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint")
    avatar = load_avatar(face_png, W, H, 25, 10)
    with pytest.raises(LipSyncError, match=r"lipsync\.checkpoint"):
        Wav2LipEngine(
            settings_for(bogus), data_dir=tmp_path, avatar_settings=AvatarSettings()
        ).load(avatar)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((H, W, 3), 90, np.uint8))
    engine = Wav2LipEngine(
        settings_for(checkpoint), data_dir=tmp_path, avatar_settings=AvatarSettings()
    )
    with pytest.raises(LipSyncError, match="no face"):
        engine.load(load_avatar(blank, W, H, 25, 10))
    with pytest.raises(LipSyncError, match="not loaded"):
        next(engine.render(speech_48k(0.2), 0, 25))


class TimedCollector:
    """Stands where the publisher stands; notes when each clip arrives."""

    def __init__(self) -> None:
        self.clips: list[tuple[float, Clip]] = []

    async def put(self, clip: Clip) -> bool:
        self.clips.append((time.monotonic(), clip))
        return True

    def skip(self, answer_id: str) -> bool:
        return True

    def on_air(self) -> str | None:
        return None

    def next_avatar_position(self) -> int:
        return 0


async def test_first_frames_reach_the_publisher_before_the_segment_is_done(
    checkpoint: Path, face_png: Path, tmp_path: Path
) -> None:
    avatar = load_avatar(face_png, W, H, 25, 10)
    player = TimedCollector()
    builder = VideoBuilder(
        make_tts(TTSSettings()),
        make_lipsync(settings_for(checkpoint), data_dir=tmp_path, avatar=AvatarSettings()),
        avatar,
        OUTPUT,
        player,
    )
    await builder.start()
    try:
        await builder(Segment("a1", 0, "Hello there, this is a neural lip sync test.", last=True))
    finally:
        await builder.close()
    times = [t for t, _ in player.clips]
    clips = [c for _, c in player.clips]
    assert len(clips) >= 4 and len(clips[0].frames) <= 4
    assert clips[-1].last
    frames = sum(len(c.frames) for c in clips)
    assert sum(len(c.audio) for c in clips) == frames * 48000 // 25
    # The first clip was handed on well before the last one was ready.
    assert times[-1] - times[0] > 0.3


# --- commands ----------------------------------------------------------------------


def _probe(path: Path) -> dict[str, dict[str, str]]:
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_frames", "-show_entries",
            "stream=codec_type,nb_read_frames,duration,width,height,r_frame_rate",
            "-of", "json", str(path),
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def test_prepare_then_lipsync_writes_an_mp4_of_the_audio_length(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    face = write_video(tmp_path / "face.mp4", [draw_face(shift=(i % 5) - 2) for i in range(10)])
    speech = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(speech), "Hello. This is a three second test, more or less."],
        check=True,
    )
    cfg = tmp_path / "channel.yaml"
    cfg.write_text(f"data_dir: data\nlipsync:\n  checkpoint: {checkpoint}\n")
    common = ["--config", str(cfg), "--set", f"output.width={W}", "--set", f"output.height={H}"]

    assert main(["avatar", "prepare", str(face), "-q", *common]) == 0
    out = capsys.readouterr().out
    assert "10 frame(s), face found in 10, 0 interpolated" in out and "cache:" in out
    assert main(["avatar", "prepare", str(face), "-q", *common]) == 0
    assert "already prepared" in capsys.readouterr().out

    video = tmp_path / "out" / "talk.mp4"
    code = main(
        ["lipsync", "--face", str(face), "--audio", str(speech), "--out", str(video), "-q", *common]
    )
    assert code == 0, capsys.readouterr().err
    report = capsys.readouterr().out
    assert "wrote" in report

    from wav2lip_fast import frame_count, load_audio

    n = frame_count(len(load_audio(speech)), 25)
    streams = _probe(video)
    assert int(streams["video"]["nb_read_frames"]) == n
    assert (int(streams["video"]["width"]), int(streams["video"]["height"])) == (W, H)
    assert streams["video"]["r_frame_rate"] == "25/1"
    audio_s = float(streams["audio"]["duration"])
    assert abs(audio_s - n / 25) < 0.05  # AAC frames round the audio up a little
    assert f"{n} frames at 25 fps" in report


def test_lipsync_command_errors_are_one_line(
    checkpoint: Path, face_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.wav"
    out = tmp_path / "o.mp4"
    base = ["lipsync", "--face", str(face_png), "--out", str(out), "-q"]
    assert main([*base, "--audio", str(missing), "--checkpoint", str(checkpoint)]) == 1
    assert "audio file not found" in capsys.readouterr().err
    speech = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "hi"], check=True)
    assert main([*base, "--audio", str(speech)]) == 2  # no checkpoint anywhere
    assert "lipsync.checkpoint" in capsys.readouterr().err
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"\x00" * 64)
    assert main([*base, "--audio", str(speech), "--checkpoint", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    avi = [*base[:-2], str(tmp_path / "o.avi"), "--audio", str(speech)]
    assert main([*avi, "--checkpoint", str(checkpoint)]) == 2
    assert ".mp4" in capsys.readouterr().err


def test_a_failing_encoder_fails_cleanly_without_a_partial_file(
    checkpoint: Path, face_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    speech = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Hello there, how are you?"], check=True)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an older file that must survive")
    args = ["lipsync", "--face", str(face_png), "--audio", str(speech), "--out", str(out)]
    common = ["--checkpoint", str(checkpoint), "--size", "native", "-q"]
    code = main([*args, *common, "--preset", "no-such-preset"])
    assert code == 1
    err = capsys.readouterr().err
    assert "ffmpeg failed" in err and "Traceback" not in err
    assert out.read_bytes() == b"an older file that must survive"
    assert not list(tmp_path.glob(".o.part*"))


def test_the_avatar_is_read_beside_the_model_load_and_cancelled_on_failure(
    checkpoint: Path, tmp_path: Path
) -> None:
    import threading

    from streamer.config import Settings
    from streamer.oneshot import OneShotError, lipsync_file, prepare_avatar_file

    face = write_video(tmp_path / "face.mp4", [draw_face(shift=(i % 5) - 2) for i in range(10)])
    speech = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Hello there"], check=True)
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path / "data"), "lipsync": {"checkpoint": str(checkpoint)}}
    )
    # a set cancel event stops the face detection at its first frame; nothing is cached
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(OneShotError, match="cancelled"):
        prepare_avatar_file(face, settings, size=(W, H), progress=False, cancel=cancelled)
    assert not list(avatar_cache_dir(tmp_path / "data").glob("*.npz"))

    # a checkpoint that does not load fails the job with its own error, and the avatar
    # thread is gone when lipsync_file returns
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"\x00" * 64)
    bad = settings.model_copy(
        update={"lipsync": settings.lipsync.model_copy(update={"checkpoint": bogus})}
    )
    with pytest.raises(OneShotError, match=r"lipsync\.checkpoint"):
        lipsync_file(face, speech, tmp_path / "o.mp4", bad, size=(W, H), progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("lipsync-avatar")]
    assert not (tmp_path / "o.mp4").exists()
