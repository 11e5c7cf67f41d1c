"""ChatReader: chat lines in, questions for the pool and moderator commands out.

One ``ChatMessage`` goes through: ``sanitize`` → command parse (``!ask``, its aliases,
the moderator commands) → checks (empty, too short, too long, link, banned word, per-user
cooldown) → ``pool.add`` → a chat reply. Every message gets a ``Verdict``; ``handle``
never raises on any message content.

Names are cleaned here, once: the ``Question`` handed to the pool carries a sanitized
display name (at most 25 characters) and a login reduced to letters, digits and ``_``
(at most 25, lower case, "viewer" if nothing is left), so every later use (replies, the
LLM prompt, logs) gets clean names.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from streamer.config import CommandSettings, FilterSettings
from streamer.filters import BannedWords, find_link, sanitize
from streamer.lang.replies import Replies
from streamer.messages import (
    ChatMessage,
    ModAction,
    ModCommand,
    Question,
    Redemption,
    Role,
    new_id,
)
from streamer.pool import AddStatus, QuestionPool
from streamer.reader_names import (
    MAX_REPLY_CHARS,
    askers_text,
    clean_display_name,
    clean_login,
    shorten,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ChatReader",
    "Outcome",
    "Reason",
    "Verdict",
]

Outcome = Literal["accepted", "merged", "rejected", "command", "ignored"]
Reason = Literal[
    "ok",
    "not_a_command",
    "too_short",
    "too_long",
    "banned_word",
    "link",
    "cooldown",
    "duplicate",
    "pool_full",
    "not_moderator",
    "unknown_command",
    "empty",
    "blocked",
    "internal_error",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happened to one chat message.

    ``reason`` is a short machine-readable code; ``detail`` is for humans (operator logs,
    status), never contains the banned word, and shows no raw message text.
    """

    outcome: Outcome
    reason: Reason
    detail: str = ""
    question: Question | None = None


_MIN_PRUNE_AT = 1024


