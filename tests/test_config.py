"""Settings: loading, overrides, and errors that name the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from streamer.cli import main
from streamer.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channel.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_is_valid() -> None:
    settings = load_settings(ROOT / "config" / "demo.yaml")
    assert settings.chat.source == "replay"
    assert settings.llm.provider == "offline"
    assert settings.chat.replay_file is not None and settings.chat.replay_file.is_file()
    # Relative paths are relative to the config file's folder.
    assert settings.data_dir.resolve() == (ROOT / "data" / "demo").resolve()


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.split.min_chars == 200
    assert settings.split.first_min_chars == 40
    assert settings.llm.timeouts.connect_s == 5
    assert settings.llm.timeouts.first_token_s == 15
    assert settings.llm.timeouts.total_s == 60


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        key = prefix + name
        keys.add(key)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _keys(ann, key + ".")
    return keys


def _yaml_keys(data: Any, prefix: str = "") -> set[str]:
    keys = set()
    if isinstance(data, dict):
        for name, value in data.items():
            keys.add(prefix + name)
            keys |= _yaml_keys(value, prefix + name + ".")
    return keys


def test_example_documents_every_key() -> None:
    example = yaml.safe_load((ROOT / "config" / "channel.example.yaml").read_text())
    documented = _yaml_keys(example)
    assert _keys(Settings) <= documented, sorted(_keys(Settings) - documented)
    # ... and nothing that the model does not know.
    unknown = {k for k in documented - _keys(Settings) if not k.startswith("llm.persona.examples")}
    assert not unknown, unknown
    # With the ids filled in, the example is a valid config.
    example["twitch"].update(client_id="abc", bot_id="1", owner_id="2")
    Settings.model_validate(example)


def test_override_sets_nested_key_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "pool:\n  interval_s: 30\n")
    settings = load_settings(
        path, ["pool.interval_s=5", "commands.ask_aliases=[a, b]", "llm.persona.name=Zed"]
    )
    assert settings.pool.interval_s == 5
    assert settings.commands.ask_aliases == ["a", "b"]
    assert settings.llm.persona.name == "Zed"


BAD_CASES = [
    ("chat:\n  source: twich\n", [], "chat.source", "must be one of"),
    ("pool:\n  interval_s: -1\n", [], "pool.interval_s", "> 0"),
    ("pool:\n  intervall_s: 5\n", [], "pool.intervall_s", "unknown key"),
    ("pool:\n  policy: lottery\n", [], "pool.policy", "random"),
    ("llm:\n  api_key: sk-123456\n", [], "llm.api_key", "api_key_env"),
    ("twitch:\n  client_secret: abc\n", [], "twitch.client_secret", "client_secret_env"),
    ("twitch:\n  access_token: abc\n", [], "twitch.access_token", "twitch login"),
    ("chat:\n  source: replay\n", [], "chat.replay_file", "required"),
    ("chat:\n  source: replay\n  replay_file: nope.jsonl\n", [], "chat.replay_file", "not found"),
    ("chat:\n  source: twitch\n", [], "twitch.client_id", "must be set"),
    ("twitch:\n  bot_id: mybot\n", [], "twitch.bot_id", "number"),
    ("filters:\n  min_chars: 50\n  max_chars: 20\n", [], "filters", "min_chars"),
    ("split:\n  min_chars: abc\n", [], "split.min_chars", "integer"),
    ("commands:\n  ask: two words\n", [], "commands.ask", "one word"),
    ("- a\n- b\n", [], "(top level)", "mapping"),
    ("pool: [\n", [], "(file)", "not valid YAML"),
    ("", ["pool.interval_s=fast"], "pool.interval_s", "number"),
    ("", ["pool"], "pool", "dotted.key=VALUE"),
    ("pool: 5\n", ["pool.interval_s=5"], "pool", "not a section"),
    ("", ["llm.timeouts.first_token_s=0"], "llm.timeouts.first_token_s", "> 0"),
    ("split:\n  first_min_chars: 500\n", [], "split", "first_min_chars"),
    ("commands:\n  reply_on: [cooldwon]\n", [], "commands.reply_on.0", "must be one of"),
    ("", ["output.fps=24", "output.sample_rate=44100"], "output", "samples per frame"),
    ("output:\n  rtmp_url: http://x\n", [], "output.rtmp_url", "rtmp://"),
    ("output:\n  width: 641\n", [], "output", "even"),
    ("avatar:\n  source: nope.png\n", [], "avatar.source", "not found"),
]


@pytest.mark.parametrize(("text", "overrides", "key", "fix"), BAD_CASES)
def test_bad_config_names_key_and_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    overrides: list[str],
    key: str,
    fix: str,
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides)
    message = info.value.render()
    assert key in message and fix in message, message

    args = ["config", "check", "--config", str(path)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert key in err and fix in err
    assert "Traceback" not in err

    run_args = ["run", "--config", str(path), *args[4:]]
    assert main(run_args) == 2


def test_secret_value_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "llm:\n  api_key: sk-very-secret-value\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "llm.api_key" in err
    # The key is named, the value is not echoed.
    assert "sk-very-secret-value" not in err


def test_secret_in_set_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "")
    assert (
        main(["config", "check", "--config", str(path), "--set", "llm.api_key=sk-SECRET-1234"]) == 2
    )
    err = capsys.readouterr().err
    assert "llm.api_key" in err and "sk-SECRET-1234" not in err


def test_numeric_twitch_ids_are_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "twitch:\n  bot_id: 123\n")
    settings = load_settings(path, ["twitch.owner_id=456"])
    assert (settings.twitch.bot_id, settings.twitch.owner_id) == ("123", "456")


def test_persona_examples_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "examples.yaml").write_text(
        "- user: hi\n  assistant: hello!\n- user: who are you?\n  assistant: Ava.\n",
        encoding="utf-8",
    )
    path = write(
        tmp_path,
        "llm:\n  persona:\n    examples: [{user: a, assistant: b}]\n"
        "    examples_file: examples.yaml\n",
    )
    examples = load_settings(path).llm.persona.examples
    assert [(e.user, e.assistant) for e in examples] == [
        ("a", "b"),
        ("hi", "hello!"),
        ("who are you?", "Ava."),
    ]


def test_bad_persona_examples_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "examples.yaml").write_text("- user: hi\n", encoding="utf-8")
    path = write(tmp_path, "llm:\n  persona:\n    examples_file: examples.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "llm.persona.examples_file.0.assistant" in info.value.render()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "--config" in capsys.readouterr().err


def test_config_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(ROOT / "config" / "demo.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_run_refuses_bad_config_in_a_real_process(tmp_path: Path) -> None:
    path = write(tmp_path, "pool:\n  policy: lottery\n")
    proc = subprocess.run(
        [sys.executable, "-m", "streamer", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "pool.policy" in proc.stderr
    assert "Traceback" not in proc.stderr
