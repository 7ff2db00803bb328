"""Hybrid search: dense (Chroma) and lexical (SQLite FTS5 BM25), fused by weighted score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from index.models import Hit
from index.store import ts
from index.timewin import TimeWindow, time_window

if TYPE_CHECKING:
    from index.engine import Engine

# cosine + LEXICAL_WEIGHT * bm25 / max(bm25): measured in bench/realtimeqa.py (docs/BENCHMARKS.md).
LEXICAL_WEIGHT = 0.2
# News questions are mostly about recent news: RECENCY_WEIGHT * 2^(-age / half-life) is added,
# age counted from when the question is asked.
RECENCY_WEIGHT = 0.1
RECENCY_HALF_LIFE_DAYS = 14.0
# For "latest"/"recent" questions: a boost relative to the newest relevant article.
LATEST_WEIGHT = 0.2
LATEST_HALF_LIFE_DAYS = 3.0
LATEST_RELEVANCE_MARGIN = 0.15
CANDIDATES = 50
# Added for articles published inside a year or month the question names.
WINDOW_BOOST = 0.05


def search(engine: Engine, question: str, k: int = 10, *, now: datetime | None = None,
           window: TimeWindow | None = None, lexical_weight: float = LEXICAL_WEIGHT,
           mode: str = "hybrid", query_vector: np.ndarray | None = None,
           recency: bool = True) -> list[Hit]:
    """The k best passages for `question`.

    `now` is when the question is asked (default: the present). Given explicitly, it also hides
    articles published after it: the index as it stood then. Newer articles get a small boost
    (`recency`), a larger one when the question asks for the latest.
    """
    store = engine.store
    as_of = now
    now = now or datetime.now(UTC)
    window = window if window is not None else time_window(question, now)
    since, until = (ts(window.since), ts(window.until)) if window.filters else (None, None)
    if as_of is not None:
        cutoff = (as_of + timedelta(days=1)).timestamp()
        until = min(until, cutoff) if until is not None else cutoff
    soft = None if window.filters or (window.since is None and window.until is None) else window
    n = max(CANDIDATES, 3 * k)
    dense: dict[str, float] = {}
    lexical: dict[str, float] = {}
    qv = None
    if mode in ("hybrid", "dense"):
        qv = query_vector if query_vector is not None else engine.encode_query(question)
        dense = dict(store.dense(qv, n, since, until))
    if mode in ("hybrid", "lexical"):
        lexical = dict(store.lexical(question, n, since, until))
    ids = list(dict.fromkeys([*dense, *lexical]))
    passages = store.get_passages(ids)  # the manifest: vectors without a row are not shown
    ids = [i for i in ids if i in passages]
    if not ids:
        return []
    if mode == "hybrid":
        missing_dense = [i for i in ids if i not in dense]
        if missing_dense and qv is not None:
            for pid, vec in store.vectors(missing_dense).items():
                dense[pid] = float(np.dot(vec, qv))
        missing_lex = [i for i in ids if i not in lexical]
        if missing_lex:
            lexical.update(store.lexical_scores(question, missing_lex))
    top_lex = max(lexical.values(), default=0.0) or 1.0
    articles = store.get_articles(p.article_id for p in passages.values())
    boost = RECENCY_WEIGHT if recency else 0.0
    newest = None
    if window.prefer_recent and dense:
        # "latest" is relative to what the index has on the subject, not to the calendar
        bar = max(dense.values()) - LATEST_RELEVANCE_MARGIN
        dates = [articles[passages[i].article_id].published for i in ids
                 if dense.get(i, 0.0) >= bar and passages[i].article_id in articles]
        newest = max((d for d in dates if d), default=None)
    hits = []
    for pid in ids:
        p = passages[pid]
        art = articles.get(p.article_id)
        if art is None:
            continue
        d = dense.get(pid, 0.0)
        lx = lexical.get(pid, 0.0) / top_lex
        if mode == "dense":
            score = d
        elif mode == "lexical":
            score = lx
        else:
            score = d + lexical_weight * lx
        if soft and art.published and (soft.since is None or art.published >= soft.since) and (
            soft.until is None or art.published < soft.until
        ):
            score += WINDOW_BOOST
        if boost and art.published:
            age = max((now - art.published).total_seconds() / 86400, 0.0)
            score += boost * 2 ** (-age / RECENCY_HALF_LIFE_DAYS)
        if newest and art.published:
            age = max((newest - art.published).total_seconds() / 86400, 0.0)
            score += LATEST_WEIGHT * 2 ** (-age / LATEST_HALF_LIFE_DAYS)
        hits.append(Hit(passage=p, article=art, score=score, dense=d, lexical=lx))
    hits.sort(key=lambda h: h.score, reverse=True)
    return hits[:k]
