"""What moderators (and the operator) can do to a running daemon.

``!skip``, ``!clear``, ``!pause``, ``!resume``, ``!block user`` and ``!unblock user``
from chat arrive here as :class:`~streamer.messages.ModCommand`; each gets a short reply
in chat. A skip is one call on the current :class:`~streamer.answer.Answer`
(``interrupt``), which reaches every stage that holds its work; dropping a user
(``!block``, and Twitch's bans later) interrupts each of their live answers the same
way and drops their questions from the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from streamer.answer import Answers, AnswerState
from streamer.lang.replies import Replies
from streamer.messages import ChatModeration, ChatModerationKind, ModAction, ModCommand
from streamer.moderation.blocklist import BlockList, login
from streamer.pool import QuestionPool

log = logging.getLogger(__name__)

SKIP_REASON = "skipped by moderator"


@dataclass
class DaemonState:
    """Operator switches. Owned by the event loop."""

    paused: bool = False


class Control:
    def __init__(
        self,
        pool: QuestionPool,
        answers: Answers,
        say: Callable[[str], object],
        *,
        on_resume: Callable[[], None],
        blocked: BlockList,
        replies: Replies | None = None,
        resume_command: str = "!resume",
    ) -> None:
        self.replies = replies if replies is not None else Replies()
        self._resume_command = resume_command
        self.pool = pool
        self.answers = answers
        self.blocked = blocked
        self.state = DaemonState()
        self._say = say
        self._on_resume = on_resume

    async def on_mod(self, cmd: ModCommand) -> None:
        """A moderator's command; the moderator gets a short reply in chat."""
        log.info("moderator %s: !%s", cmd.user, cmd.action.value)
        if cmd.action is ModAction.SKIP:
            reply = self.skip()
        elif cmd.action is ModAction.CLEAR:
            reply = self.replies.count("cleared", self.pool.clear())
        elif cmd.action in (ModAction.BLOCK, ModAction.UNBLOCK):
            reply = self.block(cmd)
        elif cmd.action is ModAction.PAUSE:
            reply = self.pause(True)
        else:
            reply = self.pause(False)
        log.info("!%s: %s", cmd.action.value, reply)
        self._say(self.replies.text("mod", user=cmd.user, reply=reply))

    def pause(self, paused: bool) -> str:
        """Stop or restart picking (`!pause`, `!resume`, the console)."""
        self.state.paused = paused
        if paused:
            return self.replies.text("paused", command=self._resume_command)
        self._on_resume()
        return self.replies.text("resumed")

    def block(self, cmd: ModCommand) -> str:
        """`!block user` / `!unblock user` (also the console's buttons); the reply."""
        user = login(cmd.argument)
        if not user:
            return self.replies.text("block_usage", command=f"!{cmd.action.value}")
        if cmd.action is ModAction.UNBLOCK:
            key = "unblocked" if self.blocked.remove(user) else "not_blocked"
            return self.replies.text(key, login=user)
        added = self.blocked.add(user)
        summary = self.drop_user(user, f"user blocked by {cmd.user}")
        key = "blocked" if added else "already_blocked"
        return self.replies.text(key, login=user, summary=summary)

    def drop_user(self, user: str, reason: str) -> str:
        """Every question of ``user`` goes: live answers are taken off air (recorded
        moderated), pooled questions dropped (or, asked by others too, left to them).
        Returns a short summary."""
        user = login(user)
        live = [a for a in self.answers if a.question.user == user]
        pulled = sum(a.interrupt(reason, AnswerState.MODERATED) for a in live)
        dropped, kept = self.pool.drop_user(user, reason)
        answers = self.replies.count("answers", pulled)
        if kept:
            return self.replies.text("kept_summary", answers=answers, dropped=dropped, kept=kept)
        return self.replies.text("dropped_summary", answers=answers, dropped=dropped)

    def on_chat_moderation(self, event: ChatModeration) -> str:
        """The platform's own moderation (a deleted message, a ban, a cleared chat)."""
        by = f" by {event.by}" if event.by else ""
        kind = event.kind
        if kind is ChatModerationKind.MESSAGE_DELETED:
            result = self.message_deleted(event.message_id, f"its chat message was deleted{by}")
        elif kind is ChatModerationKind.CHAT_CLEARED:
            count = self.pool.clear(reason=f"chat cleared{by}")
            result = f"{count} waiting dropped"
        else:
            what = "banned or timed out" if kind is ChatModerationKind.USER_BANNED else "cleared"
            result = self.drop_user(event.user, f"user {what}{by}")
        log.info("chat moderation %s %s: %s", kind.value, event.user or event.message_id, result)
        return result

    def message_deleted(self, message_id: str, reason: str) -> str:
        """The question a deleted message asked goes, unless another message asks it too."""
        stored, still_asked = self.pool.withdraw(message_id)
        if stored is None:
            return "it asked no question"
        if still_asked:
            return f"question {stored.id[:8]} stays: others asked it too"
        answer = self.answers.get(stored.id)
        if answer is not None:  # picked, being written or on air
            pulled = answer.interrupt(reason, AnswerState.MODERATED)
            return f"answer {stored.id[:8]} {'pulled' if pulled else 'had ended'}"
        dropped = self.pool.drop(stored.id, reason)
        return f"question {stored.id[:8]} {'dropped' if dropped else 'had ended'}"

    def skip(self, reason: str = SKIP_REASON) -> str:
        """Take the current answer away: the one heard now, else the one being written,
        else the next picked one. One call reaches every stage that holds its work."""
        answer = self.answers.current()
        if answer is None or not answer.interrupt(reason):
            return self.replies.text("nothing_to_skip")
        return self.replies.text("skipped")
