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
from streamer.messages import ModAction, ModCommand
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
    ) -> None:
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
            count = self.pool.clear()
            reply = f"cleared {count} waiting question{'' if count == 1 else 's'}"
        elif cmd.action in (ModAction.BLOCK, ModAction.UNBLOCK):
            reply = self._block(cmd)
        elif cmd.action is ModAction.PAUSE:
            self.state.paused = True
            reply = "paused: no new question is picked until !resume"
        else:
            self.state.paused = False
            reply = "resumed"
            self._on_resume()
        log.info("!%s: %s", cmd.action.value, reply)
        self._say(f"@{cmd.user}, {reply}")

    def _block(self, cmd: ModCommand) -> str:
        user = login(cmd.argument)
        if not user:
            return f"usage: !{cmd.action.value} <user>"
        if cmd.action is ModAction.UNBLOCK:
            if self.blocked.remove(user):
                return f"unblocked {user}"
            return f"{user} was not blocked"
        added = self.blocked.add(user)
        dropped = self.drop_user(user, f"user blocked by {cmd.user}")
        return f"{'blocked' if added else 'already blocked:'} {user}; {dropped}"

    def drop_user(self, user: str, reason: str) -> str:
        """Every question of ``user`` goes: live answers are taken off air (recorded
        moderated), pooled questions dropped. Returns a short summary."""
        user = login(user)
        live = [a for a in self.answers if a.question.user == user]
        pulled = sum(a.interrupt(reason, AnswerState.MODERATED) for a in live)
        pooled = self.pool.clear(user=user, reason=reason)
        return f"{pulled} answer{'' if pulled == 1 else 's'} pulled, {pooled} waiting dropped"

    def skip(self, reason: str = SKIP_REASON) -> str:
        """Take the current answer away: the one heard now, else the one being written,
        else the next picked one. One call reaches every stage that holds its work."""
        answer = self.answers.current()
        if answer is None or not answer.interrupt(reason):
            return "nothing to skip"
        return "skipped the current answer"
