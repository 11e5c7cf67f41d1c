"""``streamer doctor``: what this machine has, what the config needs, and the fix for
what is missing.

Each check is one line: ``ok``, ``warn`` (optional, or only needed by some settings)
or ``FAIL`` (something the config needs). With a config, the chosen voice is loaded
and speaks a test word, and a wav2lip checkpoint is read, exactly as ``streamer run``
would at start.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from streamer.config import Settings

Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.name:<14} {self.detail}"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _program_version(program: str, *args: str) -> str | None:
    path = shutil.which(program)
    if path is None:
        return None
    try:
        proc = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"{path} (does not run)"
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0][:80] if first else path


def check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check("ok" if ok else "FAIL", "python", f"{v.major}.{v.minor}.{v.micro}")


def check_program(program: str, args: tuple[str, ...], hint: str, *, needed: bool) -> Check:
    version = _program_version(program, *args)
    if version is None:
        return Check("FAIL" if needed else "warn", program, f"not found: {hint}")
    return Check("ok", program, version)


def check_rtmp_module(needed: bool) -> Check:
    from streamer.rtmp_server import RtmpServerError, find_module

    try:
        return Check("ok", "nginx-rtmp", str(find_module()))
    except RtmpServerError as exc:
        return Check("FAIL" if needed else "warn", "nginx-rtmp", str(exc))


def check_torch() -> Check:
    version = _version("torch")
    if version is None:
        return Check("FAIL", "torch", "not installed: run `make setup`")
    try:
        import torch
    except (ImportError, OSError) as exc:
        return Check("FAIL", "torch", f"{version} does not import: {exc}")
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Check("ok", "torch", f"{version}, CUDA {torch.version.cuda}: {names}")
    return Check("ok", "torch", f"{version}, CPU only (no CUDA device seen)")


def check_coqui(needed: bool) -> Check:
    from streamer.tts.base import TTSError
    from streamer.tts.vits import import_synthesizer

    level: Level = "FAIL" if needed else "warn"
    versions = {d: _version(d) for d in ("coqui-tts", "torchaudio", "torchcodec")}
    if versions["coqui-tts"] is None:
        return Check(level, "coqui-tts", "not installed (tts.engine: vits): run `make setup`")
    try:
        import_synthesizer()
    except TTSError as exc:
        return Check(level, "coqui-tts", str(exc))
    shown = ", ".join(f"{d} {v or 'missing'}" for d, v in versions.items())
    return Check("ok", "coqui-tts", shown)


def check_module(dist: str, module: str, what: str) -> Check:
    version = _version(dist)
    if version is None:
        return Check("warn", dist, f"not installed ({what})")
    try:
        __import__(module)
    except Exception as exc:
        return Check("warn", dist, f"{version} does not import ({what}): {exc}")
    return Check("ok", dist, version)


def check_voice(settings: Settings) -> Check:
    from streamer.tts import TTSError, make_tts

    engine = make_tts(settings.tts, settings.channel.language)
    try:
        engine.load()
        audio = engine.synthesize("Hello.")
    except TTSError as exc:
        return Check("FAIL", "voice", str(exc))
    return Check(
        "ok",
        "voice",
        f"{engine.describe} loads and speaks ({audio.duration_s:.2f} s at {audio.rate} Hz "
        f"for a test word); channel.language {settings.channel.language}",
    )


def check_lipsync(settings: Settings) -> Check:
    s = settings.lipsync
    if s.engine != "wav2lip":
        return Check("ok", "lip-sync", f"{s.engine} (no model needed)")
    from streamer.lipsync.base import LipSyncError
    from streamer.lipsync.wav2lip import load_core

    try:
        core = load_core(s)
    except LipSyncError as exc:
        return Check("FAIL", "lip-sync", str(exc))
    return Check("ok", "lip-sync", f"wav2lip checkpoint {s.checkpoint} loads on {core.device}")


def check_moderation(settings: Settings, env: Mapping[str, str]) -> Check:
    """The word lists and patterns, and one real call of the model check if one is set."""
    import asyncio
    import time

    from streamer.filters import BannedWords
    from streamer.moderation.model import CheckFailed
    from streamer.moderation.moderator import Moderator, make_model_check
    from streamer.secrets import SecretError

    m = settings.moderation
    if not m.enabled:
        return Check(
            "warn", "moderation", "off (moderation.enabled: false): answers go on air unchecked"
        )
    words = list(settings.filters.banned_words)
    if settings.filters.banned_words_file is not None:
        words += BannedWords.from_file(settings.filters.banned_words_file).words
    try:
        model = make_model_check(settings, env)
    except SecretError as exc:
        return Check("FAIL", "moderation", f"model check: {exc}")
    moderator = Moderator(m, BannedWords(words), model)
    lists = f"{len(moderator.lists.banned)} banned words, {len(moderator.lists.finders)} patterns"
    if model is None:
        return Check("ok", "moderation", f"{lists}; no model check (moderation.model.kind: none)")

    async def probe() -> float:
        started = time.perf_counter()
        try:
            await model.check("How are you?", "", "I am fine, thank you for asking!")
        finally:
            await model.close()
        return time.perf_counter() - started

    try:
        took = asyncio.run(probe())
    except CheckFailed as exc:
        what = (
            "no segment would be spoken (on_error: block)"
            if m.on_error == "block"
            else "every segment would be spoken unchecked by the model (on_error: allow)"
        )
        return Check("FAIL", "moderation", f"{model.describe()}: {exc}; {what}")
    return Check("ok", "moderation", f"{lists}; {model.describe()} answers in {took * 1000:.0f} ms")


def check_twitch(settings: Settings, env: Mapping[str, str]) -> Check:
    """Which Twitch features the stored tokens allow (a validation call for each)."""
    import asyncio

    import aiohttp

    from streamer.chat.twitch_login import TwitchLoginError, validate_token
    from streamer.secrets import TwitchTokens, load_twitch_tokens

    twitch = settings.twitch
    try:
        bot = load_twitch_tokens(settings.token_file, env)
    except Exception as exc:
        return Check("FAIL", "twitch", f"{exc}; run `streamer twitch login --config ...`")
    own_account = twitch.bot_id == twitch.owner_id
    owner: TwitchTokens | None = bot if own_account else None
    if not own_account and settings.broadcaster_token_file.is_file():
        try:
            owner = load_twitch_tokens(settings.broadcaster_token_file, env={})
        except Exception as exc:
            return Check("warn", "twitch", f"the broadcaster's token is not used: {exc}")

    async def validate(access: str) -> tuple[str, str, list[str]]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await validate_token(session, twitch, access)

    failures = (TwitchLoginError, aiohttp.ClientError, OSError, TimeoutError)
    try:
        user_id, login, scopes = asyncio.run(validate(bot.access_token))
    except TwitchLoginError as exc:
        if "HTTP 401" in str(exc):  # expired: the daemon refreshes it at start
            return Check(
                "warn", "twitch", "the bot's access token has expired; `streamer run` "
                "refreshes it at start (if that fails: `streamer twitch login`)",
            )  # fmt: skip
        return Check("FAIL", "twitch", f"the bot's token does not validate ({exc})")
    except failures as exc:
        why = str(exc) or type(exc).__name__
        return Check("FAIL", "twitch", f"the bot's token does not validate ({why})")
    if user_id != twitch.bot_id:
        return Check("FAIL", "twitch", f"the token is {login}'s ({user_id}), not twitch.bot_id")
    if not all(s in scopes for s in ("user:read:chat", "user:write:chat")):
        return Check("FAIL", "twitch", f"bot {login}: the token lacks chat scopes; log in again")
    owner_scopes: list[str] = scopes if own_account else []
    login_hint = "`streamer twitch login" + ("`" if own_account else " --broadcaster`")
    trouble = "" if owner is not None or own_account else f"run {login_hint}"
    if owner is not None and not own_account:
        try:
            owner_id, _, owner_scopes = asyncio.run(validate(owner.access_token))
        except failures as exc:
            owner_id, trouble = "", f"the broadcaster's token does not validate: {exc}"
        if owner_id and owner_id != twitch.owner_id:
            owner_scopes, trouble = [], "the broadcaster token is not twitch.owner_id's"
    have, lack = twitch_features(settings, owner_scopes)
    if lack:
        lack = f"{lack} ({trouble or 'log in with ' + login_hint + ' again'})"
    text = f"bot {login}: {', '.join(['chat', 'deleted messages and clears', *have])}"
    return Check(
        "warn" if lack else "ok", "twitch", text + (f"; not allowed: {lack}" if lack else "")
    )


def twitch_features(settings: Settings, owner_scopes: list[str]) -> tuple[list[str], str]:
    """The broadcaster's features these scopes allow, and those they do not (text)."""
    have, lack = [], []
    if "channel:moderate" in owner_scopes:
        have.append("bans and timeouts")
    else:
        lack.append("bans and timeouts")
    if settings.twitch.channel_points.reward_id:
        if "channel:manage:redemptions" in owner_scopes:
            have.append("channel points questions with refunds")
        else:
            lack.append("channel points questions (channel:manage:redemptions)")
    return have, ", ".join(lack)


