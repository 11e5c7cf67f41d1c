"""Command line: ``streamer run``, ``config``, ``status``, ``say``, ``doctor``, ``voice``,
``avatar``, ``lipsync``, ``twitch login``, ``rtmp-server``.

argparse (stdlib) is enough for a handful of sub-commands and keeps the start fast.
Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from streamer import __version__
from streamer.cli_common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, _config_failed, _load, log
from streamer.cli_media import cmd_avatar, cmd_lipsync, cmd_say
from streamer.cli_ops import cmd_doctor, cmd_rtmp_server, cmd_status, cmd_twitch, cmd_voice
from streamer.config import ConfigError
from streamer.secrets import SecretError
from streamer.store import StoreError


def _add_config_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument(
        "--config",
        "-c",
        type=Path,
        required=required,
        metavar="FILE",
        help="channel settings (YAML), e.g. config/demo.yaml",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, VALUE read as YAML (repeatable): --set pool.interval_s=5",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="An AI virtual streamer: answers Twitch chat questions in character.",
    )
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    _add_config_args(run)
    run.add_argument(
        "--no-video",
        action="store_true",
        help="print the answer segments instead of streaming them (no voice, no video)",
    )
    run.add_argument(
        "--once",
        action="store_true",
        help="exit when the chat input has ended and every question is answered",
    )

    config = sub.add_parser("config", help="check or show a config file")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file; exit 2 if it is bad")
    _add_config_args(check)
    show = config_sub.add_parser("show", help="print the effective settings (defaults filled in)")
    _add_config_args(show)

    status = sub.add_parser(
        "status",
        help="show the running daemon's queues and stream (without --config: the "
        "daemon on the default port, 127.0.0.1:8765)",
    )
    _add_config_args(status, required=False)
    status.add_argument("--json", action="store_true", help="print the raw JSON")

    rtmp = sub.add_parser(
        "rtmp-server", help="run a local nginx-rtmp server in the foreground (Ctrl-C stops it)"
    )
    _add_config_args(rtmp)
    rtmp.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback; 0.0.0.0 serves other machines)",
    )

    avatar = sub.add_parser("avatar", help="avatar tools for the wav2lip engine")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", required=True, metavar="ACTION")
    prepare = avatar_sub.add_parser(
        "prepare",
        help="find the face in every avatar frame once and cache it (wav2lip)",
        description="Find the face in every frame of the avatar and cache the boxes and "
        "face crops where `streamer run` and `streamer lipsync` look for them. Uses the "
        "config's output size and fps, avatar.max_seconds and lipsync.pads.",
    )
    _add_config_args(prepare, required=False)
    prepare.add_argument(
        "source",
        nargs="?",
        type=Path,
        help="image or video (default: avatar.source of the config, else media/avatar.png)",
    )
    prepare.add_argument(
        "--size",
        metavar="WxH|native",
        help="frame size to prepare for (default: output.width x output.height)",
    )
    prepare.add_argument("--force", action="store_true", help="detect again even if cached")
    prepare.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    lipsync = sub.add_parser(
        "lipsync",
        help="lip-sync a face video or image to a speech file (one MP4, wav2lip)",
        description="Lip-sync FACE to AUDIO with the wav2lip engine and write an MP4. "
        "Settings (checkpoint, device, mode, paste, fps, size) come from the config and "
        "the options below.",
    )
    _add_config_args(lipsync, required=False)
    lipsync.add_argument("--face", type=Path, required=True, help="face video or image")
    lipsync.add_argument("--audio", type=Path, required=True, help="speech (wav, mp3, ...)")
    lipsync.add_argument("--out", type=Path, required=True, help="the MP4 to write")
    lipsync.add_argument(
        "--checkpoint", type=Path, help="Wav2Lip checkpoint (default: lipsync.checkpoint)"
    )
    lipsync.add_argument("--fps", type=int, help="frames per second (default: output.fps)")
    lipsync.add_argument(
        "--size",
        metavar="WxH|native",
        help="output size (default: output.width x output.height; native = the face's)",
    )
    lipsync.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="default: lipsync.device (auto)"
    )
    lipsync.add_argument("--mode", choices=["exact", "fast"], help="default: lipsync.mode (exact)")
    lipsync.add_argument("--paste", choices=["soft", "hard"], help="default: lipsync.paste (soft)")
    lipsync.add_argument(
        "--fast-stride", type=int, choices=[2, 3, 4], help="fast mode: default lipsync.fast_stride"
    )
    lipsync.add_argument("--batch-size", type=int, help="frames per generator call")
    lipsync.add_argument(
        "--no-skip-silence",
        action="store_true",
        help="generate silent frames too (default: show the face as it is)",
    )
    lipsync.add_argument("--crf", type=int, default=20, help="x264 quality (default 20)")
    lipsync.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    lipsync.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    say = sub.add_parser(
        "say",
        help="speak a text with the configured voice into a WAV file (try a voice)",
        description="Speak TEXT with the config's voice (tts.*) the way the stream would: "
        "split into sentences, made speech-ready (numbers, dates, URLs, emoji...), "
        "loudness-normalised; written as a 16-bit mono WAV.",
    )
    _add_config_args(say, required=False)
    say.add_argument("text", help="what to say ('-' reads standard input)")
    say.add_argument("--out", "-o", type=Path, required=True, help="the WAV file to write")
    say.add_argument("--rate", type=int, help="sample rate (default: the voice's own)")

    doctor = sub.add_parser(
        "doctor",
        help="check the programs, libraries and models this machine and config need",
        description="Check ffmpeg, nginx-rtmp, espeak-ng, torch (and CUDA), coqui-tts and "
        "Whisper; with --config also load the configured voice and lip-sync model. Exit 1 "
        "if something the config needs is missing.",
    )
    _add_config_args(doctor, required=False)

    voice = sub.add_parser("voice", help="make a voice: build a dataset, fine-tune a VITS")
    voice_sub = voice.add_subparsers(dest="voice_command", required=True, metavar="ACTION")
    dataset = voice_sub.add_parser(
        "dataset",
        help="recordings of a person -> an LJSpeech dataset (clips + Whisper transcripts)",
        description="Split recordings on silence into 1-15 s clips (mono, 22,050 Hz, "
        "16-bit, -20 dBFS), transcribe them with Whisper and write metadata.csv in the "
        "LJSpeech format (id|text|normalized text).",
    )
    from streamer.voice import dataset as voice_dataset
    from streamer.voice import train as voice_train

    voice_dataset.add_arguments(dataset)
    train = voice_sub.add_parser(
        "train",
        help="fine-tune a Coqui VITS voice on a dataset (resumable)",
        description="Write a Coqui VITS fine-tuning config for DATASET and run Coqui's "
        "trainer from the BASE checkpoint; test sentences are spoken at each checkpoint. "
        "The result loads as tts.engine: vits.",
    )
    voice_train.add_arguments(train)

    twitch = sub.add_parser("twitch", help="Twitch account set-up")
    twitch_sub = twitch.add_subparsers(dest="twitch_command", required=True, metavar="ACTION")
    from streamer.cli_twitch import add_arguments as add_twitch_arguments

    add_twitch_arguments(twitch_sub, _add_config_args)
    return parser


def cmd_config(args: argparse.Namespace) -> int:
    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    if args.config_command == "show":
        data = settings.model_dump(mode="json")
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
        return EXIT_OK
    print(
        f"{args.config}: OK (chat {settings.chat.source}, LLM {settings.llm.provider}, "
        f"pool {settings.pool.policy} every {settings.pool.interval_s:g} s)"
    )
    return EXIT_OK


def startup_errors() -> tuple[type[Exception], ...]:
    """Failures an operator can fix: shown as one line, not a traceback."""
    from streamer.avatar import AvatarError
    from streamer.chat.twitch import TwitchError
    from streamer.lipsync.base import LipSyncError
    from streamer.rtmp_server import RtmpServerError
    from streamer.tts.base import TTSError
    from streamer.web.auth import ConsoleTokenError

    return (
        TwitchError, StoreError, OSError, AvatarError, TTSError, LipSyncError, RtmpServerError,
        ConsoleTokenError,
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    # Imported after the config is known to be good: a bad config fails fast.
    from streamer.daemon import Daemon, PrintSink, run_daemon
    from streamer.faults import Faults
    from streamer.logs import setup_logging

    log_file = settings.data_dir / "streamer.log" if settings.log.file else None
    secret_filter = setup_logging(settings.log.level, settings.log.format, log_file)
    expected = startup_errors()
    try:
        faults = Faults.from_env(os.environ)
        sink = None
        if args.no_video:
            from streamer.speech_text import SpeechText

            # What the voice would read, one line a segment.
            speak = SpeechText(settings.tts.text, language=settings.channel.language)
            sink = PrintSink(sys.stdout, speak=speak)
        daemon = Daemon(
            settings,
            env=os.environ,
            secret_filter=secret_filter,
            once=args.once,
            sink=sink,
            faults=faults,
        )
    except ValueError as exc:  # a bad STREAMER_FAULTS
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SecretError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except expected as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        return asyncio.run(run_daemon(daemon))
    except KeyboardInterrupt:
        return 130
    except expected as exc:
        # Expected failures (Twitch unreachable or refusing the token, a locked
        # database, no nginx...): one clear line, the details are in the log file.
        log.debug("start-up failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "config":
            return cmd_config(args)
        if args.command == "twitch":
            return cmd_twitch(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "rtmp-server":
            return cmd_rtmp_server(args)
        if args.command == "avatar":
            return cmd_avatar(args)
        if args.command == "lipsync":
            return cmd_lipsync(args)
        if args.command == "say":
            return cmd_say(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "voice":
            return cmd_voice(args)
    except KeyboardInterrupt:
        return 130
    return EXIT_FAIL
