"""``streamer twitch login`` and ``streamer twitch reward create``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from streamer.cli_common import EXIT_CONFIG, EXIT_FAIL, EXIT_OK
from streamer.config import Settings


def cmd_login(args: argparse.Namespace, settings: Settings) -> int:
    from streamer.chat.twitch_login import (
        BOT_SCOPES,
        BROADCASTER_SCOPES,
        TwitchLoginError,
        device_code_login,
    )

    twitch = settings.twitch
    broadcaster = bool(getattr(args, "broadcaster", False))
    if broadcaster and not twitch.owner_id:
        print("error: set twitch.owner_id (the broadcaster's user id) first", file=sys.stderr)
        return EXIT_CONFIG
    own_account = bool(twitch.bot_id) and twitch.bot_id == twitch.owner_id
    if own_account:
        # The bot speaks as the broadcaster: one token, with the scopes of both.
        if broadcaster:
            print("twitch.bot_id is the broadcaster's own account: one token serves both")
        broadcaster = False
        scopes = tuple(dict.fromkeys(BOT_SCOPES + BROADCASTER_SCOPES))
        account, expect = "the channel's own account", twitch.owner_id
    elif broadcaster:
        scopes, account, expect = (
            BROADCASTER_SCOPES,
            "the BROADCASTER (the channel's own account, not the bot)",
            twitch.owner_id,
        )
    else:
        scopes, account, expect = BOT_SCOPES, "the BOT account", ""
    path = settings.broadcaster_token_file if broadcaster else settings.token_file
    try:
        tokens = asyncio.run(
            device_code_login(
                twitch, scopes=scopes, token_path=path, account=account, expect_user=expect
            )
        )
    except TwitchLoginError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"logged in as {tokens.login} (user id {tokens.user_id}); token saved to {path} (mode 0600)"
    )
    return EXIT_OK


def cmd_reward(args: argparse.Namespace, settings: Settings) -> int:
    """Create the question reward with this application's client id (so its redemptions
    can be refunded and fulfilled), with the broadcaster's token."""
    import aiohttp

    from streamer.chat.twitch_points import MANAGE_SCOPE, create_reward
    from streamer.secrets import SecretError, load_twitch_tokens

    twitch = settings.twitch
    own_account = bool(twitch.bot_id) and twitch.bot_id == twitch.owner_id
    path = settings.token_file if own_account else settings.broadcaster_token_file
    try:
        tokens = load_twitch_tokens(path, env={})
    except SecretError as exc:
        print(
            f"error: {exc}: run `streamer twitch login --broadcaster` first "
            f"(the reward is created with the broadcaster's token and {MANAGE_SCOPE})",
            file=sys.stderr,
        )
        return EXIT_FAIL

    async def create() -> dict[str, object]:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await create_reward(
                session, twitch, tokens.access_token,
                title=args.title, cost=args.cost, prompt=args.prompt,
            )  # fmt: skip

    try:
        reward = asyncio.run(create())
    except (RuntimeError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(f"error: {exc or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAIL
    print(f"created the reward {reward.get('title')!r} ({reward.get('cost')} points)")
    print("put its id into your config:")
    print("  twitch:")
    print("    channel_points:")
    print(f'      reward_id: "{reward.get("id")}"')
    return EXIT_OK


def add_arguments(
    twitch_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_config: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``login`` and ``reward create`` under ``streamer twitch``."""
    login = twitch_sub.add_parser(
        "login", help="log the bot account in (device code) and store its token (mode 0600)"
    )
    add_config(login)
    login.add_argument(
        "--broadcaster",
        action="store_true",
        help="log the broadcaster in instead (bans, timeouts and channel points use its token)",
    )
    reward = twitch_sub.add_parser("reward", help="the channel points reward for questions")
    reward_sub = reward.add_subparsers(dest="reward_command", required=True, metavar="ACTION")
    create = reward_sub.add_parser(
        "create",
        help="create a custom reward whose redemptions are questions (prints its id)",
    )
    add_config(create)
    create.add_argument("--title", required=True, help="the reward's title (at most 45 characters)")
    create.add_argument("--cost", type=int, required=True, help="its cost in channel points")
    create.add_argument(
        "--prompt",
        default="Your question for the avatar",
        help="what viewers see when they redeem it (at most 200 characters)",
    )
