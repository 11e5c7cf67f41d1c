"""The redemption settler: tells Twitch what became of each channel points question.

The question store keeps one row per redemption (``store_redemptions.py``); when its
question ends the row gets its target, ``FULFILLED`` (answered) or ``CANCELED``
(refunded), and this task's ``wake`` is called. One task sends the due rows, oldest
first, through the chat source (``settle_redemption``), and records each outcome:

* told: ``settled`` is the target; one log line says who was refunded or fulfilled and
  why;
* a final refusal (``gone``: Twitch no longer holds it unfulfilled; ``refused``: another
  application's reward or a missing scope): recorded as such, one warning;
* anything else (Twitch down, the chat reconnecting, a 429): tried again after 5 s,
  15 s, 45 s ... 10 min, for ``MAX_ATTEMPTS`` tries; the rows are in SQLite, so a
  restart goes on where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from streamer.chat.base import RedemptionSettleError
from streamer.store_redemptions import RedemptionLog, StoredRedemption

log = logging.getLogger(__name__)

RETRY_S = (5.0, 600.0)  # first wait after a failed try, and the longest
MAX_ATTEMPTS = 12  # about an hour and a half of trying

Settle = Callable[[str, str, str], Awaitable[None]]


class RedemptionSettler:
    def __init__(
        self,
        redemptions: RedemptionLog,
        settle: Settle,
        *,
        clock: Callable[[], float] = time.time,
        retry_s: tuple[float, float] = RETRY_S,
    ) -> None:
        self._log = redemptions
        self._settle = settle
        self._clock = clock
        self._retry_s = retry_s
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # nothing due right now
        self._task: asyncio.Task[None] | None = None
        self.settled = 0
        self.failed = 0
        redemptions.on_due = self.wake

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redemptions")

    async def _run(self) -> None:
        with contextlib.suppress(Exception):  # settled rows of long ago: housekeeping only
            self._log.prune(self._clock())
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped: the rows are still there, try later
                log.exception("the redemption settler failed; trying again in 30 s")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30.0):
                        await self._wakeup.wait()

    async def _round(self) -> None:
        while True:
            self._wakeup.clear()
            due = self._log.due(self._clock())
            for row in due:
                await self._one(row)
            if due:
                continue  # more may be due (a batch is at most 20)
            self._idle.set()
            next_at = self._log.next_due_at()
            timeout = None if next_at is None else max(0.05, next_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    async def _one(self, row: StoredRedemption) -> None:
        assert row.target is not None
        what = "fulfilled" if row.target == "FULFILLED" else "refunded"
        try:
            await self._settle(row.reward_id, row.redemption_id, row.target)
        except RedemptionSettleError as exc:
            if exc.final is not None:
                self._log.settle(row.redemption_id, exc.final)
                self.failed += 1
                log.warning(
                    "redemption %s of %s could not be %s: %s",
                    row.redemption_id[:8], row.user, what, exc,
                )  # fmt: skip
                return
            self._later(row, what, str(exc))
            return
        except Exception as exc:  # a bug or an unexpected library error: keep going
            log.exception("settling redemption %s failed", row.redemption_id[:8])
            self._later(row, what, repr(exc))
            return
        self._log.settle(row.redemption_id, row.target)
        self.settled += 1
        why = f" ({row.reason})" if row.target == "CANCELED" and row.reason else ""
        log.info("redemption %s of %s %s on Twitch%s", row.redemption_id[:8], row.user, what, why)

    def _later(self, row: StoredRedemption, what: str, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self._log.settle(row.redemption_id, "gave_up")
            self.failed += 1
            log.error(
                "redemption %s of %s not %s after %d tries, giving up: %s",
                row.redemption_id[:8], row.user, what, attempts, error,
            )  # fmt: skip
            return
        first, longest = self._retry_s
        wait = min(longest, first * 3 ** (attempts - 1))
        self._log.retry_later(row.redemption_id, self._clock() + wait, error)
        log.warning(
            "redemption %s of %s not %s yet (%s); trying again in %.3g s",
            row.redemption_id[:8], row.user, what, error, wait,
        )  # fmt: skip

    async def close(self, drain_timeout: float = 2.0) -> None:
        """Settle what is due within ``drain_timeout`` seconds, then stop; the rest is
        settled at the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._idle.clear()
        self.wake()
        idle = asyncio.ensure_future(self._idle.wait())
        await asyncio.wait([task, idle], timeout=drain_timeout, return_when="FIRST_COMPLETED")
        idle.cancel()
        task.cancel()
        await asyncio.wait([idle])
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("the redemption settler had failed", exc_info=task.exception())
