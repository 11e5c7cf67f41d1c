"""channel.language: the chat replies, the splitter's abbreviations and the defaults a
language changes (the speech text of each language is in test_speech_language.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.answer import Answers
from streamer.config import CommandSettings, FilterSettings, PoolSettings, Settings
from streamer.config.errors import ConfigError
from streamer.config.load import load_settings
from streamer.control import Control
from streamer.lang.replies import LANGUAGES, REPLY_KEYS, TEMPLATES, check_template, placeholders
from streamer.messages import ChatMessage, ModAction, ModCommand
from streamer.moderation.blocklist import BlockList
from streamer.pool import QuestionPool
from streamer.reader import ChatReader
from streamer.splitter import SentenceSplitter
from streamer.store import QuestionStore
from streamer.tts import make_tts
from streamer.tts.espeak import EspeakEngine


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_reply_with_its_placeholders(language: str) -> None:
    table = TEMPLATES[language]
    assert set(table) == set(REPLY_KEYS)
    for key, template in table.items():
        assert check_template(key, template) is None, (language, key)
        # Every placeholder the English reply uses is used in every language too: a
        # translation must not lose the user's name or the count.
        assert placeholders(template) == placeholders(TEMPLATES["en"][key]), (language, key)


def test_replies_config_errors_name_the_key(tmp_path: Path) -> None:
    def error(text: str) -> str:
        path = tmp_path / "channel.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        return str(info.value)

    message = error("channel:\n  replies:\n    ack: '@{name} ok'\n")
    assert "channel.replies" in message and "{name}" in message and "{user}" in message
    message = error("channel:\n  replies:\n    hello: 'hi'\n")
    assert "unknown reply 'hello'" in message and "reason_cooldown" in message
    message = error("channel:\n  language: it\n")
    assert "channel.language" in message and "'fr'" in message
    message = error("commands:\n  ack_template: x\nchannel:\n  replies:\n    ack: y\n")
    assert "commands.ack_template and channel.replies.ack" in message
    message = error("commands:\n  queued_template: '{user} {place}'\n")
    assert "commands.queued_template" in message and "{position}" in message


def test_language_defaults_and_what_the_operator_set_wins() -> None:
    fr = Settings.model_validate({"channel": {"language": "fr"}})
    assert fr.llm.persona.system_prompt.startswith("Tu es Ava")
    assert fr.llm.question_template == "{name} demande : {question}"
    assert "en tant qu'ia" in fr.llm.out_of_character_patterns
    assert "as an ai" in fr.llm.out_of_character_patterns  # English slips are still caught
    assert fr.moderation.replacement == "Hmm, parlons d'autre chose !"
    assert fr.tts.voice == "fr-fr"
    assert "français" in fr.llm.character_reminder
    mine = Settings.model_validate(
        {
            "channel": {"language": "de"},
            "llm": {"persona": {"name": "Max", "system_prompt": "Be Max."}},
            "tts": {"voice": "de+m3"},
            "moderation": {"replacement": "Weiter!"},
        }
    )
    assert mine.llm.persona.system_prompt == "Be Max."
    assert mine.tts.voice == "de+m3" and mine.moderation.replacement == "Weiter!"
    assert "sprachmodell" in mine.llm.out_of_character_patterns
    es = Settings.model_validate(
        {"channel": {"language": "es"}, "llm": {"persona": {"name": "Eva"}}}
    )
    assert es.llm.persona.system_prompt.startswith("Eres Eva,")
    en = Settings()
    assert en.llm.persona.system_prompt.startswith("You are Ava")
    assert en.tts.voice == "en-us"


def msg(text: str, user: str = "alice") -> ChatMessage:
    return ChatMessage(user=user, text=text, display_name=user.capitalize())


async def test_a_french_channel_replies_in_french(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"channel": {"language": "fr", "replies": {"reason_cooldown": "doucement, {wait} s"}}}
    )
    said: list[str] = []
    store = QuestionStore(tmp_path / "q.db")
    try:
        pool = QuestionPool(PoolSettings(), store)
        reader = ChatReader(
            settings.commands, FilterSettings(), pool, say=said.append, on_mod=lambda c: None,
            replies=settings.replies,
        )  # fmt: skip
        await reader.handle(msg("!ask quelle heure est-il ?"))
        await reader.handle(msg("!ask et maintenant ?"))  # cooldown: the operator's text
        await reader.handle(msg("!ask hé", "bob"))  # too short
        assert said == [
            "@Alice, ta question est dans la file",
            "@Alice, doucement, 60 s",
            "@Bob, ta question est trop courte (au moins 5 caractères)",
        ]
        control = Control(
            pool, Answers(lambda a: None), said.append, on_resume=lambda: None,
            blocked=BlockList(tmp_path / "blocked.txt"), replies=settings.replies,
        )  # fmt: skip
        said.clear()
        assert control.skip() == "rien à passer"
        await control.on_mod(ModCommand(ModAction.CLEAR, "mod", ""))
        assert said == ["@mod, 1 question en attente effacée"]  # French: 1 is singular
        assert control.replies.count("cleared", 0) == "0 question en attente effacée"
        assert control.replies.count("cleared", 2) == "2 questions en attente effacées"
        assert control.pause(True) == "en pause : aucune nouvelle question avant !resume"
    finally:
        store.close()


def test_english_reader_without_settings_keeps_the_commands_templates(tmp_path: Path) -> None:
    store = QuestionStore(tmp_path / "q.db")
    try:
        commands = CommandSettings(ack_template="{user}: noted")
        reader = ChatReader(
            commands, FilterSettings(), QuestionPool(PoolSettings(), store), say=None,
            on_mod=lambda c: None,
        )  # fmt: skip
        assert reader._replies.template("ack") == "{user}: noted"
        assert reader._replies.template("picked") == "@{user}, answering now"
    finally:
        store.close()


def split(text: str, language: str) -> list[str]:
    splitter = SentenceSplitter(1, 1, 400, language=language)
    out = []
    for ch in text:  # one character at a time: the cut never depends on the chunks
        out += splitter.feed(ch)
    return out + splitter.finish()


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "fr",
            "« Vraiment ? » dit-elle. M. Dupont et Mme Curie sont là, p. ex. ici. Fin !",
            ["« Vraiment ? » dit-elle.", "M. Dupont et Mme Curie sont là, p. ex. ici.", "Fin !"],
        ),
        (
            "de",
            "Am 3. Oktober ist Feiertag. Das war 2024. Dann kam z.B. Dr. Müller usw. und ging.",
            [
                "Am 3. Oktober ist Feiertag.",
                "Das war 2024.",
                "Dann kam z.B. Dr. Müller usw. und ging.",
            ],
        ),
        (
            "es",
            "¿Qué tal? La Sra. García vino con el Dr. Pérez, p.ej. ayer. ¡Hola!",
            ["¿Qué tal?", "La Sra. García vino con el Dr. Pérez, p.ej. ayer.", "¡Hola!"],
        ),
        # English abbreviations do not leak into another language: "Mme" is French.
        ("en", "I met Mme. Then I left.", ["I met Mme.", "Then I left."]),
    ],
)
def test_the_splitter_knows_the_languages_abbreviations(
    language: str, text: str, expected: list[str]
) -> None:
    assert split(text, language) == expected


def test_auto_voice_is_espeak_in_the_channels_language_without_a_piper_voice() -> None:
    fr = Settings.model_validate({"channel": {"language": "fr"}, "tts": {"engine": "auto"}})
    engine = make_tts(fr.tts, fr.channel.language)
    assert isinstance(engine, EspeakEngine)
    engine.load()
    audio = engine.synthesize("Bonjour à tous.")
    assert audio.duration_s > 0.3
    assert "fr-fr" in engine.describe