def run_checks(
    settings: Settings | None,
    emit: Callable[[Check], None],
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check, handing each result to ``emit`` as soon as it is known."""
    vits = settings is not None and settings.tts.engine == "vits"
    espeak = settings is None or settings.tts.engine == "espeak"
    streaming = settings is None or settings.output.start_rtmp_server
    steps: list[Callable[[], Check]] = [
        check_python,
        lambda: check_program(
            "ffmpeg",
            ("-version",),
            "apt-get install ffmpeg (it publishes the stream)",
            needed=True,
        ),
        lambda: check_program("ffprobe", ("-version",), "apt-get install ffmpeg", needed=False),
        lambda: check_program(
            "nginx",
            ("-v",),
            "apt-get install nginx libnginx-mod-rtmp (local RTMP server)",
            needed=streaming,
        ),
        lambda: check_rtmp_module(streaming),
        lambda: check_program(
            "espeak-ng",
            ("--version",),
            "apt-get install espeak-ng (the default voice; phoneme-based VITS voices need it too)",
            needed=espeak,
        ),
        check_torch,
        lambda: check_coqui(vits),
        *(
            [lambda: check_module("onnx", "onnx", "exports the vits voice for tts.runtime: onnx")]
            if vits and settings is not None and settings.tts.runtime == "onnx"
            else []
        ),
        lambda: check_module("openai-whisper", "whisper", "transcribes `streamer voice dataset`"),
        lambda: check_module("yt-dlp", "yt_dlp", "only for URLs in `streamer voice dataset`"),
    ]
    if settings is not None:
        steps += [
            lambda: check_voice(settings),
            lambda: check_lipsync(settings),
            lambda: check_moderation(settings, os.environ if env is None else env),
        ]
        if settings.chat.source == "twitch":
            steps.append(lambda: check_twitch(settings, os.environ if env is None else env))
    results = []
    for step in steps:
        try:
            result = step()
        except Exception as exc:  # a check must not stop the ones after it
            text = " ".join(str(exc).split())[:200]
            result = Check("FAIL", "(check)", f"crashed: {type(exc).__name__}: {text}")
        emit(result)
        results.append(result)
    return results