class ChatReader:
    """Parses ``!ask`` and moderator commands, filters, rate-limits, feeds the pool."""

    def __init__(
        self,
        commands: CommandSettings,
        filters: FilterSettings,
        pool: QuestionPool,
        *,
        say: Callable[[str], None] | None,
        on_mod: Callable[[ModCommand], Awaitable[None] | None],
        banned: BannedWords | None = None,
        clock: Callable[[], float] = time.monotonic,
        blocked: Callable[[str], bool] = lambda user: False,
        redemption_role: Role = Role.VIP,
        replies: Replies | None = None,
    ) -> None:
        self._commands = commands
        # The chat replies (channel.language, channel.replies, commands.*_template);
        # without them (tests, tools): English with the commands' own templates.
        self._replies = replies or Replies("en", commands.reply_templates())
        self._redemption_role = redemption_role  # the priority of channel points questions
        self._blocked = blocked  # the local block list (moderation.blocked_users_file)
        self._filters = filters
        self._pool = pool
        self._say = say
        self._on_mod = on_mod
        self._banned = banned if banned is not None else BannedWords(filters.banned_words)
        self._clock = clock
        prefix = commands.prefix.casefold()
        self._prefix = prefix
        self._ask_names = frozenset(
            [commands.ask.casefold(), *(a.casefold() for a in commands.ask_aliases if a)]
        )
        self._mod_names: dict[str, ModAction] = {
            commands.skip.casefold(): ModAction.SKIP,
            commands.clear.casefold(): ModAction.CLEAR,
            commands.pause.casefold(): ModAction.PAUSE,
            commands.resume.casefold(): ModAction.RESUME,
            commands.block.casefold(): ModAction.BLOCK,
            commands.unblock.casefold(): ModAction.UNBLOCK,
        }
        self._reply_on = frozenset(commands.reply_on)
        # Long enough to tell "too long" from "fits", short enough to stay cheap.
        self._max_scan = max(4000, 2 * filters.max_chars + 64)
        self._last_accepted: dict[str, float] = {}  # user → clock() of last accepted ask
        self._prune_at = _MIN_PRUNE_AT
        self._stats: Counter[str] = Counter()
        # Called with each message's user and verdict (the console, the metrics).
        self.verdict_listeners: list[Callable[[str, Verdict], None]] = []

    # ------------------------------------------------------------------ public

    @property
    def stats(self) -> dict[str, int]:
        """Counts: ``total``, ``outcome.<outcome>`` and ``reason.<reason>``."""
        return dict(self._stats)

    @property
    def banned(self) -> BannedWords:
        return self._banned

    @property
    def cooldown_entries(self) -> int:
        """Users whose last accepted question is still remembered (bounded)."""
        return len(self._last_accepted)

    async def run(self, messages: AsyncIterator[ChatMessage]) -> None:
        """Handle every message until the iterator ends."""
        async for msg in messages:
            await self.handle(msg)

    async def handle(self, msg: ChatMessage) -> Verdict:
        """Decide about one message. Never raises on message content."""
        try:
            verdict = await self._handle(msg)
        except Exception:
            logger.exception(
                "internal error on a message from %s: %s",
                shorten(str(getattr(msg, "user", "?")), 40),
                shorten(str(getattr(msg, "text", ""))),
            )
            verdict = Verdict("rejected", "internal_error", "internal error; see the log")
        self._count(verdict, msg.user)
        return verdict

    async def redeem(self, redemption: Redemption) -> Verdict:
        """Channel points spent on a question: the checks of ``!ask`` but the cooldown
        (the reward has its own), at ``redemption_role``'s priority. A refused one is
        refunded (recorded for the settler). Never raises on its content."""
        msg = ChatMessage(
            user=redemption.user, text=redemption.text, display_name=redemption.display_name,
            user_id=redemption.user_id, message_id="", received_at=redemption.received_at,
        )  # fmt: skip
        try:
            if self._pool.redemption_known(redemption.redemption_id):
                verdict = Verdict("ignored", "duplicate", "redemption handled before")
            else:
                text = sanitize(redemption.text, self._max_scan)
                verdict = await self._ask(msg, text, redemption)
                if verdict.outcome == "rejected" and verdict.reason != "pool_full":
                    self._pool.refuse_redemption(redemption, f"{verdict.reason}: {verdict.detail}")
        except Exception:
            logger.exception("internal error on a redemption from %s", shorten(redemption.user))
            verdict = Verdict("rejected", "internal_error", "internal error; see the log")
            try:
                self._pool.refuse_redemption(redemption, "internal error")
            except Exception:
                logger.exception("could not record the refund of a redemption")
        self._count(verdict, redemption.user)
        return verdict

    def queued(self, question: Question, position: int) -> None:
        """Tell the asker the question was picked and where it is in line (1 = next)."""
        template = self._replies.template("queued")
        if not template:
            return
        try:
            text = template.format(user="{user}", position=position)
        except Exception as exc:
            logger.warning("chat reply template %r is broken (%s): plain text sent", template, exc)
            text = "@{user}"
        self._send(text, askers_text(question), "")

    def answering(self, question: Question) -> None:
        """Tell everyone who asked the question (duplicates merged) that it is answered now."""
        self._send(self._replies.template("picked"), askers_text(question), "")

    # ------------------------------------------------------------------ steps

    async def _handle(self, msg: ChatMessage) -> Verdict:
        text = sanitize(msg.text, self._max_scan)
        if not text:
            logger.debug("empty chat line from %s", shorten(msg.user, 40))
            return Verdict("ignored", "empty", "empty message")
        if text[: len(self._prefix)].casefold() != self._prefix:
            logger.debug("chat from %s: %s", shorten(msg.user, 40), shorten(text))
            return Verdict("ignored", "not_a_command", "not a command")
        name, _, rest = text[len(self._prefix) :].partition(" ")
        name = name.casefold()
        if name in self._ask_names:
            return await self._ask(msg, rest.strip())
        action = self._mod_names.get(name)
        if action is not None:
            return await self._mod(msg, action, name, rest.strip())
        logger.debug("unknown command from %s: %s", shorten(msg.user, 40), shorten(text))
        return Verdict("ignored", "unknown_command", "unknown command")

    async def _mod(self, msg: ChatMessage, action: ModAction, name: str, rest: str) -> Verdict:
        if not msg.role.is_moderator:
            command = self._commands.prefix + name
            return self._reject(msg, "not_moderator", f"{command} is for moderators")
        logger.info("moderator %s: %s", shorten(msg.user, 40), action.value)
        result = self._on_mod(ModCommand(action, msg.user, rest.split(" ", 1)[0][:64]))
        if inspect.isawaitable(result):
            await result
        return Verdict("command", "ok", action.value)

    async def _ask(
        self, msg: ChatMessage, question: str, redemption: Redemption | None = None
    ) -> Verdict:
        f = self._filters
        paid = redemption is not None
        if self._blocked(clean_login(msg.user)):
            return self._reject(
                msg, "blocked", "the user is on the block list", redemption=redemption
            )
        if not question:
            what = "no text with the redemption" if paid else "no question after the command"
            return self._reject(msg, "empty", what, redemption=redemption)
        if len(question) < f.min_chars:
            return self._reject(
                msg, "too_short", f"{len(question)} characters, minimum {f.min_chars}", question,
                redemption=redemption,
            )  # fmt: skip
        if len(question) > f.max_chars:
            size = f"{len(question)}+" if len(msg.text) > self._max_scan else str(len(question))
            return self._reject(
                msg, "too_long", f"{size} characters, maximum {f.max_chars}", question,
                redemption=redemption,
            )  # fmt: skip
        if not f.allow_links:
            link = find_link(question)
            if link is not None:
                return self._reject(msg, "link", "contains a link", question, redemption=redemption)
        word = self._banned.find(question)
        if word is not None:
            logger.debug("banned word matched: %r", word)
            return self._reject(
                msg, "banned_word", "contains a banned word", question, redemption=redemption
            )
        key = msg.user.casefold()
        now = self._clock()
        exempt = paid or msg.role.is_moderator or f.user_cooldown_s <= 0
        if not exempt:
            last = self._last_accepted.get(key)
            if last is not None and now - last < f.user_cooldown_s:
                wait = max(1, round(f.user_cooldown_s - (now - last)))
                return self._reject(msg, "cooldown", f"wait {wait} s", question, wait=wait)
        login = clean_login(msg.user)
        asked = Question(
            id=new_id(),
            user=login,
            display_name=clean_display_name(msg.display_name, msg.user),
            text=question,
            role=min(msg.role, self._redemption_role) if paid else msg.role,
            bits=max(0, int(msg.bits)),
            asked_at=msg.received_at,
            askers=(login,),
            message_id=str(msg.message_id)[:128],
        )
        result = self._pool.add(asked, redemption=redemption)
        if result.status is AddStatus.POOL_FULL:
            return self._reject(
                msg, "pool_full", "the question pool is full", question, redemption=redemption
            )
        if not exempt:
            self._remember(key, now)
        stored = result.question
        self._send(self._replies.template("ack"), asked.display_name, "")
        if result.status is AddStatus.MERGED:
            logger.info(
                "merged question from %s into %s (%d askers): %s",
                shorten(msg.user, 40),
                stored.id,
                len(stored.askers),
                shorten(question),
            )
            return Verdict("merged", "duplicate", "merged with a question in the pool", stored)
        logger.info(
            "accepted question %s from %s: %s",
            stored.id,
            shorten(msg.user, 40),
            shorten(question),
        )
        return Verdict("accepted", "ok", "in the pool", stored)

    # ------------------------------------------------------------------ helpers

    def _reject(
        self,
        msg: ChatMessage,
        reason: Reason,
        detail: str,
        question: str | None = None,
        *,
        wait: int = 0,
        redemption: Redemption | None = None,
    ) -> Verdict:
        logger.info(
            "rejected from %s: %s (%s) text=%s",
            shorten(msg.user, 40),
            reason,
            detail,
            shorten(question if question is not None else msg.text),
        )
        if reason in self._reply_on or redemption is not None:  # who paid hears why
            name = clean_display_name(msg.display_name, msg.user)
            # A reward that skips Twitch's queue was fulfilled already: no refund.
            refund = redemption is not None and redemption.status == "unfulfilled"
            why = self._human(reason, wait)
            if refund:
                why += " " + self._replies.text("points_refunded")
            self._send(self._replies.template("reject"), name, why)
        return Verdict("rejected", reason, detail)

    def _human(self, reason: Reason, wait: int) -> str:
        f, command = self._filters, self._commands.prefix + self._commands.ask
        return self._replies.reason(reason, command, f.min_chars, f.max_chars, wait)

    def _send(self, template: str, user: str, reason: str) -> None:
        if self._say is None or not template:
            return
        try:
            text = template.format(user=user, reason=reason)
        except Exception as exc:
            logger.warning("chat reply template %r is broken (%s): plain text sent", template, exc)
            text = f"@{user} {reason}".strip() if reason else f"@{user}"
        # A reply must never be read as a chat command ("/ban", ".timeout").
        text = text.lstrip("/.").strip()[:MAX_REPLY_CHARS]
        if not text:
            return
        try:
            self._say(text)
        except Exception:
            logger.exception("chat reply failed")

    def _remember(self, key: str, now: float) -> None:
        self._last_accepted[key] = now
        if len(self._last_accepted) > self._prune_at:
            horizon = now - self._filters.user_cooldown_s
            self._last_accepted = {k: t for k, t in self._last_accepted.items() if t > horizon}
            self._prune_at = max(_MIN_PRUNE_AT, 2 * len(self._last_accepted))

    def _count(self, verdict: Verdict, user: object) -> None:
        self._stats["total"] += 1
        self._stats[f"outcome.{verdict.outcome}"] += 1
        self._stats[f"reason.{verdict.reason}"] += 1
        for listener in self.verdict_listeners:
            try:
                listener(clean_login(str(user)), verdict)
            except Exception:
                logger.exception("a verdict listener failed")
