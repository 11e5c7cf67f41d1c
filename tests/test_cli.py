"""The command line as an operator uses it."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import yaml

from streamer.cli import main
from streamer.secrets import load_twitch_tokens
from tests.fakes.twitch_server import FakeTwitch

ROOT = Path(__file__).resolve().parent.parent


def test_config_show_prints_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "config",
                "show",
                "--config",
                str(ROOT / "config" / "demo.yaml"),
                "--set",
                "pool.interval_s=7",
            ]
        )
        == 0
    )
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["pool"]["interval_s"] == 7
    assert shown["split"]["min_chars"] == 120  # from demo.yaml
    assert shown["llm"]["timeouts"]["first_token_s"] == 15  # a default


async def test_twitch_login_command_stores_a_private_token(tmp_path: Path) -> None:
    async with FakeTwitch(device_interval_s=0) as twitch:
        twitch.device_flow(pending_polls=1)
        config = tmp_path / "channel.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": "data",
                    "twitch": twitch.settings(bot_id="").model_dump(
                        mode="json", exclude={"token_file"}
                    ),
                }
            ),
            encoding="utf-8",
        )
        # The command runs its own event loop, as it does for an operator.
        code = await asyncio.to_thread(main, ["twitch", "login", "--config", str(config)])
    assert code == 0
    path = tmp_path / "data" / "twitch_tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens = load_twitch_tokens(path, env={})
    assert tokens.user_id == twitch.bot.id


async def test_twitch_login_broadcaster_stores_the_channels_own_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeTwitch(device_interval_s=0) as twitch:
        config = tmp_path / "channel.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": "data",
                    "twitch": twitch.settings().model_dump(mode="json", exclude={"token_file"}),
                }
            ),
            encoding="utf-8",
        )
        args = ["twitch", "login", "--broadcaster", "--config", str(config)]
        twitch.device_flow(pending_polls=0)  # the bot approves: refused, nothing kept
        assert await asyncio.to_thread(main, args) == 1
        path = tmp_path / "data" / "twitch_broadcaster_tokens.json"
        assert not path.exists()
        twitch.device_flow(pending_polls=0, approver=twitch.owner)
        assert await asyncio.to_thread(main, args) == 0
        good = load_twitch_tokens(path, env={})
        # A second login with the wrong account keeps the good token.
        twitch.device_flow(pending_polls=0)
        assert await asyncio.to_thread(main, args) == 1
        tokens = load_twitch_tokens(path, env={})
        assert tokens == good
        # The broadcaster's token creates the question reward, owned by our client id.
        create = ["twitch", "reward", "create", "--title", "Ask the avatar", "--cost", "250"]
        assert await asyncio.to_thread(main, [*create, "--config", str(config)]) == 0
        (reward,) = twitch.points.rewards.values()
        assert (reward["title"], reward["cost"], reward["_client_id"]) == (
            "Ask the avatar", 250, twitch.client_id,
        )  # fmt: skip
        assert reward["is_user_input_required"] is True
        # The same title twice: Twitch's reason, exit 1.
        assert await asyncio.to_thread(main, [*create, "--config", str(config)]) == 1
    assert tokens.user_id == twitch.owner.id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out, err = capsys.readouterr()
    assert f'reward_id: "{reward["id"]}"' in out
    assert "CREATE_CUSTOM_REWARD_DUPLICATE_REWARD" in err


async def test_a_bot_on_the_broadcasters_own_account_gets_one_token(tmp_path: Path) -> None:
    """bot_id == owner_id: one login asks for the scopes of both and fills token_file."""
    async with FakeTwitch(device_interval_s=0) as twitch:
        config = tmp_path / "channel.yaml"
        settings = twitch.settings(bot_id=twitch.owner.id).model_dump(mode="json")
        config.write_text(yaml.safe_dump({"data_dir": "data", "twitch": settings}), "utf-8")
        twitch.device_flow(pending_polls=0, approver=twitch.owner)
        args = ["twitch", "login", "--broadcaster", "--config", str(config)]
        assert await asyncio.to_thread(main, args) == 0
        devices = list(twitch._devices.values())
    assert not (tmp_path / "data" / "twitch_broadcaster_tokens.json").exists()
    tokens = load_twitch_tokens(tmp_path / "data" / "twitch_tokens.json", env={})
    assert tokens.user_id == twitch.owner.id
    assert set(devices[0].scopes) >= {"user:read:chat", "user:write:chat", "channel:moderate"}


def test_twitch_login_needs_a_client_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "channel.yaml"
    config.write_text("twitch:\n  client_id: ''\n", encoding="utf-8")
    assert main(["twitch", "login", "--config", str(config)]) == 2
    assert "twitch.client_id" in capsys.readouterr().err


def test_run_with_twitch_but_no_secret_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWITCH_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("TWITCH_ACCESS_TOKEN", raising=False)
    config = tmp_path / "channel.yaml"
    config.write_text(
        "chat:\n  source: twitch\ntwitch:\n  client_id: abc\n  bot_id: '1'\n  owner_id: '2'\n"
        "log:\n  file: false\n",
        encoding="utf-8",
    )
    assert main(["run", "--no-video", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "streamer twitch login" in err
    assert "Traceback" not in err


def test_run_with_twitch_unreachable_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWITCH_CLIENT_SECRET", "secret-value")
    monkeypatch.setenv("TWITCH_ACCESS_TOKEN", "access-value")
    monkeypatch.setenv("TWITCH_REFRESH_TOKEN", "refresh-value")
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens there
    config = tmp_path / "channel.yaml"
    config.write_text(
        "chat:\n  source: twitch\nlog:\n  file: false\n"
        f"twitch:\n  client_id: abc\n  bot_id: '1'\n  owner_id: '2'\n"
        f"  api_url: {closed}helix/\n  auth_url: {closed}\n  eventsub_url: ws://127.0.0.1:9/ws\n",
        encoding="utf-8",
    )
    from streamer.chat.twitch import set_twitchio_endpoints, twitchio_endpoints

    endpoints = twitchio_endpoints()
    try:
        assert main(["run", "--no-video", "--config", str(config)]) == 1
    finally:
        set_twitchio_endpoints(*endpoints)
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert "secret-value" not in err and "access-value" not in err
