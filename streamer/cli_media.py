"""``streamer avatar``, ``lipsync`` and ``say``: the one-off media commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from streamer.cli_common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, _config_failed, _load
from streamer.config import ConfigError, Settings, load_settings


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
