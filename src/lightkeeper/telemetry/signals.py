"""What telemetry adds to the signals: one place that names them and labels them.

Every source — Sentry transactions and error events, app events (``/api/v1/events``),
OpenTelemetry spans — calls the methods below, so a request is a request whichever way
it came. Each signal has one series per project with no other label (the total, which
alert rules read: ``http.error_rate{route=""}``) and, where it helps, one per route,
model or user.

Samples go to two stores: the rules' :class:`SignalStore` (in memory, only the names some
rule reads) and this module's own, which keeps every telemetry signal for ten minutes and
hands its changed minutes to the ingest writer, which stores them in ``signal_minutes``
with the events of the same batch — the charts and ``/metrics`` read from there.

=====================  =========================================  ============================
signal                 one sample per                             value
=====================  =========================================  ============================
``http.requests``      request (server span, transaction, api_call)  1
``http.errors``        failed request (status ≥ 500 or error span)   1
``http.error_rate``    request                                    1 failed, 0 not: avg = rate
``http.latency_ms``    request                                    duration (quantiles: p95)
``rag.search_ms``      RAG search                                 duration
``rag.results``        RAG search                                 results returned
``cache.hit_ratio``    cache access                               1 hit, 0 miss: avg = ratio
``ai.cost_usd``        AI call (by ``model``, by ``user``)        USD, from the price table
``ai.tokens``          AI call (by ``model``)                     input + output tokens
``errors.events``      error or message event                     1
``errors.new_issues``  event that opened an issue                 1
``errors.regressions`` event that reopened a resolved issue       1
``web.page_views``     page view                                  1
``web.sessions``       session ended                              duration in seconds
``web.bounce``         session ended                              1 one page, 0 more
``sessions.started``   Sentry session begun (or aggregate count)  1 (or the count)
``sessions.crashed``   Sentry session that crashed                1 (or the count)
``sdk.discarded``      SDK client report                          events the SDK dropped
``otel.<metric>``      OTLP metric point (by ``service``)         its value (histograms: mean)
=====================  =========================================  ============================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from lightkeeper.rules.signals import MinuteRow, SignalStore, series_key

NAMES = frozenset(
    {
        "http.requests",
        "http.errors",
        "http.error_rate",
        "http.latency_ms",
        "rag.search_ms",
        "rag.results",
        "cache.hit_ratio",
        "ai.cost_usd",
        "ai.tokens",
        "errors.events",
        "errors.new_issues",
        "errors.regressions",
        "web.page_views",
        "web.sessions",
        "web.bounce",
        "sessions.started",
        "sessions.crashed",
        "sdk.discarded",
    }
)

#: Minutes kept in memory here: enough for /metrics' five-minute figures and late samples.
KEEP = 600.0
#: Labels longer than this are cut: a route or a user id is short; anything longer is noise.
LABEL_MAX = 120


#: Series whose "does a rule read it" answer is remembered, at most.
READS_CACHE = 100_000


class TelemetrySignals:
    def __init__(
        self,
        rules: SignalStore,
        reads: Callable[[str, Mapping[str, str]], bool] | None = None,
    ) -> None:
        self.rules = rules
        self.reads = reads
        self._reads: dict[str, bool] = {}
        # Everything recorded through here, OpenTelemetry's own metrics (otel.*) included.
        self.own = SignalStore(keep=KEEP, names=None)

    def record(self, name: str, labels: Mapping[str, str], value: float, ts: float) -> None:
        self.own.record(name, labels, value, ts)
        if self.rules.wants(name) and self._read(name, labels):
            # The rules read it from memory; this module's store is the one that writes it.
            self.rules.record(name, labels, value, ts, write=False)

    def _read(self, name: str, labels: Mapping[str, str]) -> bool:
        """Only series a rule's selector picks go to the rules' store, which keeps them as
        long as the longest window (7 days for a baseline): not every user's cost."""
        if self.reads is None:
            return True
        key = series_key(name, labels)
        known = self._reads.get(key)
        if known is None:
            if len(self._reads) >= READS_CACHE:
                self._reads.clear()
            known = self._reads[key] = self.reads(name, labels)
        return known

    def _both(
        self, name: str, project: str, extra: Mapping[str, str], value: float, ts: float
    ) -> None:
        """The project's total series, then one per extra label (route, model, user)."""
        self.record(name, {"project": project}, value, ts)
        for label, label_value in extra.items():
            if label_value:
                self.record(name, {"project": project, label: _cut(label_value)}, value, ts)

    # what happened -------------------------------------------------------------------

    def request(
        self, project: str, route: str, failed: bool, duration_ms: float | None, ts: float
    ) -> None:
        by = {"route": route}
        self._both("http.requests", project, by, 1.0, ts)
        self._both("http.error_rate", project, by, 1.0 if failed else 0.0, ts)
        if failed:
            self._both("http.errors", project, by, 1.0, ts)
        if duration_ms is not None and duration_ms >= 0:
            self._both("http.latency_ms", project, by, duration_ms, ts)

    def rag_search(self, project: str, duration_ms: float, results: int | None, ts: float) -> None:
        self._both("rag.search_ms", project, {}, duration_ms, ts)
        if results is not None:
            self._both("rag.results", project, {}, float(results), ts)

    def cache_access(self, project: str, cache: str, hit: bool, ts: float) -> None:
        self._both("cache.hit_ratio", project, {"cache": cache}, 1.0 if hit else 0.0, ts)

    def ai_usage(
        self, project: str, model: str, user: str, tokens: int, cost_usd: float | None, ts: float
    ) -> None:
        self._both("ai.tokens", project, {"model": model}, float(tokens), ts)
        if cost_usd is not None:
            self._both("ai.cost_usd", project, {"model": model, "user": user}, cost_usd, ts)

    def error_event(self, project: str, ts: float) -> None:
        self._both("errors.events", project, {}, 1.0, ts)

    def new_issue(self, project: str, ts: float) -> None:
        self._both("errors.new_issues", project, {}, 1.0, ts)

    def regression(self, project: str, ts: float) -> None:
        self._both("errors.regressions", project, {}, 1.0, ts)

    def page_view(self, project: str, ts: float) -> None:
        self._both("web.page_views", project, {}, 1.0, ts)

    def session(self, project: str, duration_s: float, pages: int, ts: float) -> None:
        self._both("web.sessions", project, {}, max(duration_s, 0.0), ts)
        self._both("web.bounce", project, {}, 1.0 if pages <= 1 else 0.0, ts)

    # writing -------------------------------------------------------------------------

    def take_dirty(self) -> list[MinuteRow]:
        return self.own.take_dirty()

    def undo_take(self, rows: Iterable[MinuteRow]) -> None:
        self.own.undo_take(rows)

    def restore(self, rows: Iterable[MinuteRow]) -> None:
        """The minutes just before a restart, so the one spanning it is not overwritten."""
        self.own.restore(rows)

    def prune(self, now: float) -> None:
        self.own.prune(now, drop_empty=True)


def _cut(value: str) -> str:
    return value if len(value) <= LABEL_MAX else value[: LABEL_MAX - 1] + "…"
