"""Every line the bot writes in chat, as templates in the channel's language.

``Replies(language, overrides)`` formats them: the built-in table of ``language``
(en, fr, de, es), with any template the operator set in ``channel.replies`` in its
place. Each template names its placeholders (``{user}``, ``{position}``...);
:data:`REPLY_KEYS` lists them, and the config refuses a template that uses another one
or a key that does not exist. An empty template means "say nothing" for the four
question replies (``ack``, ``queued``, ``picked``, ``reject``).

Counts come in two forms, ``*_one`` and ``*_many``: the language's rule picks one (in
French 0 and 1 take the singular, in English, German and Spanish only 1 does).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping

log = logging.getLogger(__name__)

Language = str  # one of LANGUAGES (the config checks it)
LANGUAGES = ("en", "fr", "de", "es")

# key -> the placeholders its template may use.
REPLY_KEYS: dict[str, frozenset[str]] = {
    key: frozenset(names.split())
    for key, names in {
        # Replies to a question's asker(s).
        "ack": "user",
        "queued": "user position",
        "picked": "user",
        "reject": "user reason",
        # {reason} of `reject`, one a rejection reason.
        "reason_empty": "command",
        "reason_too_short": "min_chars",
        "reason_too_long": "max_chars",
        "reason_link": "",
        "reason_banned_word": "",
        "reason_cooldown": "wait",
        "reason_pool_full": "",
        "reason_not_moderator": "",
        "reason_other": "",
        "points_refunded": "",
        # Replies to a moderator's command: `mod` wraps each answer.
        "mod": "user reply",
        "skipped": "",
        "nothing_to_skip": "",
        "cleared_one": "count",
        "cleared_many": "count",
        "paused": "command",
        "resumed": "",
        "block_usage": "command",
        "unblocked": "login",
        "not_blocked": "login",
        "blocked": "login summary",
        "already_blocked": "login summary",
        "answers_one": "count",
        "answers_many": "count",
        "dropped_summary": "answers dropped",
        "kept_summary": "answers dropped kept",
    }.items()
}

_EN = {
    "ack": "@{user}, your question is in the queue",
    "queued": "@{user}, your question is number {position} in line",
    "picked": "@{user}, answering now",
    "reject": "@{user}, {reason}",
    "reason_empty": "write your question after {command}",
    "reason_too_short": "your question is too short (at least {min_chars} characters)",
    "reason_too_long": "your question is too long (at most {max_chars} characters)",
    "reason_link": "links are not allowed in questions",
    "reason_banned_word": "your question contains a word that is not allowed",
    "reason_cooldown": "please wait {wait} s before asking again",
    "reason_pool_full": "too many questions right now, please try again later",
    "reason_not_moderator": "that command is for moderators",
    "reason_other": "your question was not accepted",
    "points_refunded": "(your points are refunded)",
    "mod": "@{user}, {reply}",
    "skipped": "skipped the current answer",
    "nothing_to_skip": "nothing to skip",
    "cleared_one": "cleared {count} waiting question",
    "cleared_many": "cleared {count} waiting questions",
    "paused": "paused: no new question is picked until {command}",
    "resumed": "resumed",
    "block_usage": "usage: {command} <login> (letters, digits and _ only)",
    "unblocked": "unblocked {login}",
    "not_blocked": "{login} was not blocked",
    "blocked": "blocked {login}; {summary}",
    "already_blocked": "already blocked: {login}; {summary}",
    "answers_one": "{count} answer",
    "answers_many": "{count} answers",
    "dropped_summary": "{answers} pulled, {dropped} waiting dropped",
    "kept_summary": (
        "{answers} pulled, {dropped} waiting dropped ({kept} kept for the others who "
        "asked them too)"
    ),
}

_FR = {
    "ack": "@{user}, ta question est dans la file",
    "queued": "@{user}, ta question est la numéro {position} de la file",
    "picked": "@{user}, je réponds maintenant",
    "reject": "@{user}, {reason}",
    "reason_empty": "écris ta question après {command}",
    "reason_too_short": "ta question est trop courte (au moins {min_chars} caractères)",
    "reason_too_long": "ta question est trop longue (au plus {max_chars} caractères)",
    "reason_link": "les liens ne sont pas permis dans les questions",
    "reason_banned_word": "ta question contient un mot interdit",
    "reason_cooldown": "attends {wait} s avant de reposer une question",
    "reason_pool_full": "trop de questions en ce moment, réessaie plus tard",
    "reason_not_moderator": "cette commande est réservée aux modérateurs",
    "reason_other": "ta question n'a pas été acceptée",
    "points_refunded": "(tes points sont remboursés)",
    "mod": "@{user}, {reply}",
    "skipped": "réponse en cours passée",
    "nothing_to_skip": "rien à passer",
    "cleared_one": "{count} question en attente effacée",
    "cleared_many": "{count} questions en attente effacées",
    "paused": "en pause : aucune nouvelle question avant {command}",
    "resumed": "reprise",
    "block_usage": "usage : {command} <login> (lettres, chiffres et _ seulement)",
    "unblocked": "{login} débloqué",
    "not_blocked": "{login} n'était pas bloqué",
    "blocked": "{login} bloqué ; {summary}",
    "already_blocked": "{login} déjà bloqué ; {summary}",
    "answers_one": "{count} réponse",
    "answers_many": "{count} réponses",
    "dropped_summary": "{answers} retirée(s), {dropped} en attente supprimée(s)",
    "kept_summary": (
        "{answers} retirée(s), {dropped} en attente supprimée(s) ({kept} gardée(s) pour "
        "les autres qui l'ont posée aussi)"
    ),
}

_DE = {
    "ack": "@{user}, deine Frage ist in der Warteschlange",
    "queued": "@{user}, deine Frage ist Nummer {position} in der Reihe",
    "picked": "@{user}, ich antworte jetzt",
    "reject": "@{user}, {reason}",
    "reason_empty": "schreib deine Frage nach {command}",
    "reason_too_short": "deine Frage ist zu kurz (mindestens {min_chars} Zeichen)",
    "reason_too_long": "deine Frage ist zu lang (höchstens {max_chars} Zeichen)",
    "reason_link": "Links sind in Fragen nicht erlaubt",
    "reason_banned_word": "deine Frage enthält ein nicht erlaubtes Wort",
    "reason_cooldown": "bitte warte {wait} s, bevor du wieder fragst",
    "reason_pool_full": "gerade zu viele Fragen, bitte versuch es später noch einmal",
    "reason_not_moderator": "dieser Befehl ist nur für Moderatoren",
    "reason_other": "deine Frage wurde nicht angenommen",
    "points_refunded": "(deine Punkte werden erstattet)",
    "mod": "@{user}, {reply}",
    "skipped": "aktuelle Antwort übersprungen",
    "nothing_to_skip": "nichts zu überspringen",
    "cleared_one": "{count} wartende Frage gelöscht",
    "cleared_many": "{count} wartende Fragen gelöscht",
    "paused": "pausiert: keine neue Frage bis {command}",
    "resumed": "fortgesetzt",
    "block_usage": "Verwendung: {command} <Login> (nur Buchstaben, Ziffern und _)",
    "unblocked": "{login} entsperrt",
    "not_blocked": "{login} war nicht gesperrt",
    "blocked": "{login} gesperrt; {summary}",
    "already_blocked": "{login} war schon gesperrt; {summary}",
    "answers_one": "{count} Antwort",
    "answers_many": "{count} Antworten",
    "dropped_summary": "{answers} abgebrochen, {dropped} wartende entfernt",
    "kept_summary": (
        "{answers} abgebrochen, {dropped} wartende entfernt ({kept} für die anderen "
        "Fragenden behalten)"
    ),
}

_ES = {
    "ack": "@{user}, tu pregunta está en la cola",
    "queued": "@{user}, tu pregunta es la número {position} de la cola",
    "picked": "@{user}, respondo ahora",
    "reject": "@{user}, {reason}",
    "reason_empty": "escribe tu pregunta después de {command}",
    "reason_too_short": "tu pregunta es demasiado corta (al menos {min_chars} caracteres)",
    "reason_too_long": "tu pregunta es demasiado larga (como mucho {max_chars} caracteres)",
    "reason_link": "no se permiten enlaces en las preguntas",
    "reason_banned_word": "tu pregunta contiene una palabra no permitida",
    "reason_cooldown": "espera {wait} s antes de volver a preguntar",
    "reason_pool_full": "demasiadas preguntas ahora mismo, inténtalo más tarde",
    "reason_not_moderator": "ese comando es solo para moderadores",
    "reason_other": "tu pregunta no fue aceptada",
    "points_refunded": "(se te devuelven los puntos)",
    "mod": "@{user}, {reply}",
    "skipped": "respuesta actual saltada",
    "nothing_to_skip": "nada que saltar",
    "cleared_one": "{count} pregunta en espera borrada",
    "cleared_many": "{count} preguntas en espera borradas",
    "paused": "en pausa: ninguna pregunta nueva hasta {command}",
    "resumed": "reanudado",
    "block_usage": "uso: {command} <login> (solo letras, dígitos y _)",
    "unblocked": "{login} desbloqueado",
    "not_blocked": "{login} no estaba bloqueado",
    "blocked": "{login} bloqueado; {summary}",
    "already_blocked": "{login} ya estaba bloqueado; {summary}",
    "answers_one": "{count} respuesta",
    "answers_many": "{count} respuestas",
    "dropped_summary": "{answers} retirada(s), {dropped} en espera eliminada(s)",
    "kept_summary": (
        "{answers} retirada(s), {dropped} en espera eliminada(s) ({kept} guardada(s) "
        "para los demás que también la preguntaron)"
    ),
}

# Rejection reasons whose reply has no placeholder.
_PLAIN_REASONS = frozenset({"link", "banned_word", "pool_full", "not_moderator"})

TEMPLATES: dict[str, dict[str, str]] = {"en": _EN, "fr": _FR, "de": _DE, "es": _ES}


def placeholders(template: str) -> set[str]:
    """The names a ``str.format`` template uses (ValueError for a broken template)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_template(key: str, template: str) -> str | None:
    """Why ``template`` cannot be the reply ``key`` (None: it can)."""
    allowed = REPLY_KEYS.get(key)
    if allowed is None:
        return f"unknown reply {key!r}; the replies are: {', '.join(REPLY_KEYS)}"
    try:
        used = placeholders(template)
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    unknown = sorted(used - allowed)
    if unknown:
        known = ", ".join("{" + n + "}" for n in sorted(allowed)) or "none"
        return f"uses {', '.join('{' + n + '}' for n in unknown)}; its placeholders are: {known}"
    return None


