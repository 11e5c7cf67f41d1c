"""``/metrics``: the daemon in Prometheus' text format (prometheus-client).

One registry per daemon (no process-wide default registry). Counters and histograms are
fed by events (a verdict, an answer's end); everything the stages already count (the
publisher's frames and gaps, the builder's real-time factor, the chat sender's sent and
dropped lines, the LLM's failures) is read when Prometheus scrapes, so nothing is
counted twice. No label holds user text or a secret: reasons are short codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streamer.answer import Answer, AnswerState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_CODE = re.compile(r"[a-z_/]{1,40}")
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def reason_code(answer: Answer) -> str:
    """A short label for why an answer ended (never free text)."""
    if answer.state is AnswerState.MODERATED:
        head = answer.reason.split(" ", 1)[0].strip("():,")
        return head if _CODE.fullmatch(head) else "other"
    if answer.state is AnswerState.DONE:
        return "ok"
    lowered = answer.reason.lower()
    for word, code in _REASONS:
        if word in lowered:
            return code
    return "other"


_REASONS = (
    ("llm", "llm"), ("moderation", "moderation"), ("skip", "skipped"), ("block", "blocked"),
    ("banned", "banned"), ("deleted", "deleted"), ("cleared", "cleared"),
    ("expired", "expired"), ("console", "console"),
)  # fmt: skip


class Metrics:
    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        """``read()`` returns the stages' own counts at scrape time (see ``_Stages``)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.questions = Counter(
            "streamer_questions",
            "Questions by what became of them: chat verdicts and answers' ends",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.first_frame = Histogram(
            "streamer_pick_to_first_frame_seconds",
            "From the pick of a question to its answer's first frame (or line) on air",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.first_token = Histogram(
            "streamer_llm_first_token_seconds",
            "From the start of writing to the LLM's first token",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Stages(read))

    def verdict(self, outcome: str, reason: str) -> None:
        if outcome in ("accepted", "merged", "rejected"):
            self.questions.labels(outcome, reason).inc()

    def answer_ended(self, answer: Answer) -> None:
        self.questions.labels(answer.state.value, reason_code(answer)).inc()
        t = answer.times
        if t.picked is not None and t.speaking is not None:
            self.first_frame.observe(max(0.0, t.speaking - t.picked))
        if t.writing is not None and t.first_token is not None:
            self.first_token.observe(max(0.0, t.first_token - t.writing))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Stages(Collector):
    """What the stages count themselves, read at scrape time."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        data = self._read()
        errors = CounterMetricFamily("streamer_llm_errors", "LLM failures by kind", labels=["kind"])
        for kind, n in sorted(data.get("llm_errors", {}).items()):
            errors.add_metric([kind], n)
        yield errors
        chat = CounterMetricFamily(
            "streamer_chat_messages", "Chat lines the bot sent, failed or dropped (rate limiter)",
            labels=["result"],
        )  # fmt: skip
        for result in ("sent", "failed", "dropped"):
            chat.add_metric([result], data.get("chat", {}).get(result, 0))
        yield chat
        publisher = data.get("publisher") or {}
        for name, key, text in (
            ("streamer_publisher_fps", "fps", "Frames per second sent to ffmpeg"),
            ("streamer_clip_queue_seconds", "buffered_s", "Media waiting for the publisher"),
        ):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(publisher.get(key) or 0.0))
            yield gauge
        for name, key, text in (
            ("streamer_publisher_gaps", "gaps", "Times an answer ran out of clips mid-answer"),
            ("streamer_publisher_reconnects", "reconnects", "ffmpeg sessions restarted"),
            ("streamer_publisher_frames", "frames_sent", "Frames sent to ffmpeg"),
        ):
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], float(publisher.get(key) or 0))
            yield counter
        rtf = GaugeMetricFamily(
            "streamer_builder_real_time_factor",
            "Seconds of work per second of media in the builder (under 1: faster than real time)",
        )
        rtf.add_metric([], float((data.get("builder") or {}).get("real_time_factor") or 0.0))
        yield rtf
