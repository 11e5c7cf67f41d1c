"""Command line: ``streamer run``, ``config``, ``status``, ``say``, ``doctor``, ``voice``,
``avatar``, ``lipsync``, ``twitch login``, ``rtmp-server``.

argparse (stdlib) is enough for a handful of sub-commands and keeps the start fast.
Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from streamer import __version__
from streamer.config import ConfigError, Settings, load_settings
from streamer.secrets import SecretError
from streamer.store import StoreError

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("streamer")


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

    status = sub.add_parser("status", help="show the running daemon's queues and stream")
    _add_config_args(status)
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
    login = twitch_sub.add_parser(
        "login", help="log the bot account in (device code) and store its token (mode 0600)"
    )
    _add_config_args(login)
    return parser


def _load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, args.overrides)


def _config_failed(exc: ConfigError) -> int:
    print(exc.render(), file=sys.stderr)
    return EXIT_CONFIG


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

    return (TwitchError, StoreError, OSError, AvatarError, TTSError, LipSyncError, RtmpServerError)


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
            sink = PrintSink(sys.stdout, speak=SpeechText(settings.tts.text))
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


def _default_avatar(settings: Settings) -> Path:
    from streamer.avatar import default_avatar_path

    return settings.avatar.source or default_avatar_path()


def cmd_avatar(args: argparse.Namespace) -> int:
    from streamer.oneshot import OneShotError, parse_size, prepare_avatar_file

    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    source = args.source or _default_avatar(settings)
    started = time.perf_counter()
    try:
        size = parse_size(args.size, settings)
        prepared = prepare_avatar_file(
            source, settings, size=size, rebuild=args.force, progress=not args.quiet
        )
    except OneShotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    r = prepared.report
    how = "already prepared" if r.get("cached") else f"prepared in {r['seconds']:.1f} s"
    missing = ""
    if r["interpolated"]:
        shown = ", ".join(str(i) for i in prepared.missing[:10].tolist())
        more = " ..." if r["interpolated"] > 10 else ""
        missing = f" (no face in frames {shown}{more}: boxes interpolated)"
    print(
        f"{source}: {how}: {r['frames']} frame(s), face found in {r['faces_found']}, "
        f"{r['interpolated']} interpolated{missing}; {time.perf_counter() - started:.1f} s\n"
        f"cache: {prepared.cache_file}"
    )
    return EXIT_OK


def cmd_lipsync(args: argparse.Namespace) -> int:
    from streamer.oneshot import OneShotError, lipsync_file, parse_size

    started = time.perf_counter()
    overrides = list(args.overrides)
    for key, value in (
        ("output.fps", args.fps),
        ("lipsync.device", args.device),
        ("lipsync.mode", args.mode),
        ("lipsync.paste", args.paste),
        ("lipsync.batch_size", args.batch_size),
        ("lipsync.fast_stride", args.fast_stride),
        ("lipsync.skip_silence", False if args.no_skip_silence else None),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.checkpoint is not None:
        # JSON is YAML: a path with '#' or ': ' in it stays one string.
        overrides.append(f"lipsync.checkpoint={json.dumps(str(args.checkpoint.resolve()))}")
    overrides.append("lipsync.engine=wav2lip")
    try:
        settings = load_settings(args.config, overrides)
    except ConfigError as exc:
        return _config_failed(exc)
    if args.out.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        print(f"error: --out {args.out}: use an .mp4, .mkv or .mov file", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        size = parse_size(args.size, settings)
        report = lipsync_file(
            args.face,
            args.audio,
            args.out,
            settings,
            size=size,
            preset=args.preset,
            crf=args.crf,
            progress=not args.quiet,
            started=started,
        )
    except OneShotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"wrote {report.out}: {report.frames} frames at {report.fps} fps, "
        f"{report.size[0]}x{report.size[1]} ({report.generated} generated, "
        f"{report.silent} silent); {report.seconds:.1f} s in all, "
        f"{report.frames / max(report.render_seconds, 1e-9):.1f} frames/s rendering"
    )
    return EXIT_OK


def cmd_say(args: argparse.Namespace) -> int:
    from streamer.say import say
    from streamer.tts.base import TTSError

    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        print("error: nothing to say: give a text (or '-' and the text on stdin)", file=sys.stderr)
        return EXIT_CONFIG
    if args.rate is not None and not 8000 <= args.rate <= 192000:
        print(f"error: --rate {args.rate}: use 8000 to 192000 Hz", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = say(text, settings, args.out, rate=args.rate)
    except TTSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    spoken = " ".join(report.spoken)
    if spoken != " ".join(text.split()):
        print(f"read as: {spoken}")
    print(
        f"wrote {report.out}: {report.duration_s:.2f} s at {report.rate} Hz, voice "
        f"{report.engine} (loaded in {report.load_s:.1f} s, spoke in {report.synth_s:.2f} s, "
        f"real-time factor {report.real_time_factor:.2f})"
    )
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from streamer.doctor import run_checks

    settings = None
    if args.config is not None or args.overrides:
        try:
            settings = _load(args)
        except ConfigError as exc:
            return _config_failed(exc)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    results = run_checks(settings, lambda check: print(check.line(), flush=True))
    failed = [c.name for c in results if c.level == "FAIL"]
    if failed:
        print(f"\n{len(failed)} problem(s): {', '.join(failed)}; the lines above say the fix")
        return EXIT_FAIL
    print("\nall needed parts are here" + ("" if settings else " (add --config to check yours)"))
    return EXIT_OK


def cmd_voice(args: argparse.Namespace) -> int:
    if args.voice_command == "dataset":
        from streamer.voice import dataset

        return dataset.run(args)
    from streamer.voice import train

    return train.run(args)


def cmd_twitch(args: argparse.Namespace) -> int:
    from streamer.chat.twitch_login import TwitchLoginError, device_code_login

    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    if not settings.twitch.client_id:
        print(
            "error: twitch.client_id is not set: register an application at "
            "https://dev.twitch.tv/console and put its client id in the config",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        tokens = asyncio.run(device_code_login(settings.twitch, token_path=settings.token_file))
    except TwitchLoginError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"logged in as {tokens.login} (user id {tokens.user_id}); token saved to "
        f"{settings.token_file} (mode 0600)"
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    import json

    import aiohttp

    from streamer.status import fetch_status, render_status

    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    host, port = settings.status.host, settings.status.port
    if not port:
        print("error: status.port is 0: the status endpoint is off", file=sys.stderr)
        return EXIT_CONFIG
    try:
        data = asyncio.run(fetch_status(host, port))
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"no daemon answers on http://{host}:{port}/status ({exc})", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(data, indent=2) if args.json else render_status(data))
    return EXIT_OK


def cmd_rtmp_server(args: argparse.Namespace) -> int:
    import signal

    from streamer.rtmp_server import RtmpServer, RtmpServerError
    from streamer.stream import local_rtmp_port

    try:
        settings = _load(args)
    except ConfigError as exc:
        return _config_failed(exc)
    port = local_rtmp_port(settings.output.rtmp_url) or settings.output.rtmp_server_port
    server = RtmpServer(settings.data_dir, port=port, host=args.host)
    try:
        server.start()
    except RtmpServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    # Blocked only now (nginx must not inherit the mask), then taken by sigtimedwait
    # below, so nginx is always stopped with us.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    print(f"nginx-rtmp listening on rtmp://{args.host}:{port}/live (Ctrl-C stops it)", flush=True)
    print(
        f"publish to {settings.output.rtmp_url}; watch with: ffplay {settings.output.rtmp_url}",
        flush=True,
    )
    try:
        while server.running:
            if signal.sigtimedwait({signal.SIGINT, signal.SIGTERM}, 1.0) is not None:
                break
        else:
            print(f"error: nginx stopped:\n{server.error_log_tail()}", file=sys.stderr)
            return EXIT_FAIL
    finally:
        server.stop()
    return EXIT_OK


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
