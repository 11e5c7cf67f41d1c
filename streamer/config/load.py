"""Reading a config: YAML, ``--set`` overrides, paths, files, examples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from streamer.config.errors import ConfigError, ConfigIssue, _issues_from
from streamer.config.llm import PersonaExample
from streamer.config.settings import Settings


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"pool.interval_s=5"`` -> ``(["pool", "interval_s"], 5)``; VALUE read as YAML."""
    if "=" not in item:
        raise ConfigError(
            "--set", [ConfigIssue(item, item, "expected dotted.key=VALUE, e.g. pool.interval_s=5")]
        )
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError("--set", [ConfigIssue(key, item, "empty part in the dotted key")])
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError("--set", [ConfigIssue(key, text, f"not valid YAML: {exc}")]) from None
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    "--set", [ConfigIssue(where, child, "is not a section; cannot set a key in it")]
                )
            node = child
        node[parts[-1]] = value
    return raw


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Make relative paths relative to the config file's folder."""

    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else (base / p)

    return settings.model_copy(
        update={
            "data_dir": fix(settings.data_dir),
            "chat": settings.chat.model_copy(
                update={"replay_file": fix(settings.chat.replay_file)}
            ),
            "filters": settings.filters.model_copy(
                update={"banned_words_file": fix(settings.filters.banned_words_file)}
            ),
            "llm": settings.llm.model_copy(
                update={
                    "persona": settings.llm.persona.model_copy(
                        update={
                            "system_prompt_file": fix(settings.llm.persona.system_prompt_file),
                            "examples_file": fix(settings.llm.persona.examples_file),
                        }
                    )
                }
            ),
            "twitch": settings.twitch.model_copy(
                update={
                    "token_file": fix(settings.twitch.token_file),
                    "broadcaster_token_file": fix(settings.twitch.broadcaster_token_file),
                }
            ),
            "moderation": settings.moderation.model_copy(
                update={
                    "banned_words_file": fix(settings.moderation.banned_words_file),
                    "blocked_users_file": fix(settings.moderation.blocked_users_file),
                }
            ),
            "lipsync": settings.lipsync.model_copy(
                update={"checkpoint": fix(settings.lipsync.checkpoint)}
            ),
            "tts": settings.tts.model_copy(
                update={
                    "model_path": fix(settings.tts.model_path),
                    "config_path": fix(settings.tts.config_path),
                }
            ),
            "avatar": settings.avatar.model_copy(update={"source": fix(settings.avatar.source)}),
            "status": settings.status.model_copy(
                update={"overlay_css": fix(settings.status.overlay_css)}
            ),
            "output": settings.output.model_copy(
                update={
                    "record_file": fix(settings.output.record_file),
                    "answers_dir": fix(settings.output.answers_dir),
                }
            ),
        }
    )


def _check_files(settings: Settings) -> list[ConfigIssue]:
    issues = []
    checks = [
        (
            "chat.replay_file",
            settings.chat.replay_file if settings.chat.source == "replay" else None,
        ),
        ("filters.banned_words_file", settings.filters.banned_words_file),
        ("moderation.banned_words_file", settings.moderation.banned_words_file),
        ("llm.persona.system_prompt_file", settings.llm.persona.system_prompt_file),
        ("llm.persona.examples_file", settings.llm.persona.examples_file),
        ("avatar.source", settings.avatar.source),
        ("status.overlay_css", settings.status.overlay_css),
        (
            "lipsync.checkpoint",
            settings.lipsync.checkpoint if settings.lipsync.engine == "wav2lip" else None,
        ),
        (
            "tts.model_path",
            settings.tts.model_path if settings.tts.engine in ("vits", "piper") else None,
        ),
        (
            "tts.config_path",
            settings.tts.resolved_config_path if settings.tts.engine in ("vits", "piper") else None,
        ),
    ]
    hints = {
        "tts.model_path": "file not found: fix the path (a VITS best_model.pth or "
        "checkpoint_N.pth, or a Piper voice's .onnx), or use tts.engine: espeak",
        "tts.config_path": "file not found: put the config written with the voice there "
        "(config.json for VITS, NAME.onnx.json for Piper), or set tts.config_path to it",
        "lipsync.checkpoint": "file not found: fix the path, or use lipsync.engine: puppet",
    }
    for key, path in checks:
        if path is not None and not path.is_file():
            fix = hints.get(key, "file not found: fix the path or remove the key")
            issues.append(ConfigIssue(key, str(path), fix))
    return issues


def _with_file_examples(settings: Settings) -> Settings:
    """Append the examples of ``llm.persona.examples_file`` (validated like the config)."""
    persona = settings.llm.persona
    path = persona.examples_file
    if path is None:
        return settings
    key = "llm.persona.examples_file"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            str(path), [ConfigIssue(key, str(path), f"cannot read it: {exc}")]
        ) from None
    if not isinstance(data, list):
        raise ConfigError(
            str(path), [ConfigIssue(key, str(path), "must be a YAML list of {user, assistant}")]
        )
    try:
        examples = TypeAdapter(list[PersonaExample]).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(str(path), _issues_from(exc, {}, prefix=key)) from None
    persona = persona.model_copy(update={"examples": [*persona.examples, *examples]})
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"persona": persona})})


def settings_from_dict(
    raw: Mapping[str, Any], *, source: str = "<dict>", base: Path | None = None
) -> Settings:
    """Validate a mapping (already read from YAML); raise ConfigError naming bad keys."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, _issues_from(exc, raw)) from None
    settings = _resolve_paths(settings, base or Path.cwd())
    issues = _check_files(settings)
    if issues:
        raise ConfigError(source, issues)
    return _with_file_examples(settings)


def load_settings(path: Path | None, overrides: Iterable[str] = ()) -> Settings:
    """Read YAML at ``path`` (or only defaults), apply ``--set`` overrides, validate."""
    raw: Any = {}
    source = str(path) if path else "<defaults>"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                source, [ConfigIssue("--config", str(path), exc.strerror or str(exc))]
            ) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                source, [ConfigIssue("(file)", str(path), f"not valid YAML: {exc}")]
            ) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                source, [ConfigIssue("(top level)", raw, "must be a mapping of sections")]
            )
    overrides = list(overrides)
    raw = apply_overrides(raw, overrides)
    if overrides:
        # Keys only: a value might be a secret typed where it does not belong.
        source += " with --set " + ", ".join(item.partition("=")[0] for item in overrides)
    base = path.parent.resolve() if path else Path.cwd()
    return settings_from_dict(raw, source=source, base=base)
