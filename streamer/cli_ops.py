"""``streamer doctor``, ``voice``, ``twitch``, ``status`` and ``rtmp-server``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from streamer.cli_common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, _config_failed, _load
from streamer.config import ConfigError


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
    if args.twitch_command == "reward":
        from streamer.cli_twitch import cmd_reward

        return cmd_reward(args, settings)
    from streamer.cli_twitch import cmd_login

    return cmd_login(args, settings)


def cmd_status(args: argparse.Namespace) -> int:

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
