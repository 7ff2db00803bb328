"""Prometheus metrics of one process: questions and their outcomes, answer time, refresh runs and
errors per source, and the size of the index. Counted always (it costs microseconds); exposed
over HTTP only when `NEWSBOT_METRICS_PORT` is set (`serve`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from index.engine import IndexReport
    from index.store import Store

log = logging.getLogger(__name__)

QUESTIONS = Counter("newsbot_questions", "Questions asked, by outcome: answered, declined "
                    "(nothing in the news answers it) or failed (an error)", ["outcome"])
ANSWER_SECONDS = Histogram(
    "newsbot_answer_seconds", "Time from question to answer in the engine",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
REFRESHES = Counter("newsbot_refreshes", "Sources read by refresh runs", ["source"])
REFRESH_ERRORS = Counter("newsbot_refresh_errors", "Source reads that failed", ["source"])


def count_refresh(reports: list[IndexReport]) -> None:
    for r in reports:
        REFRESHES.labels(r.source).inc()
        if r.error:
            REFRESH_ERRORS.labels(r.source).inc()


class _IndexSize(Collector):
    """Articles and passages in the index, read from the store when scraped (nothing when the
    store cannot be reached: the scrape itself still answers)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self.store.stats()
        except Exception as exc:  # a database away must not fail the scrape
            log.warning("index size not measured: %s", exc)
            return
        g = GaugeMetricFamily("newsbot_index_size", "What the index holds", labels=["what"])
        g.add_metric(["articles"], stats.articles)
        g.add_metric(["passages"], stats.passages)
        yield g


_served: list[int] = []


def serve(port: int, host: str, store: Store) -> None:
    """Expose /metrics on host:port (a thread of this process), once."""
    if _served:
        return
    REGISTRY.register(_IndexSize(store))
    start_http_server(port, addr=host)
    _served.append(port)
    log.info("metrics on http://%s:%d/metrics", host, port)
