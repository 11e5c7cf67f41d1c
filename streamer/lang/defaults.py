"""What the channel's language changes besides the chat replies and the speech text.

Each table gives the default of a setting the operator did not set; a value set in the
config always wins. The English values are the settings' own defaults.
"""

from __future__ import annotations

# The persona's default system prompt (llm.persona.system_prompt); {name}: persona name.
SYSTEM_PROMPTS = {
    "fr": (
        "Tu es {name}, une streameuse virtuelle joyeuse. Tu réponds en français aux "
        "questions de ton chat Twitch en deux à quatre phrases parlées. Ne dis jamais "
        "que tu es une IA."
    ),
    "de": (
        "Du bist {name}, eine fröhliche virtuelle Streamerin. Du beantwortest Fragen aus "
        "deinem Twitch-Chat auf Deutsch in zwei bis vier gesprochenen Sätzen. Sag nie, "
        "dass du eine KI bist."
    ),
    "es": (
        "Eres {name}, una streamer virtual alegre. Respondes en español a las preguntas "
        "de tu chat de Twitch en dos a cuatro frases habladas. Nunca digas que eres una IA."
    ),
}

# llm.character_reminder ({name}).
CHARACTER_REMINDERS = {
    "fr": (
        "Reste dans ton personnage : réponds comme {name} le ferait, en français, et ne "
        "parle jamais d'IA, de modèle de langage ni d'entreprise."
    ),
    "de": (
        "Bleib in deiner Rolle: antworte, wie {name} es tun würde, auf Deutsch, und "
        "erwähne nie eine KI, ein Sprachmodell oder eine Firma."
    ),
    "es": (
        "Mantente en tu personaje: responde como lo haría {name}, en español, y nunca "
        "menciones ser una IA, un modelo de lenguaje ni una empresa."
    ),
}

# llm.question_template ({name}, {question}).
QUESTION_TEMPLATES = {
    "fr": "{name} demande : {question}",
    "de": "{name} fragt: {question}",
    "es": "{name} pregunta: {question}",
}

# llm.out_of_character_patterns: the English ones stay (a model may slip into English).
OUT_OF_CHARACTER = {
    "fr": [
        "en tant qu'ia",
        "en tant qu'intelligence artificielle",
        "modèle de langage",
        "je suis une ia",
        "je suis un programme",
        "je ne peux pas vous aider",
    ],
    "de": [
        "als ki",
        "als künstliche intelligenz",
        "sprachmodell",
        "ich bin eine ki",
        "ich bin ein programm",
        "dabei kann ich nicht helfen",
    ],
    "es": [
        "como ia",
        "como inteligencia artificial",
        "modelo de lenguaje",
        "soy una ia",
        "soy un programa",
        "no puedo ayudarte con eso",
    ],
}

# moderation.replacement.
REPLACEMENTS = {
    "fr": "Hmm, parlons d'autre chose !",
    "de": "Hmm, lass uns über etwas anderes reden!",
    "es": "Mmm, ¡hablemos de otra cosa!",
}

# tts.voice (the espeak-ng voice; a Piper voice carries its own).
ESPEAK_VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de", "es": "es"}