class Replies:
    """The chat replies of one channel: its language's table, the operator's overrides."""

    def __init__(self, language: Language = "en", overrides: Mapping[str, str] | None = None):
        self.language = language
        self._templates = dict(TEMPLATES.get(language, _EN))
        self._templates.update(overrides or {})

    def template(self, key: str) -> str:
        """The template ``key`` as set (maybe "": say nothing)."""
        return self._templates[key]

    def text(self, key: str, **values: object) -> str:
        """Template ``key`` filled in; a template that fails to format gives the values
        joined (logged), never an exception."""
        template = self._templates[key]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            log.warning("chat reply %r (%r) is broken (%s): plain text sent", key, template, exc)
            return " ".join(str(v) for v in values.values() if v != "")

    def reason(self, reason: str, command: str, min_chars: int, max_chars: int, wait: int) -> str:
        """Why a question was refused (the {reason} of ``reject``)."""
        if reason == "empty":
            return self.text("reason_empty", command=command)
        if reason == "too_short":
            return self.text("reason_too_short", min_chars=min_chars)
        if reason == "too_long":
            return self.text("reason_too_long", max_chars=max_chars)
        if reason == "cooldown":
            return self.text("reason_cooldown", wait=wait)
        if reason in _PLAIN_REASONS:
            return self.text(f"reason_{reason}")
        return self.text("reason_other")

    def count(self, key: str, count: int, **values: object) -> str:
        """``key_one`` or ``key_many`` by the language's plural rule."""
        one = count in (0, 1) if self.language == "fr" else count == 1
        return self.text(f"{key}_{'one' if one else 'many'}", count=count, **values)
